"""Multi-domain tasks built from real digit datasets: each domain is a real dataset, transformed.

Every builder takes a `data_seed` and its own generator (never the global RNG), so a task is the same array for
the same seed. Images are float32 (N, C, H, W) in [0, 1].

- **RotatedDigits** (quick scale; design): scikit-learn's 1,797 8x8 digits / 16, bilinear to 16x16, permuted,
  6 disjoint stride shards (i, i + 6, ...; ~300 each), rotated by 0/15/30/45/60/75 degrees (bilinear grid
  sampling, zero fill).
- **RotatedMNIST** (DomainBed): MNIST train + test (70,000), permuted, 6 stride shards, the same angles, bicubic.
  **RotatedFashionMNIST**: the same on Fashion-MNIST.
- **ColoredMNIST** (DomainBed): 70,000 permuted, 3 stride shards with e = 0.1, 0.2, 0.9 ("+90%", "+80%",
  "-90%"); y = 1[digit < 5] XOR Bernoulli(0.25); colour = y XOR Bernoulli(e); two channels, channel (1 - colour)
  zeroed; 2x28x28 (no 2x subsampling). Target "-90%".
- **Digits multi-source** (design): MNIST (M), USPS (U) and UCI digits (D) as 1x28x28; `frame="mnist"` resizes U and
  D to 20x20 (bilinear, antialiased) inside a 4-pixel zero border, `"stretch"` to 28x28. Sources use their train
  split (D: all 1,797); the target is scored on U test (2,007), M test (10,000) or all of D.
- **Label shift** (design): domain i (in angle order, target included) keeps classes {2i, 2i + 1} mod 10 fully and
  every other sample with probability 1 - s.

Each source keeps its first 20% (DomainBed's holdout fraction) as validation; positive angles rotate
counter-clockwise as displayed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from reprolab.data import load_digits, load_fashion_mnist, load_mnist, load_usps

ANGLES = (0, 15, 30, 45, 60, 75)
HOLDOUT = 0.2
COLORED_ENVS = (("+90%", 0.1), ("+80%", 0.2), ("-90%", 0.9))
TaskName = Literal["rotated_digits", "rotated_digits_shift", "rotated_mnist_0", "rotated_mnist_75",
                   "rotated_mnist_shift", "rotated_fashion_mnist_75", "colored_mnist", "digits_to_usps",
                   "digits_to_mnist", "digits_to_uci"]


@dataclasses.dataclass(frozen=True)
class Domain:
    """One domain: training and validation images with their labels (a target's validation part is empty)."""

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
    """Labelled sources and one target; validated on construction."""

    name: str
    sources: tuple[Domain, ...]
    target: Domain
    num_classes: int

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError(f"task {self.name!r} has no source domain")
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
        if len(self.target.y_all) < 1:
            raise ValueError(f"target domain {self.target.name!r} is empty")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.sources[0].x_train.shape[1:])  # type: ignore[return-value]


def from_arrays(name: str, sources: dict[str, tuple[np.ndarray, np.ndarray]],
                target: tuple[str, np.ndarray, np.ndarray], num_classes: int, holdout: float = HOLDOUT) -> DomainTask:
    """A task from a user's own arrays: sources {name: (x, y)} split into train / the first `holdout` as val;
    x (N, C, H, W) float in [0, 1] (or (N, H, W), given one channel), y integer labels in [0, num_classes)."""
    domains = tuple(_holdout_split(n, _as_images(x, n), np.asarray(y, dtype=np.int64), holdout)
                    for n, (x, y) in sources.items())
    t_name, t_x, t_y = target
    empty = np.zeros((0, *_as_images(t_x, t_name).shape[1:]), np.float32)
    return DomainTask(name, domains, Domain(t_name, _as_images(t_x, t_name), np.asarray(t_y, dtype=np.int64), empty,
                                            np.zeros(0, np.int64)), num_classes)


def _as_images(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"domain {name!r}: images must have shape (N, C, H, W) or (N, H, W), got {x.shape}")
    return x


def _holdout_split(name: str, x: np.ndarray, y: np.ndarray, holdout: float = HOLDOUT) -> Domain:
    """The first `holdout` fraction is validation (the data are already permuted)."""
    n_val = int(round(holdout * len(y)))
    return Domain(name, x[n_val:], y[n_val:], x[:n_val], y[:n_val])


