"""Plots of the trojan_filter experiment: Trojan examples with their filtered versions, and the ASR / clean
accuracy / FtC table as a figure, of one seed's record (`metrics["runs"][i]`)."""

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


BASELINES = ("NeuralCleanse", "FinePruning", "Februus")


def _defense_bars(block: dict, defenses: tuple[str, ...]) -> list[tuple[str, float, float, float, bool]]:
    """(label, clean accuracy, ASR, detector FNR, collapsed) per bar group: no defense, each filter, each mitigation
    baseline that ran, and STRIP (a detector: FNR only). A collapsed filter is not scored: no ASR or FNR."""
    rows = [("none", block["no_defense"]["clean_accuracy"], block["no_defense"]["asr"]["mean"], np.nan, False)]
    for d in defenses:
        rows.append((d, block[d]["filtered_clean_accuracy"], filtered_asr(block[d]),
                     block[d].get("ftc", {}).get("fnr", np.nan), block[d]["collapsed"]))
    rows += [(b, block[b]["clean_accuracy"], block[b]["asr"]["mean"], np.nan, False) for b in BASELINES if b in block]
    rows.append(("STRIP", np.nan, np.nan, block["STRIP"]["fnr"], False))
    return rows


def plot_table(run: dict, cfg, path: Path) -> Path:
    """Per attack of one seed's record: bars of clean accuracy and ASR without defense, with each filter and with each
    mitigation baseline, and the detector FNR of FtC and STRIP. A collapsed filter has no ASR bar and says so."""
    attacks = run["attacks"]
    fig, axes = panels(len(attacks), width=6.5, height=3.8)
    for ax, (name, block) in zip(axes, attacks.items()):
        labels, ca, asr, fnr, collapsed = zip(*_defense_bars(block, cfg.defenses))
        x = np.arange(len(labels))
        ax.bar(x - 0.27, ca, 0.27, label="clean accuracy", color="tab:blue")
        ax.bar(x, asr, 0.27, label="attack success rate", color="tab:orange")
        ax.bar(x + 0.27, fnr, 0.27, label="detector FNR (FtC, STRIP)", color="tab:green")
        for xi, down in zip(x, collapsed):
            if down:
                ax.text(xi + 0.1, 0.5, "collapsed:\nnot scored", rotation=90, ha="center", va="center", fontsize=8)
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=9)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{name} (seed {run['seed']})", fontsize=11)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return save_figure(fig, path, tight=False)


def plot_sweeps(run: dict, cfg, path: Path) -> Path:
    """One seed's filter ASR against the defender-set size (one panel per swept attack) and against image-BI+'s
    alpha."""
    sweeps = {a: b["defender_sweep"] for a, b in run["attacks"].items() if "defender_sweep" in b}
    fig, axes = panels(len(sweeps) + bool(cfg.norm_sweep), width=4.0)
    for ax, (name, sweep) in zip(axes, sweeps.items()):
        sizes = [int(n) for n in sweep] + [run["attacks"][name][cfg.defenses[0]]["defender_size"]]
        for d in cfg.defenses:
            asr = [filtered_asr(sweep[str(n)][d]) for n in sizes[:-1]] + [filtered_asr(run["attacks"][name][d])]
            ax.plot(sizes, asr, marker="o", label=d)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.set_xlabel("defender set size")
        ax.set_ylabel("ASR after filtering (collapsed: not drawn)")
        ax.set_title(f"{name} (seed {run['seed']})", fontsize=9)
        ax.legend(fontsize=7)
    if cfg.norm_sweep:
        ax = axes[len(sweeps)]
        blocks = {float(a): b for a, b in run["norm_sweep"].items()}
        if "image_bi_plus" in run["attacks"]:
            blocks[cfg.image_blend_alpha] = run["attacks"]["image_bi_plus"]
        alphas = sorted(blocks)
        ax.plot(alphas, [blocks[a]["no_defense"]["asr"]["mean"] for a in alphas], marker="s", color="k",
                label="no defense")
        for d in cfg.defenses:
            ax.plot(alphas, [filtered_asr(blocks[a][d]) for a in alphas], marker="o", label=d)
        ax.set_xlabel("image-BI+ alpha (trigger norm)")
        ax.set_title(f"image_bi_plus (seed {run['seed']})", fontsize=9)
        ax.legend(fontsize=7)
    return save_figure(fig, path)
