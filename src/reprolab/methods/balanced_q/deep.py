"""Balanced DQN: the Balanced target as a `reprolab.rl.dqn` target rule.

Per batch: Q_theta(s, a) from the online network; M, m = max / min over a' of the target network at s' (0 if
terminal); Q_o(s, a), M_o, m_o from the previous-step networks; beta per sample from `rule.official_beta`
(guarded where M = m); y = r + gamma (beta M + (1 - beta) m); Huber loss as in DQN.

Previous-step networks (`prev_nets`):
- "consistent" (default; not confirmed from the paper): Q_o from the online network as it was before the last
  gradient step, M_o, m_o from the target network as it was before the last update;
- "official": the official code, where "old target" and "old policy" are BOTH copies of the online network
  from the previous step.
beta-bar (`beta_bar`): "fixed" (1.0) or "official_minatar", the running mean of the batch-mean beta weighted by
the frame index t and started at 1: betabar <- (t betabar + mean beta) / (t + 1), kept in float64
(`beta_bar_dtype="float32"`: in float32, as the official code's, whose steps round away from t ~ 1e6 on).

Terminal transitions (`terminal_beta`): "masked" (default) computes beta from M, m, M_o, m_o set to 0 for a
terminal s', so the guard gives beta = 1; "unmasked" (the official code) computes it from the networks' values at
s'. The target is r either way (beta multiplies the masked M, m); beta's batch mean, which feeds betabar, differs.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch

from reprolab.methods.balanced_q.baselines import (DEEP, AveragedVariant, DoubleVariant, MaxminVariant,
                                                   deep_baseline_rule)
from reprolab.methods.balanced_q.rule import ETA, balanced_target, official_beta
from reprolab.rl.dqn import DQNAgent, TargetRule
from reprolab.runtime.config import check_choice


def max_min(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """max_a' and min_a' of Q(s', a') over the last axis."""
    return values.max(dim=-1).values, values.min(dim=-1).values


BetaBar = Literal["fixed", "official_minatar"]
PrevNets = Literal["consistent", "official"]
BetaBarDtype = Literal["float64", "float32"]
TerminalBeta = Literal["masked", "unmasked"]


class BalancedRule(TargetRule):
    name = "balanced"

    def __init__(self, eta: float = ETA, beta_bar: BetaBar = "official_minatar", prev_nets: PrevNets = "consistent",
                 beta_bar_dtype: BetaBarDtype = "float64", terminal_beta: TerminalBeta = "masked"):
        for name, value, options in (("beta_bar", beta_bar, BetaBar), ("prev_nets", prev_nets, PrevNets),
                                     ("beta_bar_dtype", beta_bar_dtype, BetaBarDtype),
                                     ("terminal_beta", terminal_beta, TerminalBeta)):
            check_choice(name, value, options)
        self.eta, self.beta_bar_mode, self.prev_nets = eta, beta_bar, prev_nets
        self.terminal_beta = terminal_beta
        # float64 by default; "float32" as the official code's (the int 1, a float32 tensor after the first update:
        # 1 in float32 acts the same); one value per seed under seed batching (shape (N, 1))
        self.beta_bar_dtype = getattr(torch, beta_bar_dtype)
        self.beta_bar = torch.ones((), dtype=self.beta_bar_dtype)

    def state_dict(self) -> dict:
        return {"prev_policy": self.prev_policy.state_dict(), "prev_target": self.prev_target.state_dict(),
                "beta_bar": self.beta_bar}

    def load_state_dict(self, state: dict) -> None:
        self.prev_policy.load_state_dict(state["prev_policy"])
        self.prev_target.load_state_dict(state["prev_target"])
        self.beta_bar = torch.as_tensor(state["beta_bar"], dtype=self.beta_bar_dtype)

    def attach(self, agent: DQNAgent) -> None:
        self.prev_policy = copy.deepcopy(agent.online[0])
        self.prev_target = copy.deepcopy(agent.target[0] if self.prev_nets == "consistent" else agent.online[0])

    @torch.no_grad()
    def targets(self, agent: DQNAgent, batch: dict, k: int):
        """Every tensor may carry a leading seed axis (`reprolab.rl.seeds`): reductions run over the last axis."""
        obs, next_obs, action = batch["obs"], batch["next_obs"], batch["action"].unsqueeze(-1)
        notdone = 1.0 - batch["done"]
        q = agent.online[0](obs).gather(-1, action).squeeze(-1)
        q_old = self.prev_policy(obs).gather(-1, action).squeeze(-1)
        unmasked = (*max_min(agent.target[0](next_obs)), *max_min(self.prev_target(next_obs)))   # M, m, M_o, m_o
        masked = tuple(value * notdone for value in unmasked)                                   # 0 if s' terminal
        M, m, M_old, m_old = masked if self.terminal_beta == "masked" else unmasked
        beta = official_beta(batch["reward"], q, M, m, q_old, M_old, m_old, gamma=agent.cfg.gamma, eta=self.eta,
                             beta_bar=self.beta_bar)
        y = balanced_target(batch["reward"], masked[0], masked[1], beta, gamma=agent.cfg.gamma)
        # snapshots for the next update: the networks as they are before this update's gradient step
        self.prev_policy.load_state_dict(agent.online[0].state_dict())
        source = agent.target[0] if self.prev_nets == "consistent" else agent.online[0]
        self.prev_target.load_state_dict(source.state_dict())
        mean_beta = beta.mean(dim=-1, keepdim=True).to(self.beta_bar_dtype)
        if self.beta_bar_mode == "official_minatar":
            t = agent.frame
            self.beta_bar = (t * self.beta_bar + mean_beta) / (t + 1)
        return y, {"beta": mean_beta.squeeze(-1), "beta_min": beta.min(dim=-1).values,
                   "beta_max": beta.max(dim=-1).values, "beta_bar": self.beta_bar.expand_as(mean_beta).squeeze(-1)}


def make_rule(name: str, *, eta: float = ETA, beta_bar: BetaBar = "official_minatar",
              prev_nets: PrevNets = "consistent", beta_bar_dtype: BetaBarDtype = "float64",
              terminal_beta: TerminalBeta = "masked", n_ensemble: int = 8, double: DoubleVariant = "van_hasselt",
              maxmin: MaxminVariant = "explorer", averaged: AveragedVariant = "snapshots") -> TargetRule:
    """The learners of the deep experiment by name: Balanced DQN, or a baseline (`baselines.deep_baseline_rule`)."""
    if name == "balanced_dqn":
        return BalancedRule(eta, beta_bar, prev_nets, beta_bar_dtype, terminal_beta)
    if name not in DEEP:
        raise ValueError(f"unknown learner {name!r}; choose from {sorted(DEEP + ('balanced_dqn',))}")
    return deep_baseline_rule(name, n_ensemble, double, maxmin, averaged)


__all__ = ["BalancedRule", "make_rule"]
