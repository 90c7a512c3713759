"""A k-nearest-neighbour episodic value memory with exact torch search (MBEC's trajectory memory).

Keys q in R^D with scalar values V, FIFO eviction at `capacity`.
- Read: V_M(q) = sum_{i in kNN(q)} w_i V_i, w_i = (1 / (d_i + 1e-3)) / sum_j (1 / (d_j + 1e-3)), with d_i the
  SQUARED L2 distance; fewer than k entries: all of them. Official quirk: with probability `max_read_prob` a read
  call returns max_i V_i over the neighbours for every key of the batch instead (one draw per call; 0 disables it).
- Write(q, R): every neighbour moves towards R: V_i <- V_i + lr w_i (R - V_i) (official lr 0.5).
- Insert(q, R): appends (q, R); a key equal to a stored one is skipped.
Official defaults: capacity 10 000, k 7, key dimension 8.

Search is exact either way: `index="torch"` (torch.cdist brute force, on the memory's device), `"faiss"` (faiss-cpu's
brute-force kNN; `make bench`: about 2.3x faster than torch from 10k to 500k keys) or `"auto"` (faiss for a CPU memory
when faiss-cpu is installed, else torch). `distance="l2"` ranks and weights by the plain Euclidean distance instead of
its square.
"""

from __future__ import annotations

import numpy as np
import torch

DISTANCE_EPS = 1e-3


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


class EpisodicMemory:
    def __init__(self, key_dim: int, capacity: int = 10_000, k: int = 7, write_lr: float = 0.5,
                 max_read_prob: float = 0.0, distance: str = "sq_l2", index: str = "auto",
                 device: str | torch.device = "cpu"):
        if key_dim < 1 or capacity < 1 or k < 1:
            raise ValueError(f"key_dim, capacity and k must be >= 1, got {key_dim}, {capacity}, {k}")
        if not 0.0 <= max_read_prob <= 1.0 or not 0.0 <= write_lr <= 1.0:
            raise ValueError("max_read_prob and write_lr must lie in [0, 1]")
        if distance not in ("sq_l2", "l2"):
            raise ValueError(f"distance must be 'sq_l2' or 'l2', got {distance!r}")
        if index not in ("auto", "torch", "faiss"):
            raise ValueError(f"index must be 'auto', 'torch' or 'faiss', got {index!r}")
        if index == "faiss" and _faiss() is None:
            raise ImportError("index='faiss' needs faiss-cpu (pip install 'reprolab[rl]')")
        self.k, self.write_lr, self.max_read_prob = k, write_lr, max_read_prob
        self.distance, self.index = distance, index
        self.keys = torch.zeros(capacity, key_dim, device=device)
        self.values = torch.zeros(capacity, device=device)
        self.capacity, self.size, self._next = capacity, 0, 0
        self._slot_of: dict[bytes, int] = {}                  # stored key (raw bytes) -> its slot
        self._key_at: list[bytes | None] = [None] * capacity  # slot -> its key's bytes

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
        k = min(self.k, self.size)
        if self._use_faiss():
            dist, idx = _faiss().knn(keys.cpu().numpy(), self.keys[: self.size].cpu().numpy(), k)
            dist, idx = torch.from_numpy(dist).clamp_min_(0).to(keys.device), torch.from_numpy(idx).to(keys.device)
        else:
            dist, idx = torch.cdist(keys, self.keys[: self.size]).pow(2).topk(k, dim=1, largest=False)
        if self.distance == "l2":
            dist = dist.sqrt()
        inv = 1.0 / (dist + DISTANCE_EPS)
        return idx, inv / inv.sum(dim=1, keepdim=True)

    def _use_faiss(self) -> bool:
        if self.index == "auto":
            return self.keys.device.type == "cpu" and _faiss() is not None
        return self.index == "faiss"

    def state_dict(self) -> dict:
        return {"keys": self.keys[: self.size].clone(), "values": self.values[: self.size].clone(),
                "next": self._next}

    def load_state_dict(self, state: dict) -> None:
        n = len(state["values"])
        if n > self.capacity or state["keys"].shape[1:] != self.keys.shape[1:]:
            raise ValueError(f"checkpoint memory {tuple(state['keys'].shape)} does not fit {tuple(self.keys.shape)}")
        self.keys[:n], self.values[:n] = state["keys"], state["values"]
        self.size, self._next = n, int(state["next"])
        self._key_at = [row.tobytes() for row in self.keys[:n].cpu().numpy()] + [None] * (self.capacity - n)
        self._slot_of = {key: slot for slot, key in enumerate(self._key_at[:n])}

    @torch.no_grad()
    def read(self, keys: torch.Tensor, rng: np.random.Generator | None = None) -> torch.Tensor:
        """V_M for each key (B,). `rng` draws the official max-read quirk when max_read_prob > 0."""
        idx, w = self.neighbours(keys)
        values = self.values[idx]
        out = (w * values).sum(dim=1)
        if self.max_read_prob > 0 and rng is not None and rng.random() < self.max_read_prob:
            out = values.max(dim=1).values        # drawn once per read call, for the whole batch [official]
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
        """Append new (key, return) pairs FIFO; keys equal to a stored one (or to an earlier one of the batch) are
        skipped. Returns the number of entries written (at most `capacity`: of an over-long batch, only the last
        `capacity` new keys would survive eviction, so only they are written)."""
        keys = self._check(keys)
        returns = torch.as_tensor(returns, dtype=self.values.dtype, device=self.values.device).reshape(-1)
        if len(returns) != len(keys):
            raise ValueError(f"{len(keys)} keys but {len(returns)} returns")
        rows = keys.cpu().numpy()
        fresh, seen = [], set()
        for i, row in enumerate(rows):
            key = row.tobytes()
            if key not in self._slot_of and key not in seen:
                seen.add(key)
                fresh.append(i)
        fresh = fresh[-self.capacity:]
        slots = (self._next + np.arange(len(fresh))) % self.capacity
        for slot, i in zip(slots.tolist(), fresh):
            evicted = self._key_at[slot]
            if evicted is not None:
                del self._slot_of[evicted]
            self._key_at[slot] = rows[i].tobytes()
            self._slot_of[self._key_at[slot]] = slot
        where = torch.as_tensor(slots, device=self.keys.device)
        self.keys[where], self.values[where] = keys[fresh], returns[fresh]
        self._next = (self._next + len(fresh)) % self.capacity
        self.size = min(self.size + len(fresh), self.capacity)
        return len(fresh)
