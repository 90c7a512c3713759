r"""The deep linear unconstrained-feature model (UFM), its objectives, and the full-batch GD trainer.

UFM: free features H (one row per sample here; the paper's H in R^{d x N} is its transpose), bias-free layers
W_1..W_{M-1} in R^{d x d}, W_M in R^{K x d}, optional unregularised last-layer bias b. The entries of H and the W_j
~ N(0, 0.1^2) (official code), b = 0 (the official code keeps PyTorch's uniform +-1/sqrt(d): `init="official"`,
which also draws the labels' permutation as the official code does; `initial_ufm`). Objectives:

    MSE, "theory":   1/(2N) ||W_M..W_1 H + b 1^T - Y||_F^2 + sum_j lambda_Wj/2 ||W_j||^2 + lambda_H/2 ||H||^2
    MSE, "official": nn.MSELoss (mean over N K) in place of the first term; "official_half": nn.MSELoss / 2
    CE:              mean_i CE(W h_i + b, y_i) + the same decay terms

Trainer: full-batch gradient descent with momentum (official: SGD lr 0.1, momentum 0.9, 30 000 iterations), the
gradient written out (`data_gradients`) rather than taped by autograd. With Z = H W^T + 1 b^T, W = W_M ... W_1 and
G = dL_data/dZ (MSE "theory": (Z - Y)/N; "official": 2 (Z - Y)/(N K); "official_half": (Z - Y)/(N K); CE:
(softmax(Z) - Y)/N), P_j = W_M ... W_{j+1} (P_M = I) and R_j = G^T H W_1^T ... W_{j-1}^T (K x d_in of layer j):

    dL_data/dW_j = P_j^T R_j,    dL_data/dH = G W,    dL_data/db = G^T 1,

so every product has K as one of its dimensions: a step costs O(K d (N + M d)) multiply-adds, against O(N d^2 M)
for the layer-by-layer forward and backward. The gradients of the decay terms, lambda_Wj W_j and lambda_H H,
are added by SGD's `weight_decay` (one parameter group per decay; the bias has none). This is the gradient of the
whole objective, which the official code tapes with the decay terms in the loss.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.neural_collapse.metrics import layer_product
from reprolab.runtime.train import run_loop
from reprolab.runtime.config import check_choice

LossKind = Literal["mse", "ce"]
LossConvention = Literal["theory", "official", "official_half"]
UFMInit = Literal["reprolab", "official"]


class DeepLinearHead(nn.Module):
    """M linear layers W_1..W_M (bias-free; optional bias on the last one only). `init_std`: the weights
    ~ N(0, init_std^2) and the bias 0, or with `zero_bias=False` the bias left at nn.Linear's uniform
    +-1/sqrt(fan_in); None: nn.Linear's initialisation throughout."""

    def __init__(self, in_dim: int, num_classes: int, depth: int, *, width: int | None = None,
                 bias: bool = False, init_std: float | None = None, zero_bias: bool = True):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth M must be >= 1, got {depth}")
        width = width or in_dim
        dims = [in_dim] + [width] * (depth - 1) + [num_classes]
        self.layers = nn.ModuleList(nn.Linear(dims[j], dims[j + 1], bias=bias and j == depth - 1)
                                    for j in range(depth))
        if init_std is not None:
            for layer in self.layers:
                nn.init.normal_(layer.weight, 0.0, init_std)
                if layer.bias is not None and zero_bias:
                    nn.init.zeros_(layer.bias)

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def bias(self) -> torch.Tensor | None:
        return self.layers[-1].bias

    def weights(self) -> list[torch.Tensor]:
        return [layer.weight for layer in self.layers]

    def numpy_layers(self) -> list[np.ndarray]:
        """W_1..W_M as float64 arrays (for the metrics)."""
        return [W.detach().double().cpu().numpy() for W in self.weights()]

    def numpy_bias(self) -> np.ndarray | None:
        return None if self.bias is None else self.bias.detach().double().cpu().numpy()

    def product(self) -> torch.Tensor:
        """W = W_M ... W_1, multiplied from the top so that every partial product has K rows (`layer_product`)."""
        return layer_product(self.weights())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h W^T + b: the layer-by-layer map h W_1^T ... W_M^T + b with W_M ... W_1 formed first, which costs
        K d^2 (M - 1) + B d K multiply-adds instead of B d^2 (M - 1) + B d K for a batch of B rows."""
        return F.linear(h, self.product(), self.bias)

    def weight_decay(self, lambdas: Sequence[float]) -> torch.Tensor:
        """sum_j lambda_Wj / 2 ||W_j||_F^2 (the bias is not regularised)."""
        return sum(lam / 2.0 * (W ** 2).sum() for lam, W in zip(lambdas, self.weights()))


class UnconstrainedFeatures(nn.Module):
    """Free features H (N, d) followed by a deep linear head."""

    def __init__(self, num_samples: int, dim: int, num_classes: int, depth: int, *, bias: bool = False,
                 init_std: float = 0.1, zero_bias: bool = True):
        super().__init__()
        self.H = nn.Parameter(torch.randn(num_samples, dim) * init_std)
        self.head = DeepLinearHead(dim, num_classes, depth, bias=bias, init_std=init_std, zero_bias=zero_bias)

    def forward(self) -> torch.Tensor:
        return self.head(self.H)


def fit_term(logits: torch.Tensor, labels: torch.Tensor, loss: LossKind, convention: LossConvention) -> torch.Tensor:
    """The data term: MSE against one-hot targets (theory: 1/(2B) sum over the batch of B, an unbiased estimate
    of the full-batch 1/(2N) sum; official: mean over B K; official_half: half of that) or mean CE."""
    if loss == "ce":
        return F.cross_entropy(logits, labels)
    targets = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    if convention == "official":
        return F.mse_loss(logits, targets)
    if convention == "official_half":
        return F.mse_loss(logits, targets) / 2.0
    if convention != "theory":
        raise ValueError(f"loss_convention must be 'theory', 'official' or 'official_half', got {convention!r}")
    return ((logits - targets) ** 2).sum() / (2.0 * len(labels))


def feature_decay(features: torch.Tensor, lambda_H: float, convention: LossConvention, num_total: int) -> torch.Tensor:
    """lambda_H / 2 ||H||^2: in the theory convention a batch of B rows counts N/B times (unbiased estimate);
    the official code sums over the batch as it is (see `real.full_batch_lambda_H`)."""
    scale = num_total / len(features) if convention == "theory" else 1.0
    return lambda_H / 2.0 * scale * (features ** 2).sum()


def ufm_objective(model: UnconstrainedFeatures, labels: torch.Tensor, lambdas_W: Sequence[float], lambda_H: float,
                  loss: LossKind = "mse", convention: LossConvention = "theory") -> torch.Tensor:
    """The exact full-batch objective of the paper."""
    return (fit_term(model(), labels, loss, convention) + model.head.weight_decay(lambdas_W)
            + feature_decay(model.H, lambda_H, convention, len(labels)))


def balanced_labels(counts: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
    """n_k labels of class k, shuffled (official synthetic scripts); `generator` None: torch's global stream."""
    labels = torch.cat([torch.full((n,), k, dtype=torch.long) for k, n in enumerate(counts)])
    return labels[torch.randperm(len(labels), generator=generator)]


