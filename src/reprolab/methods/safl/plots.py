"""Loss curves per run, test images with their rectified versions and predictions, and word accuracy per
character-frequency bucket."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reprolab.report.figures import plt, save_figure


def plot_losses(runs: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for run, block in runs.items():
        curve = np.asarray(block["loss_curve"])
        smooth = np.convolve(curve, np.ones(10) / 10, mode="valid") if len(curve) >= 10 else curve
        ax.plot(np.arange(len(smooth)) + 1, smooth, label=run)
    ax.set(xlabel="step", ylabel="training loss (sum over tokens / batch; 10-step mean)", yscale="log")
    ax.legend()
    return save_figure(fig, path)


def plot_rectified(recognizer, data, path: Path) -> Path:
    """Each test image, its rectified version and the prediction (the label in brackets)."""
    from reprolab.methods.safl.datasets import as_model_input

    model = recognizer.model.eval()
    with torch.no_grad():
        rectified, _ = model.rectify(as_model_input(data.images).to(recognizer.device))
    preds = recognizer.recognize(data.images)
    n = len(data)
    fig, axes = plt.subplots(n, 2, figsize=(5, 0.9 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(data.images[i].permute(1, 2, 0).numpy())
        axes[i, 1].imshow(((rectified[i].cpu().permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
        axes[i, 1].set_title(f"{preds[i]!r} [{data.labels[i]}]", fontsize=7)
        for ax in axes[i]:
            ax.axis("off")
    return save_figure(fig, path)


def plot_buckets(runs: dict, path: Path) -> Path:
    """Word accuracy on the uniform test set by the frequency quartile of each label's rarest character."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [r for r in runs if "by_bucket" in runs[r]]
    width = 0.8 / max(1, len(names))
    for j, run in enumerate(names):
        buckets = runs[run]["by_bucket"]
        xs = [int(b) for b in buckets]
        ax.bar(np.asarray(xs) + j * width, [buckets[b]["word_accuracy"] for b in buckets], width, label=run)
    ax.set(xlabel="rarest character's frequency quartile (0 = most frequent)", ylabel="word accuracy")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
