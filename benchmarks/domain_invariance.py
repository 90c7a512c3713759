"""Two cases of the domain_invariance method.

1. The compressed (class-conditional) penalty from one kernel matrix against the per-pair loop DomainBed's MMD
   uses (one MMD^2 call per (class, domain pair): three kernel blocks each), on the quick and the paper batch
   shapes. Equality: both give the same value (float64). Speed: loop time / one-matrix time, forward and backward.
2. The quick CNN's ReLU after its max-pooling (`featurizers.quick_cnn`) against the same modules with the ReLU
   before the pooling: `DomainInvariant` (compressed, lambda 1) updates on RotatedDigits minibatches (5 sources x
   32 of 16x16), channels-last (the quick config) and NCHW, one thread. The two run in alternating rounds of
   UPDATES updates (so a change in machine load reaches both); speed: the median over ROUNDS rounds of ReLU-first
   time / ReLU-after time per update. Equality: after the same updates from the same weights and batches, every
   parameter is identical.
3. The bound on training 3 seeds as one stacked model: 3 updates of one model on 5 sources x 32 against 1 update on
   5 x 96 (channels-last, compressed, lambda 1), in alternating rounds; a stacked update costs at least the second
   (it adds the seeds' separate weights), so their ratio is the most stacking could gain. No equality: the batches
   differ.
"""

import copy
import itertools
import time

import torch
from torch import nn

from benchmarks import paired_medians, timed
from reprolab.methods.domain_invariance.algorithms import DomainInvariant
from reprolab.methods.domain_invariance.domains import build_task
from reprolab.methods.domain_invariance.featurizers import build_featurizer
from reprolab.methods.domain_invariance.penalties import GAMMAS, compressed_penalty, feature_map, mmd2
from reprolab.methods.domain_invariance.training import SourceSampler
from reprolab.runtime.fast import FastPath

UPDATES, ROUNDS = 10, 7


def loop_compressed(z, domains, labels, k, c):
    phi = feature_map(z, "l2norm")
    values = []
    for cls in range(c):
        for i, j in itertools.combinations(range(k), 2):
            a, b = phi[(domains == i) & (labels == cls)], phi[(domains == j) & (labels == cls)]
            if len(a) >= 2 and len(b) >= 2:
                values.append(mmd2(a, b, GAMMAS["l2norm"]))
    return torch.stack(values).mean()


def penalty_case() -> None:
    for name, k, n, dim in (("quick: 5 sources x 32, 64 features", 5, 32, 64),
                            ("paper: 5 sources x 64, 128 features", 5, 64, 128)):
        gen = torch.Generator().manual_seed(0)
        z = torch.randn(k * n, dim, generator=gen, dtype=torch.float64, requires_grad=True)
        domains = torch.arange(k).repeat_interleave(n)
        labels = torch.randint(0, 10, (k * n,), generator=gen)
        fast = compressed_penalty(z, domains, labels, k, 10).item()
        slow = loop_compressed(z, domains, labels, k, 10).item()
        assert abs(fast - slow) < 1e-10, (fast, slow)
        z32 = z.detach().float().requires_grad_()
        t_fast = timed(lambda: compressed_penalty(z32, domains, labels, k, 10).backward(), 20)
        t_slow = timed(lambda: loop_compressed(z32, domains, labels, k, 10).backward(), 5)
        print(f"{name}: one matrix {t_fast * 1e3:.2f} ms, per-pair loop {t_slow * 1e3:.1f} ms (forward + backward), "
              f"speed-up {t_slow / t_fast:.1f}x; values equal (|diff| {abs(fast - slow):.1e})")


def relu_first(net: nn.Sequential) -> nn.Sequential:
    """The same modules (the same parameters) with every ReLU that directly follows a max-pooling moved before it;
    found by type, an error when there is none."""
    modules, moved = list(net), 0
    for i in range(len(modules) - 1):
        if isinstance(modules[i], nn.MaxPool2d) and isinstance(modules[i + 1], nn.ReLU):
            modules[i], modules[i + 1] = modules[i + 1], modules[i]
            moved += 1
    if not moved:
        raise ValueError(f"no ReLU directly after a MaxPool2d in {net}")
    return nn.Sequential(*modules)


def seconds_per_update(alg: DomainInvariant, batches: list) -> float:
    start = time.perf_counter()
    for minibatches in batches:
        alg.update(minibatches)
    return (time.perf_counter() - start) / len(batches)


def relu_order_case() -> None:
    task = build_task("rotated_digits")
    sampler = SourceSampler(task, 32, seed=0)
    batches = [sampler.minibatches() for _ in range(UPDATES)]
    for fast in (FastPath(channels_last=True), FastPath()):
        torch.manual_seed(0)
        featurizer, dim = build_featurizer("quick_cnn", task.input_shape, fast=fast)
        after = DomainInvariant(featurizer, dim, task.num_classes, len(task.sources), invariance="compressed",
                                lam=1.0, total_steps=UPDATES)
        first = copy.deepcopy(after)                                    # same weights and optimiser state
        net = first.featurizer.net if fast.channels_last else first.featurizer
        reordered = relu_first(net)
        if fast.channels_last:
            first.featurizer.net = reordered
        else:
            first.featurizer = reordered
        rounds = [(seconds_per_update(after, batches), seconds_per_update(first, batches)) for _ in range(ROUNDS)]
        assert all(torch.equal(a, b) for a, b in zip(after.parameters(), first.parameters())), \
            "the two orders gave different parameters"
        t_first, t_after, speed_up = paired_medians([(f, a) for a, f in rounds])
        layout = "channels-last" if fast.channels_last else "NCHW"
        print(f"quick CNN update ({layout}, 5 x 32 of 16x16): ReLU after the pooling {t_after * 1e3:.1f} ms, "
              f"before {t_first * 1e3:.1f} ms (medians of {ROUNDS} rounds), speed-up {speed_up:.2f}x; parameters "
              f"after {ROUNDS * UPDATES} updates identical")


def seed_stacking_bound_case(seeds: int = 3) -> None:
    task = build_task("rotated_digits")
    setups = []
    for batch, updates in ((32, seeds * UPDATES), (32 * seeds, UPDATES)):
        torch.manual_seed(0)
        featurizer, dim = build_featurizer("quick_cnn", task.input_shape, fast=FastPath(channels_last=True))
        alg = DomainInvariant(featurizer, dim, task.num_classes, len(task.sources), invariance="compressed",
                              lam=1.0, total_steps=updates * (ROUNDS + 1))
        sampler = SourceSampler(task, batch, seed=0)
        setups.append((alg, [sampler.minibatches() for _ in range(updates)]))
    seconds_per_update(*setups[0])                                              # first allocations of both
    seconds_per_update(*setups[1])
    separate, stacked, bound = paired_medians([(seeds * seconds_per_update(*setups[0]), seconds_per_update(*setups[1]))
                                               for _ in range(ROUNDS)])
    print(f"seed stacking bound, quick CNN (channels-last): {seeds} updates on 5 x 32 {separate * 1e3:.1f} ms, 1 "
          f"update on 5 x {32 * seeds} {stacked * 1e3:.1f} ms (medians of {ROUNDS} rounds), at most {bound:.2f}x")


def main() -> None:
    torch.set_num_threads(1)
    penalty_case()
    relu_order_case()
    seed_stacking_bound_case()