def logit_gradient(logits: torch.Tensor, targets: torch.Tensor, loss: LossKind,
                   convention: LossConvention) -> torch.Tensor:
    """G = d fit_term / d logits for one-hot `targets` (the module docstring's table)."""
    N, K = targets.shape
    if loss == "ce":
        return (torch.softmax(logits, dim=1) - targets) / N
    scale = {"theory": 1.0 / N, "official": 2.0 / (N * K), "official_half": 1.0 / (N * K)}[convention]
    return (logits - targets) * scale


def data_gradients(model: UnconstrainedFeatures, targets: torch.Tensor, loss: LossKind,
                   convention: LossConvention) -> list[torch.Tensor]:
    """The gradients of the data term with respect to `model.parameters()` (H, W_1..W_M, b), in that order."""
    weights = model.head.weights()
    above: list[torch.Tensor | None] = [None]              # P_M, P_{M-1}, ..., P_1 (None: the identity)
    for W in reversed(weights[1:]):
        above.append(W if above[-1] is None else above[-1] @ W)
    above.reverse()                                        # above[j] = P_{j+1} for layer j + 1 (0-based j)
    product = weights[0] if above[0] is None else above[0] @ weights[0]
    G = logit_gradient(F.linear(model.H, product, model.head.bias), targets, loss, convention)
    R = G.T @ model.H
    grads = [G @ product]
    for j, W in enumerate(weights):
        grads.append(R if above[j] is None else above[j].T @ R)
        if j + 1 < len(weights):
            R = R @ W.T
    if model.head.bias is not None:
        grads.append(G.sum(dim=0))
    return grads


