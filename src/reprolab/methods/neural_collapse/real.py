"""Neural Collapse on real data: a backbone followed by an M-layer linear head, with NC tracked during training.

Official settings, one `RealRecipe` each:
- balanced CIFAR-10 MLP: 6 x [Linear -> ReLU -> BatchNorm1d] + a final BatchNorm1d, orthogonal init, width 2048;
  M linear head layers, bias on the last only; nn.MSELoss plus lambda_W/2 sum ||W_j||^2 and lambda_H/2 ||H_batch||^2
  (`--sep_decay`, both 1e-4); Adam lr 1e-4, batch 128, 200 epochs, StepLR(50, 0.1).
- ResNet18: BatchNorm1d on the 512-d features; SGD lr 1e-3, momentum 0.9, weight decay 1e-4 on all parameters.
- imbalanced CIFAR-10 MLP: counts (100, 100, 200, ..., 500, 500), no BatchNorm, 6 ReLU layers + a final
  Linear(width, width) feature layer, width 2048, bias-free head, nn.MSELoss / 2 with lambda_W = lambda_H = 1e-5,
  Adam lr 1e-4, full batch, 12 000 epochs, StepLR(6000).
The quick CPU version (2-core CPU prototype) uses 3 ReLU layers + a Linear feature layer of width 128, the exact theory
loss, lambda = 1e-3 and full-batch Adam 1e-3 for 2000 steps, StepLR(1000).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, Sequence

import numpy as np
import torch
from torch import nn

from reprolab.methods.neural_collapse.metrics import (NC1Pinv, collapse_metrics, collect_features, layer_product,
                                                     per_depth_metrics)
from reprolab.methods.neural_collapse.model import DeepLinearHead, LossConvention, feature_decay, fit_term
from reprolab.methods.neural_collapse.theory import GOFTarget
from reprolab.nets import MLPBackbone, cifar_resnet18
from reprolab.runtime.distributed import DistInfo, shard, wrap_model
from reprolab.runtime.config import check_at_least, check_options, ConfigError
from reprolab.runtime.fast import FastPath, autocast, fast_batch, fast_model
from reprolab.runtime.train import StepLosses, run_loop

Backbone = Literal["mlp", "mlp_bn", "resnet18"]


class NCNetwork(nn.Module):
    """backbone -> (BatchNorm1d for ResNet features) -> DeepLinearHead; forward returns (logits, head input)."""

    def __init__(self, backbone: Backbone, in_shape: Sequence[int], num_classes: int, depth: int, width: int,
                 mlp_depth: int = 6, head_bias: bool = False, init: Literal["official", "pytorch"] = "official"):
        super().__init__()
        if backbone == "resnet18":
            trunk = cifar_resnet18(in_channels=in_shape[0])
            self.backbone = nn.Sequential(trunk, nn.BatchNorm1d(trunk.out_dim))
            dim = trunk.out_dim
        elif backbone in ("mlp", "mlp_bn"):
            bn = backbone == "mlp_bn"
            self.backbone = MLPBackbone(int(np.prod(in_shape)), width, mlp_depth, batchnorm=bn, final_bn=bn,
                                        final_linear=not bn, init="official_nc" if init == "official" else "pytorch")
            dim = width
        else:
            raise ValueError(f"backbone must be 'mlp', 'mlp_bn' or 'resnet18', got {backbone!r}")
        self.head = DeepLinearHead(dim, num_classes, depth, bias=head_bias)
        if init == "official" and backbone != "resnet18":
            for layer in self.head.layers:          # the official MLP: every head layer orthogonal, bias default
                nn.init.orthogonal_(layer.weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(x)
        return self.head(h), h


@dataclasses.dataclass(frozen=True)
class RealRecipe:
    """Everything that defines one real-data NC experiment: data subset, network, loss, optimiser, schedule."""

    counts: tuple[int, ...]            # first n_k training samples of class k; empty = skip this recipe
    depths: tuple[int, ...]            # head depths M to train, one run each
    backbone: Backbone
    width: int
    mlp_depth: int                     # hidden ReLU layers of the MLP backbones
    lambda_W: float
    lambda_H: float
    loss_convention: LossConvention
    optimizer: Literal["adam", "sgd"]
    lr: float
    momentum: float
    weight_decay: float                # on every parameter (official ResNet18 recipe); 0 for the MLPs
    batch_size: int                    # 0 = full batch
    epochs: int
    lr_step_epochs: int
    lr_gamma: float
    eval_every_epochs: int
    init: Literal["official", "pytorch"] = "official"   # official MLPs: orthogonal head and (partly) backbone
    head_bias: bool = False            # a bias on the last head layer (official balanced MLP: fc_bias, default on);
                                       # the targets become the simplex ETF with b = 1/K

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("width", "mlp_depth", "epochs", "lr_step_epochs", "eval_every_epochs"))
        if any(v < 1 for v in (*self.counts, *self.depths)) or self.batch_size < 0 or not self.lr > 0:
            raise ConfigError(f"config keys 'counts' and 'depths' take values >= 1, 'batch_size' >= 0 and 'lr' > 0, "
                              f"got {self.counts}, {self.depths}, {self.batch_size}, {self.lr}")


def full_batch_lambda_H(s: RealRecipe, num_samples: int) -> float:
    """The feature decay of the full-batch objective that minibatch training minimises.

    The official code adds lambda_H/2 ||H_batch||^2 to a per-batch mean loss, so over an epoch the features pay
    lambda_H B/N; the theory convention already scales each batch by N/B.
    """
    if s.loss_convention != "theory" and 0 < s.batch_size < num_samples:
        return s.lambda_H * s.batch_size / num_samples
    return s.lambda_H


def make_optimizer(model: nn.Module, s: RealRecipe) -> torch.optim.Optimizer:
    """Adam or SGD with momentum, as fused kernels (one update kernel for all parameters)."""
    if s.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=s.lr, weight_decay=s.weight_decay, fused=True)
    return torch.optim.SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay, fused=True)


def track_collapse(model: NCNetwork, x: torch.Tensor, y: torch.Tensor, s: RealRecipe, *, gof: GOFTarget | None,
                   dist: DistInfo, checkpoint=None, resume: bool = False, progress: bool | None = None,
                   desc: str = "train", seed: int = 0, fast: FastPath = FastPath(),
                   nc1_pinv: NC1Pinv = "float64") -> dict:
    """Train `model` on (x, y) and record loss, accuracy and NC metrics every `eval_every_epochs` epochs. `fast`: the
    opt-in GPU fast path for the training steps (`reprolab.runtime.fast`; evaluation stays float32); `nc1_pinv`:
    NC1's pseudo-inverse (`metrics.nc1`). Minibatches
    follow a permutation drawn from `seed` every epoch; full-batch training in one process uses the rows in order.

    Returns {"history": [...], "per_depth": [...] (final), "final": {...}}. Under torchrun each rank trains on
    its shard of every batch through DistributedDataParallel.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
    N = len(y)
    batch = N if s.batch_size <= 0 else min(s.batch_size, N)
    steps_per_epoch = math.ceil(N / batch) if s.batch_size > 0 else 1
    net = wrap_model(fast_model(model, fast), dist)
    optimizer = make_optimizer(model, s)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=s.lr_step_epochs * steps_per_epoch,
                                                gamma=s.lr_gamma)
    lambdas = [s.lambda_W] * model.head.depth
    lambda_H_full = full_batch_lambda_H(s, N)
    generator = torch.Generator().manual_seed(seed)
    order: list[torch.Tensor] = []
    # one process training on the full batch: a permutation of the rows would change only the order of the sums
    whole_batch = batch == N and not dist.enabled

    def objective(logits, features, labels):
        return (fit_term(logits, labels, "mse", s.loss_convention) + model.head.weight_decay(lambdas)
                + feature_decay(features, s.lambda_H, s.loss_convention, N))

    def batch_rows(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if whole_batch:
            return x, y
        if i % steps_per_epoch == 0:
            order[:] = [torch.randperm(N, generator=generator)]
        start = (i % steps_per_epoch) * batch
        idx = shard(order[0][start:start + batch], dist).to(x.device)
        return x[idx], y[idx]

    losses = StepLosses(finite=("loss",))            # read at each evaluation: a non-finite loss raises there

    def step(i: int) -> torch.Tensor:
        inputs, labels = batch_rows(i)
        with autocast(fast, x.device):
            logits, features = net(fast_batch(inputs, fast))
            loss = objective(logits, features, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.add(i, loss=loss)
        return loss.detach()

    total = s.epochs * steps_per_epoch
    final_features: list[np.ndarray] = []          # the trained model's features, from the evaluation after the end

    def evaluate(done: int) -> dict:
        losses.read()
        H = collect_features(model, model.head, x, batch_size=4096)
        if done == total:
            final_features.append(H)
        labels = y.cpu().numpy()
        W, b = layer_product(model.head.numpy_layers()), model.head.numpy_bias()
        logits = H @ W.T + (b if b is not None else 0.0)
        with torch.no_grad():
            Ht = torch.from_numpy(H)
            full_loss = (fit_term(torch.from_numpy(logits), y.cpu(), "mse", s.loss_convention).item()
                         + sum(lam / 2 * float((Wj.detach().double() ** 2).sum()) for lam, Wj in
                               zip(lambdas, model.head.weights()))
                         + feature_decay(Ht, lambda_H_full, s.loss_convention, N).item())
        metrics = collapse_metrics(H, labels, W, b, gof=gof, nc1_pinv=nc1_pinv)
        return {"epoch": done / steps_per_epoch, "loss": full_loss,  # the full-batch objective being minimised
                "train_acc": float((logits.argmax(1) == labels).mean()), **metrics}

    history = run_loop(total, step, objects={"model": model, "optimizer": optimizer, "scheduler": scheduler},
                       eval_fn=evaluate, eval_every=s.eval_every_epochs * steps_per_epoch,
                       eval_steps=(steps_per_epoch,), eval_at_start=True, checkpoint=checkpoint,
                       checkpoint_every=max(1, s.eval_every_epochs) * steps_per_epoch, resume=resume,
                       desc=desc, progress=progress if dist.is_main else False)
    # run_loop evaluates after the last step; a resume from a finished checkpoint runs no step and no evaluation
    H = final_features[0] if final_features else collect_features(model, model.head, x, batch_size=4096)
    layers = model.head.numpy_layers()
    per_depth = per_depth_metrics(H, y.cpu().numpy(), layers, model.head.numpy_bias(), gof=gof, nc1_pinv=nc1_pinv)
    row_norms = np.linalg.norm(layer_product(layers), axis=1).tolist()
    return {"history": history, "per_depth": per_depth, "final": history[-1], "row_norms": row_norms}
