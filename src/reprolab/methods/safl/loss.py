"""Focal loss over the target tokens, and the learning-rate schedules.

Focal loss [official code form]: p_t = softmax(z_t)[y_t] (through log_softmax),
    l_t = -alpha (1 - p_t)^gamma log p_t,   L = sum_b sum_t mask_bt l_bt / B
mask = the positions up to and including EOS (PAD positions give no loss and no gradient); summed over tokens and
divided by the batch size [official]. gamma = 0, alpha = 1 is exactly the negative log-likelihood, which is what the
released code trains (its focal lines are commented out). The official values in those lines: gamma 1, alpha 0.99.
Noam [official]: lr(it) = 512^-0.5 min(it^-0.5, it 16000^-1.5), it from 1 (peak 3.494e-4 at it = 16000).
Warmup + cosine (the CPU design of spec 6): linear to `peak` over `warmup` steps, then cosine to 0.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from reprolab.methods.safl.vocab import PAD


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 1.0, alpha: float = 0.99) -> torch.Tensor:
    """logits (B, T, C), targets (B, T) with PAD after EOS."""
    logp = F.log_softmax(logits, dim=-1).gather(-1, targets.clamp_max(logits.shape[-1] - 1).unsqueeze(-1))[..., 0]
    per_token = -alpha * (1 - logp.exp()) ** gamma * logp if gamma != 0 else -alpha * logp
    return torch.where(targets != PAD, per_token, torch.zeros_like(per_token)).sum() / targets.shape[0]


def noam(step: int, d_model: int = 512, warmup: int = 16000) -> float:
    """The official code's Noam learning rate at optimisation step `step` (from 1):
    d_model^-0.5 min(step^-0.5, step warmup^-1.5), rising linearly to its peak at step `warmup` (3.494e-4 for the
    defaults d_model 512, warmup 16,000), then decaying as step^-0.5."""
    return d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


def warmup_cosine(step: int, peak: float, warmup: int, total: int) -> float:
    if step <= warmup:
        return peak * step / max(1, warmup)
    return 0.5 * peak * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
