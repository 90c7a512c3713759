r"""The Balanced Q-learning target and the official code's per-transition beta rule.

Target (official code): for a transition (s, a, r, s'), M = max_a' Q(s', a'), m = min_a' Q(s', a') from
the same estimator (0 for a terminal s'),

    y = r + gamma (beta M + (1 - beta) m).

Per-transition beta (official code, eta = 0.2):

    delta_{n+1} = r + gamma (betabar M + (1 - betabar) m) - Q(s, a)                 (current estimates)
    delta_n     = r + gamma (betabar M_o + (1 - betabar) m_o) - Q_o(s, a)           (previous estimates)
    beta        = clip((delta_{n+1} + eta delta_n - r + Q(s, a) - gamma m) / (gamma (M - m)), 0, 1),
    beta        = 1 when M = m (guard; the official deep code divides by zero there).

Closed form [derived]: beta = clip(betabar + eta delta_n / (gamma (M - m)), 0, 1), and the resulting TD error
y - Q(s, a) = clip(delta_{n+1} + eta delta_n, r + gamma m - Q, r + gamma M - Q): a TD error with momentum eta,
projected onto the interval between the pessimistic and the optimistic target.

`official_gamma_min_only=True` reproduces the official tabular bug y = r + beta M + gamma (1 - beta) m (only the
min term discounted; harmless only when gamma = 1).
"""

from __future__ import annotations

import numpy as np

ETA = 0.2            # official code
TIE_TOLERANCE = 1e-12  # M - m below this counts as M = m


def _xp(x):
    """numpy or torch, whichever `x` belongs to: the rule is written once for the tabular and the deep agent."""
    import torch

    return torch if isinstance(x, torch.Tensor) else np


def _delta(r, q, M, m, gamma, beta_bar):
    """r + gamma (betabar M + (1 - betabar) m) - Q. A float64 tensor betabar (one per seed, `reprolab.rl.seeds`)
    acts as a Python float would: 1 - betabar is formed in float64, then both are cast to Q's precision; a float32
    one (the official deep code's, `beta_bar_dtype="float32"`) forms 1 - betabar in float32."""
    complement = 1 - beta_bar
    if _xp(beta_bar) is not np:  # a torch tensor
        beta_bar, complement = beta_bar.to(q.dtype), complement.to(q.dtype)
    return r + gamma * (beta_bar * M + complement * m) - q


def official_beta(r, q, M, m, q_old, M_old, m_old, *, gamma: float, eta: float = ETA, beta_bar=1.0):
    """beta of the official code, element-wise (numpy arrays or torch tensors)."""
    xp = _xp(q)
    delta_new, delta_old = _delta(r, q, M, m, gamma, beta_bar), _delta(r, q_old, M_old, m_old, gamma, beta_bar)
    spread = gamma * (M - m)
    tie = xp.abs(spread) < TIE_TOLERANCE
    raw = (delta_new + eta * delta_old - r + q - gamma * m) / xp.where(tie, xp.ones_like(spread), spread)
    return xp.where(tie, xp.ones_like(raw), xp.clip(raw, 0.0, 1.0))


def closed_form_beta(r, q_old, M, m, M_old, m_old, *, gamma: float, eta: float = ETA, beta_bar=1.0):
    """beta = clip(betabar + eta delta_n / (gamma (M - m)), 0, 1) (1 when M = m)."""
    xp = _xp(q_old)
    spread = gamma * (M - m)
    tie = xp.abs(spread) < TIE_TOLERANCE
    step = eta * _delta(r, q_old, M_old, m_old, gamma, beta_bar) / xp.where(tie, xp.ones_like(spread), spread)
    return xp.where(tie, xp.ones_like(step), xp.clip(beta_bar + step, 0.0, 1.0))


def closed_form_td_error(r, q, M, m, q_old, M_old, m_old, *, gamma: float, eta: float = ETA, beta_bar=1.0):
    """clip(delta_{n+1} + eta delta_n, r + gamma m - Q, r + gamma M - Q)."""
    xp = _xp(q)
    momentum = _delta(r, q, M, m, gamma, beta_bar) + eta * _delta(r, q_old, M_old, m_old, gamma, beta_bar)
    return xp.minimum(xp.maximum(momentum, r + gamma * m - q), r + gamma * M - q)


def balanced_target(r, M, m, beta, *, gamma: float, official_gamma_min_only: bool = False):
    """y = r + gamma (beta M + (1 - beta) m); the official tabular bug discounts only the min term."""
    if official_gamma_min_only:
        return r + beta * M + gamma * (1 - beta) * m
    return r + gamma * (beta * M + (1 - beta) * m)
