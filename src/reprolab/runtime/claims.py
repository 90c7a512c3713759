"""Claims: a paper's statement checked in code, with the numbers that decided it.

Each claim has a `kind` and a `verdict`:

- kind `reproduction`: a statement of the paper about the method's effect (a comparison with a baseline, a level
  the method reaches). Never something that holds by construction.
- kind `check`: an implementation or sanity check (an identity, a bound, a known answer); it holds or fails.
- verdict `holds` | `fails` | `inconclusive` | `no_signal`. Comparisons are decided on paired per-seed differences
  with a 95 % t interval against a minimum effect delta whose source is named (`runtime.stats`); inside the
  interval the verdict is `inconclusive` and the claim says how many seeds a decision would need. When a model a
  comparison rests on does not beat its trivial predictor (a prior, the majority class, a frequency baseline,
  chance), the verdict is `no_signal` and both numbers are shown.
"""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any, Literal, Sequence, get_args

import numpy as np
from reprolab.runtime.io import json_safe
from reprolab.runtime.stats import PairedInterval, decide_equivalent, decide_greater, paired_interval, seeds_needed

Kind = Literal["reproduction", "check"]
Verdict = Literal["holds", "fails", "inconclusive", "no_signal"]
Better = Literal["higher", "lower"]
KINDS: tuple[str, ...] = get_args(Kind)
VERDICTS: tuple[str, ...] = get_args(Verdict)


@dataclasses.dataclass(frozen=True)
class Claim:
    """One checked statement. `observed` holds the measured numbers; the verdict is computed, never typed in."""

    name: str
    statement: str
    observed: Any
    expected: str
    kind: Kind
    verdict: Verdict

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.name!r}: verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.kind == "check" and self.verdict not in ("holds", "fails"):
            raise ValueError(f"claim {self.name!r}: a check holds or fails, got {self.verdict!r}")

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"

    @classmethod
    def check(cls, name: str, statement: str, observed: Any, expected: str, ok: bool) -> "Claim":
        """An implementation or sanity check: holds when `ok`."""
        return cls(name, statement, observed, expected, "check", "holds" if ok else "fails")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "statement": self.statement, "observed": json_safe(self.observed),
                "expected": self.expected, "kind": self.kind, "verdict": self.verdict, "holds": self.holds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Claim":
        """Also reads records written before claims had a kind and a verdict (kind "reproduction", verdict from
        the boolean `holds`)."""
        verdict = data.get("verdict", "holds" if data["holds"] else "fails")
        return cls(name=data["name"], statement=data["statement"], observed=data["observed"],
                   expected=data["expected"], kind=data.get("kind", "reproduction"), verdict=verdict)


@dataclasses.dataclass(frozen=True)
class Signal:
    """Whether a model a comparison rests on beats its trivial predictor: `value` (the model's score) against
    `trivial_value` (the prior, the majority class, a frequency baseline, chance), by more than `margin`."""

    model: str
    value: float
    trivial: str
    trivial_value: float
    better: Better = "higher"
    margin: float = 0.0

    @property
    def present(self) -> bool:
        gain = self.value - self.trivial_value if self.better == "higher" else self.trivial_value - self.value
        return bool(gain > self.margin)

    def to_observed(self) -> dict[str, Any]:
        return {self.model: self.value, self.trivial: self.trivial_value, "beats_trivial": self.present}


LISTED_UNITS = 50      # arms with more paired values than this are summarised in `observed` (the metrics keep all)


def _arm(values: Sequence[float]) -> list[float] | dict[str, float]:
    """An arm's values as `observed` shows them: every value up to LISTED_UNITS, else mean, sd and n."""
    values = [float(v) for v in values]
    if len(values) <= LISTED_UNITS:
        return values
    array = np.asarray(values)
    return {"mean": float(np.nanmean(array)), "sd": float(np.nanstd(array, ddof=1)), "n": len(values)}


def _signal_observed(signals: Sequence[Signal]) -> dict[str, Any]:
    return {"signal": [s.to_observed() for s in signals]} if signals else {}


def _interval_observed(interval: PairedInterval, verdict: str, target: float, unit: str) -> dict[str, Any]:
    obs = {"mean_difference": interval.mean, "ci95": [interval.low, interval.high], f"n_{unit}s": interval.n}
    if verdict == "inconclusive":
        obs[f"{unit}s_needed"] = seeds_needed(interval.mean, interval.sd, target)
    return obs


def _gated(verdict: str, signals: Sequence[Signal]) -> Verdict:
    return "no_signal" if any(not s.present for s in signals) else verdict  # type: ignore[return-value]


