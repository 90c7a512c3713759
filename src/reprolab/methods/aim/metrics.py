"""The deletion protocol, the same for every explainer [official code, `evaluate.py`], scored against the black
box's own label y = argmax f(x), never the ground truth.

    top-K       the K valid features with the largest scores (PAD is never ranked; `rank_padding` ranks it, as
                the official code does); items with fewer valid features keep all of them
    x_keep      the top-K tokens, PAD-filled (original order; `keep_order="rank"`: by descending score, official)
                images: every other patch zeroed
    x_rem       x without the top-K tokens, left-packed, PAD-filled; images: the top-K patches zeroed
    word types  (official LIME evaluation, `baseline/LIME.py`) the K best word types (distinct ids, ranked by their
                best position): x_keep = each type once, in rank order, PAD-filled; x_rem = x without every
                occurrence of them, left-packed
    faithfulness@K   mean 1[argmax f(x_keep) = y]    (post-hoc accuracy)
    LO(p)       log(p / (1 - p)), p clamped to [1e-6, 1 - 1e-6] (`official_log_odds`: 0 when p = 1, no clamp)
    removal@K   LO(f(x)_y) - LO(f(x_rem)_y)          higher is better
    keep@K      LO(f(x)_y) - LO(f(x_keep)_y)         lower is better
    PAD share   the share of the K slots that hold PAD (0 unless PAD is ranked)

`Protocol` gathers the evaluation's switches; `OFFICIAL` is the official code's evaluation (every switch on).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import torch

from reprolab.methods.aim.blackbox import BlackBox, patch_mask_to_pixels
from reprolab.methods.aim.corpus import PAD
from reprolab.methods.aim.modules import FeatureKind
from reprolab.runtime.config import check_options

KeepOrder = Literal["original", "rank"]
CLAMP = 1e-6


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How explanations are scored; each switch on is the official code's behaviour."""
    rank_padding: bool = False          # official: torch.topk over all L positions, PAD included (`evaluate.py`)
    keep_order: KeepOrder = "original"  # official "rank": x[top_idx], descending score (`utils_eval.mask_data`)
    official_log_odds: bool = False     # official: LO = 0 when p = 1, no clamp (`evaluate.log_odds`)
    brevity_bug: bool = False           # official: 'similar' joins every known word's set (`utils_eval.brevity`)
    lime_word_types: bool = False       # official: LIME's K words, once each, rank order (`baseline/LIME.py`)
    lime_abs: bool = False              # official: LIME's words by |weight| (lime's `as_list` order)
    lime_class_one: bool = False        # official: `as_list()` reads class 1's explanation (lime's default label)

    def __post_init__(self) -> None:
        check_options(self)


OFFICIAL = Protocol(rank_padding=True, keep_order="rank", official_log_odds=True, brevity_bug=True,
                    lime_word_types=True, lime_abs=True, lime_class_one=True)


def top_k(scores: torch.Tensor, valid: torch.Tensor, k: int, rank_padding: bool = False) -> torch.Tensor:
    """(N, K) positions by descending score among the valid features; -1 where an item has fewer than K."""
    if k < 1 or k > scores.shape[1]:
        raise ValueError(f"K must be in [1, L = {scores.shape[1]}], got {k}: K larger than the sequence")
    allowed = torch.ones_like(valid) if rank_padding else valid
    masked = torch.where(allowed, scores.float(), torch.tensor(-math.inf))
    values, positions = masked.topk(k, dim=1)
    return torch.where(torch.isfinite(values), positions, torch.full_like(positions, -1))


def top_word_types(x: torch.Tensor, scores: torch.Tensor, k: int) -> torch.Tensor:
    """(N, K) the K distinct token ids with the best scores (a type ranks by its best position; PAD and positions
    with a non-finite score are never ranked), best first; PAD where an item has fewer than K types."""
    if k < 1 or k > x.shape[1]:
        raise ValueError(f"K must be in [1, L = {x.shape[1]}], got {k}: K larger than the sequence")
    out = torch.full((len(x), k), PAD, dtype=x.dtype)
    order = torch.argsort(scores.float(), dim=1, descending=True, stable=True)
    for row, (ids, values, ranking) in enumerate(zip(x.tolist(), scores.tolist(), order.tolist())):
        ranked = [ids[p] for p in ranking if ids[p] != PAD and math.isfinite(values[p])]
        types = list(dict.fromkeys(ranked))[:k]
        out[row, :len(types)] = torch.tensor(types, dtype=x.dtype)
    return out


def pad_share(x: torch.Tensor, positions: torch.Tensor) -> np.ndarray:
    """Per item, the share of the K selected slots that hold PAD."""
    picked = torch.gather(x, 1, positions.clamp_min(0))
    return ((picked == PAD) & (positions >= 0)).float().mean(1).numpy()


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


def keep_word_types(x: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
    """Each selected word type once, in rank order, PAD-filled to L (the official LIME evaluation's kept text)."""
    return torch.cat([types, torch.full((len(x), x.shape[1] - types.shape[1]), PAD, dtype=x.dtype)], dim=1)


def remove_word_types(x: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
    """x without every occurrence of the selected word types, left-packed."""
    chosen = (x.unsqueeze(-1) == types.unsqueeze(1)).any(-1)
    return packed(x, ~chosen & (x != PAD))


def log_odds(p: torch.Tensor, official: bool = False) -> torch.Tensor:
    """In float64 (1 - 1e-6 is not exact in float32)."""
    p = p.double()
    if official:
        return torch.where(p < 1, torch.log(p / (1 - p)), torch.zeros_like(p))
    p = p.clamp(CLAMP, 1 - CLAMP)
    return torch.log(p / (1 - p))


def label_scores(black_box: BlackBox, x: torch.Tensor, kept: torch.Tensor, removed: torch.Tensor,
                 official_log_odds: bool = False, full_probs: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """Per item: faithful (0/1), removal and keep log-odds scores of the kept and removed items, against
    y = argmax f(x) (`full_probs`: f(x) when the caller has it)."""
    p_full = black_box.batched_probs(x) if full_probs is None else full_probs
    y = p_full.argmax(1, keepdim=True)
    p_keep, p_rem = black_box.batched_probs(kept), black_box.batched_probs(removed)
    lo = [log_odds(p.gather(1, y)[:, 0], official_log_odds) for p in (p_full, p_rem, p_keep)]
    return {"faithful": (p_keep.argmax(1) == y[:, 0]).float().numpy(), "removal": (lo[0] - lo[1]).numpy(),
            "keep": (lo[0] - lo[2]).numpy()}


def deletion_scores(black_box: BlackBox, x: torch.Tensor, positions: torch.Tensor, features: FeatureKind,
                    keep_order: KeepOrder = "original", official_log_odds: bool = False) -> dict[str, np.ndarray]:
    """`label_scores` of keeping / removing the selected positions."""
    return label_scores(black_box, x, keep_items(x, positions, features, keep_order),
                        remove_items(x, positions, features), official_log_odds)

