"""Statistics every experiment reports: mean and standard error over seeds, binned learning curves and their
summary (area under the curve, final value), and the paired per-seed comparisons that decide claims."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from scipy import stats as scipy_stats


def binned_curve(end_frames: Sequence[int], returns: Sequence[float], total_frames: int, n_bins: int) -> np.ndarray:
    """Mean return of the episodes that end in each of `n_bins` equal frame bins; an empty bin repeats the
    previous bin's value (NaN before the first finished episode)."""
    edges = np.linspace(0, total_frames, n_bins + 1)
    which = np.clip(np.searchsorted(edges, np.asarray(end_frames), side="left") - 1, 0, n_bins - 1)
    curve = np.full(n_bins, np.nan)
    sums, counts = np.bincount(which, returns, n_bins), np.bincount(which, minlength=n_bins)
    curve[counts > 0] = sums[counts > 0] / counts[counts > 0]
    for i in range(1, n_bins):
        if np.isnan(curve[i]):
            curve[i] = curve[i - 1]
    return curve


def finite_mean(values: Sequence[float]) -> float:
    """The mean of the finite values (NaN when there are none)."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def mean_se(values: Sequence[float]) -> dict:
    """Mean and standard error (std with ddof 1 over sqrt n) of per-run or per-seed values, NaNs skipped;
    the standard error of a single value is 0."""
    values = np.asarray(values, dtype=float)
    n = int(np.sum(~np.isnan(values)))
    se = float(np.nanstd(values, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    return {"mean": float(np.nanmean(values)), "se": se}


def summarize(curves: Sequence[np.ndarray]) -> dict:
    """Across seeds: mean and standard error per bin, area under the curve (mean over bins, NaN bins skipped)
    per seed and its mean +- standard error, and the final bin."""
    stack = np.vstack(curves)
    n = stack.shape[0]
    auc = np.nanmean(stack, axis=1)
    auc_stats, final_stats = mean_se(auc), mean_se(stack[:, -1])
    return {"mean": np.nanmean(stack, axis=0).tolist(),
            "se": (np.nanstd(stack, axis=0, ddof=1) / np.sqrt(n)).tolist() if n > 1 else [0.0] * stack.shape[1],
            "auc_per_seed": auc.tolist(), "auc_mean": auc_stats["mean"], "auc_se": auc_stats["se"],
            "final_mean": final_stats["mean"], "final_se": final_stats["se"]}


# ---------------------------------------------------------------------------------------------------------------
# Paired comparisons. Two arms run on the same seeds (same data, same initialisation where the arms share a
# network) give per-seed differences d_i = a_i - b_i. The 95 % interval of their mean is Student's t interval
#     mean(d) ± t_{0.975, n-1} · sd(d) / sqrt(n),
# and a claim "a beats b by at least delta" is decided on it:
#     holds        lower bound > delta
#     fails        upper bound < delta
#     inconclusive otherwise, and always with fewer than two seeds (one seed never decides).
# "a and b are equivalent within ±margin" (no advantage) is decided the same way on [-margin, +margin]:
#     holds when the whole interval lies inside, fails when it lies wholly outside, else inconclusive.
# The t interval assumes roughly normal differences; with 3-10 seeds a bootstrap interval would be too narrow.

CONFIDENCE = 0.95
POWER = 0.8


@dataclasses.dataclass(frozen=True)
class PairedInterval:
    """The mean per-seed difference a - b and its two-sided t interval."""

    n: int
    mean: float
    sd: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def paired_differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """a_i - b_i over the seeds both arms have a finite value for; the arms must be listed in the same seed order."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values need two 1-D sequences of equal length (one per seed); got shapes "
                         f"{a.shape} and {b.shape}")
    diff = a - b
    return diff[np.isfinite(diff)]


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> PairedInterval:
    """Student's t interval of mean(a - b) over paired seeds; with one seed the interval is (-inf, inf)."""
    diff = paired_differences(a, b)
    n = diff.size
    if n == 0:
        return PairedInterval(0, float("nan"), float("nan"), float("-inf"), float("inf"))
    mean = float(diff.mean())
    if n == 1:
        return PairedInterval(1, mean, float("nan"), float("-inf"), float("inf"))
    sd = float(diff.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / np.sqrt(n)
    return PairedInterval(n, mean, sd, float(mean - half), float(mean + half))


def seeds_needed(mean: float, sd: float, delta: float, confidence: float = CONFIDENCE, power: float = POWER,
                 most: int = 1000) -> int | None:
    """Seeds a paired comparison would need for its interval to exclude `delta` with probability `power`, if the
    mean difference and its spread stayed as observed: the smallest n >= 2 with
        sqrt(n) · |mean - delta| / sd >= t_{1-(1-confidence)/2, n-1} + t_{power, n-1}.
    None when the observed mean equals delta or the spread is unknown (no number of seeds would decide), `most`
    when more would be needed than that."""
    gap = abs(mean - delta)
    if not np.isfinite(sd) or not np.isfinite(gap) or gap == 0:
        return None
    if sd == 0:
        return 2
    for n in range(2, most + 1):
        t_sum = scipy_stats.t.ppf(0.5 + confidence / 2, n - 1) + scipy_stats.t.ppf(power, n - 1)
        if np.sqrt(n) * gap / sd >= t_sum:
            return n
    return most


def decide_greater(interval: PairedInterval, delta: float = 0.0) -> str:
    """"holds" when the interval lies above delta, "fails" when below, else "inconclusive" (see above)."""
    if interval.n < 2:
        return "inconclusive"
    if interval.low > delta:
        return "holds"
    if interval.high < delta:
        return "fails"
    return "inconclusive"


def decide_equivalent(interval: PairedInterval, margin: float) -> str:
    """"holds" when the interval lies inside [-margin, margin], "fails" when wholly outside it, else
    "inconclusive"."""
    if interval.n < 2:
        return "inconclusive"
    if -margin < interval.low and interval.high < margin:
        return "holds"
    if interval.low > margin or interval.high < -margin:
        return "fails"
    return "inconclusive"
