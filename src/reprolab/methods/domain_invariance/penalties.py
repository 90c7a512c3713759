"""The two invariance penalties of Phung et al. (NeurIPS 2021), usable on any featurizer's output.

With sources i = 1..K and features z = g(x):

- **General domain invariance** aligns the feature marginals, P^{S,1}_g = ... = P^{S,K}_g:

      Pen_general = mean_{i < j} MMD^2(phi(Z_i), phi(Z_j))

  (in multi-source domain adaptation the unlabelled target batch is one more group).
- **Compressed domain invariance** aligns the class-conditionals, P^{S,i}_g(z | y = c) = Q_c for every i:

      Pen_compressed = mean_{c, i < j} MMD^2(phi(Z_i | y = c), phi(Z_j | y = c))

  Each marginal is then sum_c p_i(y = c) Q_c, so two domains differ at most by their label marginals: robust to
  label shift, but it needs labels and, pushed hard, compresses away what separates the classes.

The biased MMD^2 with a sum of Gaussian kernels k(a, b) = sum_{gamma in Gamma} exp(-gamma ||a - b||^2):

      MMD^2(A, B) = mean k(a, a') + mean k(b, b') - 2 mean k(a, b)

is computed for every group at once from ONE kernel matrix K over all phi(z): with A the group indicators divided
by the group sizes, M = A^T K A holds every group's mean kernel value, and MMD^2(g, h) = M_gg + M_hh - 2 M_gh.
Groups with fewer than `min_group_size` = 2 samples drop their pairs; no valid pair gives 0.

Feature map and bandwidths:
- `"l2norm"` (default; design choice of this library, the paper's constants are not known): phi(z) = z / ||z||,
  Gamma = {0.25, 0.5, 1, 2, 4, 8}. Unit-norm features cannot satisfy the penalty by shrinking.
- `"raw"` (DomainBed's MMD): phi(z) = z, Gamma = {1e-3, 1e-2, ..., 1e3}. All features shrinking towards 0 drives
  every MMD to 0, which collapsed the class-conditional penalty in one measured seed.

Warm-up ramp (DANN's schedule, a design choice here): r(t) = 2 / (1 + exp(-10 t / T)) - 1, r(0) = 0, r(T) ~ 1.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch

PenaltyFeatures = Literal["l2norm", "raw"]
GAMMAS: dict[str, tuple[float, ...]] = {
    "l2norm": (0.25, 0.5, 1.0, 2.0, 4.0, 8.0),                     # design (unit-norm features: ||a - b||^2 <= 4)
    "raw": (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0),           # DomainBed's MMD
}
MIN_GROUP_SIZE = 2


def feature_map(z: torch.Tensor, mode: PenaltyFeatures = "l2norm") -> torch.Tensor:
    """phi(z): z / ||z|| (a zero row stays 0) or z itself."""
    if mode == "raw":
        return z
    if mode == "l2norm":
        return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    raise ValueError(f"penalty_features must be 'l2norm' or 'raw', got {mode!r}")


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a_n - b_m||^2 for every pair, clamped at 0 (the expanded form can round below it)."""
    sq = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1)[None, :] - 2.0 * a @ b.T
    return sq.clamp_min(0.0)


def kernel(a: torch.Tensor, b: torch.Tensor, gammas: tuple[float, ...]) -> torch.Tensor:
    """k(a, b) = sum_gamma exp(-gamma ||a - b||^2) for every pair of rows."""
    d = squared_distances(a, b)
    return sum(torch.exp(-g * d) for g in gammas)


def mmd2(a: torch.Tensor, b: torch.Tensor, gammas: tuple[float, ...]) -> torch.Tensor:
    """The biased MMD^2 of two samples: mean k(a, a') + mean k(b, b') - 2 mean k(a, b)."""
    return kernel(a, a, gammas).mean() + kernel(b, b, gammas).mean() - 2.0 * kernel(a, b, gammas).mean()


