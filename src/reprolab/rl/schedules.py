"""Exploration schedules."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class LinearSchedule:
    """`start` until step `delay`, then linearly to `end` over `duration` steps, then `end` (DQN's epsilon:
    1 -> 0.1 over 100k frames after the replay start)."""

    start: float
    end: float
    duration: int
    delay: int = 0

    def __post_init__(self) -> None:
        if self.duration < 0 or self.delay < 0:
            raise ValueError("duration and delay must be >= 0")

    def __call__(self, step: int) -> float:
        if step <= self.delay:
            return self.start
        if step >= self.delay + self.duration:
            return self.end
        return self.start + (step - self.delay) / self.duration * (self.end - self.start)


def constant(value: float) -> LinearSchedule:
    return LinearSchedule(value, value, 0)
