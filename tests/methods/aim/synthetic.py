"""A synthetic task whose true positions are known (spec 5's fallback): each item holds one trigger token of its
class at a random position among filler tokens; the black box is a rule on trigger counts."""

import torch

from reprolab.methods.aim.blackbox import callable_black_box

TRIGGERS = {0: (2, 3, 4), 1: (5, 6, 7)}
FILLER = (8, 40)              # filler ids 8..39
VOCAB = 40


def items(n: int, length: int = 12, seed: int = 0):
    """(ids (n, L), labels, trigger positions); each item has 6-12 real tokens, then PAD."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, length, dtype=torch.long)
    labels = torch.randint(0, 2, (n,), generator=g)
    where = torch.zeros(n, dtype=torch.long)
    for i in range(n):
        real = int(torch.randint(6, length + 1, (1,), generator=g))
        x[i, :real] = torch.randint(*FILLER, (real,), generator=g)
        where[i] = int(torch.randint(0, real, (1,), generator=g))
        triggers = TRIGGERS[int(labels[i])]
        x[i, where[i]] = triggers[int(torch.randint(0, 3, (1,), generator=g))]
    return x, labels, where


def rule(x: torch.Tensor) -> torch.Tensor:
    """Probabilities from the trigger counts: softmax(3 * (#class-1 triggers - #class-0 triggers)) over 2 classes."""
    count = [sum((x == t).sum(1) for t in TRIGGERS[c]).float() for c in (0, 1)]
    return torch.softmax(torch.stack([3 * (count[0] - count[1]), 3 * (count[1] - count[0])], dim=1), dim=1)


def black_box():
    return callable_black_box(rule)
