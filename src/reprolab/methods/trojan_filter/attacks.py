"""Trojan attacks as reusable poisoners. Images are float tensors in [0, 1], (N, C, H, W).

- `BadNetPlus`: K patch triggers with their own targets, x~ = (1 - M_k) x + M_k P_k. MNIST prototype: 4x4 random
  binary patches at (1, 1), (1, 23), (23, 1), targets 0, 1, 2.
- `BlendedPlus`: K blended triggers (noise-BI+ with uniform-noise patterns, image-BI+ with natural images),
  x~ = (1 - alpha) x + alpha P_k, targets 0..K-1, alpha 0.15.
- `WaNet` (Nguyen & Tran 2021, official code): a fixed warping field, ins ~ U(-1, 1)^{2 x k x k},
  ins /= mean|ins|, bicubic upsampling to h x w; grid = clamp(identity + s field / h, -1, 1), applied with
  grid_sample(align_corners=True); all-to-one target 0. Noise mode: a further fraction of each batch is warped with
  grid + U(-1, 1) / h per pixel and keeps its label. k = 4, s = 0.5 (official), cross_ratio 2. Per batch of B:
  round(rate B) Trojan and round(noise_fraction B) noise images; `counts="floor"`: the official code's
  floor(rate B) and floor(floor(rate B) cross_ratio), cross_ratio = noise_fraction / rate (12 and 24 of 128).
- `InputAware` (input_aware.py): a trigger per image from generators trained with the classifier.
Each attack poisons a fraction `rate` of a batch (trigger k uniform); `targets[k]` is trigger k's target class.
`training_loss` is the classifier's loss on one poisoned batch; `augmented_loss` puts the training augmentation
before the trigger, or after it where asked for WaNet (`can_trigger_first`, the WaNet code's order). A trainable
attack (InputAware) adds its own terms, does its own set-up in `prepare`, returns from `optimizer()` the optimiser
stepped beside the classifier's and from `state_objects()` the networks checkpointed with the classifier's training.
Trigger tensors follow the images' device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch.nn import functional as F

from reprolab.nets.scoring import batched, fraction, labels_of
from reprolab.runtime.train import LoopCheckpoints
from reprolab.runtime.config import check_choice

Counts = Literal["round", "floor"]


def _check_images(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("images must be finite and in [0, 1]")
    return x


class TrojanAttack:
    name = "attack"
    targets: tuple[int, ...] = (0,)
    # whether `augmented_loss(..., trigger_first=True)` stamps the trigger before the training augmentation (the
    # WaNet code's order, config `wanet_warp_first`); an attack without it is always augmented first
    can_trigger_first = False

    @property
    def n_triggers(self) -> int:
        return len(self.targets)

    def apply(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Stamp trigger k on every image of x."""
        raise NotImplementedError

    def poison(self, x: torch.Tensor, y: torch.Tensor, rate: float, gen: torch.Generator):
        """A training batch with a fraction `rate` turned into Trojan inputs labelled with their trigger's target."""
        x, y = _check_images(x).clone(), y.clone()
        n_poison = int(round(rate * len(y)))
        idx = torch.randperm(len(y), generator=gen)[:n_poison].to(x.device)
        which = torch.randint(self.n_triggers, (n_poison,), generator=gen).to(x.device)
        for k in range(self.n_triggers):
            rows = idx[which == k]
            if len(rows):
                x[rows] = self.apply(x[rows], k)
                y[rows] = self.targets[k]
        return x, y

    def training_loss(self, classifier, x: torch.Tensor, y: torch.Tensor, rate: float,
                      gen: torch.Generator) -> torch.Tensor:
        """CE of the classifier on the batch poisoned at `rate`."""
        xb, yb = self.poison(x, y, rate, gen)
        return F.cross_entropy(classifier(xb), yb)

    def augmented_loss(self, classifier, x: torch.Tensor, y: torch.Tensor, rate: float, gen: torch.Generator,
                       augment: Callable[[torch.Tensor], torch.Tensor], trigger_first: bool = False) -> torch.Tensor:
        """`training_loss` with `augment`, what the classifier takes of a batch (the training augmentation, and the
        fast path's memory format): of the batch augmented, then poisoned; with `trigger_first` on an attack that
        `can_trigger_first`, of the batch poisoned, then every input of it augmented (the classifier seen through
        `augment`)."""
        if trigger_first and self.can_trigger_first:
            return self.training_loss(lambda xb: classifier(augment(xb)), x, y, rate, gen)
        return self.training_loss(classifier, augment(x), y, rate, gen)

    def prepare(self, x: torch.Tensor, seed: int, checkpoints: LoopCheckpoints = LoopCheckpoints()) -> None:
        """Set-up before the classifier's training on the (clean) images x (its loops checkpointed by
        `checkpoints`); nothing for a fixed trigger."""

    def state_objects(self) -> dict:
        """The attack's trainable state, checkpointed with the classifier's training (none for a fixed trigger)."""
        return {}

    def to(self, device) -> "TrojanAttack":
        """The attack with its trainable state on `device` (a fixed trigger follows the images' device)."""
        return self

    def optimizer(self) -> torch.optim.Optimizer | None:
        """The optimiser of the attack's own parameters, stepped with the classifier's (None: a fixed trigger)."""
        return None


