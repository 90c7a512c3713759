"""Rates counted exactly: count / n in double precision (a float32 mean reads 50 / 1000 as 0.0500000007 > 0.05)."""

from __future__ import annotations

import torch


def fraction(flags: torch.Tensor) -> float:
    """The fraction of True entries (NaN for an empty tensor)."""
    return int(flags.sum()) / len(flags) if len(flags) else float("nan")


@torch.no_grad()
def accuracy(predict, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of `predict(x)` labels equal to `y`."""
    return fraction(predict(x) == y)