def compare(name: str, statement: str, a: Sequence[float], b: Sequence[float], *, arms: tuple[str, str],
            delta: float = 0.0, source: str, better: Better = "higher", signals: Sequence[Signal] = (),
            unit: str = "seed", extra: dict[str, Any] | None = None) -> Claim:
    """Reproduction claim "arm a beats arm b by more than `delta`" on paired values (one per seed, fold or
    subject, same order in both lists). With `better="lower"` (a loss, an error) the difference is b - a.
    `source` names where delta comes from (the paper, the official code, the spec)."""
    interval = paired_interval(a, b) if better == "higher" else paired_interval(b, a)
    verdict = _gated(decide_greater(interval, delta), signals)
    sign = ">" if better == "higher" else "<"
    observed = {arms[0]: _arm(a), arms[1]: _arm(b), **_interval_observed(interval, verdict, delta, unit),
                **_signal_observed(signals), **(extra or {})}
    gap = f"{arms[0]} - {arms[1]}" if better == "higher" else f"{arms[1]} - {arms[0]}"
    expected = (f"{arms[0]} {sign} {arms[1]}: 95 % paired t interval of {gap} above {delta:g} "
                f"(delta: {source})")
    return Claim(name, statement, observed, expected, "reproduction", verdict)


def equivalent(name: str, statement: str, a: Sequence[float], b: Sequence[float], *, arms: tuple[str, str],
               margin: float, source: str, signals: Sequence[Signal] = (), unit: str = "seed",
               extra: dict[str, Any] | None = None) -> Claim:
    """Reproduction claim "a and b do not differ by more than `margin`" on paired values: holds when the 95 %
    interval of a - b lies inside [-margin, margin]."""
    interval = paired_interval(a, b)
    verdict = _gated(decide_equivalent(interval, margin), signals)
    nearest_edge = margin if interval.mean >= 0 else -margin
    observed = {arms[0]: _arm(a), arms[1]: _arm(b), **_interval_observed(interval, verdict, nearest_edge, unit),
                **_signal_observed(signals),
                **(extra or {})}
    expected = (f"95 % paired t interval of {arms[0]} - {arms[1]} inside ±{margin:g} (margin: {source})")
    return Claim(name, statement, observed, expected, "reproduction", verdict)


def reaches(name: str, statement: str, values: Sequence[float], *, threshold: float, source: str, metric: str,
            better: Better = "higher", signals: Sequence[Signal] = (), unit: str = "seed",
            extra: dict[str, Any] | None = None) -> Claim:
    """Reproduction claim "the method reaches `threshold`" on per-seed values: the 95 % t interval of the mean
    lies above the threshold (below it for `better="lower"`)."""
    values = [float(v) for v in values]
    level = [threshold] * len(values)
    interval = paired_interval(values, level) if better == "higher" else paired_interval(level, values)
    verdict = _gated(decide_greater(interval, 0.0), signals)
    observed = {metric: _arm(values), "threshold": threshold, **_interval_observed(interval, verdict, 0.0, unit),
                **_signal_observed(signals), **(extra or {})}
    sign = ">" if better == "higher" else "<"
    expected = f"mean {metric} {sign} {threshold:g}, 95 % t interval over {unit}s (threshold: {source})"
    return Claim(name, statement, observed, expected, "reproduction", verdict)


def verdict_counts(claims: Sequence[Claim]) -> dict[str, Any]:
    """Reproductions counted by verdict, checks as held / total."""
    reproductions = [c for c in claims if c.kind == "reproduction"]
    checks = [c for c in claims if c.kind == "check"]
    return {"reproductions": {v: sum(c.verdict == v for c in reproductions) for v in VERDICTS},
            "checks_held": sum(c.holds for c in checks), "checks": len(checks)}


def counts_text(claims: Sequence[Claim]) -> str:
    """E.g. "reproductions: 2 hold, 1 fails, 3 inconclusive, 0 no signal; checks 4/5"."""
    counts = verdict_counts(claims)
    r = counts["reproductions"]
    return (f"reproductions: {r['holds']} hold, {r['fails']} fail, {r['inconclusive']} inconclusive, "
            f"{r['no_signal']} no signal; checks {counts['checks_held']}/{counts['checks']}")


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


VERDICT_LABELS = {"holds": "holds", "fails": "FAILS", "inconclusive": "inconclusive", "no_signal": "NO SIGNAL"}


def claims_table(claims: list[Claim], width: int = 110) -> str:
    """Plain-text table printed by `reprolab run`: kind, verdict, name and expectation on one line, then the
    observed numbers, wrapped at `width` characters and never truncated."""
    lines = []
    for c in claims:
        head = f"  [{c.kind:12} {VERDICT_LABELS[c.verdict]:12}] {c.name}  (expected {c.expected})"
        lines += textwrap.wrap(head, width, subsequent_indent=" " * 6, break_on_hyphens=False,
                               break_long_words=False)
        for line in observed_lines(c.observed):
            lines += textwrap.wrap(line, width, initial_indent=" " * 10, subsequent_indent=" " * 12,
                                   break_on_hyphens=False, break_long_words=False)
    return "\n".join(lines)
