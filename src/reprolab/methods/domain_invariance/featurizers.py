"""Featurizers g: X -> Z for the experiments (any `nn.Module` giving (B, D) features works with the algorithms).

- `"quick_cnn"` (quick scale; a design choice for 16x16 digits on a CPU): Conv3x3 (C->w)-MaxPool2-ReLU -> Conv3x3
  (w->2w)-MaxPool2-ReLU -> Linear(2w * H/4 * W/4 -> 64)-ReLU: 64 features, w = 32. Each ReLU runs after its
  max-pooling, the same function as ReLU then pooling: relu(maxpool(x)) = maxpool(relu(x)) exactly (ReLU is monotone,
  so it commutes with a max), and the gradients agree too (a window whose max is <= 0 passes no gradient either way;
  otherwise both pass it to the same first argmax), on a quarter of the values. Measured on one core of a 2-core AMD
  EPYC CPU, a compressed-penalty update of 5 x 32 images of 16x16 (channels-last) takes 23.5 ms, 27.8 ms with the
  ReLU before the pooling, 1.23x (`benchmarks/domain_invariance.py`, which checks that the parameters stay identical).
- `"mnist_cnn"` (paper scale): DomainBed's `MNIST_CNN` (`reprolab.nets.MNISTCNN`), 128 features.

`build_featurizer(..., fast=FastPath(...))` runs the featurizer with the fast-path switches
(`reprolab.runtime.fast`). channels_last keeps the weights and each input batch in the channels-last memory
format: the same maths, a different kernel order (results differ from NCHW in the last bits). Measured for the
quick CNN on one CPU core, batch 5 x 32 of 16x16: an update takes 23.5 ms instead of 27.7 ms in NCHW
(`benchmarks/domain_invariance.py`). compile compiles the network; bf16 runs its forward pass under bf16 autocast
while training and hands float32 features to the penalties and the classifier, which stay float32.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch
from torch import nn

from reprolab.nets import MNISTCNN
from reprolab.runtime.fast import FastPath, autocast, fast_batch, fast_model

FeaturizerName = Literal["quick_cnn", "mnist_cnn"]


def quick_cnn(channels: int, height: int, width: int, w: int = 32, features: int = 64) -> nn.Sequential:
    if height % 4 or width % 4:
        raise ValueError(f"quick_cnn needs image sides divisible by 4, got {height}x{width}")
    return nn.Sequential(nn.Conv2d(channels, w, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Conv2d(w, 2 * w, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2 * w * (height // 4) * (width // 4), features), nn.ReLU())


class FastFeaturizer(nn.Module):
    """Runs `net` with the fast-path switches: channels-last weights and inputs, compiled, and in training mode
    under bf16 autocast with float32 features out (evaluation stays float32)."""

    def __init__(self, net: nn.Module, fast: FastPath):
        super().__init__()
        self.net, self.fast = fast_model(net, fast), fast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.fast, x.device) if self.training else contextlib.nullcontext():
            return self.net(fast_batch(x, self.fast)).float()


def build_featurizer(name: FeaturizerName, input_shape: tuple[int, int, int], width: int = 32,
                     fast: FastPath = FastPath()) -> tuple[nn.Module, int]:
    """(featurizer, feature dimension) for images of shape (C, H, W); `width` is quick_cnn's w. With every
    fast-path switch off, the network itself."""
    channels, height, image_width = input_shape
    if name == "quick_cnn":
        net, dim = quick_cnn(channels, height, image_width, width), 64
    elif name == "mnist_cnn":
        net, dim = MNISTCNN(channels), MNISTCNN.n_outputs
    else:
        raise ValueError(f"featurizer must be 'quick_cnn' or 'mnist_cnn', got {name!r}")
    return (FastFeaturizer(net, fast) if fast != FastPath() else net), dim
