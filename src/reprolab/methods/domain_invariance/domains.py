"""Multi-domain tasks built from real digit datasets: each domain is a real dataset, transformed.

Every builder takes a `data_seed` and its own generator (never the global RNG), so a task is the same array for
the same seed. Images are float32 (N, C, H, W) in [0, 1].

- **RotatedDigits** (quick scale; design): scikit-learn's 1,797 8x8 digits / 16, bilinear to 16x16, permuted,
  6 disjoint stride shards (i, i + 6, ...; ~300 each), rotated by 0/15/30/45/60/75 degrees (bilinear grid
  sampling, zero fill).
- **RotatedMNIST** (DomainBed): MNIST train + test (70,000), permuted, 6 stride shards, the same angles;
  `interpolation="bicubic"` (default: the 2020 code that made DomainBed's published table, PIL bicubic) or
  `"bilinear"` (DomainBed's code since April 2021), by grid sampling, or (`rotation="pil"`) as DomainBed rotates,
  torchvision's `rotate` on 8-bit PIL images (`rotate_pil`). **RotatedFashionMNIST**: the same on Fashion-MNIST.
- **ColoredMNIST** (DomainBed): 70,000 permuted, 3 stride shards with e = 0.1, 0.2, 0.9 ("+90%", "+80%",
  "-90%"); y = 1[digit < 5] XOR Bernoulli(0.25); colour = y XOR Bernoulli(e); two channels, channel (1 - colour)
  zeroed; 2x28x28 (no 2x subsampling). Target "-90%".
- **Digits multi-source** (design): MNIST (M), USPS (U) and UCI digits (D) as 1x28x28 (`to_digit_frame`:
  `frame="mnist"` resizes U and D to 20x20, bilinear, antialiased, inside a 4-pixel zero border, as MNIST centres
  its digits; `"stretch"` to 28x28). Sources use their train split (D: all 1,797); the target is scored on U test
  (2,007), M test (10,000) or all of D.
- **Label shift** (design): domain i (in angle order, target included) keeps classes {2i, 2i + 1} mod 10 fully and
  every other sample with probability 1 - s.

Each source keeps its first 20% (DomainBed's holdout fraction) as validation, round(0.2 n) samples (DomainBed's
int(0.2 n) with `holdout_rounding="floor"`, which cuts the target's uda part by int() too); positive angles rotate
counter-clockwise as displayed.

Unlabelled target images (multi-source domain adaptation, `DomainTask.unlabeled`), never the images the target is
scored on: with `uda_fraction` > 0 a target with its own train split (U, M in the digits tasks) offers that whole
split, its scored test split unchanged; any other target (a rotated or coloured shard, D) offers its first
`uda_fraction` after the seeded permutation, which is then no longer scored (DomainBed's uda_holdout_fraction:
every algorithm on the task is scored on the same images, whether it uses them or not).

The target's split (`target_split`): "all" (default) scores all of its images (less the unlabelled ones);
"domainbed" splits it as DomainBed splits every environment: its first 20% (rounded as the sources' validation
parts) is its "out" split (`Domain.x_val`, DomainBed's oracle selects on it), the unlabelled part is cut from the
rest, and what remains is its "in" split (`Domain.x_train`), the one scored.

Every run seed sees the split above, fixed by `data_seed` (default). `split_seed=t` (`build_task`) draws the split
of trial t afresh as DomainBed's train.py does per trial_seed: domain i (its index in the task's domain order,
the target included) puts its rows, in the order of the fixed split, in `trial_order(n, t, i)` before the cuts
above, and the target's rest after its "out" split again (DomainBed cuts the uda part with a second shuffle of the
same seed); the images in each domain stay those `data_seed` gives.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from typing import Literal, Mapping

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from reprolab.data import load_digits, load_fashion_mnist, load_mnist, load_usps
from reprolab.runtime.config import check_choice

ANGLES = (0, 15, 30, 45, 60, 75)
HOLDOUT = 0.2
COLORED_ENVS = (("+90%", 0.1), ("+80%", 0.2), ("-90%", 0.9))
MNIST_SIDE, MNIST_DIGIT_SIDE = 28, 20       # MNIST's frame: digits fitted in 20x20, centred in 28x28
Interpolation = Literal["bilinear", "bicubic"]
Frame = Literal["mnist", "stretch"]
HoldoutRounding = Literal["round", "floor"]
ArrayLike = np.ndarray | torch.Tensor
TargetSplit = Literal["all", "domainbed"]
Rotation = Literal["grid_sample", "pil"]
SplitSeed = Literal["fixed", "per_trial"]
PIL_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
TaskName = Literal["rotated_digits", "rotated_digits_shift", "rotated_mnist_0", "rotated_mnist_75",
                   "rotated_mnist_shift", "rotated_fashion_mnist_75", "colored_mnist", "digits_to_usps",
                   "digits_to_mnist", "digits_to_uci"]
DIGIT_DOMAINS = ("mnist", "usps", "digits")
DIGITS_TASK_TARGETS = {"digits_to_usps": "usps", "digits_to_mnist": "mnist", "digits_to_uci": "digits"}
SEPARATE_UNLABELED = ("digits_to_usps", "digits_to_mnist")   # their unlabelled images: the target's train split
# the most run seeds of one task in the quick and paper grids (quick: 5 on a shifted task); each cached split holds a
# copy of its task's arrays (about 0.2 GB for a RotatedMNIST task)
TRIAL_SPLITS_CACHED = 5


@dataclasses.dataclass(frozen=True)
class Domain:
    """One domain: training and validation images with their labels. A target's training part is the part it is
    scored on, its validation part its DomainBed "out" split (empty unless the task is built with
    `target_split="domainbed"`)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray

    @property
    def x_all(self) -> np.ndarray:
        return np.concatenate([self.x_train, self.x_val])

    @property
    def y_all(self) -> np.ndarray:
        return np.concatenate([self.y_train, self.y_val])


