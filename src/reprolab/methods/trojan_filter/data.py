"""The experiment's data: train / defender / held-out / test splits of MNIST or CIFAR-10 (JPEG copy) as [0, 1]
images, the natural images image-BI+ blends in, and the smaller defender sets of the robustness sweep.

The first `train_size` training images train the Trojaned classifier; the next `defender_size` form the defender's
clean set D_def (a tenth of it held out for the collapse check); the first `test_size` test images evaluate.
CIFAR-10's training images are shuffled once with a fixed seed first, and its `test_size` test images are a
fixed-seed random pick (the JPEG copy is grouped by class).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from reprolab.data import load_cifar10, load_mnist
from reprolab.methods.trojan_filter.config import TrojanExperimentConfig

DATASETS = {"mnist": (1, 28), "cifar10": (3, 32)}              # channels, image size
DATASET_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR-10 (JPEG copy)"}


def as_images(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    t = torch.from_numpy(np.array(x, copy=True)).float().div_(255)
    return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()


def load_splits(cfg: TrojanExperimentConfig) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """train / defender / held_out / test splits of the configured dataset, and `spare` (the rest of the training
    images: image-BI+ patterns on CIFAR-10 come from there, outside training, D_def and evaluation)."""
    if cfg.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; known: {', '.join(DATASETS)}")
    loader = load_mnist if cfg.dataset == "mnist" else load_cifar10
    train, test = loader("train"), loader("test")
    order = np.arange(len(train.y))
    if cfg.dataset == "cifar10":
        order = np.random.default_rng(0).permutation(len(order))     # the JPEG copy is grouped by class
    x, y = as_images(train.x[order]), torch.from_numpy(train.y[order])
    x_test, y_test = as_images(test.x[: cfg.test_size]), torch.from_numpy(test.y[: cfg.test_size])
    if cfg.dataset == "cifar10":
        pick = np.random.default_rng(1).permutation(len(test.y))[: cfg.test_size]
        x_test, y_test = as_images(test.x[pick]), torch.from_numpy(test.y[pick])
    a, b = cfg.train_size, cfg.train_size + cfg.defender_size
    if b > len(y):
        raise ValueError(f"train_size + defender_size = {b} exceeds the {len(y)} {cfg.dataset} training images")
    held = cfg.defender_size // 10
    return {"train": (x[:a], y[:a]), "defender": (x[a:b - held], y[a:b - held]),
            "held_out": (x[b - held:b], y[b - held:b]), "test": (x_test, y_test), "spare": (x[b:], y[b:])}


def natural_patterns(n: int, cfg: TrojanExperimentConfig, spare: torch.Tensor, seed: int) -> torch.Tensor:
    """image-BI+ patterns. MNIST: `n` CIFAR-10 test images (JPEG copy), grey-scaled and resized to 28 x 28.
    CIFAR-10: `n` held-out training images (`spare`, outside training, D_def and evaluation)."""
    gen = torch.Generator().manual_seed(seed)
    if cfg.dataset == "cifar10":
        if len(spare) < n:
            raise ValueError(f"image-BI+ needs {n} spare CIFAR-10 training images; train_size + defender_size "
                             f"leaves {len(spare)}")
        return spare[torch.randperm(len(spare), generator=gen)[:n]]
    images = load_cifar10("test").x
    x = as_images(images[torch.randperm(len(images), generator=gen)[:n].numpy()])
    grey = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return F.interpolate(grey, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)


def defender_subsets(data: dict, sizes: tuple[int, ...], seed: int):
    """(size, x, y): seeded random subsets of the defender set, smallest first."""
    x_def, y_def = data["defender"]
    if any(not 0 < n <= len(y_def) for n in sizes):
        raise ValueError(f"defender_sweep sizes must lie in 1..{len(y_def)} (the defender set), got {sizes}")
    order = torch.randperm(len(y_def), generator=torch.Generator().manual_seed(seed)).to(y_def.device)
    for n in sorted(sizes):
        yield n, x_def[order[:n]], y_def[order[:n]]


def to_device(data: dict, device: str) -> dict:
    """Every (x, y) split moved to `device`."""
    return {k: (x.to(device), y.to(device)) for k, (x, y) in data.items()}
