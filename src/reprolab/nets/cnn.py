"""Small classifiers for digit images.

- `LeNet5` (the DFAD baseline code; 32x32 input): Conv5(C->6)-ReLU-MaxPool2 -> Conv5(6->16)-ReLU-MaxPool2 ->
  Conv5(16->120)-ReLU -> FC(120->84)-ReLU -> FC(84->K). `half=True` halves every width (3, 8, 60, 42): the
  DFAD student "LeNet5-half".
- `NetCMNIST` (the WaNet / input-aware attack code's MNIST classifier; inputs in [-1, 1], 28x28):
  Conv3x3 s2 (C->32)-ReLU -> BN-ReLU-Conv3x3 s2 (32->64) -> BN-ReLU-Conv3x3 s2 (64->64) -> FC(1024->512)-ReLU-
  Dropout 0.3 -> FC(512->K). (Conv padding 1: 28 -> 14 -> 7 -> 4, so 64 x 4 x 4 = 1024.)
- `MNISTCNN` (DomainBed's `MNIST_CNN` featurizer, any HxW, C channels): Conv3x3 (C->64) -> Conv3x3 s2 (64->128)
  -> Conv3x3 (128->128) -> Conv3x3 (128->128), each conv followed by ReLU then GroupNorm(8 groups), then the
  spatial mean: 128 features. PyTorch's default initialisation, as in DomainBed.
- `Normalized(net, mean, std)`: a classifier that takes [0, 1] images and normalises them itself.
- `SmallCNN(w)` (8x8 input; MAD 2-core CPU prototype): Conv3(C->w)-BN-ReLU -> Conv3(w->2w)-BN-ReLU-MaxPool2 ->
  Conv3(2w->2w)-BN-ReLU-MaxPool2 -> Linear(8w->K) (2x2 spatial after two poolings).
"""

from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, half: bool = False):
        super().__init__()
        c1, c2, c3, f = (3, 8, 60, 42) if half else (6, 16, 120, 84)
        self.features = nn.Sequential(nn.Conv2d(in_channels, c1, 5), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(c2, c3, 5), nn.ReLU(), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(c3, f), nn.ReLU(), nn.Linear(f, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (32, 32):
            raise ValueError(f"LeNet5 takes 32x32 images, got {tuple(x.shape[-2:])}")
        return self.classifier(self.features(x))


class SmallCNN(nn.Module):
    def __init__(self, width: int, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Linear(8 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (8, 8):
            raise ValueError(f"SmallCNN takes 8x8 images, got {tuple(x.shape[-2:])}")
        return self.classifier(self.features(x))


class NetCMNIST(nn.Module):
    last_conv_channels = 64                   # output channels of the last convolution

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        c = self.last_conv_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 2, 1), nn.ReLU(),
            nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1),
            nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, c, 3, 2, 1), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(c * 4 * 4, 512), nn.ReLU(), nn.Dropout(0.3),
                                        nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (28, 28):
            raise ValueError(f"NetCMNIST takes 28x28 images, got {tuple(x.shape[-2:])}")
        return self.classifier(self.features(x))


class Normalized(nn.Module):
    """net((x - mean) / std): the wrapped classifier takes images in [0, 1]."""

    def __init__(self, net: nn.Module, mean: float | tuple[float, ...], std: float | tuple[float, ...]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


class MNISTCNN(nn.Module):
    n_outputs = 128

    def __init__(self, in_channels: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out, stride in ((in_channels, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1)):
            layers += [nn.Conv2d(c_in, c_out, 3, stride, padding=1), nn.ReLU(), nn.GroupNorm(8, c_out)]
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))
