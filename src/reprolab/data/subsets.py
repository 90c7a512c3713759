"""Class-imbalanced subsets and fixed train/validation splits."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def first_n_per_class(labels: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """Indices of the first `counts[k]` samples of each class k, in dataset order (the papers' imbalance rule)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    chosen = []
    for k, n_k in enumerate(counts):
        if n_k < 0:
            raise ValueError(f"counts[{k}] = {n_k} is negative")
        idx = np.flatnonzero(labels == k)
        if len(idx) < n_k:
            raise ValueError(f"class {k} has {len(idx)} samples, fewer than the {n_k} requested")
        chosen.append(idx[:n_k])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def fixed_split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded permutation of range(n) cut into (train, val) index arrays, both sorted."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
