"""Where a run's pending stages (a grid's cells) execute: `local` (this machine: in-process, or a process pool of
`workers`) or `ray` (a Ray cluster at `ray_address`, or a local Ray instance with `workers` CPUs).

A stage is `fn(*args)` with picklable fn and args and a JSON-ready result; its numbers depend only on its
arguments (each stage seeds itself), so both executors give identical results, and resume works the same way
(finished stages are kept by `RunContext`, whichever executor ran them). Each worker sets torch's thread count
to the parent's before running a stage and keeps freed memory for the next step (`memory.keep_freed_memory`). On
Ray every stage asks for 1 CPU and `gpus_per_stage` GPUs; a cluster's nodes need reprolab installed (the same
version), since stages are sent by reference to its functions. Stages write checkpoints (and aim its trained black
boxes) into the run's folder, so before the first stage a Ray run checks that every node sees that folder
(`check_shared_folder`) and stops with an error naming the nodes that do not.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import typing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from reprolab.runtime.memory import keep_freed_memory

ExecutorName = Literal["local", "ray"]
EXECUTORS: tuple[str, ...] = typing.get_args(ExecutorName)
Stage = tuple[Callable[..., Any], tuple]


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def init_worker(threads: int) -> None:
    """A worker process: the parent's torch thread count and allocator settings (`memory.keep_freed_memory`)."""
    import torch

    torch.set_num_threads(threads)
    keep_freed_memory()


def _timed_in_worker(threads: int, fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    init_worker(threads)
    return timed(fn, *args)


@dataclasses.dataclass(frozen=True)
class Executor:
    """How pending stages run; `describe()` is what the result record keeps."""

    name: ExecutorName = "local"
    workers: int = 1
    ray_address: str | None = None
    gpus_per_stage: float = 0.0
    threads: int = 1
    shared_folder: str | None = None     # the run's folder, which every Ray node must see (checked before stages)

    def __post_init__(self) -> None:
        if self.name not in EXECUTORS:
            raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {self.name!r}")
        if self.workers < 1 or self.gpus_per_stage < 0:
            raise ValueError(f"workers must be >= 1 and gpus_per_stage >= 0, got {self.workers}, "
                             f"{self.gpus_per_stage}")
        if self.name == "local" and (self.ray_address or self.gpus_per_stage):
            raise ValueError("--ray-address and --gpus-per-stage need --executor ray")

    def describe(self) -> str:
        if self.name == "local":
            return f"local ({self.workers} process{'es' if self.workers > 1 else ''})"
        where = f"cluster at {self.ray_address}" if self.ray_address else f"local instance, {self.workers} CPUs"
        return f"ray {_ray().__version__} ({where}, {self.gpus_per_stage:g} GPUs per stage)"

    def run(self, pending: dict[str, Stage]) -> Iterator[tuple[str, Any, float]]:
        """Yield (name, value, seconds) for every pending stage, in the order they finish."""
        if self.name == "ray":
            yield from self._run_ray(pending)
        elif self.workers <= 1 or len(pending) <= 1:
            for name, (fn, args) in pending.items():
                yield (name, *timed(fn, *args))
        else:
            yield from self._run_pool(pending)

    def _run_pool(self, pending: dict[str, Stage]) -> Iterator[tuple[str, Any, float]]:
        pool = ProcessPoolExecutor(max_workers=self.workers, initializer=init_worker, initargs=(self.threads,))
        try:
            futures = {pool.submit(timed, fn, *args): name for name, (fn, args) in pending.items()}
            for future in as_completed(futures):
                yield (futures[future], *future.result())
        except BaseException:
            # Ctrl-C (or an error): a worker that catches its own KeyboardInterrupt would go on with the next
            # stage, and a plain shutdown waits for every pending one; cancel them and stop the workers now.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()

    def _run_ray(self, pending: dict[str, Stage]) -> Iterator[tuple[str, Any, float]]:
        ray = _ray()
        started = not ray.is_initialized()
        if started:
            if self.ray_address:
                ray.init(address=self.ray_address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
        try:
            if self.shared_folder is not None:
                check_shared_folder(ray, Path(self.shared_folder))
            remote = ray.remote(num_cpus=1, num_gpus=self.gpus_per_stage)(_timed_in_worker)
            refs = {remote.remote(self.threads, fn, *args): name for name, (fn, args) in pending.items()}
            waiting = list(refs)
            try:
                while waiting:
                    done, waiting = ray.wait(waiting, num_returns=1)
                    yield (refs[done[0]], *ray.get(done[0]))
            except BaseException:
                for ref in waiting:                 # Ctrl-C: stop the stages still running or queued
                    ray.cancel(ref, force=True)
                raise
        finally:
            if started:
                ray.shutdown()


def check_executor(name: str, ray_address: str | None = None, gpus_per_stage: float = 0.0) -> None:
    """Refuse bad executor settings with a ValueError before any work: the checks `Executor` makes."""
    Executor(name, 1, ray_address, gpus_per_stage)


def token_visible(path: str, token: str) -> tuple[str, bool]:
    """On a Ray node: its address and whether the file at `path` holds `token`."""
    import ray

    try:
        seen = Path(path).read_text() == token
    except OSError:
        seen = False
    return ray.util.get_node_ip_address(), seen


def check_shared_folder(ray: Any, folder: Path) -> None:
    """Write a random token into `folder` and read it back on every alive node of the cluster; raise ValueError
    naming the nodes that cannot see it."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    folder.mkdir(parents=True, exist_ok=True)
    path, token = folder / ".ray_shared_check", secrets.token_hex(16)
    path.write_text(token)
    try:
        probe = ray.remote(num_cpus=0)(token_visible)
        refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                .remote(str(path), token) for node in ray.nodes() if node["Alive"]]
        blind = sorted(address for address, seen in ray.get(refs) if not seen)
    finally:
        path.unlink(missing_ok=True)
    if blind:
        raise ValueError(f"the run folder {folder} is not visible from Ray node(s) {', '.join(blind)}: stages write "
                         "checkpoints there, so on a cluster of several nodes --out must be on storage that every "
                         "node mounts at the same path")


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'reprolab[cluster]'") from None
    return ray
