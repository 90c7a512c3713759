"""Closed-form solver of the deep linear UFM: speed and accuracy against a 2-million-point brute-force grid.

Quality: f_k(s*) - min over the grid (must be <= 0: the solver is never worse than brute force).
Speed: brute-force time / solver time.
"""

import time

import numpy as np

from reprolab.methods.neural_collapse import theory as T


def main() -> None:
    rng = np.random.default_rng(0)
    solver_s = brute_s = 0.0
    worst = -np.inf
    for _ in range(20):
        M, n_k, N = int(rng.integers(1, 10)), int(rng.integers(5, 1000)), 4000
        lam_W, lam_H = 10 ** rng.uniform(-5, -2), 10 ** rng.uniform(-5, -2)
        start = time.perf_counter()
        s_star = T.optimal_singular_value(n_k, N, M, lam_W, lam_H)
        solver_s += time.perf_counter() - start
        start = time.perf_counter()
        grid = np.linspace(0.0, T._s_max(n_k, M, lam_W, lam_H), 2_000_001)
        f_grid = T.scalar_objective(grid, n_k, N, M, lam_W, lam_H).min()
        brute_s += time.perf_counter() - start
        worst = max(worst, float(T.scalar_objective(s_star, n_k, N, M, lam_W, lam_H)) - f_grid)
    print(f"20 random problems: solver {solver_s * 1e3:.1f} ms, brute force {brute_s * 1e3:.1f} ms, "
          f"speed-up {brute_s / solver_s:.1f}x; worst f(s*) - f_grid = {worst:.2e} (<= 0 means never worse)")
