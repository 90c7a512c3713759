"""Plots of the balanced_q experiment: learning curves per scenario and beta over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reprolab.report.figures import learning_curve_panels, panels, save_figure  # noqa: E402


def _smooth(y, width: int) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    width = max(1, min(width, len(y)))
    return np.convolve(y, np.ones(width) / width, mode="valid")


def plot_curves(metrics: dict, path: Path) -> Path:
    keys = [k for k in metrics if isinstance(metrics[k], dict) and "q_learning" in metrics[k]
            and "curve" in metrics[k]["q_learning"]]
    fig, axes = panels(len(keys), width=4.2, height=3.4)
    for ax, key in zip(axes, keys):
        for name, block in metrics[key].items():
            curve = block["curve"]
            ax.plot(_smooth(curve, max(1, len(curve) // 60)), label=name, lw=1.2)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("episode")
        ax.set_ylabel("P(left from A)" if "mu" in key else "return")
    axes[0].legend(fontsize=7)
    return save_figure(fig, path)


def plot_deep(metrics: dict, path: Path) -> Path:
    return learning_curve_panels(metrics.get("deep", {}), path)


def plot_beta(metrics: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for key, block in metrics.items():
        if isinstance(block, dict) and "balanced" in block and block["balanced"].get("beta_trace"):
            trace = block["balanced"]["beta_trace"]
            ax.plot(_smooth(trace, max(1, len(trace) // 100)), label=key, lw=1)
    ax.set_xlabel("update (non-terminal transitions, smoothed)")
    ax.set_ylabel("mean beta")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
