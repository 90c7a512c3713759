"""The Trojan filter's training step (`train_filter`: VIF on MNIST, NetCMNIST classifier, batch 64, the quick
settings) against the straightforward loop that only leaves the classifier out of the optimizer: its weights
still require gradients, so every backward pass also computes the classifier's weight gradients (discarded).
`train_filter` freezes the classifier (eval mode, no parameter gradients; input gradients still flow).
No official code exists for the defence. Equality: the filters' weights after the same steps from the same seed.
Speed: steps per second, reference time / train_filter time. One thread."""

import time

import torch
from torch.nn import functional as F

from reprolab.data import load_mnist
from reprolab.methods.trojan_filter.classifier import make_classifier
from reprolab.methods.trojan_filter.data import as_images
from reprolab.methods.trojan_filter.filters import (FilterConfig, VariationalFilter, kl_to_standard_normal,
                                                    reconstruction_nll, train_filter)

STEPS, DEFENDER = 60, 2000


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
