"""Training any algorithm on a `DomainTask`, and what is measured (the same for every algorithm).

- The seed fixes the run: torch's global generator is seeded with it and every parameter re-drawn from it
  (`reinit=True`, default: each module's `reset_parameters`; `reinit=False` keeps the weights as given), the
  batches come from a generator seeded with it, and so does the validation subset. A schedule tied to the run's
  length (`DomainInvariant`'s ramp without `total_steps`) spans `steps`.
- Steps: n samples per source drawn with replacement (DomainBed's infinite loaders), or class-balanced
  (`sampling="class_balanced"`: a uniform class, then a uniform sample of it, per draw); one `update` per step.
  With `unlabeled_target`, a batch of n of the target's unlabelled images (`task.unlabeled`, never the scored ones).
- Before the first update, every `eval_every` updates (`eval_schedule="domainbed"`: after 1, 1 + eval_every,
  1 + 2 eval_every, ... updates, DomainBed's checkpoints) and at the end: per-source validation accuracy on a fixed
  seeded subset of at most `val_per_domain` (2,000, design: the digits tasks' MNIST source has 12,000 validation
  images, DomainBed scores them all) samples per source, and their mean; target accuracy on the target's scored
  part (all of it, or its DomainBed "in" split, and then also on its "out" split: "target_out"); the mean feature
  norm ||g(x)|| on source validation data, and both penalties measured on the same features (so ERM's
  invariance is measured the same way as the penalised runs').
- After training: the **domain probe**, a fresh logistic regression (max_iter 500, standardised features) from
  frozen source-train features to the source index, scored on source validation, beside its majority rate (what
  always predicting the largest source scores: 1/K only for equal sizes); never the training discriminator. At
  most 2,000 samples per source in each part (design: bounds the probe's cost on MNIST-sized domains;
  RotatedDigits domains have ~240).
- Flags: `collapsed` when the final mean source validation accuracy is below 0.2; `dead_features` when the final
  mean feature norm is below 1% of its value at step 0 (zero features satisfy every penalty).
- Trivial levels (`trivial_levels`): what a constant predictor scores on each measurement, the level a trained
  model has to beat.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from reprolab.methods.domain_invariance.algorithms import Algorithm
from reprolab.methods.domain_invariance.domains import DomainTask
from reprolab.methods.domain_invariance.penalties import compressed_penalty, general_penalty
from reprolab.nets.init import redraw_parameters
from reprolab.runtime.config import check_choice
from reprolab.runtime.train import run_loop

Sampling = Literal["uniform", "class_balanced"]
EvalSchedule = Literal["multiples", "domainbed"]
COLLAPSE_ACCURACY = 0.2
DEAD_FEATURE_FRACTION = 0.01


class SourceSampler:
    """Draws one minibatch per source, on `device`, from a seeded torch generator."""

    def __init__(self, task: DomainTask, batch_per_domain: int, seed: int, device: str = "cpu",
                 sampling: Sampling = "uniform"):
        if batch_per_domain < 2:
            raise ValueError(f"batch_per_domain must be >= 2, got {batch_per_domain}")
        if sampling not in ("uniform", "class_balanced"):
            raise ValueError(f"sampling must be 'uniform' or 'class_balanced', got {sampling!r}")
        self.batch, self.sampling = batch_per_domain, sampling
        self.generator = torch.Generator().manual_seed(seed)
        self.data = [(torch.from_numpy(d.x_train).to(device), torch.from_numpy(d.y_train).to(device))
                     for d in task.sources]
        self.by_class = [[torch.nonzero(torch.from_numpy(d.y_train) == c).flatten() for c in np.unique(d.y_train)]
                         for d in task.sources]

    def _indices(self, i: int) -> torch.Tensor:
        n = len(self.data[i][1])
        if self.sampling == "uniform":
            return torch.randint(n, (self.batch,), generator=self.generator)
        classes = self.by_class[i]
        which = torch.randint(len(classes), (self.batch,), generator=self.generator)
        return torch.stack([classes[c][torch.randint(len(classes[c]), (1,), generator=self.generator)][0]
                            for c in which.tolist()])

    def minibatches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for i, (x, y) in enumerate(self.data):
            idx = self._indices(i).to(x.device)
            out.append((x[idx], y[idx]))
        return out


@torch.no_grad()
def _batched(fn, algorithm: Algorithm, x: np.ndarray, device: str, batch: int) -> torch.Tensor:
    """fn(x batch on device) for every batch of x, in evaluation mode, concatenated on the CPU."""
    was_training = algorithm.training
    algorithm.eval()
    try:
        return torch.cat([fn(torch.from_numpy(x[i:i + batch]).to(device)).cpu() for i in range(0, len(x), batch)])
    finally:
        algorithm.train(was_training)


def features(algorithm: Algorithm, x: np.ndarray, device: str = "cpu", batch: int = 1024) -> torch.Tensor:
    """g(x) for every row of x (on the CPU)."""
    return _batched(algorithm.featurizer, algorithm, x, device, batch)


def accuracy(algorithm: Algorithm, x: np.ndarray, y: np.ndarray, device: str = "cpu", batch: int = 1024) -> float:
    """The fraction of rows of x whose argmax of `algorithm.predict` equals y, in evaluation mode, `batch` rows at a
    time on `device`; NaN when y is empty."""
    if not len(y):
        return float("nan")
    predicted = _batched(lambda xb: algorithm.predict(xb).argmax(1), algorithm, x, device, batch)
    return float((predicted.numpy() == y).mean())


@dataclasses.dataclass(frozen=True)
class ValidationSubset:
    """The source validation samples every evaluation uses: `val`, (images, labels) of each source, scored for
    accuracy; `measure`, (images, labels, source index), on which the penalties are measured."""

    val: tuple[tuple[np.ndarray, np.ndarray], ...]
    measure: tuple[np.ndarray, np.ndarray, np.ndarray]


def validation_subset(task: DomainTask, val_per_domain: int = 2000, measure_per_domain: int = 500,
                      seed: int = 0) -> ValidationSubset:
    """Per source, the first `val_per_domain` (scored) and the first `measure_per_domain` (penalties) samples of one
    seeded permutation of its validation part."""
    if val_per_domain < 1 or measure_per_domain < 1:
        raise ValueError(f"val_per_domain and measure_per_domain must be >= 1, got {val_per_domain} and "
                         f"{measure_per_domain}")
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(len(d.y_val)) for d in task.sources]
    val = tuple((d.x_val[o[:val_per_domain]], d.y_val[o[:val_per_domain]]) for d, o in zip(task.sources, orders))
    picks = [o[:measure_per_domain] for o in orders]
    measure = (np.concatenate([d.x_val[p] for d, p in zip(task.sources, picks)]),
               np.concatenate([d.y_val[p] for d, p in zip(task.sources, picks)]),
               np.concatenate([np.full(len(p), i) for i, p in enumerate(picks)]))
    return ValidationSubset(val, measure)


def evaluate(algorithm: Algorithm, task: DomainTask, subset: ValidationSubset | None = None,
             device: str = "cpu") -> dict[str, Any]:
    """Accuracies (sources: on `subset`, default `validation_subset(task)`; the target: its training part, all of it
    unless the task holds its DomainBed "out" split as its validation part, which is then scored as "target_out"),
    feature norm and the two measured penalties (l2norm features) at the current weights."""
    subset = validation_subset(task) if subset is None else subset
    source_val = [accuracy(algorithm, x, y, device) for x, y in subset.val]
    x, y, d = subset.measure
    z = features(algorithm, x, device)
    domains, labels, k = torch.from_numpy(d), torch.from_numpy(y), len(task.sources)
    record = {"source_val": source_val, "source_val_mean": float(np.mean(source_val)),
              "target": accuracy(algorithm, task.target.x_train, task.target.y_train, device),
              "feature_norm": float(z.norm(dim=1).mean()),
              "general_mmd": float(general_penalty(z, domains, k)),
              "compressed_mmd": float(compressed_penalty(z, domains, labels, k, task.num_classes))}
    if len(task.target.y_val):
        record["target_out"] = accuracy(algorithm, task.target.x_val, task.target.y_val, device)
    return record


class ProbeScore(NamedTuple):
    """The domain probe's accuracy, and its majority rate: what always predicting the largest source scores on the
    same samples (1/K only when the sources are equally large), the level the accuracy has to beat."""

    accuracy: float
    majority: float


def probe_majority(task: DomainTask, per_domain: int = 2000) -> float:
    """The largest source's share of the domain probe's validation samples (at most `per_domain` per source)."""
    sizes = np.array([min(per_domain, len(d.y_val)) for d in task.sources])
    return float(sizes.max() / sizes.sum())


def domain_probe(algorithm: Algorithm, task: DomainTask, device: str = "cpu", max_iter: int = 500,
                 seed: int = 0, per_domain: int = 2000) -> ProbeScore:
    """A fresh logistic regression predicting the source index from frozen features (train -> val), on the first
    `per_domain` samples of each source's train and val parts (the data are already permuted): its accuracy and
    its majority rate."""
    z_train = torch.cat([features(algorithm, d.x_train[:per_domain], device) for d in task.sources]).numpy()
    z_val = torch.cat([features(algorithm, d.x_val[:per_domain], device) for d in task.sources]).numpy()
    d_train = np.concatenate([np.full(min(per_domain, len(d.y_train)), i) for i, d in enumerate(task.sources)])
    d_val = np.concatenate([np.full(min(per_domain, len(d.y_val)), i) for i, d in enumerate(task.sources)])
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed))
    probe.fit(z_train, d_train)
    return ProbeScore(float(probe.score(z_val, d_val)), probe_majority(task, per_domain))


def trivial_levels(task: DomainTask, probe_per_domain: int = 2000) -> dict[str, float]:
    """What a constant predictor scores on each measurement: "target", the target's majority class (on its scored
    part); "source_val_mean"
    (a mean of per-source accuracies), the one class with the largest mean share over the sources' validation
    parts; "probe", the largest source's share of the domain probe's validation samples (1/K for equal sizes)."""
    shares = np.mean([np.bincount(d.y_val, minlength=task.num_classes) / len(d.y_val) for d in task.sources], axis=0)
    target = np.bincount(task.target.y_train, minlength=task.num_classes) / len(task.target.y_train)
    return {"target": float(target.max()), "source_val_mean": float(shares.max()),
            "probe": probe_majority(task, probe_per_domain)}


def evaluation_cadence(steps: int, eval_every: int, schedule: EvalSchedule) -> dict[str, Any]:
    """`run_loop`'s evaluation arguments for a run of `steps` updates: "multiples", after eval_every, 2 eval_every,
    ... updates; "domainbed", after 1, 1 + eval_every, 1 + 2 eval_every, ... updates (DomainBed evaluates after the
    update of every step whose 0-based index is a multiple of checkpoint_freq). Both also after the last update."""
    check_choice("eval_schedule", schedule, EvalSchedule)
    if schedule == "domainbed":
        return {"eval_every": 0, "eval_steps": tuple(range(1, steps + 1, eval_every))}
    return {"eval_every": eval_every, "eval_steps": ()}


def train(algorithm: Algorithm, task: DomainTask, *, steps: int, batch_per_domain: int, seed: int,
          eval_every: int = 100, eval_schedule: EvalSchedule = "multiples", device: str = "cpu",
          sampling: Sampling = "uniform", val_per_domain: int = 2000, measure_per_domain: int = 500,
          unlabeled_target: bool = False, reinit: bool = True, checkpoint: Path | None = None,
          checkpoint_every: int = 0, resume: bool = False, progress: bool | None = None) -> list[dict[str, Any]]:
    """Train for `steps` updates from `seed` (module docstring: what the seed fixes, what is measured); returns the
    evaluation history (step 0 included; the other evaluations as `evaluation_cadence` places them).
    `reinit=False` keeps the weights as given (a pretrained featurizer, or more training of a trained algorithm).
    With `unlabeled_target` a batch of the target's unlabelled images (`task.unlabeled`) of the same size joins each
    update (multi-source domain adaptation)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    cadence = evaluation_cadence(steps, eval_every, eval_schedule)
    if algorithm.num_domains != len(task.sources):
        raise ValueError(f"the algorithm was built for {algorithm.num_domains} source domains, the task "
                         f"{task.name!r} has {len(task.sources)}")
    if unlabeled_target and not task.has_unlabeled:
        raise ValueError(f"unlabeled_target needs unlabelled target images, and task {task.name!r} has none: build "
                         "it with uda_fraction > 0 (build_task) or pass unlabeled= (from_arrays)")
    if reinit and int(algorithm.update_count):
        raise ValueError(f"reinit=True re-draws the weights of a fresh algorithm, and this one has had "
                         f"{int(algorithm.update_count)} updates: pass reinit=False to train it further")
    torch.manual_seed(seed)
    if reinit:
        redraw_parameters(algorithm, "build the algorithm under torch.manual_seed and pass reinit=False")
    algorithm.set_run_length(steps)
    algorithm.to(device).train()
    sampler = SourceSampler(task, batch_per_domain, seed, device, sampling)
    subset = validation_subset(task, val_per_domain, measure_per_domain, seed)
    target_x = torch.from_numpy(task.unlabeled).to(device) if unlabeled_target else None

    def step(_: int) -> float:
        unlabeled = None
        if target_x is not None:
            unlabeled = target_x[torch.randint(len(target_x), (batch_per_domain,), generator=sampler.generator)]
        info = algorithm.update(sampler.minibatches(), unlabeled)
        return info.get("loss", info.get("disc_loss", float("nan")))

    objects = {"algorithm": algorithm, "sampler": sampler.generator}
    for name in ("optimizer", "gen_opt", "disc_opt"):
        if hasattr(algorithm, name):
            objects[name] = getattr(algorithm, name)
    return run_loop(steps, step, objects=objects, eval_fn=lambda s: evaluate(algorithm, task, subset, device),
                    **cadence, eval_at_start=True, checkpoint=checkpoint,
                    checkpoint_every=checkpoint_every, resume=resume, desc=task.name, progress=progress)


def flags(history: list[dict[str, Any]]) -> dict[str, bool]:
    """collapsed: final mean source val accuracy < 0.2; dead_features: final feature norm < 1% of step 0's."""
    first, last = history[0], history[-1]
    return {"collapsed": bool(last["source_val_mean"] < COLLAPSE_ACCURACY),
            "dead_features": bool(last["feature_norm"] < DEAD_FEATURE_FRACTION * first["feature_norm"])}


