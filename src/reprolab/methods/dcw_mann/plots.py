"""Figures: DL similarity against iterations and against training seconds per model (the frequency baseline as a
line), next-activity accuracy per prefix length, and the memory of one decoded case (write weighting, read
weighting, read modes and usage over its steps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reprolab.report.figures import panels, plt, save_figure

COLOURS = {"lstm_shared": "tab:blue", "lstm_seq2seq": "tab:orange", "dnc": "tab:green", "dc_mann": "tab:purple",
           "dcw_mann": "tab:red", "tax_lstm": "tab:brown", "frequency": "black"}


def plot_curves(logs: dict, path: Path) -> Path:
    """Per log: DL similarity on the curve's test subset against iterations, then against training seconds
    (iterations x the config's cost per iteration; models without a cost are left out of that panel)."""
    fig, axes = plt.subplots(len(logs), 2, figsize=(10, 3.6 * len(logs)), squeeze=False)
    for row, (log, block) in zip(axes, logs.items()):
        for ax, axis, label in ((row[0], "iterations", "iterations"), (row[1], "train_seconds", "training seconds")):
            for model, stats in block["models"].items():
                c = stats["curve"]
                if axis not in c:
                    continue
                ax.plot(c[axis], c["dl_similarity"], marker=".", label=f"{model} ({c['measured_on']})",
                        color=COLOURS.get(model))
            ax.axhline(block["frequency"]["curve_subset"]["dl_similarity"], color="black", ls="--", lw=1,
                       label="most-frequent suffix")
            ax.set_xlabel(label)
            ax.set_ylabel("DL similarity")
            ax.set_title(log)
        row[0].legend(fontsize=7)
    return save_figure(fig, path)


def plot_prefix_accuracy(logs: dict, path: Path) -> Path:
    """Per log: next-activity accuracy against prefix length (first seed; all test pairs)."""
    fig, axes = panels(len(logs))
    for ax, (log, block) in zip(axes, logs.items()):
        for model, stats in [*block["models"].items(), ("frequency", block["frequency"])]:
            by_len = stats["by_prefix_length"]
            ks = sorted(by_len, key=int)
            ax.plot([int(k) for k in ks], [by_len[k]["accuracy"] for k in ks], marker=".", label=model,
                    color=COLOURS.get(model), ls="--" if model == "frequency" else "-")
        ax.set_xlabel("prefix length")
        ax.set_ylabel("next-activity accuracy")
        ax.set_title(log)
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_memory(traces: dict, path: Path) -> Path:
    """Per memory model (rows): write weighting, read weighting (head 0) and usage over the slots at each step, and
    the read modes; the dashed line marks the first decoder step."""
    fig, axes = plt.subplots(len(traces), 4, figsize=(16, 3.2 * len(traces)), squeeze=False)
    for row, (model, trace) in zip(axes, traces.items()):
        for ax, key in zip(row[:3], ("write_weighting", "read_weightings", "usage")):
            image = ax.imshow(np.asarray(trace[key]).T, aspect="auto", cmap="viridis", vmin=0)
            ax.axvline(trace["encoder_steps"] - 0.5, color="white", ls="--", lw=1)
            ax.set_title(f"{model}: {key.replace('_', ' ')}")
            ax.set_xlabel("step")
            ax.set_ylabel("slot")
            fig.colorbar(image, ax=ax, fraction=0.046)
        modes = np.asarray(trace["read_modes"])
        for i, name in enumerate(("backward", "content", "forward")):
            row[3].plot(modes[:, i], label=name)
        row[3].axvline(trace["encoder_steps"] - 0.5, color="grey", ls="--", lw=1)
        row[3].set_title(f"{model}: read modes (prefix {trace['prefix']})")
        row[3].set_xlabel("step")
        row[3].legend(fontsize=7)
    return save_figure(fig, path)
