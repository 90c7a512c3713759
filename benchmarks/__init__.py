"""Speed and quality benchmarks; each prints a ratio against a baseline measured in the same process."""

import time


def timed(fn, repeats: int) -> float:
    """Seconds per call of fn, over `repeats` calls after one warm-up call."""
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats
