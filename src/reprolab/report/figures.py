"""Figure helpers shared by the methods' plots (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def panels(n: int, width: float = 4.2, height: float = 3.4, columns: int = 3):
    """A figure of max(1, n) axes in rows of at most `columns` (readable in a report page of about 1200 pixels);
    returns (fig, the n axes as a 1-D array). Unused cells of the last row are hidden."""
    n = max(1, n)
    cols = min(n, columns)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat[:n]


def save_figure(fig, path: Path, dpi: int = 100, tight: bool = True) -> Path:
    """Tight layout (unless the caller laid the figure out), write `path`, close the figure."""
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_mean_se(ax, curves: dict, xlabel: str = "fraction of training frames", ylabel: str = "episode return"):
    """One line per name with a +- standard-error band; `curves[name]` has "mean" and "se" lists over equal bins."""
    for name, stats in curves.items():
        mean, se = np.asarray(stats["mean"], float), np.asarray(stats["se"], float)
        x = np.arange(1, len(mean) + 1) / len(mean)
        ax.plot(x, mean, label=name, lw=1.2)
        ax.fill_between(x, mean - se, mean + se, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def learning_curve_panels(groups: dict, path: Path) -> Path:
    """One panel per group (an environment) with `plot_mean_se` curves of its members (the learners)."""
    fig, axes = panels(len(groups))
    for ax, (name, curves) in zip(axes, groups.items()):
        plot_mean_se(ax, curves)
        ax.set_title(name, fontsize=9)
    axes[0].legend(fontsize=7)
    return save_figure(fig, path)
