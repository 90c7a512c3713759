"""DFAD's GeneratorA (VainF/Data-Free-Adversarial-Distillation), optionally class-conditional (MAD's figure).

Linear(nz -> 2 ngf (s/4)^2) -> reshape -> BN -> up x2 -> Conv3(2ngf->2ngf)-BN-LeakyReLU(0.2) -> up x2 ->
Conv3(2ngf->ngf)-BN-LeakyReLU(0.2) -> Conv3(ngf->c) -> Tanh -> BN(affine=False). The final BN standardises
each generated batch (so no dataset normalisation is applied on top). `upsample` "nearest" (DFAD) or
"bilinear" (the MAD supplement). Conditional input (`conditional="sum"`, the supplement's most stable choice):
z + E[y] with a learnable E in R^{C x nz}; `"cat"`: [z, onehot(y)].
"""

from __future__ import annotations

import torch
from torch import nn

from reprolab.runtime.config import check_choice


class GeneratorA(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 64, img_size: int = 32, channels: int = 1,
                 upsample: str = "nearest", conditional: str = "uncond", num_classes: int = 0):
        super().__init__()
        if img_size % 4:
            raise ValueError(f"img_size must be a multiple of 4, got {img_size}")
        check_choice("upsample", upsample, ("nearest", "bilinear"))
        if conditional not in ("uncond", "sum", "cat") or (conditional != "uncond" and num_classes < 2):
            raise ValueError(f"conditional must be 'uncond', or 'sum'/'cat' with num_classes >= 2; got "
                             f"{conditional!r}, num_classes={num_classes}")
        self.nz, self.conditional, self.num_classes = nz, conditional, num_classes
        self.init_size = img_size // 4
        in_dim = nz + num_classes if conditional == "cat" else nz
        if conditional == "sum":
            self.embedding = nn.Embedding(num_classes, nz)
        self.l1 = nn.Linear(in_dim, 2 * ngf * self.init_size ** 2)
        up = dict(scale_factor=2, mode=upsample)
        self.blocks = nn.Sequential(
            nn.BatchNorm2d(2 * ngf), nn.Upsample(**up),
            nn.Conv2d(2 * ngf, 2 * ngf, 3, padding=1), nn.BatchNorm2d(2 * ngf), nn.LeakyReLU(0.2), nn.Upsample(**up),
            nn.Conv2d(2 * ngf, ngf, 3, padding=1), nn.BatchNorm2d(ngf), nn.LeakyReLU(0.2),
            nn.Conv2d(ngf, channels, 3, padding=1), nn.Tanh(), nn.BatchNorm2d(channels, affine=False))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.nz:
            raise ValueError(f"z must be (B, {self.nz}), got {tuple(z.shape)}")
        if self.conditional != "uncond":
            if y is None:
                raise ValueError("a conditional generator needs labels y")
            z = z + self.embedding(y) if self.conditional == "sum" else torch.cat(
                [z, nn.functional.one_hot(y, self.num_classes).to(z.dtype)], dim=1)
        out = self.l1(z).view(len(z), -1, self.init_size, self.init_size)
        return self.blocks(out)
