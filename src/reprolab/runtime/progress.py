"""Progress of long loops, in any process of a run: a tqdm bar on a terminal, plain lines elsewhere.

    with Progress(total_steps, "IF filter") as progress:
        for step in range(total_steps):
            progress.update(loss=loss)

On a terminal (stderr is a tty) and in the run's own process: a tqdm bar. Otherwise (a worker process, a log file,
CI) a line at most every `REPROLAB_PROGRESS_EVERY` seconds (default 30) per process, from whichever loop is running
then (a stage made of many short loops still reports):
`[12:03:04] IF filter: step 120/256 (47 %), loss=0.1234, about 35 s left`. `reprolab run --quiet` turns both off
for the run and its workers (`REPROLAB_PROGRESS=0`). Progress output never changes what a run computes.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import sys
import time

from tqdm.auto import tqdm

ENV_ENABLED = "REPROLAB_PROGRESS"
ENV_EVERY = "REPROLAB_PROGRESS_EVERY"
DEFAULT_EVERY_S = 30.0
_last_line: list[float] = []          # when this process last printed a progress line (or first counted a step)


def progress_enabled() -> bool:
    return os.environ.get(ENV_ENABLED, "1") != "0"


def set_progress(enabled: bool) -> None:
    """Turn progress output on or off for this process and the worker processes it starts afterwards."""
    os.environ[ENV_ENABLED] = "1" if enabled else "0"


def line_interval() -> float:
    value = os.environ.get(ENV_EVERY, str(DEFAULT_EVERY_S))
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{ENV_EVERY} must be a number of seconds, got {value!r}") from None
    if seconds < 0:
        raise ValueError(f"{ENV_EVERY} must be >= 0 seconds, got {seconds}")
    return seconds


def _in_main_process() -> bool:
    return multiprocessing.parent_process() is None


def _scalar(value) -> float:
    """A number from a float or a one-element tensor (detached: no autograd warning)."""
    return float(value.detach()) if hasattr(value, "detach") else float(value)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


class Progress:
    """Counts steps of a loop of `total` steps (from `initial` when resumed) and shows them; `enabled=None` follows
    the run's setting."""

    def __init__(self, total: int, desc: str, initial: int = 0, enabled: bool | None = None):
        self.total, self.desc, self.done = total, desc, initial
        self.enabled = progress_enabled() if enabled is None else enabled
        self._bar = None
        if self.enabled and sys.stderr.isatty() and _in_main_process():
            self._bar = tqdm(total=total, initial=initial, desc=desc, mininterval=2.0, file=sys.stderr, leave=False)
        self._every = line_interval()
        self._start, self._start_step = time.perf_counter(), initial
        if not _last_line:
            _last_line.append(self._start)

    def update(self, n: int = 1, **metrics: float) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            if metrics and self.done % 50 == 0:
                self._bar.set_postfix({k: f"{_scalar(v):.4g}" for k, v in metrics.items()}, refresh=False)
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - _last_line[0] >= self._every:
            _last_line[0] = now
            print(self.line(now, metrics), file=sys.stderr, flush=True)

    def line(self, now: float, metrics: dict[str, float]) -> str:
        """`[time] desc: step i/n (p %), metrics, about T left` (T from the mean step time of this session)."""
        parts = [f"step {self.done}/{self.total} ({100 * self.done / max(1, self.total):.0f} %)"]
        parts += [f"{k}={_scalar(v):.4g}" for k, v in metrics.items()]
        steps = self.done - self._start_step
        if steps > 0 and self.done < self.total:
            parts.append(f"about {_duration((now - self._start) / steps * (self.total - self.done))} left")
        return f"[{dt.datetime.now().strftime('%H:%M:%S')}] {self.desc}: " + ", ".join(parts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
