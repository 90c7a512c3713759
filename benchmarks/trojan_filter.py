"""The Trojan filter's training step (`train_filter`: VIF on MNIST, NetCMNIST classifier, batch 64, the quick
settings) against the straightforward loop that only leaves the classifier out of the optimizer: its weights
still require gradients, so every backward pass also computes the classifier's weight gradients (discarded).
`train_filter` freezes the classifier (eval mode, no parameter gradients; input gradients still flow).
No official code exists for the defence. Equality: the filters' weights after the same steps from the same seed.
Speed: steps per second, reference time / train_filter time. One thread.

Two measurements behind the quick config: (1) `train_filter` (IF, batch 64) with the networks and batches in
channels-last memory format (`channels_last=True`, the quick setting) against NCHW; equality: the loss gradients of
one batch from the same weights agree to float32 rounding (the convolutions sum in another order); after 60 Adam
steps the weights drift further apart (printed), as Adam rescales near-zero gradients whose rounding differs.
(2) Seeds as a batch dimension: the IF loss and gradients of 3 seeds' filters, each through its own frozen
classifier, computed stacked (`torch.func.stack_module_state` + `vmap`) against one seed after the other; equality:
the same gradients to float32 rounding. On a 2-core CPU the step is compute-bound, so stacking gives no speed-up
and the experiment does not stack seeds."""

import copy
import time

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from reprolab.data import load_mnist
from reprolab.methods.trojan_filter.classifier import make_classifier
from reprolab.methods.trojan_filter.data import as_images
from reprolab.methods.trojan_filter.filters import (FilterConfig, PlainFilter, VariationalFilter, freeze,
                                                    kl_to_standard_normal, reconstruction_nll, train_filter)
from reprolab.runtime.fast import FastPath

STEPS, DEFENDER, SEEDS, REPEATS = 60, 2000, 3, 20


