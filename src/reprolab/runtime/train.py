"""A plain training-loop helper: steps, progress bar, periodic evaluation, checkpoints and resume.

`run_loop` owns the loop counter and nothing else: the caller's `step_fn(step)` does one update and the
caller's `eval_fn(step)` returns a dict of metrics. Every `checkpoint_every` steps the state of `objects`
(anything with `state_dict`/`load_state_dict`: models, optimizers, schedulers; or numpy / torch random
generators), the global RNG states and the evaluation history are written atomically; with `resume=True` the
loop continues from the last checkpoint and, because the RNG states are restored, ends with the same numbers as an
uninterrupted run. `BestModel` keeps the best-scoring weights for model selection, checkpointed with the rest.
`LoopCheckpoints` gives each of the loops of one stage its own checkpoint file. `StepLosses` keeps the losses a loop
records as tensors and reads them in one transfer when they are needed.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from reprolab.runtime.io import atomic_write
from reprolab.runtime.progress import Progress


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One optimiser step on `loss` (gradients zeroed first, then backpropagated); returns the loss detached, on
    its device (no host sync: `run_loop`'s progress reads it only when it shows it)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def torch_rng_state() -> dict[str, Any]:
    """The states of torch's global generators: the CPU's ("torch") and, once CUDA is in use, every device's
    ("cuda")."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def is_generator_state(value: Any) -> bool:
    """Whether `value` can be a torch CPU generator's state: a tensor of the type and size `torch.get_rng_state`
    gives (what `set_rng_state` and `Generator.set_state` accept)."""
    like = torch.get_rng_state()
    return isinstance(value, torch.Tensor) and value.dtype == like.dtype and value.shape == like.shape


def set_torch_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {"python": random.getstate(), **torch_rng_state(),
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]]}


def set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    set_torch_rng_state(state)
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def state_of(obj: Any) -> Any:
    """What a checkpoint keeps of `obj`: its state dict, or the state of a numpy / torch random generator."""
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    return obj.state_dict()


def restore_state(obj: Any, state: Any) -> None:
    """The inverse of `state_of`."""
    if isinstance(obj, np.random.Generator):
        obj.bit_generator.state = state
    elif isinstance(obj, torch.Generator):
        obj.set_state(state)
    else:
        obj.load_state_dict(state)


class Checkpointer:
    """Saves and restores {objects' states, step, history, global RNG states} at one path. An object is anything
    with `state_dict`/`load_state_dict`, or a numpy / torch random generator."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def save(self, step: int, objects: Mapping[str, Any], history: list[dict[str, Any]]) -> None:
        payload = {"step": step, "history": history, "rng": rng_state(),
                   "objects": {name: state_of(obj) for name, obj in objects.items()}}
        atomic_write(self.path, lambda tmp: torch.save(payload, tmp))

    def load(self, objects: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]]] | None:
        if not self.path.exists():
            return None
        payload = torch.load(self.path, map_location="cpu", weights_only=True)
        missing = set(objects) - set(payload["objects"])
        if missing:
            raise ValueError(f"checkpoint {self.path} has no state for {sorted(missing)}")
        for name, obj in objects.items():
            restore_state(obj, payload["objects"][name])
        set_rng_state(payload["rng"])
        return payload["step"], payload["history"]


class BestModel:
    """The model state with the best selection score so far (checkpointed like any other object); `keep_ties`
    also takes a later state with an equal score."""

    def __init__(self, model: torch.nn.Module, keep_ties: bool = False, floor: float = -math.inf):
        self.model, self.score, self.iteration, self.keep_ties = model, floor, 0, keep_ties
        self.state = copy.deepcopy(model.state_dict())

    def offer(self, value: float, iteration: int) -> bool:
        """Keep the model's current state if `value` is the best so far; return whether it was kept."""
        if value > self.score or (self.keep_ties and value == self.score):
            self.score, self.iteration = value, iteration
            self.state = copy.deepcopy(self.model.state_dict())
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"score": torch.tensor(self.score, dtype=torch.float64), "iteration": torch.tensor(self.iteration),
                "state": self.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.score, self.iteration = float(state["score"]), int(state["iteration"])
        self.state = state["state"]


class StepLosses:
    """Named losses of training steps, kept as detached tensors on their device, so that a step does not wait for
    them to reach the host; `read()` brings the ones kept since the last read to the host in one transfer, one
    {name: value} per step in step order (the numbers `item()` gives), and raises FloatingPointError naming the first
    step at which a loss named in `finite` is not finite. Every step adds the same names, all on one device."""

    def __init__(self, finite: tuple[str, ...] = ()) -> None:
        self.finite = finite
        self._names: tuple[str, ...] = ()
        self._steps: list[int] = []
        self._kept: list[torch.Tensor] = []

    def add(self, step: int, **losses: torch.Tensor) -> None:
        names = tuple(losses)
        if self._steps and names != self._names:
            raise ValueError(f"step {step} adds the losses {names}, the steps before it {self._names}")
        self._names = names
        self._steps.append(step)
        self._kept += [loss.detach() for loss in losses.values()]

    def __len__(self) -> int:
        return len(self._steps)

    def read(self) -> list[dict[str, float]]:
        if not self._steps:
            return []
        values, width = torch.stack(self._kept).tolist(), len(self._names)
        rows = [dict(zip(self._names, values[i:i + width])) for i in range(0, len(values), width)]
        steps, self._steps, self._kept = self._steps, [], []
        for step, row in zip(steps, rows):
            bad = [f"{name} is {row[name]}" for name in self.finite if not math.isfinite(row[name])]
            if bad:
                raise FloatingPointError(f"{', '.join(bad)} at step {step}")
        return rows


