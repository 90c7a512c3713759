"""Batched image augmentation for classifier training: the random crop and horizontal flip of the CIFAR-10 recipes
(a crop of the zero-padded image back to its size, and a flip with probability 1/2), per image, without a loop."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def random_crop_flip(x: torch.Tensor, gen: torch.Generator, padding: int) -> torch.Tensor:
    """Per image of x (N, C, H, W): the H x W window of the image zero-padded by `padding` at a random offset, then a
    horizontal flip with probability 1/2. The draws come from the CPU generator `gen` in this order: the column
    offsets, the row offsets (one (2, N) draw in 0..2 padding), then the flips (N uniforms below 1/2)."""
    if x.ndim != 4 or padding < 0:
        raise ValueError(f"need images (N, C, H, W) and padding >= 0, got shape {tuple(x.shape)} and {padding}")
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    dx, dy = torch.randint(0, 2 * padding + 1, (2, n), generator=gen).to(x.device)
    rows = (dy.view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (dx.view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    images = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channels = torch.arange(c, device=x.device).view(1, c, 1, 1)
    crops = padded[images, channels, rows, cols]
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    return torch.where(flip.view(n, 1, 1, 1), crops.flip(-1), crops)
