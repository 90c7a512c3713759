"""Plots of the mad experiment: student accuracy curves, the per-step drift of G and G~, samples of both."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from reprolab.methods.mad.distiller import frozen_bn_statistics  # noqa: E402
from reprolab.report.figures import panels, save_figure  # noqa: E402


def plot_accuracy(cases: dict, path: Path) -> Path:
    fig, axes = panels(len(cases))
    for ax, (name, block) in zip(axes, cases.items()):
        for method, stats in block.items():
            ax.plot(stats["curve_steps"], stats["curve_mean"], label=method, lw=1.3)
        ax.set_title(f"{name}: student test accuracy (mean of seeds)", fontsize=9)
        ax.set_xlabel("iteration")
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)


def plot_drift(cases: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    names = list(cases)
    x = np.arange(len(names))
    g = [cases[n]["mad"]["js_step_G"]["mean"] for n in names]
    e = [cases[n]["mad"]["js_step_G_ema"]["mean"] for n in names]
    ax.bar(x - 0.2, g, 0.4, label="G")
    ax.bar(x + 0.2, e, 0.4, label="EMA G")
    ax.set_xticks(x, names)
    ax.set_ylabel("mean JS per generator step")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


@torch.no_grad()
def plot_samples(distiller, path: Path, n: int = 8) -> Path:
    z, y = distiller.noise(n, torch.Generator(distiller.device).manual_seed(0))
    rows = []
    for generator in (distiller.generator, distiller.ema_generator):
        with frozen_bn_statistics(generator):
            rows.append(distiller.generate(generator, z, y).cpu())
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.5))
    for r, (images, label) in enumerate(zip(rows, ("G", "EMA G"))):
        for c in range(n):
            img = images[c].permute(1, 2, 0).numpy()
            img = (img - img.min()) / max(img.max() - img.min(), 1e-8)
            axes[r][c].imshow(img.squeeze(), cmap="gray" if img.shape[2] == 1 else None)
            axes[r][c].axis("off")
        axes[r][0].set_title(label, fontsize=8, loc="left")
    return save_figure(fig, path)