class BadNetPlus(TrojanAttack):
    """BadNet+, multi-trigger multi-target BadNets: trigger k is x~ = (1 - M_k) x + M_k P_k, a `patch` x `patch`
    random binary pattern (drawn from `seed`) at `positions[k]`, with target `targets[k]`. The defaults are the
    MNIST prototype's: three 4x4 patches at (1, 1), (1, 23), (23, 1), targets 0, 1, 2."""

    name = "badnet_plus"

    def __init__(self, image_shape: tuple[int, int, int], patch: int = 4,
                 positions: tuple[tuple[int, int], ...] = ((1, 1), (1, 23), (23, 1)),
                 targets: tuple[int, ...] = (0, 1, 2), seed: int = 0):
        if len(positions) != len(targets):
            raise ValueError(f"{len(positions)} positions but {len(targets)} targets")
        c, h, w = image_shape
        if any(r < 0 or col < 0 or r + patch > h or col + patch > w for r, col in positions):
            raise ValueError(f"a {patch}x{patch} patch at {positions} does not fit a {h}x{w} image")
        gen = torch.Generator().manual_seed(seed)
        self.targets = tuple(targets)
        self.masks = torch.zeros(len(targets), 1, h, w)
        self.patterns = torch.zeros(len(targets), c, h, w)
        for k, (r, col) in enumerate(positions):
            self.masks[k, :, r:r + patch, col:col + patch] = 1.0
            self.patterns[k, :, r:r + patch, col:col + patch] = torch.randint(0, 2, (c, patch, patch),
                                                                             generator=gen).float()

    def apply(self, x, k):
        m, p = self.masks[k].to(x.device), self.patterns[k].to(x.device)
        return (1 - m) * x + m * p


class BlendedPlus(TrojanAttack):
    """Blended injection with K triggers (noise-BI+, image-BI+): x~ = (1 - alpha) x + alpha P_k, with `patterns`
    (K, C, H, W) in [0, 1] and trigger k's target `targets[k]` (default: k). `BlendedPlus.noise` makes noise-BI+
    from uniform-noise patterns; alpha 0.15 is the prototype's default."""

    name = "blended_plus"

    def __init__(self, patterns: torch.Tensor, alpha: float = 0.15, targets: tuple[int, ...] | None = None):
        _check_images(patterns)
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
        self.patterns, self.alpha = patterns, alpha
        self.targets = tuple(targets) if targets is not None else tuple(range(len(patterns)))

    @classmethod
    def noise(cls, image_shape, n: int = 3, alpha: float = 0.15, seed: int = 0) -> "BlendedPlus":
        """noise-BI+: uniform-noise patterns."""
        return cls(torch.rand(n, *image_shape, generator=torch.Generator().manual_seed(seed)), alpha)

    def apply(self, x, k):
        return (1 - self.alpha) * x + self.alpha * self.patterns[k].to(x.device)


