"""Batched image augmentation for classifier training: the random crop and horizontal flip of the CIFAR-10 recipes
(a crop of the zero-padded image back to its size, and a flip with probability 1/2), per image, without a loop;
and its two parts, `crop_windows` and `flip_where`, for augmentations that pad or draw differently."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def crop_windows(padded: torch.Tensor, offsets: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Per image i of padded (N, C, H', W'): its h x w window at column offsets[0, i], row offsets[1, i],
    out[i, :, r, c] = padded[i, :, r + offsets[1, i], c + offsets[0, i]] (one gather for the whole batch)."""
    n, c = padded.shape[:2]
    dx, dy = offsets.to(padded.device)
    rows = (dy.view(n, 1) + torch.arange(h, device=padded.device)).view(n, 1, h, 1)
    cols = (dx.view(n, 1) + torch.arange(w, device=padded.device)).view(n, 1, 1, w)
    images = torch.arange(n, device=padded.device).view(n, 1, 1, 1)
    channels = torch.arange(c, device=padded.device).view(1, c, 1, 1)
    return padded[images, channels, rows, cols]


def flip_where(x: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """x (N, C, H, W) with image i flipped horizontally (x[i].flip(-1)) where flipped[i] (N,) is true."""
    return torch.where(flipped.to(x.device).view(len(x), 1, 1, 1), x.flip(-1), x)


def random_crop_flip(x: torch.Tensor, gen: torch.Generator, padding: int) -> torch.Tensor:
    """Per image of x (N, C, H, W): the H x W window of the image zero-padded by `padding` at a random offset, then a
    horizontal flip with probability 1/2. The draws come from the CPU generator `gen` in this order: the column
    offsets, the row offsets (one (2, N) draw in 0..2 padding), then the flips (N uniforms below 1/2)."""
    if x.ndim != 4 or padding < 0:
        raise ValueError(f"need images (N, C, H, W) and padding >= 0, got shape {tuple(x.shape)} and {padding}")
    n, _, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=gen)
    crops = crop_windows(F.pad(x, (padding,) * 4), offsets, h, w)
    return flip_where(crops, torch.rand(n, generator=gen) < 0.5)
