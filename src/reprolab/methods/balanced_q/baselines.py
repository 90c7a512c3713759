"""The learners Balanced Q-learning is compared with (all from `reprolab.rl`, shared with other methods):

- tabular: Q-learning (optimistic: max target), Double Q-learning (van Hasselt, 2010), Maxmin Q-learning with N
  estimators (Lan et al., 2020) and a pessimistic Q-learning (min target);
- deep: DQN, Double DQN, Maxmin DQN and Averaged DQN (Anschel et al., 2017), as target rules of the same DQN core.
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


def deep_baseline_rule(name: str, n_ensemble: int = 8) -> TargetRule:
    """A deep baseline's target rule by name; Maxmin and Averaged use `n_ensemble` networks."""
    rules = {"dqn": TargetRule, "double_dqn": DoubleRule, "maxmin_dqn": lambda: MaxminRule(n_ensemble),
             "averaged_dqn": lambda: AveragedRule(n_ensemble)}
    if name not in rules:
        raise ValueError(f"unknown deep baseline {name!r}; known: {', '.join(DEEP)}")
    return rules[name]()