class ShuffledBatches:
    """Index batches over n items, epoch by epoch: `batches(step)` is batch step % per_epoch of a permutation drawn
    anew for every epoch from a seeded generator (the last batch of an epoch may be smaller). Checkpointable.
    `seed` may also be a generator the caller draws from too: each permutation is then drawn from it at the first
    batch of its epoch, between the caller's own draws."""

    def __init__(self, n: int, batch_size: int, seed: int | torch.Generator):
        if n < 1 or batch_size < 1:
            raise ValueError(f"need n >= 1 items and batch_size >= 1, got {n}, {batch_size}")
        self.n, self.batch_size = n, batch_size
        self.per_epoch = -(-n // batch_size)
        self.generator = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
        self.order, self.epoch = torch.arange(n), -1

    def __call__(self, step: int) -> torch.Tensor:
        if step // self.per_epoch != self.epoch:
            self.epoch = step // self.per_epoch
            self.order = torch.randperm(self.n, generator=self.generator)
        start = (step % self.per_epoch) * self.batch_size
        return self.order[start:start + self.batch_size]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order, "epoch": torch.tensor(self.epoch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.epoch = state["order"], int(state["epoch"])


@dataclasses.dataclass(frozen=True)
class LoopCheckpoints:
    """Where the `run_loop` calls of one stage keep their checkpoints: loop `name` saves `folder / f"{name}.pt"`
    every `every` steps and after its last step, and continues from it when `resume` is set. A finished loop that
    is resumed runs no step: it restores its final state (objects, history, global RNG), so the loops after it
    start where they started before. No folder or `every` = 0: no checkpoints."""

    folder: Path | None = None
    every: int = 0
    resume: bool = False

    def __post_init__(self) -> None:
        if self.every < 0:
            raise ValueError(f"checkpoint every must be >= 0 steps, got {self.every}")

    def of(self, name: str) -> dict[str, Any]:
        """`run_loop`'s checkpoint, checkpoint_every and resume arguments for the loop `name`."""
        path = Path(self.folder) / f"{name}.pt" if self.folder is not None and self.every else None
        return {"checkpoint": path, "checkpoint_every": self.every, "resume": self.resume}


def run_loop(
    total_steps: int,
    step_fn: Callable[[int], float | torch.Tensor | None],
    *,
    objects: Mapping[str, Any] | None = None,
    eval_fn: Callable[[int], dict[str, Any]] | None = None,
    eval_every: int = 0,
    eval_steps: tuple[int, ...] = (),
    eval_at_start: bool = False,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    desc: str = "train",
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """Run `step_fn(step)` for steps [start, total_steps); return the history of `eval_fn` records. `progress`:
    show the steps and the loss `step_fn` returns (`runtime.progress`; None: as the run says). A loss returned as a
    one-element tensor is read only when the progress shows it (every 50 steps on a terminal, one line per interval
    elsewhere), so a step on a GPU need not wait for its loss to reach the host.

    A record is `{"step": s, **eval_fn(s)}` where s counts finished steps (0 = before training); evaluation
    happens every `eval_every` steps, at each step listed in `eval_steps`, and after the last step.
    """
    if total_steps < 0:
        raise ValueError(f"total_steps must be >= 0, got {total_steps}")
    objects = objects or {}
    saver = Checkpointer(checkpoint) if checkpoint is not None else None
    start, history = 0, []
    if resume and saver is not None:
        restored = saver.load(objects)
        if restored is not None:
            start, history = restored
    if start == 0 and eval_at_start and eval_fn is not None:
        history.append({"step": 0, **eval_fn(0)})
    bar = Progress(total_steps, desc, initial=start, enabled=progress)
    try:
        for step in range(start, total_steps):
            loss = step_fn(step)
            done = step + 1
            bar.update(**({"loss": loss} if loss is not None else {}))
            due = (eval_every and done % eval_every == 0) or done in eval_steps
            if eval_fn is not None and (eval_every or eval_steps) and (due or done == total_steps):
                history.append({"step": done, **eval_fn(done)})
            if saver is not None and checkpoint_every and (done % checkpoint_every == 0 or done == total_steps):
                saver.save(done, objects, history)
    finally:
        bar.close()
    return history
