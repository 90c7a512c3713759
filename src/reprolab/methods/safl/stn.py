"""The rectifier: a localisation network predicts 20 control points, a thin-plate spline maps the output grid to
the input, and the input is resampled [official code, ASTER's `stn_head.py` and `tps_spatial_transformer.py`].

Localisation net: bilinear resize of the image to 32 x 64 (align_corners=True); six Conv3x3(pad 1) + BN + ReLU with
channels c = (32, 64, 128, 256, 256, 256), 2x2 max-pool after the first five -> (c6, 1, 2) -> flatten -> FC + BN1d +
ReLU -> x 0.1 -> FC 40 -> 20 points (x, y) in [0, 1] (no activation). Init: last FC weight 0, bias = the fiducials
with margin 0.01; other linears N(0, 0.001); convs He-normal.
Fiducials (N = 20, margin m): 10 points on y = m, then 10 on y = 1 - m, x = linspace(m, 1 - m, 10).
TPS: U(r) = 0.5 r^2 log r^2 (0 where r = 0). With target fiducials P' (margin 0.05):
    L = [[K, 1, P'], [1^T, 0, 0], [P'^T, 0, 0]],  K_ij = U(|P'_i - P'_j|),  inverted once
    source(p) = [U(|p - P'_i|)_i, 1, p_x, p_y] L^-1 [S; 0_(3x2)]  for each p of the output grid over [0, 1]^2
then clamped to [0, 1], mapped by 2u - 1, and the input is sampled with grid_sample(bilinear, zeros padding,
align_corners=False: -1 and 1 are the outer edges of the corner pixels). The official code calls grid_sample with
its defaults under PyTorch 1.1, which behaved as align_corners=True (-1 and 1 are the corner pixels' centres; the
default changed in PyTorch 1.3): `official_align_corners=True` samples that way. At init (S = fiducials of margin
0.01) the warp is a zoom-out, not the identity: x_src = 0.01 + (x - 0.05) 0.98 / 0.90.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

NUM_FIDUCIALS = 20
SOURCE_MARGIN, TARGET_MARGIN = 0.01, 0.05


def fiducials(margin: float, n: int = NUM_FIDUCIALS, dtype=torch.float64) -> torch.Tensor:
    """(n, 2) control points (x, y): the top row left to right, then the bottom row."""
    x = torch.linspace(margin, 1 - margin, n // 2, dtype=dtype)
    top = torch.stack([x, torch.full_like(x, margin)], dim=1)
    bottom = torch.stack([x, torch.full_like(x, 1 - margin)], dim=1)
    return torch.cat([top, bottom])


def tps_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """U(|a_i - b_j|) = 0.5 r^2 log r^2, with U = 0 at r = 0."""
    r2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return torch.where(r2 > 0, 0.5 * r2 * torch.log(r2.clamp_min(1e-300)), torch.zeros_like(r2))


class TPSGrid(nn.Module):
    """Maps predicted control points (B, 20, 2) to a sampling grid (B, H, W, 2) in [-1, 1]."""

    def __init__(self, height: int, width: int, margin: float = TARGET_MARGIN):
        super().__init__()
        target = fiducials(margin)
        n = target.shape[0]
        system = torch.zeros(n + 3, n + 3, dtype=torch.float64)
        system[:n, :n] = tps_kernel(target, target)
        system[:n, n] = 1
        system[:n, n + 1:] = target
        system[n, :n] = 1
        system[n + 1:, :n] = target.T
        ys, xs = torch.meshgrid(torch.linspace(0, 1, height, dtype=torch.float64),
                                torch.linspace(0, 1, width, dtype=torch.float64), indexing="ij")
        points = torch.stack([xs.flatten(), ys.flatten()], dim=1)
        rows = torch.cat([tps_kernel(points, target), torch.ones(len(points), 1, dtype=torch.float64), points], 1)
        self.height, self.width = height, width
        self.register_buffer("map", (rows @ torch.linalg.inv(system)).float())    # (H*W, n + 3)

    def source_points(self, control: torch.Tensor) -> torch.Tensor:
        """(B, H*W, 2) source coordinates in [0, 1]-units before clamping: map @ [S; 0_(3x2)] for each image, as one
        product of the map's first n columns (the zero rows of [S; 0] add nothing) with the batch's points side by
        side, (H*W, n) @ (n, B*2), where a batched product of (H*W, n + 3) with (n + 3, 2) per image is slower on a CPU
        (`python -m benchmarks safl` times both)."""
        n, batch = control.shape[1], control.shape[0]
        points = self.map[:, :n] @ control.permute(1, 0, 2).reshape(n, batch * 2)
        return points.view(len(self.map), batch, 2).transpose(0, 1)

    def forward(self, control: torch.Tensor) -> torch.Tensor:
        source = self.source_points(control).clamp(0, 1) * 2 - 1
        return source.view(-1, self.height, self.width, 2)


def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class LocalizationNet(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 256, 256, 256),
                 input_size: tuple[int, int] = (32, 64)):
        super().__init__()
        layers, cin = [], 3
        for i, c in enumerate(channels):
            layers.append(conv_block(cin, c))
            if i < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            cin = c
        self.features = nn.Sequential(*layers)
        self.input_size = input_size
        flat = channels[-1] * (input_size[0] >> (len(channels) - 1)) * (input_size[1] >> (len(channels) - 1))
        self.fc1 = nn.Sequential(nn.Linear(flat, flat), nn.BatchNorm1d(flat), nn.ReLU(inplace=True))
        self.fc2 = nn.Linear(flat, 2 * NUM_FIDUCIALS)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.001)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.fc2.weight)
        with torch.no_grad():
            self.fc2.bias.copy_(fiducials(SOURCE_MARGIN).flatten().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=True)
        h = self.fc1(self.features(small).flatten(1))
        return self.fc2(0.1 * h).view(-1, NUM_FIDUCIALS, 2)


class Rectifier(nn.Module):
    """Localisation net + TPS: (B, 3, H_in, W_in) -> the rectified (B, 3, H, W) image and the control points."""

    def __init__(self, output_size: tuple[int, int] = (32, 100), channels: tuple[int, ...] = (32, 64, 128, 256,
                                                                                             256, 256),
                 official_align_corners: bool = False):
        super().__init__()
        self.localization = LocalizationNet(channels)
        self.grid = TPSGrid(*output_size)
        self.align_corners = official_align_corners

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        control = self.localization(x)
        grid = self.grid(control)
        return (F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=self.align_corners),
                control)
