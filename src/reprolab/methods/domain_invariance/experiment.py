"""`reprolab run domain_invariance`: general vs compressed domain-invariant representations against ERM (quick)
and DomainBed's DANN, CDANN, MMD and CORAL (paper), over a grid of (task, algorithm, lambda, seed) runs.

- quick (CPU): RotatedDigits with target 75 degrees, balanced and label-shifted (s = 0.8); ERM and both penalties
  at lambda in {0.1, 1, 10, 100} (balanced) and {0.1, 1, 10} (label-shifted: the lambdas its claim selects among);
  3 seeds (5 on the label-shifted task, as the label-shift comparison needs); quick CNN (w = 32), Adam 1e-3,
  32 per domain, 300 steps, evaluation every 100.
- paper (GPU): RotatedMNIST (targets 0 and 75 degrees), ColoredMNIST (target "-90%"), label-shifted RotatedMNIST
  and the three digits multi-source tasks; all seven algorithms; lambda in {0.01, ..., 100}; DomainBed's MNIST_CNN,
  64 per domain, 5,001 steps, evaluation every 100 (DomainBed's checkpoint_freq); 3 trials.
Each run is an independent grid cell (`--resume` skips finished ones). Selection of lambda: by mean source
validation accuracy per seed at the final checkpoint ("training_domain"), the same at each run's best-validation
checkpoint ("training_domain_best_step": DomainBed's IIDAccuracySelectionMethod, which takes the argmax over a
run's checkpoints), and by mean target accuracy ("oracle", labelled as such, never presented as a method's
result; with `target_split="domainbed"` DomainBed's oracle, per seed by the target's "out" split). Per-seed values
are kept in seed order for every arm (the claims pair them); `trivial` holds what a constant predictor scores on
each task.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from reprolab.methods.domain_invariance.algorithms import Algorithm, DomainInvariant, OptimConfig
from reprolab.methods.domain_invariance.baselines import CORAL, DANN, ERM, MMD, AdversarialConfig
from reprolab.methods.domain_invariance.claims import claims
from reprolab.methods.domain_invariance.domains import (DomainTask, HoldoutRounding, Interpolation, Rotation,
                                                        SplitSeed, TargetSplit, TaskName, build_task)
from reprolab.methods.domain_invariance.featurizers import FeaturizerName, build_featurizer
from reprolab.methods.domain_invariance.penalties import PenaltyFeatures
from reprolab.methods.domain_invariance.plots import plot_features, plot_tradeoff
from reprolab.methods.domain_invariance.training import (EvalSchedule, Sampling, domain_probe, features, flags,
                                                         train, trivial_levels)
from reprolab.runtime.config import check_at_least, check_options, ConfigError
from reprolab.runtime.grid import GridResults, cell_checkpoint
from reprolab.runtime.results import RunContext, RunResult
from reprolab.runtime.stats import mean_se
from reprolab.runtime.fast import FastPath, check_fast_path, fast_settings

NEEDS_EXTRA_DATA = False
AlgorithmName = Literal["erm", "general", "compressed", "dann", "cdann", "mmd", "coral"]
LambdaTies = Literal["first", "last"]
PENALISED = ("general", "compressed")       # the paper's two representations: run over the lambda grid
GRID = "run"
PROJECTION_POINTS = 60                      # per source, for the feature view of the first seed


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    featurizer: FeaturizerName = "quick_cnn"
    quick_cnn_width: int = 32           # design
    steps: int = 300                    # design (quick); DomainBed 5,001
    batch_per_domain: int = 32          # design (quick); DomainBed 64
    eval_every: int = 100               # DomainBed's checkpoint_freq for MNIST
    eval_schedule: EvalSchedule = "multiples"   # after eval_every, 2 eval_every, ... updates and the last; DomainBed
                                                # ("domainbed"): after 1, 1 + eval_every, ... updates and the last
    lr: float = 1e-3                    # DomainBed, small images
    weight_decay: float = 0.0           # DomainBed, small images
    penalty_features: PenaltyFeatures = "l2norm"
    ramp: bool = True                   # design; DomainBed's MMD has no ramp
    sampling: Sampling = "uniform"      # DomainBed: uniform with replacement
    unlabeled_target: bool = False      # multi-source domain adaptation: a batch of the target's unlabelled images
                                        # (needs uda_fraction > 0) joins the general penalty
    adversarial: AdversarialConfig = AdversarialConfig()
    mmd_gamma: float = 1.0              # DomainBed default
    mmd_unlabeled: bool = False         # DomainBed's MMD ignores unlabelled data; True: the target joins its penalty
    coral_gamma: float = 1.0            # DomainBed default
    featurizer_per_domain: bool = False  # MMD and CORAL: one featurizer pass on every domain's batch together;
                                         # DomainBed (true): one pass per domain's batch (BatchNorm statistics per
                                         # domain; the built-in featurizers have none, so the same numbers)
    probe_max_iter: int = 500
    probe_per_domain: int = 2000        # design: samples per source in the probe's train and val parts
    val_per_domain: int = 2000          # design: source validation samples per domain scored at each evaluation (a
                                        # fixed seeded subset; DomainBed scores all, 12,000 for the digits tasks'
                                        # MNIST source)
    measure_per_domain: int = 500       # source validation samples per domain for the measured penalties

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("steps", "eval_every", "quick_cnn_width", "probe_max_iter", "probe_per_domain",
                                 "val_per_domain", "measure_per_domain"))
        check_at_least(self, 2, ("batch_per_domain",))
        check_at_least(self, 0, ("mmd_gamma", "coral_gamma", "weight_decay"))
        if self.lr <= 0:
            raise ConfigError(f"config key 'train.lr' must be > 0, got {self.lr}")


@dataclasses.dataclass(frozen=True)
class DomainInvarianceConfig(FastPath):   # compile, bf16, channels_last, cuda_graphs: the featurizer's fast path
    channels_last: bool = True          # the featurizer's memory format (featurizers.py); same maths, faster on CPU
    tasks: tuple[TaskName, ...] = ("rotated_digits", "rotated_digits_shift")
    algorithms: tuple[AlgorithmName, ...] = ("erm", "general", "compressed")
    lambdas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)     # design (quick grid)
    claim_lambdas: tuple[float, ...] = (0.1, 1.0, 10.0)      # lambdas the label-shift comparison selects among
    shift_lambdas: tuple[float, ...] = (0.1, 1.0, 10.0)      # grid on label-shifted tasks (quick: the claim's lambdas,
                                                             # to fit 5 CPU minutes; lambda 100 is on the balanced task)
    seeds: int = 3
    shift_seeds: int = 5                # the label-shift comparison's seed count (stds of 0.03-0.05 measured)
    label_shift: float = 0.8            # design: s
    shift_target: bool = True           # the target is shifted too (favours classes {0, 1})
    rotation_interpolation: Interpolation = "bicubic"   # RotatedMNIST: DomainBed's published table (its 2020 code);
                                                        # its code since April 2021: "bilinear"
    rotation: Rotation = "grid_sample"  # RotatedMNIST's rotation by grid sampling; DomainBed ("pil"): torchvision's
                                        # rotate on 8-bit PIL images
    target_split: TargetSplit = "all"   # the target scored on all its images, the oracle on the mean target accuracy;
                                        # DomainBed ("domainbed"): scored on its 80% "in" split, the oracle choosing
                                        # per seed by its 20% "out" split at the final checkpoint
    uda_fraction: float = 0.0           # DomainBed's uda_holdout_fraction (default 0): the target images offered
                                        # unlabelled and not scored (domains.py); needed by train.unlabeled_target
    holdout_rounding: HoldoutRounding = "round"   # a source's validation part: round(0.2 n); DomainBed ("floor"):
                                                  # int(0.2 n), at most one sample fewer (the uda part likewise)
    lambda_ties: LambdaTies = "first"             # lambda selection ties: the first tied lambda in the grid's
                                                  # order (the smallest in the ascending grids); DomainBed ("last"):
                                                  # the tied run of the largest hparams_seed
    data_seed: int = 0
    split_seed: SplitSeed = "fixed"     # every run seed sees the validation (and target) split data_seed fixes;
                                        # DomainBed ("per_trial"): each run seed, its trial_seed, splits every
                                        # domain afresh (domains.py: `split_per_trial`)
    train: TrainConfig = TrainConfig()
    checkpoint_every: int = 0           # steps between in-run checkpoints (0: none)
    workers: int = 2

    def __post_init__(self) -> None:
        check_options(self)
        if not self.tasks or not self.algorithms:
            raise ConfigError("config keys 'tasks' and 'algorithms' need at least one value each")
        if any(not lam >= 0 for lam in (*self.lambdas, *self.claim_lambdas, *self.shift_lambdas)):
            raise ConfigError(f"config key 'lambdas': every lambda must be >= 0, got {self.lambdas} / "
                              f"{self.claim_lambdas} / {self.shift_lambdas}")
        if any(lam not in self.lambdas or lam not in self.shift_lambdas for lam in self.claim_lambdas):
            raise ConfigError(f"config key 'claim_lambdas' {self.claim_lambdas} must be a subset of 'lambdas' "
                              f"{self.lambdas} and of 'shift_lambdas' {self.shift_lambdas}")
        if self.seeds < 1 or self.shift_seeds < 1 or self.workers < 1 or self.checkpoint_every < 0:
            raise ConfigError("config keys 'seeds', 'shift_seeds', 'workers' must be >= 1 and 'checkpoint_every' "
                              ">= 0")
        if not 0.0 <= self.label_shift < 1.0:
            raise ConfigError(f"config key 'label_shift' must lie in [0, 1), got {self.label_shift}")
        if self.rotation == "pil" and not any(task.startswith("rotated_mnist") or task.startswith("rotated_fashion")
                                               for task in self.tasks):
            raise ConfigError(f"config key 'rotation': 'pil' rotates RotatedMNIST and RotatedFashionMNIST only, and "
                              f"'tasks' {self.tasks} holds neither")
        if not 0.0 <= self.uda_fraction < 1.0:
            raise ConfigError(f"config key 'uda_fraction' must lie in [0, 1), got {self.uda_fraction}")
        if self.train.unlabeled_target and self.uda_fraction == 0:
            raise ConfigError("config key 'train.unlabeled_target' needs unlabelled target images: set 'uda_fraction' "
                              "in (0, 1)")


CONFIGS = {
    "quick": DomainInvarianceConfig(),
    "paper": DomainInvarianceConfig(
        tasks=("rotated_mnist_0", "rotated_mnist_75", "colored_mnist", "rotated_mnist_shift", "digits_to_usps",
               "digits_to_mnist", "digits_to_uci"),
        algorithms=("erm", "general", "compressed", "dann", "cdann", "mmd", "coral"),
        lambdas=(0.01, 0.1, 1.0, 10.0, 100.0), shift_lambdas=(0.01, 0.1, 1.0, 10.0, 100.0), seeds=3, shift_seeds=3,
        train=TrainConfig(featurizer="mnist_cnn", steps=5001, batch_per_domain=64, eval_every=100),
        checkpoint_every=500, workers=1),
}


def make_algorithm(name: AlgorithmName, lam: float | None, task: DomainTask, cfg: TrainConfig,
                   fast: FastPath = FastPath()) -> Algorithm:
    """A fresh algorithm for `task` (`train` draws its weights from the run's seed): the paper's two
    representations take `lam`, and their ramp spans the run."""
    featurizer, dim = build_featurizer(cfg.featurizer, task.input_shape, cfg.quick_cnn_width, fast)
    shape = (featurizer, dim, task.num_classes, len(task.sources))
    optim = OptimConfig(cfg.lr, cfg.weight_decay)
    if name in PENALISED:
        if lam is None:
            raise ValueError(f"algorithm {name!r} needs a lambda")
        return DomainInvariant(*shape, invariance=name, lam=lam, penalty_features=cfg.penalty_features,
                               use_ramp=cfg.ramp, optim=optim)
    if name == "erm":
        return ERM(*shape, optim=optim)
    if name in ("dann", "cdann"):
        return DANN(*shape, conditional=name == "cdann", adv=cfg.adversarial)
    if name == "mmd":
        return MMD(*shape, gamma=cfg.mmd_gamma, use_unlabeled=cfg.mmd_unlabeled, optim=optim,
                   featurizer_per_domain=cfg.featurizer_per_domain)
    if name == "coral":
        return CORAL(*shape, gamma=cfg.coral_gamma, optim=optim, featurizer_per_domain=cfg.featurizer_per_domain)
    raise ValueError(f"unknown algorithm {name!r}; known: erm, general, compressed, dann, cdann, mmd, coral")


def is_shifted(task: str) -> bool:
    return task.endswith("_shift")


def lambdas_of(task: str, cfg: DomainInvarianceConfig) -> tuple[float, ...]:
    return cfg.shift_lambdas if is_shifted(task) else cfg.lambdas


def grid_cells(cfg: DomainInvarianceConfig, base_seed: int) -> list[dict[str, Any]]:
    """One cell per (task, algorithm, lambda, seed); lambda is None for algorithms without the paper's weight."""
    cells = []
    for task in cfg.tasks:
        for algorithm in cfg.algorithms:
            for lam in (lambdas_of(task, cfg) if algorithm in PENALISED else (None,)):
                for seed in range(base_seed, base_seed + (cfg.shift_seeds if is_shifted(task) else cfg.seeds)):
                    cells.append({"task": task, "algorithm": algorithm, "lam": lam, "seed": seed})
    return cells


def projection(algorithm: Algorithm, task: DomainTask, device: str) -> dict[str, list]:
    """2-D PCA of source validation features (PROJECTION_POINTS per source) with their domain and class."""
    from sklearn.decomposition import PCA

    xs = [d.x_val[:PROJECTION_POINTS] for d in task.sources]
    z = features(algorithm, np.concatenate(xs), device).numpy()
    coords = PCA(n_components=2, random_state=0).fit_transform(z) if np.ptp(z, axis=0).max() > 0 else z[:, :2] * 0
    return {"xy": coords.round(4).tolist(), "domain": [i for i, x in enumerate(xs) for _ in range(len(x))],
            "label": np.concatenate([d.y_val[:PROJECTION_POINTS] for d in task.sources]).tolist()}


def task_of(name: TaskName, cfg: DomainInvarianceConfig, seed: int) -> DomainTask:
    """The named task with the config's data settings for run seed `seed` (cached in-process by `build_task`): the
    split `data_seed` fixes, or with `split_seed="per_trial"` the split of trial `seed`."""
    return build_task(name, cfg.data_seed, cfg.label_shift, cfg.shift_target, cfg.rotation_interpolation,
                      uda_fraction=cfg.uda_fraction, holdout_rounding=cfg.holdout_rounding,
                      target_split=cfg.target_split, rotation=cfg.rotation,
                      split_seed=seed if cfg.split_seed == "per_trial" else None)


def run_cell(cell: dict[str, Any], cfg: DomainInvarianceConfig, device: str, first_seed: int,
             out_dir: Path | None = None, resume: bool = False) -> dict[str, Any]:
    """Train one (task, algorithm, lambda, seed) run and measure it; with `cfg.checkpoint_every` the run keeps a
    checkpoint in the run folder `out_dir` and `resume` continues from it."""
    task = task_of(cell["task"], cfg, cell["seed"])
    algorithm = make_algorithm(cell["algorithm"], cell["lam"], task, cfg.train, fast_settings(cfg))
    t = cfg.train
    start = time.perf_counter()
    history = train(algorithm, task, steps=t.steps, batch_per_domain=t.batch_per_domain, seed=cell["seed"],
                    eval_every=t.eval_every, eval_schedule=t.eval_schedule, device=device, sampling=t.sampling,
                    val_per_domain=t.val_per_domain, measure_per_domain=t.measure_per_domain,
                    unlabeled_target=t.unlabeled_target,
                    checkpoint=cell_checkpoint(out_dir, GRID, cell) if cfg.checkpoint_every and out_dir else None,
                    checkpoint_every=cfg.checkpoint_every,
                    resume=resume)
    seconds = time.perf_counter() - start
    probe = domain_probe(algorithm, task, device, t.probe_max_iter, cell["seed"], t.probe_per_domain)
    record = {"history": history, "final": history[-1], "probe": probe.accuracy, "probe_majority": probe.majority,
              **flags(history),
              "seconds": seconds, "steps_per_second": t.steps / seconds,
              "generator_steps": algorithm.generator_steps() if isinstance(algorithm, DANN) else t.steps}
    if cell["seed"] == first_seed:
        record["projection"] = projection(algorithm, task, device)
    return record


def lam_key(lam: float | None) -> str:
    return "-" if lam is None else f"{lam:g}"


def best_validation_step(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The evaluation with the highest mean source validation accuracy once training has started (the first such
    one): DomainBed's IIDAccuracySelectionMethod.run_acc takes this argmax over a run's checkpoints."""
    return max(history[1:], key=lambda record: record["source_val_mean"])


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard error over seeds of the final measurements, the per-seed values (seed order; the target's
    "out" split too where it is scored), the best-validation checkpoint of each run, and the flags."""
    final = [r["final"] for r in runs]
    best = [best_validation_step(r["history"]) for r in runs]
    out = {key: mean_se([f[key] for f in final]) for key in
           ("source_val_mean", "target", "feature_norm", "general_mmd", "compressed_mmd")}
    out["probe"] = mean_se([r["probe"] for r in runs])
    out["probe_majority"] = runs[0]["probe_majority"]       # the same task, so the same for every seed
    out["per_seed_target"] = [f["target"] for f in final]
    out["per_seed_source"] = [f["source_val_mean"] for f in final]
    out["per_seed_probe"] = [r["probe"] for r in runs]
    if "target_out" in final[0]:
        out["per_seed_target_out"] = [f["target_out"] for f in final]
    out["per_seed_target_best_step"] = [b["target"] for b in best]
    out["per_seed_source_best_step"] = [b["source_val_mean"] for b in best]
    out["best_step"] = [b["step"] for b in best]
    out["collapsed_seeds"] = sum(r["collapsed"] for r in runs)
    out["dead_feature_seeds"] = sum(r["dead_features"] for r in runs)
    out["generator_steps"] = runs[0]["generator_steps"]
    return out


def best_lambda(lams: list[str], score: Callable[[str], float], ties: LambdaTies) -> str:
    """The lambda of `lams` with the highest `score`; of tied ones the first in the order of `lams`, or with
    `ties="last"` the last (DomainBed's `hparams_accs` orders the runs by hparams_seed, sorts them stably by
    validation accuracy and takes the end of that order)."""
    return max(lams if ties == "first" else lams[::-1], key=score)


def select_per_seed(by_lam: dict[str, dict], lams: list[str], source_key: str, target_key: str,
                    ties: LambdaTies = "first") -> dict[str, Any]:
    """Per seed, the lambda among `lams` with the best mean source validation accuracy (`source_key`; ties as
    `best_lambda` breaks them) and the target accuracy (`target_key`) it gives."""
    seeds = len(by_lam[lams[0]][target_key])
    chosen = [best_lambda(lams, lambda k: by_lam[k][source_key][s], ties) for s in range(seeds)]
    per_seed = [by_lam[k][target_key][s] for s, k in enumerate(chosen)]
    return {**mean_se(per_seed), "per_seed": per_seed, "chosen_per_seed": chosen}


def select(by_lam: dict[str, dict], lams: list[str], ties: LambdaTies = "first",
           target_split: TargetSplit = "all") -> dict[str, Any]:
    """Lambda chosen among `lams` by training-domain validation at the final checkpoint and at each run's
    best-validation checkpoint (DomainBed's selection), and by the oracle: the best mean target accuracy over seeds,
    or with `target_split="domainbed"` per seed the best accuracy on the target's "out" split at the final checkpoint
    (DomainBed's OracleSelectionMethod); the target accuracy each gives, per seed and as mean and standard error;
    `ties` as `best_lambda` takes it."""
    chosen = {"training_domain": select_per_seed(by_lam, lams, "per_seed_source", "per_seed_target", ties),
              "training_domain_best_step": select_per_seed(by_lam, lams, "per_seed_source_best_step",
                                                           "per_seed_target_best_step", ties)}
    if target_split == "domainbed":
        return {**chosen, "oracle": select_per_seed(by_lam, lams, "per_seed_target_out", "per_seed_target", ties)}
    oracle = best_lambda(lams, lambda k: by_lam[k]["target"]["mean"], ties)
    return {**chosen,
            "oracle": {**by_lam[oracle]["target"], "per_seed": by_lam[oracle]["per_seed_target"], "chosen": oracle}}


def summarize(grid: GridResults, cfg: DomainInvarianceConfig, trivial: dict[str, dict[str, float]]) -> dict[str, Any]:
    tasks: dict[str, Any] = {}
    for task in grid.axis("task"):
        block: dict[str, Any] = {}
        for algorithm in grid.axis("algorithm"):
            by_lam = {lam_key(lam): summarize_runs(grid.values(task=task, algorithm=algorithm, lam=lam))
                      for lam in (lambdas_of(task, cfg) if algorithm in PENALISED else (None,))}
            block[algorithm] = {"by_lambda": by_lam}
            if algorithm in PENALISED:
                block[algorithm]["selection"] = select(by_lam, [lam_key(v) for v in lambdas_of(task, cfg)],
                                                       cfg.lambda_ties, cfg.target_split)
                block[algorithm]["selection_claim_lambdas"] = select(by_lam, [lam_key(v) for v in cfg.claim_lambdas],
                                                                     cfg.lambda_ties, cfg.target_split)
        tasks[task] = block
    return {"tasks": tasks, "trivial": trivial, "runs": len(grid)}


def checked_task(name: TaskName, cfg: DomainInvarianceConfig, seed: int) -> DomainTask:
    """`task_of`, refused when `train.unlabeled_target` finds no unlabelled target images in it (a `uda_fraction` so
    small that its cut holds none)."""
    task = task_of(name, cfg, seed)
    if cfg.train.unlabeled_target and not task.has_unlabeled:
        raise ConfigError(f"config key 'uda_fraction' {cfg.uda_fraction} leaves task {name!r} no unlabelled target "
                          f"image for 'train.unlabeled_target'")
    return task


def run(cfg: DomainInvarianceConfig, ctx: RunContext) -> RunResult:
    check_fast_path(cfg, ctx.device)
    cells = grid_cells(cfg, ctx.seed)
    trivial = {task: trivial_levels(checked_task(task, cfg, ctx.seed), cfg.train.probe_per_domain)
               for task in cfg.tasks}    # builds (and checks) every task's data (the first seed's split) before any
                                         # worker starts
    grid = ctx.grid(GRID, cells, run_cell, cfg, ctx.device, ctx.seed, ctx.out_dir, ctx.resume,
                    workers=cfg.workers)
    metrics = summarize(grid, cfg, trivial)
    with ctx.timed("plots"):
        artifacts = [plot_tradeoff(metrics["tasks"], {t: lambdas_of(t, cfg) for t in cfg.tasks},
                                   ctx.out_dir / "plot_tradeoff.png").name]
        projections = {(cell["task"], cell["algorithm"], cell["lam"]): value["projection"] for cell, value in grid
                       if "projection" in value}
        if projections:
            artifacts.append(plot_features(projections, ctx.out_dir / "plot_features.png").name)
    seeds = sorted({cell["seed"] for cell in cells})
    return ctx.result("domain_invariance", cfg, seeds, metrics, claims(metrics, cfg), artifacts)
