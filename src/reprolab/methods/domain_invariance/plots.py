"""Figures: accuracy and domain probe against lambda for both representations (ERM as a reference line), and a
PCA view of source features for ERM and each representation."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reprolab.report.figures import save_figure  # noqa: E402

PANELS = (("source_val_mean", "source validation accuracy"), ("target", "target accuracy"),
          ("probe", "domain probe accuracy"))
COLOURS = {"general": "tab:blue", "compressed": "tab:orange", "dann": "tab:green", "cdann": "tab:red",
           "mmd": "tab:purple", "coral": "tab:brown", "erm": "black"}


def plot_tradeoff(tasks: dict, lambdas: dict[str, tuple[float, ...]], path: Path) -> Path:
    """One row per task, one column per measurement; lambda (each task's grid) on a log axis; +- standard error
    bands."""
    fig, axes = plt.subplots(len(tasks), len(PANELS), figsize=(4.6 * len(PANELS), 3.6 * len(tasks)), squeeze=False)
    for row, (task, block) in zip(axes, tasks.items()):
        x = np.asarray(lambdas[task], float)
        for ax, (key, label) in zip(row, PANELS):
            for name, stats in block.items():
                by_lam = stats["by_lambda"]
                if "-" in by_lam:                     # an algorithm without the paper's lambda: a reference line
                    mean = by_lam["-"][key]["mean"]
                    ax.axhline(mean, color=COLOURS[name], ls="--", lw=1.2, label=f"{name} ({mean:.3f})")
                    continue
                mean = np.array([by_lam[f"{v:g}"][key]["mean"] for v in lambdas[task]])
                se = np.array([by_lam[f"{v:g}"][key]["se"] for v in lambdas[task]])
                ax.plot(x, mean, "o-", color=COLOURS[name], label=name, lw=1.5)
                ax.fill_between(x, mean - se, mean + se, color=COLOURS[name], alpha=0.2)
            ax.set_xscale("log")
            ax.set_xlabel("lambda (penalty weight)", fontsize=10)
            ax.set_title(f"{task}: {label}", fontsize=10)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=8, loc="lower left")
    return save_figure(fig, path)


def plot_features(projections: dict, path: Path, lam: float = 1.0) -> Path:
    """PCA of source validation features (first seed), coloured by source domain: one row per task, ERM and each
    representation at `lam` (or the smallest lambda run when `lam` was not)."""
    tasks = list(dict.fromkeys(task for task, _, _ in projections))
    columns = []
    for _, algorithm, value in projections:
        if algorithm not in columns:
            columns.append(algorithm)
    fig, axes = plt.subplots(len(tasks), len(columns), figsize=(3.6 * len(columns), 3.4 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        for ax, algorithm in zip(row, columns):
            runs = {v: p for (t, a, v), p in projections.items() if t == task and a == algorithm}
            if not runs:
                ax.axis("off")
                continue
            chosen = None if None in runs else (lam if lam in runs else min(runs))
            p = runs[chosen]
            xy, domain = np.asarray(p["xy"]), np.asarray(p["domain"])
            for d in np.unique(domain):
                ax.scatter(*xy[domain == d].T, s=6, alpha=0.7, label=f"source {d}")
            suffix = "" if chosen is None else f", lambda {chosen:g}"
            ax.set_title(f"{task}: {algorithm}{suffix}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].legend(fontsize=7, markerscale=2)
    return save_figure(fig, path)
