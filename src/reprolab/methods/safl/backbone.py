"""ResNet-ASTER [official code, ASTER's `resnet_aster.py`]: stem Conv3x3 3 -> c0 + BN + ReLU; five stages of
residual blocks (Conv1x1(stride) + BN + ReLU, Conv3x3 + BN, + shortcut (Conv1x1(stride) + BN when the shape
changes), ReLU); blocks (3, 4, 6, 6, 3), channels (32, 64, 128, 256, 512), strides (2,2), (2,2), (2,1), (2,1), (2,1):
a 32 x 100 image becomes 1 x 25, squeezed to a sequence (B, 25, 512). `with_lstm` adds the official code's
2-layer BiLSTM(256), which it builds and never uses (for the parameter count only)."""

from __future__ import annotations

import torch
from torch import nn

STRIDES = ((2, 2), (2, 2), (2, 1), (2, 1), (2, 1))


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != (1, 1) or cin != cout else nn.Identity())
        self.relu = nn.ReLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNetAster(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 256, 512), blocks: tuple[int, ...] = (3, 4, 6, 6, 3),
                 with_lstm: bool = False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels[0], 3, 1, 1, bias=False), nn.BatchNorm2d(channels[0]),
                                  nn.ReLU(True))
        stages, cin = [], channels[0]
        for cout, n, stride in zip(channels, blocks, STRIDES):
            stages.append(nn.Sequential(*[Block(cin if i == 0 else cout, cout, stride if i == 0 else (1, 1))
                                          for i in range(n)]))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.out_channels = channels[-1]
        self.lstm = nn.LSTM(cin, 256, num_layers=2, bidirectional=True, batch_first=True) if with_lstm else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(x))
        if h.shape[2] != 1:
            raise ValueError(f"the backbone needs an input of height 32 (-> 1 after five stride-2 stages), got "
                             f"height {x.shape[2]}")
        return h.squeeze(2).transpose(1, 2)              # (B, W', C)
