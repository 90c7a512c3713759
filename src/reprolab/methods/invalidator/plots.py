"""The invalidator experiment's figure: precision, recall and F1 of INVALIDATOR and every baseline, and the
syntactic classifier's probabilities for overfitting and correct patches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reprolab.methods.invalidator.claims import HEADLINE
from reprolab.report.figures import panels, save_figure


def plot_scores(metrics: dict, path: Path) -> Path:
    methods = metrics["evaluation"]["methods"]
    names = [HEADLINE, "invalidator_gt@0.975", "rules", "naive_invariant_diff", "syntactic_gt@0.5",
             "syntactic_no_gt@0.5", "all_overfitting"]
    fig, axes = panels(2, width=6.0)
    x = np.arange(len(names))
    for k, metric in enumerate(("precision", "recall", "f1")):
        axes[0].bar(x + (k - 1) * 0.27, [methods[n]["all"][metric] for n in names], 0.27, label=metric)
    axes[0].set_xticks(x, [n.replace("invalidator", "inv").replace("_", " ") for n in names], rotation=35,
                       ha="right", fontsize=7)
    axes[0].set_ylim(0, 1.05)
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"{metrics['benchmark']['n_patches']} patches, leave-one-program-out", fontsize=9)
    ev = metrics["evaluation"]
    labels, prob = np.array(ev["labels"], bool), np.array(ev["p_syntactic_gt"])
    axes[1].hist([prob[labels], prob[~labels]], bins=20, range=(0, 1), label=["overfitting", "correct"])
    axes[1].set_xlabel("syntactic p(overfitting), with GT")
    axes[1].legend(fontsize=7)
    return save_figure(fig, path)
