"""Speed and quality benchmarks; each prints a ratio against a baseline measured in the same process."""

import statistics
import time


def timed(fn, repeats: int) -> float:
    """Seconds per call of fn, over `repeats` calls after one warm-up call."""
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def paired_medians(rounds: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Of (a, b) timings measured in alternating rounds: the median a, the median b and the median of the rounds'
    a / b (a ratio that a change in machine load between rounds moves little)."""
    return (statistics.median(a for a, _ in rounds), statistics.median(b for _, b in rounds),
            statistics.median(a / b for a, b in rounds))