@dataclasses.dataclass(frozen=True)
class DomainTask:
    """Labelled sources, one target (scored on its training part: all its images, or its DomainBed "in" split), and
    optionally unlabelled images of the target domain, disjoint from the scored ones (`unlabeled`: multi-source domain
    adaptation); validated on construction."""

    name: str
    sources: tuple[Domain, ...]
    target: Domain
    num_classes: int
    unlabeled: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError(f"task {self.name!r} has no source domain")
        for domain in (*self.sources, self.target):
            if not len(domain.y_all):
                raise ValueError(f"domain {domain.name!r} of task {self.name!r} is empty")
        shape = self.sources[0].x_train.shape[1:]
        for domain in (*self.sources, self.target):
            for part in ("train", "val"):
                x, y = getattr(domain, f"x_{part}"), getattr(domain, f"y_{part}")
                if len(x) != len(y):
                    raise ValueError(f"domain {domain.name!r} {part}: {len(x)} images but {len(y)} labels")
                if len(x) and x.shape[1:] != shape:
                    raise ValueError(f"domain {domain.name!r} has images of shape {x.shape[1:]}, but "
                                     f"{self.sources[0].name!r} has {shape}: every domain needs one image shape")
                if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                    raise ValueError(f"domain {domain.name!r} {part}: labels must lie in [0, {self.num_classes}), "
                                     f"got [{y.min()}, {y.max()}]")
        for domain in self.sources:
            if len(domain.y_train) < 2 or len(domain.y_val) < 1:
                raise ValueError(f"source domain {domain.name!r} needs >= 2 training and >= 1 validation samples, "
                                 f"got {len(domain.y_train)} and {len(domain.y_val)}")
        if self.unlabeled is not None and self.unlabeled.shape[1:] != shape:
            raise ValueError(f"the unlabelled images of target domain {self.target.name!r} have shape "
                             f"{self.unlabeled.shape[1:]}, but {self.sources[0].name!r} has {shape}: every domain "
                             "needs one image shape")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.sources[0].x_train.shape[1:])  # type: ignore[return-value]

    @property
    def has_unlabeled(self) -> bool:
        """Whether the task holds at least one unlabelled target image (multi-source domain adaptation)."""
        return self.unlabeled is not None and len(self.unlabeled) > 0


