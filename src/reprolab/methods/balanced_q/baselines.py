"""The learners Balanced Q-learning is compared with (all from `reprolab.rl`, shared with other methods):

- tabular: Q-learning (optimistic: max target), Double Q-learning (van Hasselt, 2010), Maxmin Q-learning with N
  estimators (Lan et al., 2020) and a pessimistic Q-learning (min target);
- deep: DQN, Double DQN, Maxmin DQN and Averaged DQN (Anschel et al., 2017), as target rules of the same DQN core;
  Double DQN is van Hasselt's one-network form by default, `double="official"` the official code's two-network form
  (`OfficialDoubleRule`).
"""

from __future__ import annotations

from typing import Any

from reprolab.rl.dqn import AveragedRule, DoubleRule, MaxminRule, TargetRule
from reprolab.rl.tabular import DoubleQ, MaxminQ, PessimisticQ, QLearning

TABULAR = ("q_learning", "double_q", "maxmin_<N>", "pessimistic")
DEEP = ("dqn", "double_dqn", "maxmin_dqn", "averaged_dqn")


def tabular_baseline(name: str, n_runs: int, env, **kw: Any):
    """A tabular baseline by name (`maxmin_<N>`: Maxmin with N estimators), vectorised over `n_runs` runs."""
    if name == "q_learning":
        return QLearning(n_runs, env, **kw)
    if name == "double_q":
        return DoubleQ(n_runs, env, **kw)
    if name.startswith("maxmin_") and name.split("_")[1].isdigit():
        return MaxminQ(n_runs, env, n_estimators=int(name.split("_")[1]), **kw)
    if name == "pessimistic":
        return PessimisticQ(n_runs, env, **kw)
    raise ValueError(f"unknown tabular baseline {name!r}; known: {', '.join(TABULAR)}")


class OfficialDoubleRule(TargetRule):
    """Double DQN as the official code has it: online networks A (k = 0) and B (k = 1), each with its own optimizer
    and target network. An update trains A when a uniform draw exceeds 0.5, else B; training k,
    a* = argmax_a' Q_target_k(s', a') and y = r + gamma (1 - done) Q_target_{1-k}(s', a*). The agent acts on
    Q_A + Q_B. B's target network starts as a copy of A (B itself is initialised independently); both targets are
    synced every `target_sync` updates of either network."""

    name = "double_official"
    n_online = 2

    def attach(self, agent):
        agent.target[1].load_state_dict(agent.online[0].state_dict())

    def acting_values(self, agent, obs):
        return agent.online[0](obs) + agent.online[1](obs)

    def choose_online(self, agent, rng):
        return 0 if rng.random() > 0.5 else 1

    def next_value(self, agent, batch, k):
        best = agent.target[k](batch["next_obs"]).argmax(dim=-1, keepdim=True)
        return agent.target[1 - k](batch["next_obs"]).gather(-1, best).squeeze(-1)


def deep_baseline_rule(name: str, n_ensemble: int = 8, double: str = "van_hasselt") -> TargetRule:
    """A deep baseline's target rule by name; Maxmin and Averaged use `n_ensemble` networks; Double DQN is
    van Hasselt's (`double="van_hasselt"`) or the official code's two-network form (`"official"`)."""
    if double not in ("van_hasselt", "official"):
        raise ValueError(f"double must be 'van_hasselt' or 'official', got {double!r}")
    rules = {"dqn": TargetRule, "double_dqn": DoubleRule if double == "van_hasselt" else OfficialDoubleRule,
             "maxmin_dqn": lambda: MaxminRule(n_ensemble), "averaged_dqn": lambda: AveragedRule(n_ensemble)}
    if name not in rules:
        raise ValueError(f"unknown deep baseline {name!r}; known: {', '.join(DEEP)}")
    return rules[name]()
