"""Tabular Balanced Q-learning vectorised over runs (`BalancedQ(n_runs, ...)`, one NumPy step for every run)
against the official code's layout: one Python loop per run (here: the same agent class with one run, trained run
after run). Sutton & Barto's maximization-bias MDP, mu = -0.1, 300 episodes, 500 runs, alpha 0.1, epsilon 0.1.
Equality: the two draw different random streams per run, so they agree in distribution, not bit for bit; the
fraction of episodes that go left must agree within 3 standard errors. Speed: loop time / vectorised time."""

import time

import numpy as np

from reprolab.methods.balanced_q.tabular import BalancedQ
from reprolab.rl.tabular import MaximizationBiasMDP, run_episodes

RUNS, EPISODES = 500, 300


def left_fraction(first_actions: np.ndarray) -> np.ndarray:
    return (first_actions == MaximizationBiasMDP.LEFT).mean(axis=1)


def main() -> None:
    env = MaximizationBiasMDP(mu=-0.1)
    kw = dict(alpha=0.1, gamma=1.0, epsilon=0.1)
    start = time.perf_counter()
    log = run_episodes(BalancedQ(RUNS, env, **kw), env, EPISODES, np.random.default_rng(0))
    vectorised_s = time.perf_counter() - start
    vectorised = left_fraction(log.first_actions)
    start = time.perf_counter()
    looped = np.concatenate([left_fraction(run_episodes(BalancedQ(1, env, **kw), env, EPISODES,
                                                        np.random.default_rng([1, r])).first_actions)
                             for r in range(RUNS)])
    loop_s = time.perf_counter() - start
    se = np.hypot(vectorised.std(ddof=1), looped.std(ddof=1)) / np.sqrt(RUNS)
    gap = abs(vectorised.mean() - looped.mean())
    print(f"{RUNS} runs x {EPISODES} episodes: vectorised {vectorised_s:.2f} s, one loop per run {loop_s:.2f} s, "
          f"speed-up {loop_s / vectorised_s:.0f}x; left fraction {vectorised.mean():.4f} vs {looped.mean():.4f} "
          f"(|gap| {gap:.4f}, {gap / se:.1f} standard errors: {'equal' if gap <= 3 * se else 'DIFFERENT'})")
