"""CIFAR-style ResNet18 / ResNet34 (3x3 stem, no max-pool; He et al. 2016, the common CIFAR variant, DFAD/CMI
"resnet_8x") as feature extractors, and `ResNetClassifier` (features + a linear head); `PreActResNet18` (He et al.,
"Identity Mappings in Deep Residual Networks", 2016, in the CIFAR form of the WaNet / input-aware attack code:
BN-ReLU before each convolution, 3x3 stem, stages of 64/128/256/512 channels, 4x4 average pool, linear head)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetFeatures(nn.Module):
    """Outputs the pooled 512-d features (no classifier): heads are added by the method."""

    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2, 2), in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        stages, in_planes = [], 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            for j in range(n):
                stages.append(BasicBlock(in_planes, planes, 2 if (i > 0 and j == 0) else 1))
                in_planes = planes
        self.stages = nn.Sequential(*stages)
        self.out_dim = 512
        self.stage_ends = [sum(blocks[: i + 1]) - 1 for i in range(len(blocks))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1).flatten(1)

    def stage_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature map at the end of each of the four stages."""
        out, maps = self.stem(x), []
        for i, block in enumerate(self.stages):
            out = block(out)
            if i in self.stage_ends:
                maps.append(out)
        return maps


class ResNetClassifier(nn.Module):
    """features -> Linear(512, K); `stage_outputs` exposes the four stage maps (attention transfer)."""

    def __init__(self, features: ResNetFeatures, num_classes: int):
        super().__init__()
        self.features, self.fc = features, nn.Linear(features.out_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def stage_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.features.stage_outputs(x)


def cifar_resnet18(in_channels: int = 3) -> ResNetFeatures:
    return ResNetFeatures((2, 2, 2, 2), in_channels)


def cifar_resnet34(in_channels: int = 3) -> ResNetFeatures:
    return ResNetFeatures((3, 4, 6, 3), in_channels)


class PreActBlock(nn.Module):
    """out = conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut, the shortcut taken from relu(bn1(x)) when it projects."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        return self.conv2(F.relu(self.bn2(out))) + skip


class PreActResNet18(nn.Module):
    widths = (64, 128, 256, 512)              # channels of the four stages
    last_conv_channels = widths[-1]           # output channels of the last convolution (the last block's conv2)

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, self.widths[0], 3, 1, 1, bias=False)
        blocks, in_planes = [], self.widths[0]
        for i, planes in enumerate(self.widths):
            for j in range(2):
                blocks.append(PreActBlock(in_planes, planes, 2 if (i > 0 and j == 0) else 1))
                in_planes = planes
        self.stages = nn.Sequential(*blocks)
        self.fc = nn.Linear(self.last_conv_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (32, 32):
            raise ValueError(f"PreActResNet18 takes 32x32 images, got {tuple(x.shape[-2:])}")
        return self.fc(F.avg_pool2d(self.stages(self.stem(x)), 4).flatten(1))
