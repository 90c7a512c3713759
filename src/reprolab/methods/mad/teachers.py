"""Teachers trained in-project on real data and cached as checkpoints (loaded with weights_only=True).

Datasets (real data only trains the teacher and tests the student):
- "mnist": MNIST resized to 32x32 (bilinear), normalised with mean 0.1307, std 0.3081 (DFAD code).
- "digits": scikit-learn's 8x8 digits, pixels / 16 mapped to [-1, 1], permuted with seed 0, 1297 train /
  500 test (2-core CPU prototype).
- "cifar10": CIFAR-10 (the canonical python archive when present, else the JPEG copy), normalised per channel.
Recipes: MNIST LeNet5 by SGD lr 0.01, momentum 0.9, wd 1e-4, batch 256, 10 epochs; digits CNN(16) by
Adam 1e-3, 30 epochs, batch 64; CIFAR-10 ResNet-34 by SGD 0.1, momentum 0.9, wd 5e-4, batch 128, 200 epochs,
lr x 0.1 every 80 epochs, with random crop (pad 4) and horizontal flip; "cifar10_resnet34_constant_lr" the same at
lr 0.1 for all 200 epochs, the schedule of DFAD's README command (its `--step_size 80` acts only with `--scheduler`,
which the command leaves out; the official code's `train_teacher.py`). Training runs on `runtime.train.run_loop`
(checkpoints and exact resume); a teacher keeps its last weights.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reprolab.data import load_cifar10, load_digits, load_mnist
from reprolab.nets import LeNet5, ResNetClassifier, SmallCNN, cifar_resnet18, cifar_resnet34
from reprolab.nets.augment import random_crop_flip
from reprolab.nets.scoring import accuracy
from reprolab.runtime.cache import entry_path, load_or_train
from reprolab.runtime.train import LoopCheckpoints, ShuffledBatches, run_loop

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CROP_PADDING = 4                      # the CIFAR-10 recipe's random crop


@dataclasses.dataclass(frozen=True)
class TeacherRecipe:
    dataset: str
    arch: str
    optimizer: str
    lr: float
    epochs: int
    batch_size: int
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_step_epochs: int = 0           # multiply lr by 0.1 every this many epochs (0: constant)
    augment: bool = False


CIFAR10_RESNET34 = TeacherRecipe("cifar10", "resnet34", "sgd", 0.1, 200, 128, weight_decay=5e-4, lr_step_epochs=80,
                                 augment=True)
RECIPES = {
    "mnist_lenet5": TeacherRecipe("mnist", "lenet5", "sgd", 0.01, 10, 256, weight_decay=1e-4),
    "digits_cnn16": TeacherRecipe("digits", "cnn16", "adam", 1e-3, 30, 64),
    "cifar10_resnet34": CIFAR10_RESNET34,
    # DFAD's README command without `--scheduler`: the step at 80 epochs never happens
    "cifar10_resnet34_constant_lr": dataclasses.replace(CIFAR10_RESNET34, lr_step_epochs=0),
}


def load_split(dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, C, H, W) float32 as the networks take them, and labels (N,) int64."""
    if dataset == "mnist":
        data = load_mnist(split)
        x = torch.from_numpy(data.x).float().div_(255).unsqueeze(1)
        x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
        return (x - MNIST_MEAN) / MNIST_STD, torch.from_numpy(data.y)
    if dataset == "digits":
        data = load_digits()
        order = np.random.default_rng(0).permutation(len(data))
        part = order[:1297] if split == "train" else order[1297:]
        x = torch.from_numpy(data.x[part] / 16.0 * 2.0 - 1.0).float().unsqueeze(1)
        return x, torch.from_numpy(data.y[part])
    if dataset == "cifar10":
        data = load_cifar10(split)
        x = torch.from_numpy(data.x).float().div_(255).permute(0, 3, 1, 2)
        mean, std = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
        return (x - mean) / std, torch.from_numpy(data.y)
    raise ValueError(f"unknown dataset {dataset!r}; known: mnist, digits, cifar10")


