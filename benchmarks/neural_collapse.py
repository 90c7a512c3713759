"""Neural Collapse, two benchmarks, one thread each.

1. Real data: `track_collapse` (NC metrics computed in the training process at every evaluation epoch) against the
official layout (Fsoft-AIC/Neural-Collapse-in-Deep-Linear-Networks: training saves the model at every evaluation
epoch, then an evaluator reloads each checkpoint into a fresh model and collects the features batch by batch, 128 at
a time, as its data loader does). The quick recipe (MNIST, 60 per class, MLP width 128, M = 3, full-batch Adam) cut
to 400 epochs with an evaluation every 50. Both train the same way from the same seed. Equality: every NC metric at
every evaluation epoch, relative difference (features collected in batches of 128 against 4,096 may round
differently). Speed: wall time of the whole job, official / reprolab.

2. Synthetic UFM: `train_ufm` (the gradient written out with W_M ... W_1 formed before it meets the features, the
decay gradients added by SGD's weight decay, fused SGD) against `layerwise_ufm`, the official synthetic loop
(layer-by-layer forward, the decay terms in the loss, autograd, plain SGD), on the quick run's slowest case (CE with
bias, M = 6, d = 64, lambda = 5e-3) cut to 3,000 of its 30,000 steps, float64. Equality: the largest relative
difference of the final parameters. Speed: layerwise seconds / train_ufm seconds."""

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from reprolab.data import first_n_per_class
from reprolab.methods.neural_collapse.experiment import QUICK_RECIPE, load_real_data
from reprolab.methods.neural_collapse.metrics import collapse_metrics, collect_features, layer_product
from reprolab.methods.neural_collapse.model import (UnconstrainedFeatures, balanced_labels, feature_decay, fit_term,
                                                   train_ufm)
from reprolab.methods.neural_collapse.real import NCNetwork, make_optimizer, track_collapse
from reprolab.runtime.distributed import DistInfo

RECIPE = dataclasses.replace(QUICK_RECIPE, epochs=400, lr_step_epochs=200)
DEPTH, SEED = 3, 0


def network(in_shape) -> NCNetwork:
    torch.manual_seed(SEED)
    return NCNetwork(RECIPE.backbone, in_shape, 10, DEPTH, RECIPE.width, RECIPE.mlp_depth, init=RECIPE.init)


def official_train_then_evaluate(x, y, in_shape, folder: Path) -> list[dict]:
    """Full-batch training as `track_collapse` trains (one epoch = one step, the rows in order), saving the model at
    step 0 and at every evaluation epoch; then each checkpoint reloaded and evaluated."""
    model = network(in_shape)
    optimizer = make_optimizer(model, RECIPE)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, RECIPE.lr_step_epochs, RECIPE.lr_gamma)
    lambdas = [RECIPE.lambda_W] * DEPTH
    saved = []
    for epoch in range(RECIPE.epochs + 1):
        if epoch % RECIPE.eval_every_epochs == 0 or epoch in (1, RECIPE.epochs):
            saved.append(folder / f"epoch{epoch}.pt")
            torch.save(model.state_dict(), saved[-1])
        if epoch == RECIPE.epochs:
            break
        logits, features = model(x)
        loss = (fit_term(logits, y, "mse", RECIPE.loss_convention) + model.head.weight_decay(lambdas)
                + feature_decay(features, RECIPE.lambda_H, RECIPE.loss_convention, len(y)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    records = []
    for path in saved:
        model = network(in_shape)
        model.load_state_dict(torch.load(path, weights_only=True))
        H = collect_features(model, model.head, x, batch_size=128)
        records.append(collapse_metrics(H, y.numpy(), layer_product(model.head.numpy_layers()), None))
    return records


def layerwise_ufm(counts, *, dim: int, depth: int, lambdas_W, lambda_H: float, steps: int, lr: float = 0.1,
                  momentum: float = 0.9, bias: bool = False, loss: str = "mse", seed: int = 2) -> UnconstrainedFeatures:
    """The official synthetic loop in float64: the same labels and initial point as `train_ufm`, a layer-by-layer
    forward, the decay terms in the loss, SGD without weight decay."""
    labels = balanced_labels(counts, torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    model = UnconstrainedFeatures(len(labels), dim, len(counts), depth, bias=bias).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    for _ in range(steps):
        out = model.H
        for layer in model.head.layers:
            out = layer(out)
        value = (fit_term(out, labels, loss, "theory") + model.head.weight_decay(lambdas_W)
                 + feature_decay(model.H, lambda_H, "theory", len(labels)))
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
    return model


def max_relative_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """max over parameters of ||p_a - p_b||_max / ||p_b||_max."""
    with torch.no_grad():
        return max(float((p - q).abs().max() / q.abs().max()) for p, q in zip(a.parameters(), b.parameters()))


def ufm_trainers() -> None:
    counts, depth, dim, lam, steps = (100,) * 4, 6, 64, 5e-3, 3000
    seconds = {}
    for name in ("train_ufm", "layerwise") * 2:     # the second, warm, pass of each is the one kept
        start = time.perf_counter()
        if name == "train_ufm":
            ours = train_ufm(counts, dim=dim, depth=depth, lambda_W=lam, lambda_H=lam, steps=steps, bias=True,
                             loss="ce").model
        else:
            reference = layerwise_ufm(counts, dim=dim, depth=depth, lambdas_W=[lam] * depth, lambda_H=lam,
                                      steps=steps, bias=True, loss="ce")
        seconds[name] = time.perf_counter() - start
    gap = max_relative_difference(ours, reference)
    print(f"UFM CE M={depth} d={dim}, {steps} steps: train_ufm {seconds['train_ufm']:.2f} s, layerwise "
          f"{seconds['layerwise']:.2f} s, speed-up {seconds['layerwise'] / seconds['train_ufm']:.2f}x; max relative "
          f"parameter difference {gap:.1e} ({'equal' if gap < 1e-9 else 'DIFFERENT'})")


def main() -> None:
    torch.set_num_threads(1)
    ufm_trainers()
    real_data_layouts()


def real_data_layouts() -> None:
    x_all, y_all, in_shape = load_real_data("mnist")
    idx = first_n_per_class(y_all.numpy(), RECIPE.counts)
    x, y = x_all[idx], y_all[idx]
    seconds = {}
    for name in ("reprolab", "official") * 2:       # the second, warm, pass of each is the one kept
        start = time.perf_counter()
        if name == "reprolab":
            ours = track_collapse(network(in_shape), x, y, RECIPE, gof=None, dist=DistInfo(), progress=False,
                                  seed=SEED)["history"]
        else:
            with tempfile.TemporaryDirectory() as tmp:
                official = official_train_then_evaluate(x, y, in_shape, Path(tmp))
        seconds[name] = time.perf_counter() - start
    ours_s, official_s = seconds["reprolab"], seconds["official"]
    keys = sorted(official[0])
    gap = max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-12) for a, b in zip(ours, official) for k in keys)
    equal = len(ours) == len(official) and np.isfinite(gap) and gap < 1e-4
    print(f"{RECIPE.epochs} full-batch epochs, {len(official)} evaluations: in-process {ours_s:.1f} s, checkpoint and "
          f"reload {official_s:.1f} s, speed-up {official_s / ours_s:.2f}x; {len(keys)} NC metrics per evaluation, "
          f"max relative difference {gap:.1e} ({'equal' if equal else 'DIFFERENT'})")
