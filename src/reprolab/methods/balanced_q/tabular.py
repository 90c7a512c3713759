"""Tabular Balanced Q-learning, vectorised over runs on the shared `reprolab.rl.tabular` toolkit.

Per step: act epsilon-greedily on Q; M, m from Q(s', .) (0 if terminal); M_o, m_o, Q_o(s, a) from the table as it
was before the most recent update; beta from the official rule (`rule.official_beta`); Q_o <- Q; then
Q(s, a) += alpha (y - Q(s, a)) with y = r + gamma (beta M + (1 - beta) m). The official tabular code also sets
Q_o <- Q at the start of every episode, so the first step of an episode compares Q with itself
(`reset_old_each_episode=True`; off by default: the old table then carries over from the previous episode).

beta-bar (the prior balance):
- "fixed": constant `beta_bar_value` (official simple MDP: 1.0);
- "episode_reset": the official gridworld's running mean weighted by the global step count and reset to 1 at
  every episode start (effectively 1);
- "running_mean": betabar <- (w betabar + beta) / (w + 1), w += 1, starting from weight `prior_weight` (the
  official MinAtar form has w = frame index >= 5000; a naive prior weight of 1 collapses betabar).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from reprolab.methods.balanced_q.rule import ETA, balanced_target, official_beta
from reprolab.rl.tabular import TabularAgent, masked_max, masked_min
from reprolab.runtime.config import check_choice

BetaBarMode = Literal["fixed", "episode_reset", "running_mean"]


class BalancedQ(TabularAgent):
    def __init__(self, n_runs, env, *, eta: float = ETA, beta_bar: BetaBarMode = "fixed",
                 beta_bar_value: float = 1.0, prior_weight: float = 1.0, fixed_beta: float | None = None,
                 official_gamma_min_only: bool = False, reset_old_each_episode: bool = False, **kwargs):
        super().__init__(n_runs, env, **kwargs)
        check_choice("beta_bar", beta_bar, BetaBarMode)
        if fixed_beta is not None and not 0.0 <= fixed_beta <= 1.0:
            raise ValueError(f"fixed_beta must lie in [0, 1], got {fixed_beta}")
        self.eta, self.mode, self.fixed_beta = eta, beta_bar, fixed_beta
        self.official_gamma_min_only, self.reset_old_each_episode = official_gamma_min_only, reset_old_each_episode
        self.beta_bar = np.full(n_runs, float(beta_bar_value))
        self.weight = np.full(n_runs, float(prior_weight))
        self.step_count = np.zeros(n_runs)
        self.Q_old = self.Q[0].copy()
        self.beta_trace: list[float] = []  # mean beta over the non-terminal transitions of each step

    def update(self, s, a, r, s2, done, rng, active):
        Q, Q_old, runs = self.Q[0], self.Q_old, self.runs
        valid = self._next_valid(s2)
        M = np.where(done, 0.0, masked_max(Q[runs, s2], valid))
        m = np.where(done, 0.0, masked_min(Q[runs, s2], valid))
        if self.fixed_beta is not None:
            beta = np.full(len(s), self.fixed_beta)
        else:
            M_old = np.where(done, 0.0, masked_max(Q_old[runs, s2], valid))
            m_old = np.where(done, 0.0, masked_min(Q_old[runs, s2], valid))
            beta = official_beta(r, Q[runs, s, a], M, m, Q_old[runs, s, a], M_old, m_old, gamma=self.gamma,
                                 eta=self.eta, beta_bar=self.beta_bar)
        target = balanced_target(r, M, m, beta, gamma=self.gamma, official_gamma_min_only=self.official_gamma_min_only)
        Q_old[active] = Q[active]  # the snapshot is taken before the current update
        self._step_towards(np.zeros(len(s), np.int64), s, a, target, active)
        informative = active & ~done
        if informative.any():
            self.beta_trace.append(float(beta[informative].mean()))
        self._update_beta_bar(beta, active, done)

    def end_episodes(self, ended: np.ndarray) -> None:
        if self.reset_old_each_episode:
            self.Q_old[ended] = self.Q[0][ended]        # the official code: Q_old <- Q when an episode starts

    def _update_beta_bar(self, beta, active, done) -> None:
        if self.mode == "fixed":
            return
        if self.mode == "running_mean":
            self.beta_bar = np.where(active, (self.weight * self.beta_bar + beta) / (self.weight + 1), self.beta_bar)
            self.weight = self.weight + active
            return
        # episode_reset: weighted by the global step count t, reset to 1 when an episode ends
        t = self.step_count
        self.beta_bar = np.where(active, (t * self.beta_bar + beta) / (t + 1), self.beta_bar)
        self.step_count = t + active
        self.beta_bar = np.where(active & done, 1.0, self.beta_bar)
