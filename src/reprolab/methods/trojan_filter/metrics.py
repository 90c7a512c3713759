"""Rates counted exactly: count / n in double precision (a float32 mean reads 50 / 1000 as 0.0500000007 > 0.05);
predictions made in batches (a CIFAR-10 test set through a ResNet at once, or GradCAM over it, is gigabytes)."""

from __future__ import annotations

import torch


def fraction(flags: torch.Tensor) -> float:
    """The fraction of True entries (NaN for an empty tensor)."""
    return int(flags.sum()) / len(flags) if len(flags) else float("nan")


BATCH = 1000


def majority_class_rate(y: torch.Tensor) -> float:
    """The accuracy of always answering the most frequent label of `y` (what a classifier must beat)."""
    return int(torch.bincount(y).max()) / len(y)


def filtered_asr(record: dict) -> float:
    """A filter record's mean ASR after filtering; NaN when the filter collapsed (it is not scored)."""
    return record["asr_filtered"]["mean"] if "asr_filtered" in record else float("nan")


def batched(predict, x: torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """predict(x) computed `batch` rows at a time and concatenated."""
    if len(x) <= batch:
        return predict(x)
    return torch.cat([predict(x[i:i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def accuracy(predict, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of `predict(x)` labels equal to `y`."""
    return fraction(batched(predict, x) == y)
