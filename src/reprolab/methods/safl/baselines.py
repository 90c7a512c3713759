"""CRNN with CTC loss (Shi et al. 2017), the classic recognizer users compare against, at the light size.

A VGG-style CNN takes a 32 x 100 image to a 1 x 25 feature sequence: Conv3x3 + BN + ReLU with channels
(32, 64, 128, 128, 128), pools (2, 2), (2, 2), (2, 1), (2, 1), (2, 1); then a 2-layer BiLSTM(h) and a linear map to
95 classes (blank = 0, then the 94 characters). Loss: CTC summed over each sequence and divided by the batch size
(as SAFL's loss); decoding: the best path, repeats merged, blanks dropped. No rectifier.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.safl.vocab import CHARS, INDEX, UNK

BLANK = 0
POOLS = ((2, 2), (2, 2), (2, 1), (2, 1), (2, 1))


class CRNN(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 128, 128), hidden: int = 128):
        super().__init__()
        self.sizes = {"channels": tuple(channels), "hidden": hidden}
        layers, cin = [], 3
        for c, pool in zip(channels, POOLS):
            layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True),
                       nn.MaxPool2d(pool, pool)]
            cin = c
        self.cnn = nn.Sequential(*layers)
        self.rnn = nn.LSTM(cin, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * hidden, len(CHARS) + 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, T, 95)."""
        h = self.cnn(images)
        if h.shape[2] != 1:
            raise ValueError(f"CRNN needs images of height 32, got {images.shape[2]}")
        return F.log_softmax(self.head(self.rnn(h.squeeze(2).transpose(1, 2))[0]), dim=-1)

    def loss(self, images: torch.Tensor, labels: list[str]) -> torch.Tensor:
        log_probs = self(images)
        targets = torch.tensor([INDEX.get(c, UNK) + 1 for s in labels for c in s], dtype=torch.long)
        lengths = torch.tensor([len(s) for s in labels])
        steps = torch.full((len(labels),), log_probs.shape[1], dtype=torch.long)
        total = F.ctc_loss(log_probs.transpose(0, 1), targets, steps, lengths, blank=BLANK, reduction="sum",
                           zero_infinity=True)
        return total / len(labels)

    @torch.no_grad()
    def recognize(self, images: torch.Tensor) -> list[str]:
        return [ctc_collapse(row) for row in self(images).argmax(-1).tolist()]


def ctc_collapse(path: list[int]) -> str:
    """The best path's string: repeats merged, then blanks (and UNK) dropped."""
    chars, previous = [], BLANK
    for k in path:
        if k != previous and k != BLANK and k - 1 < len(CHARS):
            chars.append(CHARS[k - 1])
        previous = k
    return "".join(chars)
