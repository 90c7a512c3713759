"""Plots of the mbec experiment: learning curves (mean +- standard error over seeds), beta(h_t) over training,
and the memory's relative error on fresh trajectories."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reprolab.report.figures import panels, plot_mean_se, save_figure


def plot_curves(envs: dict, path: Path) -> Path:
    fig, axes = panels(len(envs))
    for ax, (env_name, block) in zip(axes, envs.items()):
        plot_mean_se(ax, block)
        ax.set_title(env_name, fontsize=9)
    axes[0].legend(fontsize=7)
    return save_figure(fig, path)


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
