"""Claims: a paper's statement checked in code, with the numbers that decided it."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

from reprolab.runtime.io import json_safe


@dataclasses.dataclass(frozen=True)
class Claim:
    """One checked statement. `observed` holds the measured numbers; `holds` is computed, never typed in."""

    name: str
    statement: str
    observed: Any
    expected: str
    holds: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "statement": self.statement, "observed": json_safe(self.observed),
                "expected": self.expected, "holds": bool(self.holds)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Claim":
        return cls(name=data["name"], statement=data["statement"], observed=data["observed"],
                   expected=data["expected"], holds=bool(data["holds"]))


def format_observed(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_observed(v, digits)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_observed(v, digits) for v in value) + "]"
    return str(value)


def observed_lines(value: Any, digits: int = 4) -> list[str]:
    """The observed numbers as lines: one per top-level key when the values are themselves records (a dataset, an
    environment), else one line. Nothing is cut: these are the numbers that decide the verdict."""
    if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
        return [f"{k}: {format_observed(v, digits)}" for k, v in value.items()]
    return [format_observed(value, digits)]


def claims_table(claims: list[Claim], width: int = 110) -> str:
    """Plain-text table printed by `reprolab run`: holds/fails, name and expectation on one line, then the observed
    numbers, wrapped at `width` characters and never truncated."""
    lines = []
    for c in claims:
        verdict = "holds" if c.holds else "FAILS"
        lines.append(f"  [{verdict:5}] {c.name}  (expected {c.expected})")
        for line in observed_lines(c.observed):
            lines += textwrap.wrap(line, width, initial_indent=" " * 10, subsequent_indent=" " * 12,
                                   break_on_hyphens=False, break_long_words=False)
    return "\n".join(lines)
