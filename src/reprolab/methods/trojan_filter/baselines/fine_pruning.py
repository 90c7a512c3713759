"""Fine-Pruning (Liu et al., RAID 2018), a model-repair baseline.

Channels of the classifier's LAST convolution are pruned in increasing order of their mean activation on the
defender's clean set (dormant channels first: backdoor neurons tend to be dormant on clean data), until the
defender-set accuracy drops by more than `max_drop` (4 points); the last pruning that stayed within the budget is
kept, then the pruned network is fine-tuned on the defender set. Pruning zeroes the channel's output through a
mask (the pruned module's buffer `prune_mask`) applied in a forward hook, so fine-tuning cannot revive it.

The activation that ranks a channel (`rank`, `mean_channel_activation`): the mean over images and positions of
ReLU(A) for the conv output A ("relu"); of maxpool_2x2(ReLU(A)) ("pooled": the official code ranks the output of the
max pooling layer after the convolution's in-place ReLU, 2x2 with stride 2 in its face model, 3x3 in its speech
model); of A itself ("raw", WaNet's MNIST port). The official code prunes a fixed number of channels instead of
following the accuracy budget (`prune_count`).

Where the channels are ranked and masked (`prune_at`, `pruning_site`): the last convolution's output ("conv"); or
("block", WaNet's PreActResNet18 port, which removes the channel from the last block's convolution, its shortcut and
the linear layer) the output of the residual block that holds the last convolution, after its skip path is added, so
a pruned channel leaves the skip path too. On a network without residual blocks the two are the same.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Annotated, Literal

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.runtime.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, PROBABILITY, check_choice
from reprolab.nets.resnet import PreActBlock
from reprolab.nets.scoring import accuracy
from reprolab.runtime.train import LoopCheckpoints, descend, run_loop

Rank = Literal["relu", "pooled", "raw"]
Site = Literal["conv", "block"]


@dataclasses.dataclass(frozen=True)
class FinePruningConfig:
    """Settings of `fine_prune`: the last convolution's channels are pruned `prune_step` at a time, dormant first,
    until a round would lower the defender-set accuracy by more than `max_drop` (0.04, 4 points; that round is
    undone), then the pruned network is fine-tuned for `finetune_steps` Adam steps at `finetune_lr` on batches of
    `batch_size` defender images. `rank`: the activation that orders the channels (`mean_channel_activation`);
    `prune_count` > 0 prunes that many channels, dormant first, whatever the accuracy (the official code's rule);
    `prune_at`: where the channels are ranked and masked (`pruning_site`)."""

    max_drop: Annotated[float, PROBABILITY] = 0.04
    prune_step: Annotated[int, AT_LEAST_ONE] = 1  # channels pruned per round
    rank: Rank = "relu"                     # official "pooled": ReLU then 2x2 max pooling; WaNet's port "raw"
    # official: a fixed number (48 of the face model's 60); 0: the accuracy budget
    prune_count: Annotated[int, NON_NEGATIVE] = 0
    # the last convolution's output; WaNet's ResNet port "block": the last residual block's output, skip path added
    prune_at: Site = "conv"
    finetune_steps: Annotated[int, NON_NEGATIVE] = 200
    finetune_lr: Annotated[float, POSITIVE] = 1e-4
    batch_size: Annotated[int, AT_LEAST_ONE] = 64


def last_conv(model: nn.Module) -> nn.Conv2d:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("Fine-Pruning needs a classifier with a Conv2d layer")
    return convs[-1]


def pruning_site(model: nn.Module, prune_at: Site = "conv") -> nn.Module:
    """The module whose output channels Fine-Pruning ranks and masks: the last convolution ("conv"), or ("block") the
    innermost residual block (`PreActBlock`) that holds it, whose output adds the skip path to that convolution's;
    the last convolution itself when no residual block holds it."""
    check_choice("prune_at", prune_at, Site)
    conv = last_conv(model)
    if prune_at == "conv":
        return conv
    blocks = [m for m in model.modules() if isinstance(m, PreActBlock) and any(c is conv for c in m.modules())]
    return blocks[-1] if blocks else conv


@torch.no_grad()
def mean_channel_activation(model: nn.Module, layer: nn.Module, x: torch.Tensor, rank: Rank = "relu") -> torch.Tensor:
    """Mean over images and positions of ReLU(A) ("relu"), of its 2x2 max pooling with stride 2 ("pooled"; windows
    that overhang an odd border are kept, as Caffe's pooling rounds the output size up) or of A itself ("raw"), per
    channel, A the (N, C, H, W) output of `layer` (the last convolution, or `pruning_site`'s block)."""
    check_choice("rank", rank, Rank)
    acts = []
    handle = layer.register_forward_hook(
        lambda _m, _i, out: acts.append(ranked_activation(out, rank).mean(dim=(0, 2, 3))))
    model(x)
    handle.remove()
    return acts[0]


def ranked_activation(out: torch.Tensor, rank: Rank) -> torch.Tensor:
    """The activation map of conv output `out` that `rank` averages."""
    if rank == "raw":
        return out
    if rank == "pooled":
        return F.max_pool2d(F.relu(out), 2, 2, ceil_mode=True)
    return F.relu(out)


def prune_fixed(mask: torch.Tensor, order: list[int], count: int) -> int:
    """Zero the mask of the first `count` channels of `order` (the official rule); at least one channel stays."""
    if count >= len(order):
        raise ValueError(f"prune_count must be below the last convolution's {len(order)} channels, got {count}")
    mask[order[:count]] = 0.0
    return count


def prune_within_budget(mask: torch.Tensor, order: list[int], cfg: FinePruningConfig,
                        drop: Callable[[], float]) -> int:
    """Zero the mask of the channels of `order`, `cfg.prune_step` at a time, until a round would make `drop()`, the
    defender accuracy lost, exceed `cfg.max_drop` (that round is undone); at least one channel stays."""
    pruned = 0
    while pruned + cfg.prune_step < len(order):
        mask[order[pruned:pruned + cfg.prune_step]] = 0.0
        if drop() > cfg.max_drop:
            mask[order[pruned:pruned + cfg.prune_step]] = 1.0
            break
        pruned += cfg.prune_step
    return pruned


def prunable_copy(classifier: nn.Module, prune_at: Site = "conv") -> nn.Module:
    """A frozen copy of the classifier whose pruning site (`pruning_site`) multiplies its output channels by its own
    buffer `prune_mask` (all ones: nothing pruned yet), so that the copy's state holds what is pruned."""
    model = copy.deepcopy(classifier).eval().requires_grad_(False)
    conv, site = last_conv(model), pruning_site(model, prune_at)
    site.register_buffer("prune_mask", torch.ones(conv.out_channels, device=conv.weight.device))
    site.register_forward_hook(lambda module, _i, out: out * module.prune_mask.view(1, -1, 1, 1))
    return model


def fine_prune(classifier: nn.Module, x_def: torch.Tensor, y_def: torch.Tensor, cfg: FinePruningConfig,
               seed: int = 0, checkpoints: LoopCheckpoints = LoopCheckpoints()) -> tuple[nn.Module, dict]:
    """A pruned and fine-tuned copy of the classifier, and what was pruned. The pruning is deterministic (it is
    redone on a resume); `checkpoints`: where the fine-tuning keeps its checkpoint ("fine_pruning")."""
    model = prunable_copy(classifier, cfg.prune_at)
    conv, site = last_conv(model), pruning_site(model, cfg.prune_at)
    mask = site.prune_mask
    order = mean_channel_activation(model, site, x_def, cfg.rank).argsort().tolist()   # dormant first
    base = accuracy(model, x_def, y_def)
    if cfg.prune_count:
        pruned = prune_fixed(mask, order, cfg.prune_count)
    else:
        pruned = prune_within_budget(mask, order, cfg, lambda: base - accuracy(model, x_def, y_def))
    gen = torch.Generator().manual_seed(seed)
    model.requires_grad_(True).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.finetune_lr)

    def step(_: int) -> torch.Tensor:
        idx = torch.randint(len(y_def), (cfg.batch_size,), generator=gen)
        return descend(optimizer, F.cross_entropy(model(x_def[idx]), y_def[idx]))

    run_loop(cfg.finetune_steps, step, objects={"model": model, "optimizer": optimizer, "gen": gen},
             desc="Fine-Pruning fine-tuning", **checkpoints.of("fine_pruning"))
    model.eval().requires_grad_(False)
    return model, {"pruned_channels": pruned, "channels": conv.out_channels, "defender_accuracy_before": base,
                   "defender_accuracy_after": accuracy(model, x_def, y_def)}
