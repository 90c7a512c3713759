"""Scoring a classifier: predictions made in batches (a CIFAR-10 test set through a ResNet at once, or GradCAM over
it, is gigabytes) and rates counted exactly, count / n in double precision (a float32 mean reads 50 / 1000 as
0.0500000007 > 0.05)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

BATCH = 1000


def fraction(flags: torch.Tensor) -> float:
    """The fraction of True entries (NaN for an empty tensor)."""
    return int(flags.sum()) / len(flags) if len(flags) else float("nan")


def batched(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """predict(x) computed `batch` rows at a time and concatenated."""
    if len(x) <= batch:
        return predict(x)
    return torch.cat([predict(x[i:i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def labels_of(classifier: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """argmax classifier(x) over the classes, `batch` rows at a time."""
    return batched(lambda xb: classifier(xb).argmax(1), x, batch)


@torch.no_grad()
def prediction_accuracy(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                        batch: int = BATCH) -> float:
    """The fraction of the labels predict(x) equal to y (any label predict gives, e.g. -1 for a rejection)."""
    return fraction(batched(predict, x, batch).to(y.device) == y)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = BATCH) -> float:
    """The fraction of argmax model(x) equal to y, the model in eval mode (its mode restored after), each batch of x
    moved to the model's device."""
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    try:
        return prediction_accuracy(lambda xb: model(xb.to(device)).argmax(1), x, y, batch)
    finally:
        model.train(was_training)
