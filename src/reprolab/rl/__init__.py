"""Shared reinforcement-learning parts: seed-vectorised tabular environments and agents, gymnasium factory and
wrappers (`envs`), replay buffer, schedules, a DQN core with pluggable target rules (`dqn`), a k-NN episodic
memory (`memory`) and seeds as a batch dimension (`seeds`)."""

from reprolab.rl.memory import EpisodicMemory
from reprolab.rl.tabular import (DoubleQ, EpisodeLog, MaximizationBiasMDP, MaxminQ, PessimisticQ, QLearning,
                                 TabularAgent, TransitionTableEnv, epsilon_greedy, run_episodes)

__all__ = ["EpisodicMemory", "DoubleQ", "EpisodeLog", "MaximizationBiasMDP", "MaxminQ", "PessimisticQ", "QLearning",
           "TabularAgent", "TransitionTableEnv", "epsilon_greedy", "run_episodes"]
