"""STRIP (Gao et al., ACSAC 2019), the paper's per-input rule (not ART's variant):
N blends clip(x + x_j, 0, 1) with random clean defender images x_j;
H(x) = mean over the blends of the Shannon entropy of softmax(C(blend));
x is flagged as Trojan when H(x) <= the `fpr` quantile of H over the defender's clean set (default 1 %).
A trigger that survives superimposition keeps predictions confident (low entropy); a clean input does not.
The official notebook (garrisongys/STRIP) blends without clipping (`clip=False`: x + x_j in [0, 2]), draws N = 100
and sets the threshold at the `fpr` quantile of a normal fitted to the clean entropies (`threshold_rule="normal"`;
when every clean entropy is equal this is their value, where scipy's `norm.ppf` with scale 0 would give NaN and flag
nothing).
The clean pass (`Calibration`: the threshold and the blend generator's state after it) can be kept and given back,
so that a detector built from it flags exactly what the calibrated one would.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Literal

import torch
from torch import nn

from reprolab.runtime.config import check_choice

Threshold = Literal["quantile", "normal"]


@dataclasses.dataclass(frozen=True)
class Calibration:
    """The outcome of STRIP's clean pass: the entropy threshold, and the state its blend generator is left in (from
    which `detect` draws its partners)."""

    threshold: float
    generator_state: torch.Tensor


class STRIP:
    """STRIP (Gao et al., ACSAC 2019), the paper's per-input rule: `detect(x)` flags x as Trojan when H(x), the
    mean Shannon entropy of the softmax of `classifier` over `n_blends` blends clip(x + x_j, 0, 1) with random
    images x_j of the clean defender set `x_def`, is at most the `fpr` quantile (default 1 %) of H over `x_def`
    (`threshold_rule="normal"`: of a normal fitted to it, as the official code; `clip=False`: unclipped blends).
    `calibration`: a clean pass kept from a detector with the same classifier, clean set and settings, used instead
    of running it again."""

    def __init__(self, classifier: nn.Module, x_def: torch.Tensor, n_blends: int = 20, fpr: float = 0.01,
                 seed: int = 0, clip: bool = True, threshold_rule: Threshold = "quantile",
                 calibration: Calibration | None = None):
        if not 0 < fpr < 1:
            raise ValueError(f"fpr must lie in (0, 1), got {fpr}")
        check_choice("threshold_rule", threshold_rule, Threshold)
        self.classifier, self.x_def, self.n_blends, self.clip = classifier.eval(), x_def, n_blends, clip
        self.gen = torch.Generator().manual_seed(seed)
        if calibration is None:
            threshold = clean_threshold(self.entropy(x_def), fpr, threshold_rule)
            calibration = Calibration(threshold, self.gen.get_state())
        else:
            self.gen.set_state(calibration.generator_state)
        self.calibration = calibration

    @property
    def threshold(self) -> float:
        return self.calibration.threshold

    @torch.no_grad()
    def entropy(self, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """H(x) per input (natural log)."""
        out = []
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            partners = self.x_def[torch.randint(len(self.x_def), (len(xb) * self.n_blends,), generator=self.gen)]
            blends = xb.repeat_interleave(self.n_blends, 0) + partners
            if self.clip:
                blends = blends.clamp(0, 1)
            p = torch.softmax(self.classifier(blends), dim=1)
            h = -(p * p.clamp_min(1e-12).log()).sum(1)
            out.append(h.view(len(xb), self.n_blends).mean(1))
        return torch.cat(out)

    def detect(self, x: torch.Tensor) -> torch.Tensor:
        return self.entropy(x) <= self.threshold


def clean_threshold(h: torch.Tensor, fpr: float, rule: Threshold) -> float:
    """The entropy below which a clean input is flagged with probability `fpr`: the empirical quantile, or that of
    N(mean, sd) fitted by maximum likelihood (sd over n, as `scipy.stats.norm.fit`; every quantile of a
    zero-spread fit is its mean)."""
    if rule == "quantile":
        return float(torch.quantile(h, fpr))
    h = h.double()
    mean, sd = float(h.mean()), float(h.std(correction=0))
    return statistics.NormalDist(mean, sd).inv_cdf(fpr) if sd > 0 else mean
