"""Neural Cleanse (Wang et al., S&P 2019), the model-level baseline (official code: bolunwang/backdoor).

Per class t, reverse-engineer the smallest trigger that sends clean defender images to t:
    min_{m, p} CE(C((1 - m) x + m p), t) + lambda |m|_1,   m = sigmoid(a) in [0, 1]^{1xhxw}, p = sigmoid(b)
(Adam lr 0.1, a fixed lambda here; the original adapts lambda during the search, starts a and b at random,
parametrises m = tanh(a) / 2 + 1/2, runs Adam with betas (0.5, 0.9) (`betas`), and keeps the smallest-L1 mask among
its epochs whose attack success reaches 99 % (`keep="best"`: here among the steps whose batch does). Anomaly index of
class t: |L1_t - median| / (1.4826 MAD) over the classes' mask norms; t is flagged when its index exceeds 2 and its
norm is below the median. Mitigation: fine-tune C on the defender set with a fraction (20 %) of inputs stamped with a
flagged class's reversed trigger, true labels kept ("unlearning").
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Annotated, Literal

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.runtime.config import AT_LEAST_ONE, BELOW_ONE, NON_NEGATIVE, POSITIVE, PROBABILITY
from reprolab.runtime.train import LoopCheckpoints, descend, run_loop

MAD_SCALE = 1.4826


@dataclasses.dataclass(frozen=True)
class NeuralCleanseConfig:
    """Settings of the Neural Cleanse baseline: the trigger search (`neural_cleanse`: per class, `steps` Adam steps
    at `lr` on batches of `batch_size`, with the fixed L1 weight `l1_weight`; the original adapts it), the flagging
    `anomaly_threshold` (2), and unlearning (`unlearn`: `unlearn_steps` Adam steps at `unlearn_lr`, with a
    fraction `unlearn_fraction`, 20 %, of the inputs stamped with a reversed trigger, keeping their labels). The
    search's Adam `betas` (official (0.5, 0.9)) and which mask it returns, `keep`: "last", or "best", the official
    rule, the smallest-L1 mask among the steps whose batch reaches the target at >= 99 % (every image of a batch of
    64; the official code averages over an epoch), the last mask when no step does."""

    steps: Annotated[int, AT_LEAST_ONE] = 200  # optimisation steps per class
    batch_size: Annotated[int, AT_LEAST_ONE] = 64
    lr: Annotated[float, POSITIVE] = 0.1
    l1_weight: Annotated[float, NON_NEGATIVE] = 0.01
    anomaly_threshold: Annotated[float, POSITIVE] = 2.0
    unlearn_steps: Annotated[int, NON_NEGATIVE] = 200
    unlearn_lr: Annotated[float, POSITIVE] = 1e-4
    unlearn_fraction: Annotated[float, PROBABILITY] = 0.2
    betas: Annotated[tuple[float, float], BELOW_ONE] = (0.9, 0.999)  # the trigger search's Adam; official (0.5, 0.9)
    keep: Literal["last", "best"] = "last"     # official "best": the smallest-L1 mask reaching the target at >= 99 %


def reverse_trigger(classifier: nn.Module, x_def: torch.Tensor, target: int, cfg: NeuralCleanseConfig,
                    gen: torch.Generator, checkpoints: LoopCheckpoints = LoopCheckpoints()
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The mask (1, h, w) and pattern (c, h, w) found for `target`; `checkpoints`: where the search keeps its
    checkpoint ("neural_cleanse_<target>")."""
    c, h, w = x_def.shape[1:]
    logits = nn.ParameterDict({"a": torch.zeros(1, h, w, device=x_def.device),
                               "b": torch.zeros(c, h, w, device=x_def.device)})
    a, b = logits["a"], logits["b"]
    best = nn.ParameterDict({"a": torch.zeros_like(a), "b": torch.zeros_like(b),
                             "l1": torch.full((), float("inf"), device=x_def.device)}).requires_grad_(False)
    optimizer = torch.optim.Adam([a, b], lr=cfg.lr, betas=cfg.betas)
    labels = torch.full((cfg.batch_size,), target, device=x_def.device)

    def step(_: int) -> torch.Tensor:
        x = x_def[torch.randint(len(x_def), (cfg.batch_size,), generator=gen)]
        m, p = torch.sigmoid(a), torch.sigmoid(b)
        out, l1 = classifier((1 - m) * x + m * p), m.sum()
        if cfg.keep == "best":
            keep_smallest_successful(best, a, b, l1.detach(), (out.argmax(1) == target).float().mean())
        return descend(optimizer, F.cross_entropy(out, labels) + cfg.l1_weight * l1)

    run_loop(cfg.steps, step, objects={"trigger": logits, "best": best, "optimizer": optimizer, "gen": gen},
             desc=f"Neural Cleanse class {target}", **checkpoints.of(f"neural_cleanse_{target}"))
    if cfg.keep == "best" and torch.isfinite(best["l1"]):
        a, b = best["a"], best["b"]
    return torch.sigmoid(a).detach(), torch.sigmoid(b).detach()


