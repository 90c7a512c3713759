"""Statistics every experiment reports: mean and standard error over seeds, binned learning curves and their
summary (area under the curve, final value)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


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