def from_arrays(name: str, sources: Mapping[str, tuple[ArrayLike, ArrayLike]],
                target: tuple[str, ArrayLike, ArrayLike], num_classes: int, holdout: float = HOLDOUT,
                unlabeled: ArrayLike | None = None) -> DomainTask:
    """A task from a user's own arrays or tensors: sources {name: (x, y)}, each split into train and its first
    `holdout` fraction as validation (shuffle first if the rows are ordered); the target (name, x, y), scored on all
    of it; x (N, C, H, W) float in [0, 1] (or (N, H, W), given one channel; `to_digit_frame` brings digits of another
    size into MNIST's 28x28), y integer labels in [0, num_classes). `unlabeled`: images of the target domain offered
    without labels in multi-source domain adaptation, disjoint from the scored ones. Images of different sizes,
    labels out of range and empty domains raise a ValueError naming the domain."""
    domains = tuple(_holdout_split(n, *_labelled(n, x, y), holdout) for n, (x, y) in sources.items())
    t_name, t_x, t_y = target
    t_x, t_y = _labelled(t_name, t_x, t_y)
    extra = None if unlabeled is None else _as_images(unlabeled, f"the unlabelled images of domain {t_name!r}")
    return DomainTask(name, domains, Domain(t_name, t_x, t_y, t_x[:0], t_y[:0]), num_classes, extra)


def _numpy(a: ArrayLike) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _as_images(x: ArrayLike, what: str) -> np.ndarray:
    """x as float32 (N, C, H, W); (N, H, W) gets one channel; `what` names them in the error."""
    x = _numpy(x).astype(np.float32, copy=False)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"{what}: images must have shape (N, C, H, W) or (N, H, W), got {x.shape}")
    return x


