"""The baselines INVALIDATOR is compared with, on the same patches and labels:

- the semantic rules alone (`rules.semantic_verdict`, no classifier);
- the naive invariant diff: overfitting if any program point that A and D share has different invariants, over
  the passing (T_P) or the failing (T_F) tests;
- the syntactic classifier alone (Tian et al.'s features from the patch embeddings) at the probability 0.5 (p > 0.5,
  or the official p >= 0.5), with and without the developer fix (GT) (`evaluate` adds it at the official and at its
  own fold-chosen threshold);
- all-overfitting: every patch flagged (the F1 a trivial classifier reaches).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from reprolab.methods.invalidator.rules import InvariantMap, shared_points

Prediction = tuple[np.ndarray, "np.ndarray | None"]     # (overfitting per patch, score for the AUC or None)


def naive_diff(d: Mapping[str, InvariantMap], a: Mapping[str, InvariantMap]) -> bool:
    """Overfitting if any point shared by A and D has different invariants, over T_P or T_F."""
    return any(set(a[g][p]) != set(d[g][p]) for g in ("P", "F") for p in shared_points(d[g], a[g]))


def flagged(prob: np.ndarray, t: float, ge: bool = False) -> np.ndarray:
    """The classifier's verdicts at threshold t: p > t, or p >= t (`ge`, the official classifier alone's)."""
    return prob >= t if ge else prob > t


def baseline_predictions(semantic: np.ndarray, naive: np.ndarray,
                         syntactic_probability: Mapping[str, np.ndarray], ge: bool = False) -> dict[str, Prediction]:
    """Every baseline's predictions: `syntactic_probability[variant]` is the classifier's out-of-fold probability
    of overfitting per patch ("gt", "no_gt"), flagged at p > 0.5 or (`ge`, the official classifier's) p >= 0.5."""
    out: dict[str, Prediction] = {"rules": (semantic, None), "naive_invariant_diff": (naive, None),
                                  "all_overfitting": (np.ones(len(semantic), bool), None)}
    for variant, prob in syntactic_probability.items():
        out[f"syntactic_{variant}@0.5"] = (flagged(prob, 0.5, ge), prob)
    return out