def rotate(images: np.ndarray, angle: float, mode: Literal["bilinear", "bicubic"]) -> np.ndarray:
    """Rotate (N, C, H, W) images by `angle` degrees about their centre (counter-clockwise as displayed), zero fill."""
    if angle == 0:
        return images.copy()
    theta = math.radians(angle)
    x = torch.from_numpy(images)
    rot = torch.tensor([[math.cos(theta), -math.sin(theta), 0.0], [math.sin(theta), math.cos(theta), 0.0]],
                       dtype=torch.float32)
    grid = F.affine_grid(rot.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out.clamp_(0.0, 1.0).numpy()


def resize(images: np.ndarray, size: int, antialias: bool = False) -> np.ndarray:
    """(N, C, H, W) -> (N, C, size, size), bilinear."""
    out = F.interpolate(torch.from_numpy(images), size=(size, size), mode="bilinear", align_corners=False,
                        antialias=antialias)
    return out.clamp_(0.0, 1.0).numpy()


def label_shift_mask(y: np.ndarray, domain_index: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Keep classes {2i, 2i + 1} mod 10 of domain i, every other sample with probability 1 - strength."""
    if not 0.0 <= strength < 1.0:
        raise ValueError(f"label shift strength must lie in [0, 1), got {strength}")
    favoured = np.isin(y, [(2 * domain_index) % 10, (2 * domain_index + 1) % 10])
    return favoured | (rng.random(len(y)) >= strength)


def rotated_domains(name: str, x: np.ndarray, y: np.ndarray, target_angle: int, data_seed: int,
                    mode: Literal["bilinear", "bicubic"], label_shift: float = 0.0,
                    shift_target: bool = True) -> DomainTask:
    """Permute, cut into len(ANGLES) stride shards, rotate shard i by ANGLES[i]; the target is the shard at
    `target_angle` (scored on all of it); the others are sources with a 20% validation part."""
    if target_angle not in ANGLES:
        raise ValueError(f"target_angle must be one of {ANGLES}, got {target_angle}")
    rng = np.random.default_rng(data_seed)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    sources, target = [], None
    for i, angle in enumerate(ANGLES):
        xs, ys = x[i::len(ANGLES)], y[i::len(ANGLES)]
        if label_shift > 0 and (angle != target_angle or shift_target):
            keep = label_shift_mask(ys, i, label_shift, rng)
            xs, ys = xs[keep], ys[keep]
        xs = rotate(xs, angle, mode)
        if angle == target_angle:
            target = Domain(f"{angle}deg", xs, ys, xs[:0], ys[:0])
        else:
            sources.append(_holdout_split(f"{angle}deg", xs, ys))
    return DomainTask(name, tuple(sources), target, 10)


@functools.lru_cache(maxsize=1)
def _digits_16() -> tuple[np.ndarray, np.ndarray]:
    ds = load_digits()
    return resize((ds.x / 16.0)[:, None].astype(np.float32), 16), ds.y


def _mnist_like(loader) -> tuple[np.ndarray, np.ndarray]:
    train, test = loader("train"), loader("test")
    x = np.concatenate([train.x, test.x]).astype(np.float32)[:, None] / 255.0
    return x, np.concatenate([train.y, test.y])


def colored_mnist(data_seed: int) -> DomainTask:
    """DomainBed's ColoredMNIST; sources "+90%", "+80%", target "-90%"."""
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
    sources = tuple(_holdout_split(env, xs, ys) for env, xs, ys in domains[:-1])
    env, xs, ys = domains[-1]
    return DomainTask("colored_mnist", sources, Domain(env, xs, ys, xs[:0], ys[:0]), 2)


def digit_domain(name: Literal["mnist", "usps", "digits"], split: str, frame: Literal["mnist", "stretch"]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One digit dataset as 1x28x28 in [0, 1]."""
    if frame not in ("mnist", "stretch"):
        raise ValueError(f"frame must be 'mnist' or 'stretch', got {frame!r}")
    if name == "mnist":
        ds = load_mnist(split)
        return ds.x.astype(np.float32)[:, None] / 255.0, ds.y
    ds = load_usps(split) if name == "usps" else load_digits("all")
    x = (ds.x / (16.0 if name == "digits" else 1.0)).astype(np.float32)[:, None]
    if frame == "stretch":
        return resize(x, 28, antialias=True), ds.y
    return np.pad(resize(x, 20, antialias=True), ((0, 0), (0, 0), (4, 4), (4, 4))), ds.y


def digits_multisource(target: Literal["usps", "mnist", "digits"], data_seed: int,
                       frame: Literal["mnist", "stretch"] = "mnist") -> DomainTask:
    names = ("mnist", "usps", "digits")
    if target not in names:
        raise ValueError(f"target must be one of {names}, got {target!r}")
    rng = np.random.default_rng(data_seed)
    sources = []
    for name in (n for n in names if n != target):
        x, y = digit_domain(name, "all" if name == "digits" else "train", frame)
        order = rng.permutation(len(y))
        sources.append(_holdout_split(name, x[order], y[order]))
    x, y = digit_domain(target, "all" if target == "digits" else "test", frame)
    return DomainTask(f"digits_to_{target}", tuple(sources), Domain(target, x, y, x[:0], y[:0]), 10)


@functools.lru_cache(maxsize=2)
def build_task(name: TaskName, data_seed: int = 0, label_shift: float = 0.8, shift_target: bool = True) -> DomainTask:
    """A named task (cached in-process: every run of a grid on one task shares its arrays)."""
    if name in ("rotated_digits", "rotated_digits_shift"):
        x, y = _digits_16()
        shift = label_shift if name.endswith("_shift") else 0.0
        return rotated_domains(name, x, y, 75, data_seed, "bilinear", shift, shift_target)
    if name.startswith("rotated_mnist"):
        x, y = _mnist_like(load_mnist)
        shift = label_shift if name.endswith("_shift") else 0.0
        angle = 0 if name.endswith("_0") else 75
        return rotated_domains(name, x, y, angle, data_seed, "bicubic", shift, shift_target)
    if name == "rotated_fashion_mnist_75":
        x, y = _mnist_like(load_fashion_mnist)
        return rotated_domains(name, x, y, 75, data_seed, "bicubic")
    if name == "colored_mnist":
        return colored_mnist(data_seed)
    if name in ("digits_to_usps", "digits_to_mnist", "digits_to_uci"):
        target = {"digits_to_usps": "usps", "digits_to_mnist": "mnist", "digits_to_uci": "digits"}[name]
        return digits_multisource(target, data_seed)
    raise ValueError(f"unknown task {name!r}")
