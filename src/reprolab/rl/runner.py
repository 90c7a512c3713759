"""Run one experiment function over several seeds in parallel processes (statistics: `reprolab.runtime.stats`)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence


def run_seeds(fn: Callable[..., Any], seeds: Sequence[int], *args, workers: int = 1) -> list[Any]:
    """[fn(seed, *args) for seed in seeds], in `workers` processes (fn must be picklable)."""
    if workers <= 1 or len(seeds) <= 1:
        return [fn(seed, *args) for seed in seeds]
    with ProcessPoolExecutor(max_workers=min(workers, len(seeds))) as pool:
        return list(pool.map(fn, seeds, *([a] * len(seeds) for a in args)))
