"""The learners Balanced Q-learning is compared with (all from `reprolab.rl`, shared with other methods):

- tabular: Q-learning (optimistic: max target), Double Q-learning (van Hasselt, 2010), Maxmin Q-learning with N
  estimators (Lan et al., 2020) and a pessimistic Q-learning (min target);
- deep: DQN, Double DQN, Maxmin DQN and Averaged DQN (Anschel et al., 2017), as target rules of the same DQN core;
  Double DQN is van Hasselt's one-network form by default, `double="official"` the official code's two-network form
  (`OfficialDoubleRule`); Maxmin DQN is Explorer's by default, `maxmin="official"` the official code's independent
  targets synced one at a time (`OfficialMaxminRule`); Averaged DQN averages the target snapshots taken so far by
  default, `averaged="official"` starts from K independently initialised networks (`OfficialAveragedRule`). The
  official forms run one process per seed (`seed_batchable` is False).
"""

from __future__ import annotations

import collections
import copy
from typing import Any, Literal

from torch import nn

from reprolab.nets.init import redraw_parameters
from reprolab.rl.dqn import AveragedRule, DoubleRule, MaxminRule, TargetRule
from reprolab.rl.tabular import DoubleQ, MaxminQ, PessimisticQ, QLearning
from reprolab.runtime.config import check_choice

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


def redraw_on_cpu(net: nn.Module) -> None:
    """Re-draw `net`'s parameters from torch's CPU generator (`redraw_parameters` on a CPU copy), wherever `net`
    lives, as the official code builds every network on the CPU."""
    cpu = copy.deepcopy(net).cpu()
    redraw_parameters(cpu)
    net.load_state_dict(cpu.state_dict())


class OfficialMaxminRule(MaxminRule):
    """Maxmin DQN as the official code has it: the same target r + gamma max_a' min_i Q_target_i(s', a'), acting
    on min_i Q_i and one uniformly drawn online network per update, but every target network is initialised
    independently (drawn after all N online networks, in order, from torch's global CPU generator) and a sync copies
    only the network of the update that triggered it: every `target_sync` updates, Q_target_k <- Q_k for that
    update's k (no target is synced before the first update)."""

    name = "maxmin_official"

    def __init__(self, n: int = 8):
        super().__init__(n)
        self.updated: int | None = None

    def attach(self, agent):
        for net in agent.target:
            redraw_on_cpu(net)

    def choose_online(self, agent, rng):
        self.updated = super().choose_online(agent, rng)
        return self.updated

    def synced_targets(self, agent):
        return [] if self.updated is None else [self.updated]

    def seed_batchable(self):
        return False

    def state_dict(self):
        return {**super().state_dict(), "updated": self.updated}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.updated = state["updated"]


class OfficialAveragedRule(AveragedRule):
    """Averaged DQN as the official code has it: y = r + gamma max_a' mean_{j<K} Q_j(s', a') over K networks that
    start independently initialised (drawn after the online network, in order, from torch's global CPU generator);
    every target sync replaces them round-robin with the online network, the oldest first (slot i mod K at the
    i-th sync), so the K random networks leave the average only after K syncs."""

    name = "averaged_official"

    def attach(self, agent):
        nets = [copy.deepcopy(agent.target[0]) for _ in range(self.k)]
        for net in nets:
            redraw_on_cpu(net)
        self.snapshots = collections.deque(nets, maxlen=self.k)

    def seed_batchable(self):
        return False


DoubleVariant = Literal["van_hasselt", "official"]
MaxminVariant = Literal["explorer", "official"]
AveragedVariant = Literal["snapshots", "official"]


def deep_baseline_rule(name: str, n_ensemble: int = 8, double: DoubleVariant = "van_hasselt",
                       maxmin: MaxminVariant = "explorer", averaged: AveragedVariant = "snapshots") -> TargetRule:
    """A deep baseline's target rule by name; Maxmin and Averaged use `n_ensemble` networks. Double DQN is
    van Hasselt's (`double="van_hasselt"`) or the official code's two-network form (`"official"`); Maxmin DQN
    Explorer's (`maxmin="explorer"`) or the official code's (`"official"`); Averaged DQN the average of the target
    snapshots so far (`averaged="snapshots"`) or the official code's (`"official"`)."""
    for key, value, options in (("double", double, DoubleVariant), ("maxmin", maxmin, MaxminVariant),
                                ("averaged", averaged, AveragedVariant)):
        check_choice(key, value, options)
    rules = {"dqn": TargetRule, "double_dqn": DoubleRule if double == "van_hasselt" else OfficialDoubleRule,
             "maxmin_dqn": lambda: (MaxminRule if maxmin == "explorer" else OfficialMaxminRule)(n_ensemble),
             "averaged_dqn": lambda: (AveragedRule if averaged == "snapshots" else OfficialAveragedRule)(n_ensemble)}
    if name not in rules:
        raise ValueError(f"unknown deep baseline {name!r}; known: {', '.join(DEEP)}")
    return rules[name]()
