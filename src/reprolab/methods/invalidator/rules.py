"""INVALIDATOR's semantic rules and decision (official code).

Inputs are invariant maps, program point -> set of invariant strings, inferred over the passing developer tests
T_P (I_P) and the failing ones T_F (I_F), for the buggy program B, the developer fix D and the patch A. Only the
program points present in all compared versions count.
- CorrectSpec[p] = I_P(B)[p] & I_P(D)[p]; A **violates the correct specification** if some invariant of
  CorrectSpec[p] is missing from I_P(A)[p].
- ErrorBeh[p] = I_F(B)[p] - I_F(D)[p]; A **maintains the error behaviour** if some invariant of ErrorBeh[p] is in
  I_F(A)[p].
- Overfitting (semantic) = either rule fires on at least one invariant. INVALIDATOR: overfitting = semantic OR
  p_syn > T, with p_syn the syntactic classifier's probability of overfitting (without a classifier: the rules
  alone, which flag a patch or leave it unflagged).
Baseline: the naive invariant diff flags A when I(A)[p] != I(D)[p] at any point shared by A and D (over T_P or T_F).
"""

from __future__ import annotations

from typing import Mapping

InvariantMap = Mapping[str, "set[str] | list[str]"]


def shared_points(*maps: InvariantMap) -> list[str]:
    points = set(maps[0])
    for m in maps[1:]:
        points &= set(m)
    return sorted(points)


def correct_spec_violations(b_pass: InvariantMap, d_pass: InvariantMap, a_pass: InvariantMap) -> dict[str, list[str]]:
    """point -> invariants of CorrectSpec[p] = I_P(B)[p] & I_P(D)[p] that I_P(A)[p] lacks (non-empty entries)."""
    out = {}
    for p in shared_points(b_pass, d_pass, a_pass):
        missing = (set(b_pass[p]) & set(d_pass[p])) - set(a_pass[p])
        if missing:
            out[p] = sorted(missing)
    return out


def maintained_errors(b_fail: InvariantMap, d_fail: InvariantMap, a_fail: InvariantMap) -> dict[str, list[str]]:
    """point -> invariants of ErrorBeh[p] = I_F(B)[p] - I_F(D)[p] that I_F(A)[p] keeps (non-empty entries)."""
    out = {}
    for p in shared_points(b_fail, d_fail, a_fail):
        kept = (set(b_fail[p]) - set(d_fail[p])) & set(a_fail[p])
        if kept:
            out[p] = sorted(kept)
    return out


def semantic_verdict(b: Mapping[str, InvariantMap], d: Mapping[str, InvariantMap],
                     a: Mapping[str, InvariantMap]) -> dict:
    """b, d, a: {"P": I_P, "F": I_F}. The two rules, and whether the patch is judged overfitting."""
    violated = correct_spec_violations(b["P"], d["P"], a["P"])
    kept = maintained_errors(b["F"], d["F"], a["F"])
    rule = "violates_correct_spec" if violated else "maintains_error" if kept else None
    return {"overfitting": rule is not None, "rule": rule, "violated": violated, "maintained": kept}


def invalidator_decision(rule: str | None, p_syntactic: float | None, threshold: float) -> tuple[bool, str]:
    """(overfitting, what decided it): the rule that fired (None: neither did) flags the patch; when no rule fired,
    the classifier's score decides at `threshold`, and without a classifier the patch is not flagged (the rules
    can only flag overfitting, never confirm correctness)."""
    if rule is not None:
        return True, f"rule {rule} fired"
    if p_syntactic is None:
        return False, "no rule fired and no classifier was used"
    overfitting = p_syntactic > threshold
    return overfitting, (f"no rule fired; the classifier's p(overfitting) = {p_syntactic:.3f} "
                         f"{'>' if overfitting else '<='} T = {threshold}")
