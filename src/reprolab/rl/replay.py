"""A ring replay buffer of transitions (s, a, r, s', done) with optional extra per-transition fields."""

from __future__ import annotations

import numpy as np
import torch


class ReplayBuffer:
    """Fixed-capacity FIFO of transitions stored in pre-allocated numpy arrays; `sample` returns torch tensors.

    `extras` maps a field name to (shape, dtype) for anything else a method stores per transition.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32,
                 extras: dict[str, tuple[tuple[int, ...], type]] | None = None):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity, self.size, self._next = capacity, 0, 0
        self.fields = {"obs": np.zeros((capacity, *obs_shape), obs_dtype),
                       "next_obs": np.zeros((capacity, *obs_shape), obs_dtype),
                       "action": np.zeros(capacity, np.int64), "reward": np.zeros(capacity, np.float32),
                       "done": np.zeros(capacity, np.float32)}
        for name, (shape, dtype) in (extras or {}).items():
            self.fields[name] = np.zeros((capacity, *shape), dtype)

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action, reward, next_obs, done, **extras) -> None:
        """Store one transition (overwrites the oldest once full). `done` means terminal, not time-limit."""
        values = {"obs": obs, "action": action, "reward": reward, "next_obs": next_obs, "done": float(done), **extras}
        missing = set(self.fields) - set(values)
        if missing:
            raise ValueError(f"transition lacks fields {sorted(missing)}")
        unknown = set(values) - set(self.fields)
        if unknown:
            raise ValueError(f"unknown transition fields {sorted(unknown)}; declare them in `extras`")
        i = self._next
        for name, value in values.items():
            self.fields[name][i] = value
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator, device: str | torch.device = "cpu",
               replace: bool = True) -> dict:
        """`batch_size` stored transitions drawn uniformly, with replacement, or without (`replace=False`, as Python's
        `random.sample`: distinct transitions, needs batch_size <= len(self))."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        if not replace and batch_size > self.size:
            raise ValueError(f"cannot draw {batch_size} distinct transitions from a buffer holding {self.size}")
        idx = rng.integers(self.size, size=batch_size) if replace else rng.choice(self.size, batch_size, replace=False)
        return {name: torch.as_tensor(array[idx], device=device) for name, array in self.fields.items()}

    def state_dict(self) -> dict:
        """The filled part of every field, as tensors (for checkpoints loaded with weights_only=True)."""
        return {"size": self.size, "next": self._next,
                "fields": {name: torch.from_numpy(array[: self.size].copy()) for name, array in self.fields.items()}}

    def load_state_dict(self, state: dict) -> None:
        if set(state["fields"]) != set(self.fields):
            raise ValueError(f"checkpoint holds fields {sorted(state['fields'])}, buffer has {sorted(self.fields)}")
        self.size, self._next = int(state["size"]), int(state["next"])
        for name, values in state["fields"].items():
            self.fields[name][: self.size] = values.numpy()
