"""Multi-layer perceptron backbones."""

from __future__ import annotations

import torch
from torch import nn


class MLPBackbone(nn.Module):
    """`depth` x [Linear -> ReLU (-> BatchNorm1d)], optionally a final BatchNorm1d or a final Linear feature layer.

    - Neural-collapse CIFAR MLP (official code): depth 6, batchnorm=True, final_bn=True, orthogonal init.
    - Small MLP of the NC prototype: depth 3, batchnorm=False, final_linear=True.
    """

    def __init__(self, in_dim: int, width: int, depth: int, *, batchnorm: bool = False, final_bn: bool = False,
                 final_linear: bool = False, orthogonal_init: bool = False):
        super().__init__()
        if depth < 1 or width < 1 or in_dim < 1:
            raise ValueError(f"in_dim, width and depth must be >= 1, got {in_dim}, {width}, {depth}")
        layers: list[nn.Module] = [nn.Flatten()]
        dim = in_dim
        for _ in range(depth):
            layers += [nn.Linear(dim, width), nn.ReLU()]
            if batchnorm:
                layers.append(nn.BatchNorm1d(width))
            dim = width
        if final_bn:
            layers.append(nn.BatchNorm1d(width))
        if final_linear:
            layers.append(nn.Linear(width, width))
        self.net = nn.Sequential(*layers)
        self.out_dim = width
        if orthogonal_init:
            for m in self.net:
                if isinstance(m, nn.Linear):
                    nn.init.orthogonal_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