@torch.no_grad()
def keep_smallest_successful(best: nn.ParameterDict, a: torch.Tensor, b: torch.Tensor, l1: torch.Tensor,
                             success: torch.Tensor, threshold: float = 0.99) -> None:
    """Keep (a, b) in `best` when its mask sent at least `threshold` of the batch to the target and its L1 is the
    smallest so far (the official `visualize`'s `mask_best`), without reading a value on the host."""
    take = (success >= threshold) & (l1 < best["l1"])
    for name, value in (("a", a), ("b", b), ("l1", l1)):
        best[name].copy_(torch.where(take, value, best[name]))


def anomaly_indices(norms: torch.Tensor) -> torch.Tensor:
    """|L1_t - median| / (1.4826 MAD) per class."""
    median = norms.median()
    mad = (norms - median).abs().median()
    return (norms - median).abs() / (MAD_SCALE * mad).clamp_min(1e-12)


def neural_cleanse(classifier: nn.Module, x_def: torch.Tensor, num_classes: int, cfg: NeuralCleanseConfig,
                   seed: int = 0, checkpoints: LoopCheckpoints = LoopCheckpoints()) -> dict:
    """Reverse every class's trigger (one generator drawn from class after class); the norms, anomaly indices,
    flagged classes and the triggers."""
    classifier.eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    triggers = [reverse_trigger(classifier, x_def, t, cfg, gen, checkpoints) for t in range(num_classes)]
    norms = torch.stack([m.sum() for m, _ in triggers])
    index = anomaly_indices(norms)
    flagged = [t for t in range(num_classes)
               if index[t] > cfg.anomaly_threshold and norms[t] < norms.median()]
    return {"l1_norms": norms.tolist(), "anomaly_index": index.tolist(), "flagged": flagged, "triggers": triggers}


def unlearn(classifier: nn.Module, x_def: torch.Tensor, y_def: torch.Tensor, triggers: list, flagged: list[int],
            cfg: NeuralCleanseConfig, seed: int = 0, checkpoints: LoopCheckpoints = LoopCheckpoints()) -> nn.Module:
    """A fine-tuned copy of the classifier; stamped inputs keep their true labels. No flagged class: a copy.
    `checkpoints`: where the fine-tuning keeps its checkpoint ("neural_cleanse_unlearn")."""
    model = copy.deepcopy(classifier).requires_grad_(True).train()
    if not flagged:
        return model.eval()
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.unlearn_lr)

    def step(_: int) -> torch.Tensor:
        idx = torch.randint(len(y_def), (cfg.batch_size,), generator=gen)
        x, y = x_def[idx].clone(), y_def[idx]
        stamp = torch.rand(len(x), generator=gen) < cfg.unlearn_fraction
        which = torch.tensor(flagged)[torch.randint(len(flagged), (len(x),), generator=gen)]
        for t in flagged:
            rows = stamp & (which == t)
            m, p = triggers[t]
            x[rows] = (1 - m) * x[rows] + m * p
        return descend(optimizer, F.cross_entropy(model(x), y))

    run_loop(cfg.unlearn_steps, step, objects={"model": model, "optimizer": optimizer, "gen": gen},
             desc="Neural Cleanse unlearning", **checkpoints.of("neural_cleanse_unlearn"))
    return model.eval().requires_grad_(False)