def group_mmd_matrix(phi: torch.Tensor, groups: torch.Tensor, n_groups: int,
                     gammas: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """MMD^2 between every pair of groups from one kernel matrix, and the group sizes.

    K = k(phi, phi); A[n, g] = 1[groups_n = g] / n_g; M = A^T K A; MMD^2(g, h) = M_gg + M_hh - 2 M_gh.
    Entries of empty groups are meaningless (their column of A is 0): callers keep only valid pairs.
    """
    one_hot = torch.nn.functional.one_hot(groups, n_groups).to(phi.dtype)          # (N, G)
    counts = one_hot.sum(0)                                                         # n_g
    assign = one_hot / counts.clamp_min(1.0)                                        # A
    m = assign.T @ kernel(phi, phi, gammas) @ assign                                # M = A^T K A
    diag = m.diagonal()
    return diag[:, None] + diag[None, :] - 2.0 * m, counts                          # MMD^2(g, h)


def _mean_over_pairs(mmd: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
    if not pairs:
        return mmd.new_zeros(())
    rows, cols = zip(*pairs)
    return mmd[list(rows), list(cols)].mean()


def general_penalty(z: torch.Tensor, domains: torch.Tensor, n_domains: int,
                    features: PenaltyFeatures = "l2norm") -> torch.Tensor:
    """mean_{i < j} MMD^2(phi(Z_i), phi(Z_j)) over domains with at least 2 samples; 0 when no pair is valid.

    `domains` (N,) holds each row's domain index in [0, n_domains); an unlabelled target is one more index."""
    _check_groups(z, domains, n_domains, "domains")
    mmd, counts = group_mmd_matrix(feature_map(z, features), domains, n_domains, GAMMAS[features])
    sizes = counts.tolist()
    valid = [g for g in range(n_domains) if sizes[g] >= MIN_GROUP_SIZE]
    return _mean_over_pairs(mmd, list(itertools.combinations(valid, 2)))


def compressed_penalty(z: torch.Tensor, domains: torch.Tensor, labels: torch.Tensor, n_domains: int,
                       n_classes: int, features: PenaltyFeatures = "l2norm") -> torch.Tensor:
    """mean over classes c and domain pairs i < j of MMD^2(phi(Z_i | y = c), phi(Z_j | y = c)); groups
    (domain, class) with fewer than 2 samples drop their pairs; 0 when no pair is valid."""
    _check_groups(z, domains, n_domains, "domains")
    _check_groups(z, labels, n_classes, "labels")
    groups = domains * n_classes + labels                                          # group of (domain i, class c)
    mmd, counts = group_mmd_matrix(feature_map(z, features), groups, n_domains * n_classes, GAMMAS[features])
    sizes = counts.tolist()
    pairs = [(i * n_classes + c, j * n_classes + c)
             for c in range(n_classes) for i, j in itertools.combinations(range(n_domains), 2)
             if sizes[i * n_classes + c] >= MIN_GROUP_SIZE and sizes[j * n_classes + c] >= MIN_GROUP_SIZE]
    return _mean_over_pairs(mmd, pairs)


def ramp(step: int, total_steps: int) -> float:
    """r(t) = 2 / (1 + exp(-10 t / T)) - 1."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be > 0, got {total_steps}")
    return 2.0 / (1.0 + math.exp(-10.0 * step / total_steps)) - 1.0


def _check_groups(z: torch.Tensor, index: torch.Tensor, n: int, name: str) -> None:
    if z.dim() != 2:
        raise ValueError(f"features must be a (N, D) tensor, got shape {tuple(z.shape)}")
    if index.shape != (z.shape[0],) or index.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{name} must be an integer tensor of shape ({z.shape[0]},), got {index.dtype} "
                         f"{tuple(index.shape)}")
    if len(index) and (int(index.min()) < 0 or int(index.max()) >= n):
        raise ValueError(f"{name} must lie in [0, {n}), got values in [{int(index.min())}, {int(index.max())}]")
