"""Claims: a paper's statement checked in code, with the numbers that decided it."""

from __future__ import annotations

import dataclasses
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


def claims_table(claims: list[Claim], width: int = 60) -> str:
    """Plain-text table printed by `reprolab run`: name, holds/fails, observed numbers, expectation."""
    lines = []
    for c in claims:
        verdict = "holds" if c.holds else "FAILS"
        observed = format_observed(c.observed)
        if len(observed) > width:
            observed = observed[: width - 3] + "..."
        lines.append(f"  [{verdict:5}] {c.name}: {observed}  (expected {c.expected})")
    return "\n".join(lines)
