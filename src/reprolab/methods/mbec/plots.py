"""Plots of the mbec experiment: beta(h_t) over training and the memory's relative error on fresh trajectories
(learning curves: `reprolab.report.figures.learning_curve_panels`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reprolab.report.figures import panels, save_figure


def plot_beta(envs: dict, path: Path) -> Path:
    fig, axes = panels(len(envs))
    for ax, (env_name, block) in zip(axes, envs.items()):
        trace = np.asarray(block.get("mbec", {}).get("beta_trace", []), float).reshape(-1, 2)
        ax.scatter(trace[:, 0], trace[:, 1], s=3, alpha=0.5)
        ax.set_ylim(0, 1)
        ax.set_title(f"{env_name}: beta(h_t), first seed", fontsize=9)
        ax.set_xlabel("frame")
    return save_figure(fig, path)


def plot_memory_error(envs: dict, path: Path) -> Path:
    fig, axes = panels(len(envs))
    for ax, (env_name, block) in zip(axes, envs.items()):
        trace = np.asarray(block.get("mbec", {}).get("memory_error_trace", []), float).reshape(-1, 4)
        if len(trace):
            rel = trace[:, 1] / np.maximum(trace[:, 2], 1e-12)
            width = max(1, len(rel) // 20)
            ax.plot(trace[width - 1:, 0], np.convolve(rel, np.ones(width) / width, mode="valid"))
        ax.set_title(f"{env_name}: |V_M - R| / |R|, first seed", fontsize=9)
        ax.set_xlabel("frame")
    return save_figure(fig, path)