def reference_steps(filt, classifier, x_def, y_def, cfg: FilterConfig, seed: int) -> None:
    classifier.eval()                                     # eval mode, but its weights keep requires_grad
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(filt.parameters(), lr=cfg.lr)
    filt.train()
    for step in range(cfg.steps):
        idx = torch.randint(len(y_def), (cfg.batch_size,), generator=gen)
        x, y = x_def[idx], y_def[idx]
        x_hat, mu, logvar = filt(x, gen)
        warm = min(1.0, step / max(1, cfg.steps // 2))
        loss = (F.cross_entropy(classifier(x_hat), y) + cfg.lambda_rec * reconstruction_nll(x_hat, x)
                + warm * cfg.lambda_kl * kl_to_standard_normal(mu, logvar))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    filt.eval()


def main() -> None:
    torch.set_num_threads(1)
    test = load_mnist("test")
    x, y = as_images(test.x[:DEFENDER]), torch.from_numpy(test.y[:DEFENDER]).long()
    cfg = FilterConfig(steps=STEPS)
    weights, seconds = {}, {}
    for name in ("reference", "train_filter") * 2:     # the second, warm, pass of each is the one kept
        torch.manual_seed(0)
        classifier, filt = make_classifier("mnist"), VariationalFilter(1, 32, 16)
        start = time.perf_counter()
        if name == "train_filter":
            train_filter(filt, classifier, x, y, cfg, seed=1)
        else:
            reference_steps(filt, classifier, x, y, cfg, seed=1)
        seconds[name] = time.perf_counter() - start
        weights[name] = [p.detach().clone() for p in filt.parameters()]
    gap = max((a - b).abs().max().item() for a, b in zip(weights["train_filter"], weights["reference"]))
    print(f"VIF, {STEPS} steps of batch 64: train_filter {STEPS / seconds['train_filter']:.1f} steps/s, reference "
          f"{STEPS / seconds['reference']:.1f} steps/s, speed-up {seconds['reference'] / seconds['train_filter']:.2f}x;"
          f" filter weights max |difference| {gap:.1e} ({'identical' if gap == 0 else 'DIFFERENT'})")
    channels_last_filter_steps(x, y)
    stacked_seed_gradients(x, y)


def channels_last_filter_steps(x, y) -> None:
    """IF steps of batch 64 in channels-last memory format against NCHW (the second, warm, pass of each is kept)."""
    weights, seconds = {}, {}
    for fast in (FastPath(), FastPath(channels_last=True)) * 2:
        torch.manual_seed(0)
        classifier, filt = make_classifier("mnist"), PlainFilter(1, 32, 16)
        classifier.to(memory_format=torch.channels_last if fast.channels_last else torch.contiguous_format)
        start = time.perf_counter()
        train_filter(filt, classifier, x, y, FilterConfig(steps=STEPS), seed=1, fast=fast)
        seconds[fast.channels_last] = time.perf_counter() - start
        weights[fast.channels_last] = [p.detach().clone() for p in filt.parameters()]
    drift = max((a - b).abs().max().item() for a, b in zip(weights[True], weights[False]))
    gap = max((a - b).abs().max().item() for a, b in zip(*(first_step_gradients(x, y, cl) for cl in (True, False))))
    print(f"IF, {STEPS} steps of batch 64: channels-last {STEPS / seconds[True]:.1f} steps/s, NCHW "
          f"{STEPS / seconds[False]:.1f} steps/s, speed-up {seconds[False] / seconds[True]:.2f}x; first-step gradients "
          f"max |difference| {gap:.1e} ({'float32 rounding' if gap < 1e-4 else 'DIFFERENT'}), weights after "
          f"{STEPS} steps {drift:.1e}")


def first_step_gradients(x, y, channels_last: bool) -> list[torch.Tensor]:
    """The IF loss gradients of the filter's weights on the first 64 images, in either memory format."""
    torch.manual_seed(0)
    classifier, filt = freeze(make_classifier("mnist")), PlainFilter(1, 32, 16)
    xb = x[:64]
    if channels_last:
        classifier.to(memory_format=torch.channels_last)
        filt.to(memory_format=torch.channels_last)
        xb = xb.contiguous(memory_format=torch.channels_last)
    if_loss(filt, classifier, xb, y[:64]).backward()
    return [p.grad for p in filt.parameters()]


def if_loss(filt, classifier, x, y):
    x_hat = filt(x)
    return F.cross_entropy(classifier(x_hat), y) + 0.01 * reconstruction_nll(x_hat, x)


def stacked_seed_gradients(x, y) -> None:
    """The IF gradients of SEEDS filters (each through its own frozen classifier): stacked with vmap against one
    seed after the other."""
    filters, classifiers = [], []
    for seed in range(SEEDS):
        torch.manual_seed(seed)
        classifiers.append(freeze(make_classifier("mnist")))
        filters.append(PlainFilter(1, 32, 16))
    xs, ys = x[:64 * SEEDS].view(SEEDS, 64, *x.shape[1:]), y[:64 * SEEDS].view(SEEDS, 64)
    filter_params, filter_buffers = stack_module_state(filters)
    classifier_params, classifier_buffers = stack_module_state(classifiers)
    shells = [copy.deepcopy(filters[0]).to("meta"), copy.deepcopy(classifiers[0]).to("meta")]

    def one_seed(f_params, f_buffers, c_params, c_buffers, xb, yb):
        x_hat = functional_call(shells[0], (f_params, f_buffers), (xb,))
        return F.cross_entropy(functional_call(shells[1], (c_params, c_buffers), (x_hat,)), yb) \
            + 0.01 * reconstruction_nll(x_hat, xb)

    def stacked():
        for p in filter_params.values():
            p.grad = None
        vmap(one_seed)(filter_params, filter_buffers, classifier_params, classifier_buffers, xs, ys).sum().backward()

    def separate():
        for k in range(SEEDS):
            filters[k].zero_grad(set_to_none=True)
            if_loss(filters[k], classifiers[k], xs[k], ys[k]).backward()

    seconds = {}
    for name, fn in (("stacked", stacked), ("separate", separate)) * 2:
        start = time.perf_counter()
        for _ in range(REPEATS):
            fn()
        seconds[name] = (time.perf_counter() - start) / REPEATS
    gap = max((filter_params[name].grad[k] - p.grad).abs().max().item()
              for k, filt in enumerate(filters) for name, p in filt.named_parameters())
    print(f"IF loss and gradients of {SEEDS} seeds, batch 64 each: stacked (vmap) {1000 * seconds['stacked']:.0f} ms, "
          f"separate {1000 * seconds['separate']:.0f} ms, speed-up {seconds['separate'] / seconds['stacked']:.2f}x; "
          f"gradients max |difference| {gap:.1e} ({'float32 rounding' if gap < 1e-4 else 'DIFFERENT'})")
