"""A k-nearest-neighbour episodic value memory with exact torch search (MBEC's trajectory memory, spec mbec 2.2).

Keys q in R^D with scalar values V, FIFO eviction at `capacity`.
- Read: V_M(q) = sum_{i in kNN(q)} w_i V_i, w_i = (1 / (d_i + 1e-3)) / sum_j (1 / (d_j + 1e-3)), with d_i the
  SQUARED L2 distance; fewer than k entries: all of them. Official quirk: with probability `max_read_prob` a read
  returns max_i V_i over the neighbours instead (0 disables it).
- Write(q, R): every neighbour moves towards R: V_i <- V_i + lr w_i (R - V_i) (official lr 0.5).
- Insert(q, R): appends (q, R); a key equal to a stored one is skipped.
Official defaults: capacity 10 000, k 7, key dimension 8.
"""

from __future__ import annotations

import numpy as np
import torch

DISTANCE_EPS = 1e-3


class EpisodicMemory:
    def __init__(self, key_dim: int, capacity: int = 10_000, k: int = 7, write_lr: float = 0.5,
                 max_read_prob: float = 0.0, device: str | torch.device = "cpu"):
        if key_dim < 1 or capacity < 1 or k < 1:
            raise ValueError(f"key_dim, capacity and k must be >= 1, got {key_dim}, {capacity}, {k}")
        if not 0.0 <= max_read_prob <= 1.0 or not 0.0 <= write_lr <= 1.0:
            raise ValueError("max_read_prob and write_lr must lie in [0, 1]")
        self.k, self.write_lr, self.max_read_prob = k, write_lr, max_read_prob
        self.keys = torch.zeros(capacity, key_dim, device=device)
        self.values = torch.zeros(capacity, device=device)
        self.capacity, self.size, self._next = capacity, 0, 0

    def __len__(self) -> int:
        return self.size

    def _check(self, keys: torch.Tensor) -> torch.Tensor:
        keys = torch.as_tensor(keys, dtype=self.keys.dtype, device=self.keys.device)
        if keys.ndim != 2 or keys.shape[1] != self.keys.shape[1]:
            raise ValueError(f"keys must be (B, {self.keys.shape[1]}), got shape {tuple(keys.shape)}")
        if not torch.isfinite(keys).all():
            raise ValueError("keys contain NaN or inf")
        return keys

    def neighbours(self, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices (B, k') of the k' = min(k, size) nearest stored keys and their normalised weights (B, k')."""
        if self.size == 0:
            raise ValueError("the memory is empty")
        keys = self._check(keys)
        d = torch.cdist(keys, self.keys[: self.size]).pow(2)
        dist, idx = d.topk(min(self.k, self.size), dim=1, largest=False)
        inv = 1.0 / (dist + DISTANCE_EPS)
        return idx, inv / inv.sum(dim=1, keepdim=True)

    @torch.no_grad()
    def read(self, keys: torch.Tensor, rng: np.random.Generator | None = None) -> torch.Tensor:
        """V_M for each key (B,). `rng` draws the official max-read quirk when max_read_prob > 0."""
        idx, w = self.neighbours(keys)
        values = self.values[idx]
        out = (w * values).sum(dim=1)
        if self.max_read_prob > 0 and rng is not None:
            use_max = torch.as_tensor(rng.random(len(out)) < self.max_read_prob, device=out.device)
            out = torch.where(use_max, values.max(dim=1).values, out)
        return out

    @torch.no_grad()
    def write(self, keys: torch.Tensor, returns: torch.Tensor) -> None:
        """Move each key's neighbours towards its return: V_i += lr w_i (R - V_i), keys applied in order."""
        idx, w = self.neighbours(keys)
        returns = torch.as_tensor(returns, dtype=self.values.dtype, device=self.values.device).reshape(-1)
        for row in range(len(idx)):
            i = idx[row]
            self.values[i] += self.write_lr * w[row] * (returns[row] - self.values[i])

    @torch.no_grad()
    def insert(self, keys: torch.Tensor, returns: torch.Tensor) -> int:
        """Append new (key, return) pairs FIFO; exact duplicates of stored keys are skipped. Returns the count added."""
        keys = self._check(keys)
        returns = torch.as_tensor(returns, dtype=self.values.dtype, device=self.values.device).reshape(-1)
        if len(returns) != len(keys):
            raise ValueError(f"{len(keys)} keys but {len(returns)} returns")
        added = 0
        for key, value in zip(keys, returns):
            if self.size and (self.keys[: self.size] == key).all(dim=1).any():
                continue
            self.keys[self._next], self.values[self._next] = key, value
            self._next = (self._next + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)
            added += 1
        return added
