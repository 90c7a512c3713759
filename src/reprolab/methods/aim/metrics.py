"""The deletion protocol, the same for every explainer [official code, `evaluate.py`], scored against the black
box's own label y = argmax f(x), never the ground truth.

    top-K       the K valid features with the largest scores (PAD is never ranked; `rank_padding` ranks it, as
                the official code does); items with fewer valid features keep all of them
    x_keep      the top-K tokens, PAD-filled (original order; `keep_order="rank"`: by descending score, official)
                images: every other patch zeroed
    x_rem       x without the top-K tokens, left-packed, PAD-filled; images: the top-K patches zeroed
    faithfulness@K   mean 1[argmax f(x_keep) = y]    (post-hoc accuracy)
    LO(p)       log(p / (1 - p)), p clamped to [1e-6, 1 - 1e-6] (`official_log_odds`: 0 when p = 1)
    removal@K   LO(f(x)_y) - LO(f(x_rem)_y)          higher is better
    keep@K      LO(f(x)_y) - LO(f(x_keep)_y)         lower is better
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from reprolab.methods.aim.blackbox import BlackBox, patch_mask_to_pixels
from reprolab.methods.aim.corpus import PAD
from reprolab.methods.aim.modules import FeatureKind

KeepOrder = Literal["original", "rank"]
CLAMP = 1e-6


def top_k(scores: torch.Tensor, valid: torch.Tensor, k: int, rank_padding: bool = False) -> torch.Tensor:
    """(N, K) positions by descending score among the valid features; -1 where an item has fewer than K."""
    if k < 1 or k > scores.shape[1]:
        raise ValueError(f"K must be in [1, L = {scores.shape[1]}], got {k}: K larger than the sequence")
    allowed = torch.ones_like(valid) if rank_padding else valid
    masked = torch.where(allowed, scores.float(), torch.tensor(-math.inf))
    values, positions = masked.topk(k, dim=1)
    return torch.where(torch.isfinite(values), positions, torch.full_like(positions, -1))


def selection_mask(positions: torch.Tensor, length: int) -> torch.Tensor:
    """(N, L) boolean: the selected positions (-1 entries select nothing)."""
    mask = torch.zeros(positions.shape[0], length + 1, dtype=torch.bool)
    mask.scatter_(1, torch.where(positions < 0, length, positions), True)
    return mask[:, :length]


def packed(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The kept tokens of each row in their original order, left-packed, PAD after them."""
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    out = torch.gather(x, 1, order)
    return torch.where(torch.arange(x.shape[1]) < keep.sum(1, keepdim=True), out, torch.full_like(out, PAD))


def keep_items(x: torch.Tensor, positions: torch.Tensor, features: FeatureKind,
               order: KeepOrder = "original") -> torch.Tensor:
    if features.kind == "patches":
        return x * patch_mask_to_pixels(selection_mask(positions, features.valid(x).shape[1]).float(),
                                        (features.image_size,) * 2, features.patch)
    if order == "rank":
        out = torch.gather(x, 1, positions.clamp_min(0))
        out = torch.where(positions >= 0, out, torch.full_like(out, PAD))
        return torch.cat([out, torch.full((x.shape[0], x.shape[1] - out.shape[1]), PAD, dtype=x.dtype)], dim=1)
    return packed(x, selection_mask(positions, x.shape[1]))


def remove_items(x: torch.Tensor, positions: torch.Tensor, features: FeatureKind) -> torch.Tensor:
    if features.kind == "patches":
        return x * (1 - patch_mask_to_pixels(selection_mask(positions, features.valid(x).shape[1]).float(),
                                             (features.image_size,) * 2, features.patch))
    return packed(x, ~selection_mask(positions, x.shape[1]) & (x != PAD))


def log_odds(p: torch.Tensor, official: bool = False) -> torch.Tensor:
    """In float64 (1 - 1e-6 is not exact in float32)."""
    p = p.double()
    if official:
        return torch.where(p < 1, torch.log(p / (1 - p)), torch.zeros_like(p))
    p = p.clamp(CLAMP, 1 - CLAMP)
    return torch.log(p / (1 - p))


def deletion_scores(black_box: BlackBox, x: torch.Tensor, positions: torch.Tensor, features: FeatureKind,
                    keep_order: KeepOrder = "original", official_log_odds: bool = False) -> dict[str, np.ndarray]:
    """Per item: faithful (0/1), removal and keep log-odds scores, against y = argmax f(x)."""
    p_full = black_box.batched_probs(x)
    y = p_full.argmax(1, keepdim=True)
    p_keep = black_box.batched_probs(keep_items(x, positions, features, keep_order))
    p_rem = black_box.batched_probs(remove_items(x, positions, features))
    lo = [log_odds(p.gather(1, y)[:, 0], official_log_odds) for p in (p_full, p_rem, p_keep)]
    return {"faithful": (p_keep.argmax(1) == y[:, 0]).float().numpy(), "removal": (lo[0] - lo[1]).numpy(),
            "keep": (lo[0] - lo[2]).numpy()}