def _labelled(name: str, x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(images, int64 labels) of one domain, checked: as many labels as images, integer labels."""
    images, labels = _as_images(x, f"domain {name!r}"), _numpy(y)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"domain {name!r}: needs one label per image, got {len(images)} images and labels of shape "
                         f"{labels.shape}")
    if labels.dtype.kind not in "iub":
        raise ValueError(f"domain {name!r}: labels must be integers, got dtype {labels.dtype}")
    return images, labels.astype(np.int64)


def _holdout_count(n: int, holdout: float = HOLDOUT, rounding: HoldoutRounding = "round") -> int:
    """round(holdout n), or with `rounding="floor"` int(n holdout) as DomainBed cuts its out- and uda splits (at most
    one fewer)."""
    return int(n * holdout) if rounding == "floor" else int(round(holdout * n))


def _holdout_split(name: str, x: np.ndarray, y: np.ndarray, holdout: float = HOLDOUT,
                   rounding: HoldoutRounding = "round") -> Domain:
    """The first `holdout` fraction is validation (the data are already permuted), `_holdout_count` samples."""
    n_val = _holdout_count(len(y), holdout, rounding)
    return Domain(name, x[n_val:], y[n_val:], x[:n_val], y[:n_val])


def rotate(images: np.ndarray, angle: float, mode: Interpolation, rotation: Rotation = "grid_sample") -> np.ndarray:
    """Rotate (N, C, H, W) images by `angle` degrees about their centre (counter-clockwise as displayed), zero fill:
    by grid sampling, or with `rotation="pil"` by `rotate_pil`."""
    if rotation == "pil":
        return rotate_pil(images, angle, mode)
    if angle == 0:
        return images.copy()
    theta = math.radians(angle)
    x = torch.from_numpy(images)
    rot = torch.tensor([[math.cos(theta), -math.sin(theta), 0.0], [math.sin(theta), math.cos(theta), 0.0]],
                       dtype=torch.float32)
    grid = F.affine_grid(rot.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out.clamp_(0.0, 1.0).numpy()


def rotate_pil(images: np.ndarray, angle: float, mode: Interpolation) -> np.ndarray:
    """DomainBed's rotation (torchvision's `rotate` on PIL images): each channel of (N, C, H, W) images in [0, 1] as an
    8-bit image (round(255 x): MNIST's own bytes), PIL's `Image.rotate` by `angle` degrees about the centre
    (counter-clockwise), `mode` resampling, fill 0, then / 255."""
    pixels = np.rint(images * 255).astype(np.uint8)
    out = np.empty_like(pixels)
    for index in np.ndindex(*pixels.shape[:2]):
        image = Image.fromarray(pixels[index])
        out[index] = np.asarray(image.rotate(angle, resample=PIL_RESAMPLE[mode], fillcolor=0))
    return out.astype(np.float32) / 255.0


def resize(images: np.ndarray, size: int, antialias: bool = False) -> np.ndarray:
    """(N, C, H, W) -> (N, C, size, size), bilinear."""
    out = F.interpolate(torch.from_numpy(images), size=(size, size), mode="bilinear", align_corners=False,
                        antialias=antialias)
    return out.clamp_(0.0, 1.0).numpy()


def to_digit_frame(images: ArrayLike, frame: Frame = "mnist") -> np.ndarray:
    """Digit images in [0, 1] of any size, (N, H, W) or (N, C, H, W) array or tensor, as (N, C, 28, 28) float32 in
    MNIST's frame: `"mnist"` resizes them to 20x20 (bilinear, antialiased) inside a 4-pixel zero border, as MNIST
    centres its digits; `"stretch"` resizes them to 28x28."""
    if frame not in ("mnist", "stretch"):
        raise ValueError(f"frame must be 'mnist' or 'stretch', got {frame!r}")
    x = np.ascontiguousarray(_as_images(images, "to_digit_frame"))
    if frame == "stretch":
        return resize(x, MNIST_SIDE, antialias=True)
    border = (MNIST_SIDE - MNIST_DIGIT_SIDE) // 2
    return np.pad(resize(x, MNIST_DIGIT_SIDE, antialias=True), ((0, 0), (0, 0), (border, border), (border, border)))


def seed_hash(*args: object) -> int:
    """DomainBed's seed from values: int(md5(str(args)), 16) mod 2^31 (the official code's `misc.seed_hash`)."""
    return int(hashlib.md5(str(args).encode("utf-8")).hexdigest(), 16) % 2**31


def trial_order(n: int, trial_seed: int, domain_index: int) -> np.ndarray:
    """The order DomainBed's `split_dataset` gives n rows of environment `domain_index` in trial `trial_seed`: numpy's
    legacy RandomState(seed_hash(trial_seed, domain_index)) shuffling 0..n-1; its first rows are then cut off."""
    return np.random.RandomState(seed_hash(trial_seed, domain_index)).permutation(n)


def _in_trial_order(x: np.ndarray, y: np.ndarray, trial: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """The rows as they are (`trial` None), or in `trial_order` of `trial` = (trial seed, domain index)."""
    if trial is None:
        return x, y
    order = trial_order(len(y), *trial)
    return x[order], y[order]


def _target_and_unlabeled(name: str, x: np.ndarray, y: np.ndarray, uda_fraction: float,
                          split: TargetSplit = "all", rounding: HoldoutRounding = "round",
                          trial: tuple[int, int] | None = None) -> tuple[Domain, np.ndarray | None]:
    """The target and, with uda_fraction > 0, its first `uda_fraction` (the rows are already permuted) offered
    unlabelled instead of scored (DomainBed's uda split). `split="domainbed"`: the first 20% (`_holdout_count`)
    is first set apart as the target's "out" split (its validation part), the uda part is then cut from the
    rest (DomainBed cuts it from the "in" split), and the remaining "in" split is scored. `trial` = (trial seed,
    domain index): the rows are first put in `trial_order`, and the rest again before the uda cut."""
    if not 0.0 <= uda_fraction < 1.0:
        raise ValueError(f"uda_fraction must lie in [0, 1), got {uda_fraction}")
    x, y = _in_trial_order(x, y, trial)
    n_out = _holdout_count(len(y), rounding=rounding) if split == "domainbed" else 0
    rest_x, rest_y = _in_trial_order(x[n_out:], y[n_out:], trial)
    n = _holdout_count(len(rest_y), uda_fraction, rounding)
    return Domain(name, rest_x[n:], rest_y[n:], x[:n_out], y[:n_out]), (rest_x[:n] if n else None)


def label_shift_mask(y: np.ndarray, domain_index: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Keep classes {2i, 2i + 1} mod 10 of domain i, every other sample with probability 1 - strength."""
    if not 0.0 <= strength < 1.0:
        raise ValueError(f"label shift strength must lie in [0, 1), got {strength}")
    favoured = np.isin(y, [(2 * domain_index) % 10, (2 * domain_index + 1) % 10])
    return favoured | (rng.random(len(y)) >= strength)


def rotated_domains(name: str, x: np.ndarray, y: np.ndarray, target_angle: int, data_seed: int,
                    mode: Interpolation, label_shift: float = 0.0, shift_target: bool = True,
                    uda_fraction: float = 0.0, holdout_rounding: HoldoutRounding = "round",
                    target_split: TargetSplit = "all", rotation: Rotation = "grid_sample") -> DomainTask:
    """Permute, cut into len(ANGLES) stride shards, rotate shard i by ANGLES[i] (`rotate`, by `rotation`); the
    target is the shard at `target_angle` (scored on all of it but its first `uda_fraction`, offered unlabelled, or
    as `target_split` cuts it: `_target_and_unlabeled`); the others are sources with a 20% validation part
    (`_holdout_split`)."""
    if target_angle not in ANGLES:
        raise ValueError(f"target_angle must be one of {ANGLES}, got {target_angle}")
    rng = np.random.default_rng(data_seed)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    sources, target, unlabeled = [], None, None
    for i, angle in enumerate(ANGLES):
        xs, ys = x[i::len(ANGLES)], y[i::len(ANGLES)]
        if label_shift > 0 and (angle != target_angle or shift_target):
            keep = label_shift_mask(ys, i, label_shift, rng)
            xs, ys = xs[keep], ys[keep]
        xs = rotate(xs, angle, mode, rotation)
        if angle == target_angle:
            target, unlabeled = _target_and_unlabeled(f"{angle}deg", xs, ys, uda_fraction, target_split,
                                                      holdout_rounding)
        else:
            sources.append(_holdout_split(f"{angle}deg", xs, ys, rounding=holdout_rounding))
    return DomainTask(name, tuple(sources), target, 10, unlabeled)


@functools.lru_cache(maxsize=1)
def _digits_16() -> tuple[np.ndarray, np.ndarray]:
    ds = load_digits()
    return resize((ds.x / 16.0)[:, None].astype(np.float32), 16), ds.y


def _mnist_like(loader) -> tuple[np.ndarray, np.ndarray]:
    train, test = loader("train"), loader("test")
    x = np.concatenate([train.x, test.x]).astype(np.float32)[:, None] / 255.0
    return x, np.concatenate([train.y, test.y])


def colored_mnist(data_seed: int, uda_fraction: float = 0.0, holdout_rounding: HoldoutRounding = "round",
                  target_split: TargetSplit = "all") -> DomainTask:
    """DomainBed's ColoredMNIST; sources "+90%", "+80%", target "-90%" (its first `uda_fraction` unlabelled; split
    by `target_split`)."""
    x, digits = _mnist_like(load_mnist)
    rng = np.random.default_rng(data_seed)
    order = rng.permutation(len(digits))
    x, digits = x[order], digits[order]
    domains = []
    for i, (env, e) in enumerate(COLORED_ENVS):
        xs, ds = x[i::len(COLORED_ENVS)], digits[i::len(COLORED_ENVS)]
        y = (ds < 5).astype(np.int64) ^ (rng.random(len(ds)) < 0.25)
        colour = y ^ (rng.random(len(ds)) < e)
        images = np.concatenate([xs, xs], axis=1)
        images[np.arange(len(y)), 1 - colour] = 0.0
        domains.append((env, images, y.astype(np.int64)))
    sources = tuple(_holdout_split(env, xs, ys, rounding=holdout_rounding) for env, xs, ys in domains[:-1])
    env, xs, ys = domains[-1]
    target, unlabeled = _target_and_unlabeled(env, xs, ys, uda_fraction, target_split, holdout_rounding)
    return DomainTask("colored_mnist", sources, target, 2, unlabeled)


def digit_domain(name: Literal["mnist", "usps", "digits"], split: str, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """One digit dataset as 1x28x28 in [0, 1]."""
    if name == "mnist":
        ds = load_mnist(split)
        return ds.x.astype(np.float32)[:, None] / 255.0, ds.y
    ds = load_usps(split) if name == "usps" else load_digits("all")
    return to_digit_frame(ds.x / (16.0 if name == "digits" else 1.0), frame), ds.y


def digits_multisource(target: Literal["usps", "mnist", "digits"], data_seed: int, frame: Frame = "mnist",
                       uda_fraction: float = 0.0, holdout_rounding: HoldoutRounding = "round",
                       target_split: TargetSplit = "all") -> DomainTask:
    """MNIST, USPS and UCI digits, one of them the target (module docstring); `target_split` cuts the scored images
    of the target (U and M: their test split, in file order; D: permuted) as `_target_and_unlabeled` does."""
    check_choice("target", target, DIGIT_DOMAINS)
    rng = np.random.default_rng(data_seed)
    sources = []
    for name in (n for n in DIGIT_DOMAINS if n != target):
        x, y = digit_domain(name, "all" if name == "digits" else "train", frame)
        order = rng.permutation(len(y))
        sources.append(_holdout_split(name, x[order], y[order], rounding=holdout_rounding))
    if target == "digits":                     # no train split: the uda part is cut from the scored images
        x, y = digit_domain(target, "all", frame)
        order = rng.permutation(len(y))
        scored, unlabeled = _target_and_unlabeled(target, x[order], y[order], uda_fraction, target_split,
                                                  holdout_rounding)
    else:                                      # the target's train split, never scored
        x, y = digit_domain(target, "test", frame)
        scored, _ = _target_and_unlabeled(target, x, y, 0.0, target_split, holdout_rounding)
        unlabeled = digit_domain(target, "train", frame)[0] if uda_fraction > 0 else None
    return DomainTask(f"digits_to_{target}", tuple(sources), scored, 10, unlabeled)


def build_task(name: TaskName, data_seed: int = 0, label_shift: float = 0.8, shift_target: bool = True,
               interpolation: Interpolation = "bicubic", frame: Frame = "mnist", uda_fraction: float = 0.0,
               holdout_rounding: HoldoutRounding = "round", target_split: TargetSplit = "all",
               rotation: Rotation = "grid_sample", split_seed: int | None = None) -> DomainTask:
    """A named task, cached in-process: every run of a grid on one task shares its arrays (the two latest fixed
    splits are kept) and, with `split_seed`, every run of one trial its split (the `TRIAL_SPLITS_CACHED` latest,
    keyed by every argument). `interpolation` and `rotation`: RotatedMNIST's and RotatedFashionMNIST's rotation
    (`rotate`; RotatedDigits: bilinear grid sampling); `frame`: the digits tasks' 28x28 frame (`to_digit_frame`);
    `uda_fraction` > 0: unlabelled target images in `task.unlabeled` (module docstring); `holdout_rounding`: the
    size of a source's validation part (`_holdout_split`), of the target's "out" split and of its uda part;
    `target_split`: the target's split (module docstring); `split_seed`: the split of that trial
    (`split_per_trial`), None the fixed one."""
    for key, value, options in (("holdout_rounding", holdout_rounding, HoldoutRounding),
                                ("target_split", target_split, TargetSplit), ("rotation", rotation, Rotation),
                                ("interpolation", interpolation, Interpolation)):
        check_choice(key, value, options)
    if not 0.0 <= uda_fraction < 1.0:
        raise ValueError(f"uda_fraction must lie in [0, 1), got {uda_fraction}")
    settings = (name, data_seed, label_shift, shift_target, interpolation, frame, uda_fraction, holdout_rounding,
                target_split, rotation)
    return _fixed_task(*settings) if split_seed is None else _trial_task(*settings, split_seed)


@functools.lru_cache(maxsize=2)
def _fixed_task(name: TaskName, data_seed: int, label_shift: float, shift_target: bool, interpolation: Interpolation,
                frame: Frame, uda_fraction: float, holdout_rounding: HoldoutRounding, target_split: TargetSplit,
                rotation: Rotation) -> DomainTask:
    """The named task as `data_seed` splits it (`build_task`, which checks the arguments)."""
    if name in ("rotated_digits", "rotated_digits_shift"):
        x, y = _digits_16()
        shift = label_shift if name.endswith("_shift") else 0.0
        return rotated_domains(name, x, y, target_angle(name), data_seed, "bilinear", shift, shift_target,
                               uda_fraction, holdout_rounding, target_split)
    if name.startswith("rotated_mnist"):
        x, y = _mnist_like(load_mnist)
        shift = label_shift if name.endswith("_shift") else 0.0
        return rotated_domains(name, x, y, target_angle(name), data_seed, interpolation, shift, shift_target,
                               uda_fraction, holdout_rounding, target_split, rotation)
    if name == "rotated_fashion_mnist_75":
        x, y = _mnist_like(load_fashion_mnist)
        return rotated_domains(name, x, y, target_angle(name), data_seed, interpolation, uda_fraction=uda_fraction,
                               holdout_rounding=holdout_rounding, target_split=target_split, rotation=rotation)
    if name == "colored_mnist":
        return colored_mnist(data_seed, uda_fraction, holdout_rounding, target_split)
    if name in DIGITS_TASK_TARGETS:
        return digits_multisource(DIGITS_TASK_TARGETS[name], data_seed, frame, uda_fraction, holdout_rounding,
                                  target_split)
    raise ValueError(f"unknown task {name!r}")


@functools.lru_cache(maxsize=TRIAL_SPLITS_CACHED)
def _trial_task(name: TaskName, data_seed: int, label_shift: float, shift_target: bool, interpolation: Interpolation,
                frame: Frame, uda_fraction: float, holdout_rounding: HoldoutRounding, target_split: TargetSplit,
                rotation: Rotation, split_seed: int) -> DomainTask:
    """The named task split for trial `split_seed` (`build_task`, which checks the arguments): `split_per_trial` of
    the task as `data_seed` splits it with its target unsplit (`target_split="all"`, no uda part cut from it unless
    its unlabelled images are a split of their own)."""
    unsplit = _fixed_task(name, data_seed, label_shift, shift_target, interpolation, frame,
                          uda_fraction if name in SEPARATE_UNLABELED else 0.0, holdout_rounding, "all", rotation)
    return split_per_trial(unsplit, target_index(name), split_seed, uda_fraction, holdout_rounding, target_split)


def target_angle(name: TaskName) -> int:
    """The target's rotation in degrees of a rotated task: 0 for `rotated_mnist_0`, 75 for every other one."""
    return 0 if name == "rotated_mnist_0" else 75


def target_index(name: TaskName) -> int:
    """The target's index among the named task's domains (DomainBed's environment order: angles, colours, or
    MNIST, USPS, UCI digits)."""
    if name in DIGITS_TASK_TARGETS:
        return DIGIT_DOMAINS.index(DIGITS_TASK_TARGETS[name])
    if name == "colored_mnist":
        return len(COLORED_ENVS) - 1
    return ANGLES.index(target_angle(name))


def split_per_trial(unsplit: DomainTask, target_at: int, trial_seed: int, uda_fraction: float = 0.0,
                    holdout_rounding: HoldoutRounding = "round", target_split: TargetSplit = "all") -> DomainTask:
    """`unsplit` (a task whose target is unsplit: `target_split="all"`, no uda part cut from it) split afresh for
    trial `trial_seed`, as DomainBed splits every environment per trial_seed: domain i (the target at index
    `target_at`) takes its rows in `unsplit`'s order (a source's validation part first), puts them in
    `trial_order(n, trial_seed, i)` and is cut as the fixed split cuts it (`_holdout_split`,
    `_target_and_unlabeled`, whose uda part, with `uda_fraction` > 0, is drawn afresh too). A task whose
    unlabelled images are a split of their own (`unsplit.unlabeled` given) keeps them and cuts none."""
    indices = [i for i in range(len(unsplit.sources) + 1) if i != target_at]
    sources = tuple(_holdout_split(d.name, *_in_trial_order(np.concatenate([d.x_val, d.x_train]),
                                                             np.concatenate([d.y_val, d.y_train]),
                                                             (trial_seed, i)), rounding=holdout_rounding)
                    for d, i in zip(unsplit.sources, indices))
    t = unsplit.target
    cut = 0.0 if unsplit.unlabeled is not None else uda_fraction
    target, unlabeled = _target_and_unlabeled(t.name, t.x_all, t.y_all, cut, target_split, holdout_rounding,
                                              (trial_seed, target_at))
    return DomainTask(unsplit.name, sources, target, unsplit.num_classes,
                      unsplit.unlabeled if unsplit.unlabeled is not None else unlabeled)
