"""MBEC++'s baseline: DQN (Mnih et al., 2015) on the same habitual network, replay, schedule and target rule, so
that MBEC++ with the memory off (read_rate = rec_rate = 0) equals it bit for bit (a checked claim)."""

from __future__ import annotations

from reprolab.methods.mbec.model import Init, habitual_network
from reprolab.rl.dqn import DQNAgent, DQNConfig, TargetRule


def dqn_baseline(obs_shape: tuple[int, ...], n_actions: int, dqn_cfg: DQNConfig, device: str = "cpu",
                 init: Init = "official") -> DQNAgent:
    """DQN whose network is MBEC++'s habitual network alone (seed torch first, as for MBEC++)."""
    return DQNAgent(lambda: habitual_network(obs_shape, n_actions, init), n_actions, dqn_cfg, TargetRule(), device)
