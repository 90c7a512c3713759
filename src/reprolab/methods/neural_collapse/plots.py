"""Plots of the neural_collapse experiment."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reprolab.report.figures import panels, save_figure  # noqa: E402


def plot_singular_values(synthetic: dict[str, dict], path: Path) -> Path:
    """Per synthetic case: the first layer's top-K singular values from GD next to the closed form."""
    names = list(synthetic)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 4))
    for i, name in enumerate(names):
        gd = np.asarray(synthetic[name]["singular_values_gd"])[0]
        pred = np.sort(np.asarray(synthetic[name]["s_theory"]))[::-1]
        xs = i + np.linspace(-0.3, 0.3, len(gd))
        ax.scatter(xs, gd, marker="o", color="C0", label="GD" if i == 0 else None)
        ax.scatter(xs, pred, marker="x", s=60, color="C3", label="closed form" if i == 0 else None)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right")
    ax.set_ylabel("top-K singular values of W_1")
    ax.set_title("Deep linear UFM: gradient descent vs closed-form s_k*")
    ax.legend()
    return save_figure(fig, path, dpi=110)


def plot_real_runs(real: dict[str, dict], path: Path) -> Path:
    """NC1, OF NC2_W and GOF NC2_W against epoch for every real-data run (log scale)."""
    keys = [("nc1", "NC1"), ("of_nc2_w", "NC2_W vs OF"), ("gof_nc2_w", "NC2_W vs GOF"), ("train_acc", "train acc")]
    fig, axes = panels(len(keys), width=4.2, height=3.6, columns=2)
    for name, run in real.items():
        epochs = [h["epoch"] for h in run["history"]]
        for ax, (key, _) in zip(axes, keys):
            ax.plot(epochs, [h[key] for h in run["history"]], label=name)
    for ax, (key, title) in zip(axes, keys):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        if key != "train_acc":
            ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    return save_figure(fig, path, dpi=110)