def build_network(arch: str, num_classes: int = 10) -> nn.Module:
    """Teacher and student architectures by name."""
    networks = {"lenet5": lambda: LeNet5(1, num_classes), "lenet5_half": lambda: LeNet5(1, num_classes, half=True),
                "cnn16": lambda: SmallCNN(16, 1, num_classes), "cnn6": lambda: SmallCNN(6, 1, num_classes),
                "resnet34": lambda: ResNetClassifier(cifar_resnet34(3), num_classes),
                "resnet18": lambda: ResNetClassifier(cifar_resnet18(3), num_classes)}
    if arch not in networks:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(networks)}")
    return networks[arch]()


def train_teacher(name: str, seed: int = 0, device: str | torch.device = "cpu", progress: bool = False,
                  checkpoints: LoopCheckpoints = LoopCheckpoints()) -> dict:
    """Train a teacher by its recipe; returns {"model", "test_accuracy", "seconds"}. `checkpoints`: where the loop
    keeps its checkpoint ("teacher_<name>_s<seed>")."""
    recipe = RECIPES[name]
    torch.manual_seed(seed)
    x, y = load_split(recipe.dataset, "train")
    x_test, y_test = load_split(recipe.dataset, "test")
    model = build_network(recipe.arch).to(device)
    if recipe.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                              weight_decay=recipe.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, recipe.lr_step_epochs, 0.1) if recipe.lr_step_epochs else None
    gen = torch.Generator().manual_seed(seed)
    batches = ShuffledBatches(len(y), recipe.batch_size, gen)

    def step(i: int) -> torch.Tensor:
        idx = batches(i)
        xb = random_crop_flip(x[idx], gen, CROP_PADDING) if recipe.augment else x[idx]
        loss = F.cross_entropy(model(xb.to(device)), y[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None and (i + 1) % batches.per_epoch == 0:
            sched.step()
        return loss.detach()

    objects = {"model": model, "optimizer": opt, "gen": gen, "batches": batches,
               **({"scheduler": sched} if sched is not None else {})}
    start = time.perf_counter()
    model.train()
    run_loop(recipe.epochs * batches.per_epoch, step, objects=objects, desc=f"teacher {name}", progress=progress,
             **checkpoints.of(f"teacher_{name}_s{seed}"))
    model.eval()
    return {"model": model, "test_accuracy": accuracy(model, x_test, y_test),
            "seconds": time.perf_counter() - start}


def teacher_path(name: str, seed: int) -> Path:
    """The data cache's file of the teacher: keyed by its recipe, the seed and torch's version."""
    return entry_path("teachers", f"{name}-s{seed}", [dataclasses.asdict(RECIPES[name]), seed, torch.__version__],
                      digits=12)


def load_or_train_teacher(name: str, seed: int = 0, device: str | torch.device = "cpu",
                          progress: bool = False, threads: int | None = None,
                          checkpoints: LoopCheckpoints = LoopCheckpoints()) -> tuple[nn.Module, dict]:
    """The cached teacher (weights_only load) or a freshly trained one (with `threads` torch threads, when given;
    its training checkpointed by `checkpoints`), cached atomically; and its record."""
    if name not in RECIPES:
        raise ValueError(f"unknown teacher {name!r}; known: {', '.join(RECIPES)}")
    path = teacher_path(name, seed)

    def train() -> tuple[dict, dict]:
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(threads or previous_threads)
        try:
            trained = train_teacher(name, seed, device, progress, checkpoints)
        finally:
            torch.set_num_threads(previous_threads)
        record = {"name": name, "seed": seed, "test_accuracy": trained["test_accuracy"],
                  "train_seconds": trained["seconds"], "recipe": dataclasses.asdict(RECIPES[name])}
        return {"state_dict": trained["model"]}, {"record": record}

    networks, extra, cached = load_or_train(path, lambda: {"state_dict": build_network(RECIPES[name].arch)}, train,
                                            ("record",))
    return networks["state_dict"].to(device).eval(), {**extra["record"], "cached": cached, "path": str(path)}
