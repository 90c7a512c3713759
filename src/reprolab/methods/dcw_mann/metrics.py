"""Suffix and next-activity metrics (Tax et al. 2017), on sequences of activity ids.

    DL similarity = 1 - DL(pred, true) / max(|pred|, |true|),   1 when both are empty
with DL the unrestricted Damerau-Levenshtein distance (default), the optimal-string-alignment distance ("osa",
the prototype's), or the official code's Levenshtein distance on tokens > 1 ("official_levenshtein"; the official
code reports the distance ratio 1 - similarity, lower is better). Distances: rapidfuzz.
Next-activity accuracy: the first predicted activity equals the first true one (an empty prediction is wrong).
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

SuffixMetric = Literal["damerau_levenshtein", "osa", "official_levenshtein"]
SUFFIX_METRICS: tuple[SuffixMetric, ...] = ("damerau_levenshtein", "osa", "official_levenshtein")


def suffix_distance(pred: Sequence[int], true: Sequence[int], metric: SuffixMetric = "damerau_levenshtein") -> int:
    from rapidfuzz.distance import OSA, DamerauLevenshtein, Levenshtein

    if metric == "damerau_levenshtein":
        return DamerauLevenshtein.distance(list(pred), list(true))
    if metric == "osa":
        return OSA.distance(list(pred), list(true))
    if metric == "official_levenshtein":
        return Levenshtein.distance(list(pred), list(true))
    raise ValueError(f"metric must be one of {list(SUFFIX_METRICS)}, got {metric!r}")


def suffix_similarity(pred: Sequence[int], true: Sequence[int], metric: SuffixMetric = "damerau_levenshtein") -> float:
    """1 - distance / max length (1 when both are empty). The official metric first drops ids < 1 (the official
    code drops tokens <= 1: PAD/EOS and GO)."""
    if metric == "official_levenshtein":
        pred, true = [a for a in pred if a >= 1], [a for a in true if a >= 1]
    longest = max(len(pred), len(true))
    return 1.0 if longest == 0 else 1.0 - suffix_distance(pred, true, metric) / longest


def next_activity_correct(pred: Sequence[int], true: Sequence[int]) -> bool:
    return len(pred) > 0 and len(true) > 0 and pred[0] == true[0]


def score(preds: Sequence[Sequence[int]], trues: Sequence[Sequence[int]],
          metric: SuffixMetric = "damerau_levenshtein") -> dict[str, float]:
    """Mean suffix similarity and next-activity accuracy over pairs."""
    if len(preds) != len(trues) or not trues:
        raise ValueError(f"need as many predictions as true suffixes (> 0), got {len(preds)} and {len(trues)}")
    return {"dl_similarity": float(np.mean([suffix_similarity(p, t, metric) for p, t in zip(preds, trues)])),
            "next_activity_accuracy": float(np.mean([next_activity_correct(p, t) for p, t in zip(preds, trues)]))}


def accuracy_by_prefix_length(preds: Sequence[Sequence[int]], trues: Sequence[Sequence[int]],
                              prefix_lengths: Sequence[int]) -> dict[int, dict[str, float]]:
    """Next-activity accuracy and pair count per prefix length."""
    out: dict[int, list[bool]] = {}
    for p, t, k in zip(preds, trues, prefix_lengths):
        out.setdefault(int(k), []).append(next_activity_correct(p, t))
    return {k: {"accuracy": float(np.mean(v)), "pairs": len(v)} for k, v in sorted(out.items())}
