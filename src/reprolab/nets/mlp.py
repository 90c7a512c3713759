"""Multi-layer perceptron backbones."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from reprolab.runtime.config import check_choice

MLPInit = Literal["pytorch", "official_nc"]


class MLPBackbone(nn.Module):
    """`depth` x [Linear -> ReLU (-> BatchNorm1d)], optionally a final BatchNorm1d or a final Linear feature layer.

    - Neural-collapse CIFAR MLP (official code): depth 6, batchnorm=True, final_bn=True, init="official_nc".
    - Small MLP of the NC prototype: depth 3, batchnorm=False, final_linear=True.

    init "official_nc" is the Neural-Collapse official code's: orthogonal weights for the Linear layers among the
    first `depth` modules of the stack (its loop runs over module indices, so at depth 6 with BatchNorm 2 of 6
    layers, without BatchNorm and with `final_linear` 3 of 7), every other weight and every bias at PyTorch's default.
    """

    def __init__(self, in_dim: int, width: int, depth: int, *, batchnorm: bool = False, final_bn: bool = False,
                 final_linear: bool = False, init: MLPInit = "pytorch"):
        super().__init__()
        if depth < 1 or width < 1 or in_dim < 1:
            raise ValueError(f"in_dim, width and depth must be >= 1, got {in_dim}, {width}, {depth}")
        check_choice("init", init, MLPInit)
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
        if init == "official_nc":
            for m in self.net[1:1 + depth]:            # after Flatten: the official loop's first `depth` modules
                if isinstance(m, nn.Linear):
                    nn.init.orthogonal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
