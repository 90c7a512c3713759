"""Grouped layers: S independent copies of a layer (one per seed, parameters stacked on a leading axis) applied to
S inputs at once, copy s to input s.

Linear: y[s] = x[s] W[s]^T + b[s], one batched matrix product (`torch.bmm`) over the seed axis.
"""

from __future__ import annotations

import torch


def grouped_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """y[s] = x[s] W[s]^T + b[s] for x (S, ..., in), W (S, out, in), b (S, out) or None; y is (S, ..., out)."""
    y = torch.bmm(x.reshape(x.shape[0], -1, x.shape[-1]), weight.transpose(1, 2))
    if bias is not None:
        y = y + bias.unsqueeze(1)
    return y.view(*x.shape[:-1], y.shape[-1])
