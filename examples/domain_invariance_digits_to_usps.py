"""domain_invariance on a user's own arrays: {MNIST, UCI digits} -> USPS with the public API.

Two labelled sources, a seeded subset of MNIST's train split and scikit-learn's UCI digits (8x8, upsampled into
MNIST's 28x28 frame by `to_digit_frame`), and USPS's test split (16x16, the same frame) as the target. ERM and the
compressed domain-invariant penalty train from the same seed (the same initialisation and batches) with the quick
CNN in the channels-last memory format (the same function, faster on a CPU); each prints its target accuracy beside
what always predicting the target's majority class scores.

    python examples/domain_invariance_digits_to_usps.py [--steps 400] [--mnist 10000] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from reprolab.data import load_digits, load_mnist, load_usps
from reprolab.methods.domain_invariance import (ERM, DomainInvariant, DomainTask, build_featurizer, from_arrays,
                                                to_digit_frame, train)
from reprolab.runtime.fast import FastPath


def digits_to_usps_task(n_mnist: int, n_usps: int | None = None, seed: int = 0) -> DomainTask:
    """Sources: `n_mnist` MNIST train images (seeded) and all 1,797 UCI digits, each shuffled (its first 20% is
    validation); target: the first `n_usps` (None: all 2,007) USPS test images."""
    rng = np.random.default_rng(seed)
    mnist, uci, usps = load_mnist("train"), load_digits(), load_usps("test")
    pick, order = rng.permutation(len(mnist.y))[:n_mnist], rng.permutation(len(uci.y))
    sources = {"mnist": (mnist.x[pick] / 255.0, mnist.y[pick]),
               "uci_digits": (to_digit_frame(uci.x[order] / 16.0), uci.y[order])}
    target = ("usps", to_digit_frame(usps.x[:n_usps]), usps.y[:n_usps])
    return from_arrays("digits_to_usps", sources, target, num_classes=10)


def main(steps: int = 400, n_mnist: int = 10_000, n_usps: int | None = None, seed: int = 0,
         lam: float = 1.0) -> dict[str, float]:
    """Train ERM and the compressed penalty (weight `lam`) for `steps` updates of 32 images per source, scored
    before and after training; returns each one's final target accuracy."""
    task = digits_to_usps_task(n_mnist, n_usps, seed)
    majority = np.bincount(task.target.y_all).max() / len(task.target.y_all)
    accuracies = {}
    for name in ("erm", "compressed"):
        featurizer, dim = build_featurizer("quick_cnn", task.input_shape, fast=FastPath(channels_last=True))
        shape = (featurizer, dim, task.num_classes, len(task.sources))
        algorithm = ERM(*shape) if name == "erm" else DomainInvariant(*shape, invariance="compressed", lam=lam)
        history = train(algorithm, task, steps=steps, batch_per_domain=32, seed=seed, eval_every=steps,
                        progress=False)
        accuracies[name] = history[-1]["target"]
        print(f"{name:>10}: USPS accuracy {accuracies[name]:.3f} (majority class {majority:.3f}), "
              f"source validation {history[-1]['source_val_mean']:.3f}")
    return accuracies


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--mnist", type=int, default=10_000, help="MNIST train images used as a source")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.steps, args.mnist, seed=args.seed)
