r"""Closed-form global solution of the deep linear unconstrained-feature model (UFM).

Objective (MSE, "theory" convention), K classes with n_k samples, N = sum n_k, H in R^{d x N}, W = W_M ... W_1:

    L = 1/(2N) ||W H + b 1^T - Y||_F^2 + sum_j (lambda_Wj / 2) ||W_j||_F^2 + (lambda_H / 2) ||H||_F^2

Every layer shares the singular value s_k along class k, and the problem splits into one scalar problem per class
(derived from the official code plus independent algebra):

    f_k(s) = n_k lambda_H / (2 (s^{2M} + N lambda_H)) + M lambda_W s^2 / 2,     s_k* = argmin_{s >= 0} f_k(s),
    L* = sum_k f_k(s_k*)          (with per-layer decays, lambda_W := (prod_j lambda_Wj)^{1/M}).

Stationarity: lambda_W (s^{2M} + N lambda_H)^2 = n_k lambda_H s^{2M-2}.
M = 1: s_k^2 = sqrt(n_k lambda_H / lambda_W) - N lambda_H when positive, else 0 (minority collapse iff
n_k <= N^2 lambda_W lambda_H). M >= 2: s = 0 is always a local minimum, so the minimum of f_k over a dense grid,
refined by a bounded `minimize_scalar`, is compared with f_k(0) = n_k / (2N) and the global argmin is returned (the
official code's largest-root pick is wrong there; `official_root_choice` reproduces it for comparison).

Geometry at the optimum (c = N lambda_H): W W^T = diag(s^{2M}), Hbar^T Hbar = diag(s^{2M} / (s^{2M} + c)^2),
W Hbar = diag(s^{2M} / (s^{2M} + c)), row k of W = (s_k^{2M} + c) hbar_k^T. Balanced data: an orthogonal frame
(OF); imbalanced: a general orthogonal frame (GOF) with n_k-dependent lengths; with a last-layer bias on balanced
data, b = 1/K and a simplex ETF with L* = (K - 1)/K times the bias-free value.

Balanced CE with bias, ETF ansatz: the logit margin z minimises
    g(z) = log(1 + (K-1) e^{-z}) + ((K-1)(M+1)/2) lambda_W^{M/(M+1)} (N lambda_H z^2 / K)^{1/(M+1)},
with s^{2M+2} = (N lambda_H / K) z^2 / lambda_W. This point is NOT always the global minimum for deep heads.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Literal

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from reprolab.runtime.config import check_choice


@dataclasses.dataclass(frozen=True)
class UFMProblem:
    """Class counts n_k, depth M, weight decays (one, or one per layer) and the feature decay."""

    counts: tuple[int, ...]
    depth: int
    lambda_W: float | tuple[float, ...]
    lambda_H: float
    bias: bool = False

    def __post_init__(self) -> None:
        if len(self.counts) < 2 or min(self.counts) < 1:
            raise ValueError(f"counts must list >= 2 positive class sizes, got {self.counts}")
        if self.depth < 1:
            raise ValueError(f"depth M must be >= 1, got {self.depth}")
        if isinstance(self.lambda_W, tuple) and len(self.lambda_W) != self.depth:
            raise ValueError(f"lambda_W has {len(self.lambda_W)} values for depth {self.depth}")
        if min(self.layer_lambdas) <= 0 or self.lambda_H <= 0:
            raise ValueError("weight and feature decays must be positive")
        if self.bias and len(set(self.counts)) != 1:
            raise ValueError("the closed form with a last-layer bias is known for balanced data only")

    @property
    def K(self) -> int:
        return len(self.counts)

    @property
    def N(self) -> int:
        return int(sum(self.counts))

    @property
    def layer_lambdas(self) -> tuple[float, ...]:
        lam = self.lambda_W
        return tuple(lam) if isinstance(lam, tuple) else (float(lam),) * self.depth

    @property
    def lambda_W_eff(self) -> float:
        """(prod_j lambda_Wj)^{1/M}: the decay that multiplies M s^2 / 2 in f_k."""
        return float(np.exp(np.mean(np.log(self.layer_lambdas))))

    @property
    def c(self) -> float:
        return self.N * self.lambda_H


def scalar_objective(s: float | np.ndarray, n_k: int, N: int, M: int, lambda_W: float, lambda_H: float):
    """f_k(s) = n_k lambda_H / (2 (s^{2M} + N lambda_H)) + M lambda_W s^2 / 2."""
    s = np.asarray(s, dtype=np.float64)
    return n_k * lambda_H / (2.0 * (s ** (2 * M) + N * lambda_H)) + M * lambda_W * s ** 2 / 2.0


def _stationarity(s: float, n_k: int, N: int, M: int, lambda_W: float, lambda_H: float) -> float:
    """lambda_W (s^{2M} + N lambda_H)^2 - n_k lambda_H s^{2M-2}; zero at every interior stationary point."""
    return lambda_W * (s ** (2 * M) + N * lambda_H) ** 2 - n_k * lambda_H * s ** (2 * M - 2)


def _s_max(n_k: int, M: int, lambda_W: float, lambda_H: float) -> float:
    """An upper bound on the argmin: beyond it the decay term alone exceeds f_k(0)."""
    return 4.0 * (n_k * lambda_H / (M * lambda_W)) ** 0.25 + 2.0


def stationary_roots(n_k: int, N: int, M: int, lambda_W: float, lambda_H: float, grid: int = 20001) -> list[float]:
    """All positive roots of the stationarity equation, bracketed on a dense grid and refined with brentq."""
    s = np.linspace(0.0, _s_max(n_k, M, lambda_W, lambda_H), grid)[1:]
    values = _stationarity(s, n_k, N, M, lambda_W, lambda_H)
    roots = []
    for i in np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0):
        roots.append(brentq(_stationarity, s[i], s[i + 1], args=(n_k, N, M, lambda_W, lambda_H), xtol=1e-15))
    roots += [float(x) for x in s[values == 0.0]]
    return sorted(roots)


def optimal_singular_value(n_k: int, N: int, M: int, lambda_W: float, lambda_H: float,
                           grid: int = 20001) -> float:
    """s_k* = argmin_{s >= 0} f_k(s), s = 0 included (the global argmin, not the largest root)."""
    if M == 1:
        s_sq = math.sqrt(n_k * lambda_H / lambda_W) - N * lambda_H
        return math.sqrt(s_sq) if s_sq > 0 else 0.0
    s = np.linspace(0.0, _s_max(n_k, M, lambda_W, lambda_H), grid)
    f = scalar_objective(s, n_k, N, M, lambda_W, lambda_H)
    best = int(np.argmin(f))
    lo, hi = s[max(best - 1, 0)], s[min(best + 1, grid - 1)]
    res = minimize_scalar(lambda x: float(scalar_objective(x, n_k, N, M, lambda_W, lambda_H)),
                          bounds=(lo, hi), method="bounded", options={"xatol": 1e-14})
    f_zero = float(scalar_objective(0.0, n_k, N, M, lambda_W, lambda_H))
    return float(res.x) if res.fun < f_zero else 0.0


def official_root_choice(n_k: int, N: int, M: int, lambda_W: float, lambda_H: float) -> float:
    """The official code's pick: the largest positive stationary root, never compared with s = 0.

    Kept only to document its failure; where no root exists the official code crashes on
    max([]): here NaN with a warning.
    """
    roots = stationary_roots(n_k, N, M, lambda_W, lambda_H)
    if not roots:
        warnings.warn(f"no positive stationary root for n_k={n_k}: the official code crashes here", stacklevel=2)
        return float("nan")
    return roots[-1]


def optimal_singular_values(problem: UFMProblem) -> np.ndarray:
    """s_k* for every class."""
    return np.array([optimal_singular_value(n, problem.N, problem.depth, problem.lambda_W_eff, problem.lambda_H)
                     for n in problem.counts])


def optimal_loss(problem: UFMProblem) -> float:
    """L* = sum_k f_k(s_k*); with a bias (balanced data) (K-1)/K of that."""
    s = optimal_singular_values(problem)
    total = float(sum(scalar_objective(sk, n, problem.N, problem.depth, problem.lambda_W_eff, problem.lambda_H)
                      for sk, n in zip(s, problem.counts)))
    return total * (problem.K - 1) / problem.K if problem.bias else total


def predicted_singular_values(problem: UFMProblem) -> np.ndarray:
    """The K singular values of the product W_M ... W_1 at the optimum; with a bias (balanced data) one of the K
    directions carries no signal, so the K-th value is 0 (simplex ETF)."""
    s = optimal_singular_values(problem)
    return np.concatenate([s[:-1], [0.0]]) if problem.bias else s


def layer_singular_values(problem: UFMProblem) -> np.ndarray:
    """Predicted top-K singular values of each W_j, shape (M, K): s_k sqrt(lambda_W_eff / lambda_Wj)."""
    s = predicted_singular_values(problem)
    scale = np.sqrt(problem.lambda_W_eff / np.asarray(problem.layer_lambdas))
    return scale[:, None] * np.sort(s)[::-1][None, :]


def minority_collapse_threshold(problem: UFMProblem) -> float:
    """For M = 1, class k collapses (s_k* = 0) exactly when n_k <= N^2 lambda_W lambda_H."""
    return problem.N ** 2 * problem.lambda_W_eff * problem.lambda_H


CollapsedRow = Literal["zero", "c"]


@dataclasses.dataclass(frozen=True)
class GOFTarget:
    """Per-class quantities that define the general-orthogonal-frame targets (imbalanced MSE optimum)."""

    s: np.ndarray   # s_k*, shape (K,)
    depth: int      # M
    c: float        # N lambda_H
    collapsed_row: CollapsedRow = "zero"   # the NC3_W target row of a collapsed class (s_k* = 0) at j = 0: 0 (its
                                           # hbar_k is about 0), or "c": c hbar_k^T, the official code's
                                           # diag(s^{2M} + c) Hbar^T (`validate_NC_unbalanced.py`)

    def __post_init__(self) -> None:
        check_choice("collapsed_row", self.collapsed_row, CollapsedRow)

    @classmethod
    def from_problem(cls, problem: UFMProblem, collapsed_row: CollapsedRow = "zero") -> "GOFTarget":
        return cls(optimal_singular_values(problem), problem.depth, problem.c, collapsed_row)

    def diagonals(self, layers_below: int = 0) -> dict[str, np.ndarray]:
        """Targets for the partial product W_M..W_{j+1} paired with features W_j..W_1 H (j = layers_below).

        WW^T ~ diag(s^{2(M-j)}), Hbar^T Hbar ~ diag(s^{2(M+j)} / (s^{2M}+c)^2), W Hbar ~ diag(s^{2M}/(s^{2M}+c)),
        row k of W = (s_k^{2M} + c) / s_k^{2j} hbar_k^T (for j = 0 the derivation's (s^{2M}+c) hbar_k^T); a collapsed
        class's row scale is 0, or c at j = 0 with `collapsed_row="c"` (the official code evaluates only j = 0).
        """
        M, j, s, c = self.depth, layers_below, self.s, self.c
        s2m = s ** (2 * M)
        if self.collapsed_row == "c" and j == 0:
            row_scale = s2m + c
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                row_scale = np.where(s > 0, (s2m + c) / np.where(s > 0, s, 1.0) ** (2 * j), 0.0)
        return {"WWt": s ** (2 * (M - j)), "HtH": s ** (2 * (M + j)) / (s2m + c) ** 2, "WH": s2m / (s2m + c),
                "row_scale": row_scale}


def ce_etf_objective(z: float, K: int, N: int, M: int, lambda_W: float, lambda_H: float) -> float:
    """g(z) = log(1 + (K-1) e^{-z}) + ((K-1)(M+1)/2) lambda_W^{M/(M+1)} (N lambda_H z^2 / K)^{1/(M+1)}."""
    fit = math.log1p((K - 1) * math.exp(-z))
    decay = (K - 1) * (M + 1) / 2.0 * lambda_W ** (M / (M + 1)) * (N * lambda_H * z * z / K) ** (1.0 / (M + 1))
    return fit + decay


@dataclasses.dataclass(frozen=True)
class CEETFSolution:
    margin: float          # z*
    loss: float            # g(z*)
    singular_value: float  # s with s^{2M+2} = (N lambda_H / K) z^2 / lambda_W


def balanced_ce_etf(K: int, n: int, M: int, lambda_W: float, lambda_H: float) -> CEETFSolution:
    """The best simplex-ETF point of the balanced CE deep UFM with bias (not always the global minimum)."""
    N = K * n
    zs = np.linspace(1e-6, 60.0, 60001)
    g = np.array([ce_etf_objective(z, K, N, M, lambda_W, lambda_H) for z in zs])
    best = int(np.argmin(g))
    res = minimize_scalar(ce_etf_objective, bounds=(zs[max(best - 1, 0)], zs[min(best + 1, len(zs) - 1)]),
                          args=(K, N, M, lambda_W, lambda_H), method="bounded", options={"xatol": 1e-14})
    z = float(res.x)
    s = ((N * lambda_H / K) * z * z / lambda_W) ** (1.0 / (2 * M + 2))
    return CEETFSolution(margin=z, loss=float(res.fun), singular_value=s)


def theory_lambdas(convention: str, K: int, lambda_W: float, lambda_H: float) -> tuple[float, float, float]:
    """Map decays of a loss convention to the theory convention: returns (scale, lambda_W', lambda_H').

    A fit term a/(N K) ||.||^2 plus the decays R(lambda) equals (2a/K) [1/(2N) ||.||^2 + R(K lambda / (2a))]: so
    "official" (nn.MSELoss, a = 1) has scale 2/K and lambda' = K lambda / 2, "official_half" (nn.MSELoss / 2,
    a = 1/2) scale 1/K and lambda' = K lambda.
    """
    factors = {"theory": None, "official": 1.0, "official_half": 0.5}
    if convention not in factors:
        raise ValueError(f"loss_convention must be one of {list(factors)}, got {convention!r}")
    a = factors[convention]
    if a is None:
        return 1.0, lambda_W, lambda_H
    return 2.0 * a / K, K * lambda_W / (2.0 * a), K * lambda_H / (2.0 * a)
