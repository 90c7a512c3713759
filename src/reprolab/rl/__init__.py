"""Shared reinforcement-learning parts: seed-vectorised tabular environments and agents."""

from reprolab.rl.tabular import (DoubleQ, EpisodeLog, MaximizationBiasMDP, MaxminQ, PessimisticQ, QLearning,
                                 TabularAgent, TransitionTableEnv, epsilon_greedy, run_episodes)

__all__ = ["DoubleQ", "EpisodeLog", "MaximizationBiasMDP", "MaxminQ", "PessimisticQ", "QLearning", "TabularAgent",
           "TransitionTableEnv", "epsilon_greedy", "run_episodes"]
