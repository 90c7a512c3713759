import math

import torch
from torch import nn

from reprolab.nets.scoring import accuracy, batched, fraction, prediction_accuracy


class ModeProbe(nn.Module):
    """Answers class 0 in eval mode and class 1 in train mode; counts its calls and their batch sizes."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.batches = []

    def forward(self, x):
        self.batches.append(len(x))
        logits = torch.zeros(len(x), 2)
        logits[:, int(self.training)] = 1.0
        return logits


def test_fraction_counts_exactly_and_is_nan_when_empty():
    flags = torch.zeros(1000, dtype=torch.bool)
    flags[:50] = True
    assert fraction(flags) == 0.05                       # a float32 mean gives 0.0500000007
    assert math.isnan(fraction(torch.zeros(0, dtype=torch.bool)))


def test_batched_concatenates_the_batches_in_order():
    x = torch.arange(25.0)
    sizes = []

    def double(xb):
        sizes.append(len(xb))
        return xb * 2

    out = batched(double, x, batch=10)
    assert torch.equal(out, x * 2) and sizes == [10, 10, 5]


def test_prediction_accuracy_counts_any_label_including_rejections():
    y = torch.tensor([0, 1, 2, 3])
    assert prediction_accuracy(lambda x: torch.tensor([0, -1, 2, -1]), torch.zeros(4, 1), y) == 0.5


def test_accuracy_scores_the_model_in_eval_mode_in_batches_and_restores_its_mode():
    model = ModeProbe().train()
    y = torch.tensor([0] * 3 + [1] * 2)
    assert accuracy(model, torch.zeros(5, 1), y, batch=2) == 0.6        # eval mode answers 0: 3 of 5
    assert model.training and model.batches == [2, 2, 1]
    assert accuracy(model.eval(), torch.zeros(5, 1), y) == 0.6 and not model.training