class WaNet(TrojanAttack):
    """WaNet (Nguyen & Tran 2021): a fixed warping field of `k` x `k` control points at strength `s` warps
    `size` x `size` images to the all-to-one `target`; `poison` also warps a further `noise_fraction` of each batch
    with a jittered grid, keeping its labels (noise mode). k 4, s 0.5 and the noise fraction 0.2 (p_c 0.1 x
    cross_ratio 2) are the official code's values; `counts` says how a batch's fractions become image counts
    (`batch_counts`)."""

    name = "wanet"
    can_trigger_first = True

    def __init__(self, size: int, k: int = 4, s: float = 0.5, target: int = 0, noise_fraction: float = 0.2,
                 seed: int = 0, counts: Counts = "round"):
        check_choice("counts", counts, Counts)
        gen = torch.Generator().manual_seed(seed)
        ins = torch.rand(1, 2, k, k, generator=gen) * 2 - 1
        ins = ins / ins.abs().mean()
        field = F.interpolate(ins, size=(size, size), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
        line = torch.linspace(-1, 1, size)
        rows, cols = torch.meshgrid(line, line, indexing="ij")
        self.identity = torch.stack((cols, rows), dim=2)[None]
        self.grid = torch.clamp(self.identity + s * field / size, -1, 1)
        self.size, self.s, self.targets, self.noise_fraction, self.counts = size, s, (target,), noise_fraction, counts

    def warp(self, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        return F.grid_sample(x, grid.to(x.device).expand(len(x), -1, -1, -1), align_corners=True).clamp(0, 1)

    def apply(self, x, k=0):
        return self.warp(x, self.grid)

    def batch_counts(self, n: int, rate: float) -> tuple[int, int]:
        """The Trojan and noise-mode images of a batch of n: round(rate n) and round(noise_fraction n); with
        `counts="floor"` the official code's n_bd = floor(n rate) and floor(n_bd cross_ratio), where cross_ratio =
        noise_fraction / rate (no noise images when rate is 0, as n_bd is then 0)."""
        if self.counts == "floor":
            n_bd = int(n * rate)
            return n_bd, int(n_bd * round(self.noise_fraction / rate, 9)) if rate else 0   # cross_ratio as typed
        return int(round(rate * n)), int(round(self.noise_fraction * n))

    def poison(self, x, y, rate, gen):
        """A fraction `rate` warped and relabelled to the target, and a disjoint `noise_fraction` warped with a
        jittered grid that keeps its labels (the noise mode: only the exact warp is the trigger); the counts of
        `batch_counts`."""
        x, y = _check_images(x).clone(), y.clone()
        order = torch.randperm(len(y), generator=gen).to(x.device)
        n_bd, n_noise = self.batch_counts(len(y), rate)
        bd, noise = order[:n_bd], order[n_bd:n_bd + n_noise]
        x[bd], y[bd] = self.warp(x[bd], self.grid), self.targets[0]
        jitter = (torch.rand(len(noise), self.size, self.size, 2, generator=gen) * 2 - 1) / self.size
        x[noise] = self.warp(x[noise], torch.clamp(self.grid + jitter, -1, 1).to(x.device))
        return x, y


@torch.no_grad()
def attack_success(classifier, attack: TrojanAttack, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Per trigger: the fraction of test images whose true label differs from the trigger's target that the
    classifier sends to that target once stamped; and their mean."""
    per_trigger = []
    for k, target in enumerate(attack.targets):
        keep = y != target
        pred = batched(lambda xb: classifier(attack.apply(xb, k)).argmax(1), x[keep])
        per_trigger.append(fraction(pred == target))
    return success_record(per_trigger)


def success_record(per_trigger: list[float]) -> dict:
    """An attack-success record: the rate of each trigger and their mean."""
    return {"per_trigger": per_trigger, "mean": sum(per_trigger) / len(per_trigger)}


@torch.no_grad()
def untriggered_target_rate(classifier, attack: TrojanAttack, x: torch.Tensor, y: torch.Tensor) -> float:
    """`attack_success` with no trigger stamped (what the attack must beat): per trigger, the fraction of clean test
    images whose label differs from the trigger's target that the classifier sends to that target; their mean."""
    pred = labels_of(classifier, x)
    rates = [fraction(pred[y != target] == target) for target in attack.targets]
    return sum(rates) / len(rates)
