"""Plots of the trojan_filter experiment: Trojan examples with their filtered versions, and the ASR / clean
accuracy / FtC table as a figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reprolab.methods.trojan_filter.metrics import filtered_asr
from reprolab.report.figures import panels, save_figure


@torch.no_grad()
def plot_examples(attack, filt, x: torch.Tensor, path: Path) -> Path:
    """Rows: clean, Trojan (trigger k cycling), filtered Trojan."""
    trojan = torch.cat([attack.apply(x[i:i + 1], i % attack.n_triggers) for i in range(len(x))])
    rows = [x.cpu(), trojan.cpu(), filt.eval()(trojan).cpu()]
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, len(x), figsize=(1.2 * len(x), 3.8))
    for r, (images, label) in enumerate(zip(rows, ("clean", f"{attack.name}", "filtered"))):
        for c in range(len(x)):
            if images.shape[1] == 1:
                axes[r][c].imshow(images[c, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            else:
                axes[r][c].imshow(images[c].permute(1, 2, 0).numpy())
            axes[r][c].axis("off")
        axes[r][0].set_title(label, fontsize=8, loc="left")
    return save_figure(fig, path)


def plot_table(metrics: dict, cfg, path: Path) -> Path:
    """Per attack: bars of clean accuracy and ASR without defense and with each filter, and FtC / STRIP FNR."""
    attacks = metrics["attacks"]
    fig, axes = panels(len(attacks), width=5.0)
    for ax, (name, block) in zip(axes, attacks.items()):
        labels = ["none"] + list(cfg.defenses)
        ca = [block["no_defense"]["clean_accuracy"]] + [block[d]["filtered_clean_accuracy"] for d in cfg.defenses]
        asr = [block["no_defense"]["asr"]["mean"]] + [filtered_asr(block[d]) for d in cfg.defenses]
        fnr = [np.nan] + [block[d].get("ftc", {}).get("fnr", np.nan) for d in cfg.defenses]
        labels.append("STRIP")
        ca.append(np.nan)
        asr.append(np.nan)
        fnr.append(block["STRIP"]["fnr"])
        x = np.arange(len(labels))
        ax.bar(x - 0.25, ca, 0.25, label="clean acc")
        ax.bar(x, asr, 0.25, label="ASR")
        ax.bar(x + 0.25, fnr, 0.25, label="detector FNR")
        ax.set_xticks(x, labels)
        ax.set_ylim(0, 1.05)
        ax.set_title(name, fontsize=9)
    axes[0].legend(fontsize=7)
    return save_figure(fig, path)


def plot_sweeps(metrics: dict, cfg, path: Path) -> Path:
    """Filter ASR against the defender-set size (one panel per swept attack) and against image-BI+'s alpha."""
    sweeps = {a: b["defender_sweep"] for a, b in metrics["attacks"].items() if "defender_sweep" in b}
    fig, axes = panels(len(sweeps) + bool(cfg.norm_sweep), width=4.0)
    for ax, (name, sweep) in zip(axes, sweeps.items()):
        sizes = [int(n) for n in sweep] + [metrics["attacks"][name][cfg.defenses[0]]["defender_size"]]
        for d in cfg.defenses:
            asr = [filtered_asr(sweep[str(n)][d]) for n in sizes[:-1]] + [filtered_asr(metrics["attacks"][name][d])]
            ax.plot(sizes, asr, marker="o", label=d)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.set_xlabel("defender set size")
        ax.set_ylabel("ASR after filtering (collapsed: not drawn)")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    if cfg.norm_sweep:
        ax = axes[len(sweeps)]
        blocks = {float(a): b for a, b in metrics["norm_sweep"].items()}
        if "image_bi_plus" in metrics["attacks"]:
            blocks[cfg.image_blend_alpha] = metrics["attacks"]["image_bi_plus"]
        alphas = sorted(blocks)
        ax.plot(alphas, [blocks[a]["no_defense"]["asr"]["mean"] for a in alphas], marker="s", color="k",
                label="no defense")
        for d in cfg.defenses:
            ax.plot(alphas, [filtered_asr(blocks[a][d]) for a in alphas], marker="o", label=d)
        ax.set_xlabel("image-BI+ alpha (trigger norm)")
        ax.set_title("image_bi_plus", fontsize=9)
        ax.legend(fontsize=7)
    return save_figure(fig, path)
