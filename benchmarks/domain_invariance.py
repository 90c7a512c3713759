"""The compressed (class-conditional) penalty from one kernel matrix against the per-pair loop DomainBed's MMD
uses (one MMD^2 call per (class, domain pair): three kernel blocks each), on the quick and the paper batch shapes.
Equality: both give the same value (float64). Speed: loop time / one-matrix time, forward and backward.
"""

import itertools

import torch

from benchmarks import timed
from reprolab.methods.domain_invariance.penalties import GAMMAS, compressed_penalty, feature_map, mmd2


def loop_compressed(z, domains, labels, k, c):
    phi = feature_map(z, "l2norm")
    values = []
    for cls in range(c):
        for i, j in itertools.combinations(range(k), 2):
            a, b = phi[(domains == i) & (labels == cls)], phi[(domains == j) & (labels == cls)]
            if len(a) >= 2 and len(b) >= 2:
                values.append(mmd2(a, b, GAMMAS["l2norm"]))
    return torch.stack(values).mean()



def main() -> None:
    torch.set_num_threads(1)
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
