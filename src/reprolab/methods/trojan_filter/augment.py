"""The WaNet code's training augmentation (`augmentation="official"`), reimplemented in torch: on a batch of
normalised images the official code applies, in this order,

- a random crop with probability 0.8 per batch: every image zero-padded by 5 on each side and cut back to its size
  at its own integer offset, uniform in 0..10 on each axis;
- a random rotation with probability 0.5 per batch, in which every image is rotated (kornia 0.3.x, the only kornia
  that the official code's pinned torch 1.5 supports; from kornia 0.4.1 on, each with probability 0.5,
  `draw_official(image_probability=0.5)`) by its own angle, uniform in [-10, 10] degrees, about the image centre
  ((W - 1) / 2, (H - 1) / 2), bilinear, zero outside the image;
- on CIFAR-10 only, a horizontal flip of each image with probability 0.5.

The official code pads and rotates normalised images, so its zeros are the dataset's mean pixel; the classifiers
here take [0, 1] images and normalise inside, so the pad and the area rotated in are filled with that mean (`fill`),
which is the same image once normalised. Every draw comes from the CPU generator `gen`, in the order of
`draw_official`.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch.nn import functional as F

from reprolab.nets.augment import crop_windows, flip_where

Augmentation = Literal["crop_flip", "official"]

CROP_PROBABILITY = 0.8              # per batch
ROTATION_PROBABILITY = 0.5          # per batch
# per image, within a rotated batch: 1 with kornia 0.3.x, the only kornia that the official code's pinned torch 1.5
# supports (its RandomRotation has no p); kornia 0.4.1 and later turn each image with p 0.5
ROTATION_IMAGE_PROBABILITY = 1.0
FLIP_PROBABILITY = 0.5              # per image
ROTATION_DEGREES = 10.0


class OfficialDraw(NamedTuple):
    """One batch's draws: crop offsets (2, N) as (columns, rows) or None (no crop); per image, whether it is rotated
    (N,) and its angle in degrees (N,), or None (no rotation); whether it is flipped (N,), or None (no flip)."""
    offsets: torch.Tensor | None
    rotated: torch.Tensor | None
    angles: torch.Tensor | None
    flipped: torch.Tensor | None


def draw_official(n: int, gen: torch.Generator, padding: int, degrees: float = ROTATION_DEGREES,
                  flip: bool = True, image_probability: float = ROTATION_IMAGE_PROBABILITY) -> OfficialDraw:
    """The draws of one batch of n images, in this order: the crop's batch gate (u < 0.8), then its offsets (one
    (2, n) draw in 0..2 padding); the rotation's batch gate (u < 0.5), then, when `image_probability` < 1, which
    images turn (n uniforms < image_probability; 0.5 is kornia >= 0.4.1's default), and their angles (n uniforms in
    [-degrees, degrees]); then, with `flip`, the flips (n uniforms < 0.5)."""
    offsets = rotated = angles = flipped = None
    if torch.rand((), generator=gen) < CROP_PROBABILITY:
        offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=gen)
    if torch.rand((), generator=gen) < ROTATION_PROBABILITY:
        rotated = (torch.rand(n, generator=gen) < image_probability if image_probability < 1
                   else torch.ones(n, dtype=torch.bool))
        angles = (2 * torch.rand(n, generator=gen) - 1) * degrees
    if flip:
        flipped = torch.rand(n, generator=gen) < FLIP_PROBABILITY
    return OfficialDraw(offsets, rotated, angles, flipped)


def pad_crop(x: torch.Tensor, offsets: torch.Tensor, padding: int, fill: torch.Tensor) -> torch.Tensor:
    """Per image i of x (N, C, H, W): the H x W window at column offsets[0, i], row offsets[1, i] of the image padded
    by `padding` on each side with the per-channel `fill` (C,): out[i, :, r, c] = padded[i, :, r + dy, c + dx]
    (`reprolab.nets.augment.crop_windows`)."""
    n, c, h, w = x.shape
    padded = fill.to(x).view(1, c, 1, 1).expand(n, c, h + 2 * padding, w + 2 * padding).clone()
    padded[:, :, padding:padding + h, padding:padding + w] = x
    return crop_windows(padded, offsets, h, w)


def rotate(x: torch.Tensor, degrees: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Each image of x (N, C, H, W) rotated counter-clockwise (as displayed, rows downwards) by its angle in
    `degrees` (N,) about its centre (cx, cy) = ((W - 1) / 2, (H - 1) / 2): output pixel (col, row) reads the input,
    bilinearly, at (cx + cos a (col - cx) - sin a (row - cy), cy + sin a (col - cx) + cos a (row - cy)); points off
    the image read the per-channel `fill` (C,)."""
    n, c, h, w = x.shape
    angle = torch.deg2rad(degrees.to(x))
    cos, sin = angle.cos().view(n, 1, 1), angle.sin().view(n, 1, 1)
    row = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1) - (h - 1) / 2
    col = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w) - (w - 1) / 2
    src_col, src_row = cos * col - sin * row, sin * col + cos * row          # offsets from the centre, in pixels
    grid = torch.stack((2 * src_col / max(w - 1, 1), 2 * src_row / max(h - 1, 1)), dim=-1)
    fill = fill.to(x).view(1, c, 1, 1)
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=True) + fill


def apply_official(x: torch.Tensor, draw: OfficialDraw, padding: int, fill: torch.Tensor) -> torch.Tensor:
    """x cropped, rotated and flipped as `draw` says (an image not rotated or not flipped is left as it is)."""
    n = x.shape[0]
    if draw.offsets is not None:
        x = pad_crop(x, draw.offsets, padding, fill)
    if draw.rotated is not None:
        turned = rotate(x, draw.angles, fill)
        # every image turns with kornia 0.3.x's rotation (ROTATION_IMAGE_PROBABILITY 1): no selection to make
        x = turned if bool(draw.rotated.all()) else torch.where(draw.rotated.to(x.device).view(n, 1, 1, 1), turned, x)
    if draw.flipped is not None:
        x = flip_where(x, draw.flipped)
    return x


def official_augment(x: torch.Tensor, gen: torch.Generator, padding: int,
                     fill: torch.Tensor | tuple[float, ...], flip: bool) -> torch.Tensor:
    """The WaNet code's augmentation of the batch x (N, C, H, W) in [0, 1] (module docstring); `fill`: the dataset's
    mean pixel per channel (a tensor already on x's device with x's dtype is used as it is, with no copy);
    `flip`: CIFAR-10 (the official code does not flip MNIST)."""
    if x.ndim != 4 or padding < 0:
        raise ValueError(f"need images (N, C, H, W) and padding >= 0, got shape {tuple(x.shape)} and {padding}")
    draw = draw_official(x.shape[0], gen, padding, flip=flip)
    fill = torch.as_tensor(fill, dtype=x.dtype, device=x.device).expand(x.shape[1])
    return apply_official(x, draw, padding, fill)