def decay_groups(model: UnconstrainedFeatures, lambdas_W: Sequence[float], lambda_H: float) -> list[dict]:
    """SGD parameter groups whose `weight_decay` adds the gradient of the UFM's decay terms: lambda_Wj W_j for
    layer j, lambda_H H for the features (the full-batch `feature_decay`), none for the bias."""
    decays = [(W, lam) for W, lam in zip(model.head.weights(), lambdas_W)] + [(model.H, lambda_H)]
    if model.head.bias is not None:
        decays.append((model.head.bias, 0.0))
    groups: dict[float, list[torch.Tensor]] = {}
    for param, lam in decays:
        groups.setdefault(float(lam), []).append(param)
    return [{"params": params, "weight_decay": lam} for lam, params in groups.items()]


def initial_ufm(counts: Sequence[int], dim: int, depth: int, *, bias: bool, init_std: float, seed: int,
                init: UFMInit) -> tuple[torch.Tensor, UnconstrainedFeatures]:
    """The labels and the model (torch's default dtype) before the first step. Both inits draw H ~ N(0, init_std^2),
    then the layers (nn.Linear's initialisation, then W_j ~ N(0, init_std^2)) from torch's global stream seeded
    with `seed`.
    "reprolab": b = 0, and the labels' permutation comes from a generator of its own seeded with `seed`;
    "official" (the official synthetic scripts): b keeps nn.Linear's uniform +-1/sqrt(d), and the permutation is
    drawn from the global stream after the model, so the labels are the official seed's."""
    check_choice("init", init, UFMInit)
    torch.manual_seed(seed)
    official = init == "official"
    model = UnconstrainedFeatures(sum(counts), dim, len(counts), depth, bias=bias, init_std=init_std,
                                  zero_bias=not official)
    generator = None if official else torch.Generator().manual_seed(seed)
    return balanced_labels(counts, generator), model


@dataclasses.dataclass
class UFMRun:
    model: UnconstrainedFeatures
    labels: torch.Tensor
    history: list[dict]
    final_loss: float


def train_ufm(counts: Sequence[int], *, dim: int, depth: int, lambda_W: float | Sequence[float], lambda_H: float,
              steps: int, lr: float = 0.1, momentum: float = 0.9, bias: bool = False, loss: LossKind = "mse",
              convention: LossConvention = "theory", dtype: torch.dtype = torch.float64, seed: int = 2,
              init_std: float = 0.1, init: UFMInit = "reprolab", eval_every: int = 0,
              checkpoint: str | Path | None = None, checkpoint_every: int = 0, resume: bool = False,
              progress: bool = False, device: str | torch.device = "cpu") -> UFMRun:
    """Full-batch GD with momentum on the UFM (official: seed 2, lr 0.1, momentum 0.9, std 0.1) from the
    initial point `initial_ufm` draws for `init`."""
    lambdas = list(lambda_W) if isinstance(lambda_W, (list, tuple)) else [float(lambda_W)] * depth
    if len(lambdas) != depth:
        raise ValueError(f"lambda_W has {len(lambdas)} values for depth {depth}")
    labels, model = initial_ufm(counts, dim, depth, bias=bias, init_std=init_std, seed=seed, init=init)
    labels, model = labels.to(device), model.to(device=device, dtype=dtype)
    optimizer = torch.optim.SGD(decay_groups(model, lambdas, lambda_H), lr=lr, momentum=momentum, fused=True)

    targets = F.one_hot(labels, len(counts)).to(dtype)

    def step(_: int) -> None:
        with torch.no_grad():
            grads = data_gradients(model, targets, loss, convention)
        for param, grad in zip(model.parameters(), grads):
            param.grad = grad
        optimizer.step()

    def objective() -> float:
        """The objective, read on the host only here (at evaluations and the end, no sync per step): a step that
        makes H or a W non-finite leaves them non-finite (NaN and inf propagate through GD), so does the objective."""
        with torch.no_grad():
            value = ufm_objective(model, labels, lambdas, lambda_H, loss, convention).item()
        if not math.isfinite(value):
            raise FloatingPointError(f"the UFM objective became {value} (lr {lr} too large?)")
        return value

    history = run_loop(steps, step, objects={"model": model, "optimizer": optimizer},
                       eval_fn=lambda _: {"loss": objective()}, eval_every=eval_every, eval_at_start=bool(eval_every),
                       checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume, desc=f"UFM M={depth}",
                       progress=progress)
    return UFMRun(model, labels, history, objective())


def top_singular_values(model: UnconstrainedFeatures, k: int) -> np.ndarray:
    """Top-k singular values of every W_j, shape (M, k)."""
    return np.stack([torch.linalg.svdvals(W.detach().double()).cpu().numpy()[:k] for W in model.head.weights()])
