"""MBEC++ (Le et al., NeurIPS 2021): a model-based trajectory episodic memory mixed into DQN by a learned,
state-dependent weight beta(h_t).

Public API: `MBECAgent` (a `reprolab.rl.dqn.DQNAgent`: train it with `train_dqn` on any gymnasium environment
with discrete actions and vector or image observations), `MBECConfig`, `official_dqn_config`, `MBECNetwork`,
`habitual_network` (the DQN baseline's network), `GridMaze`. The memory itself is `reprolab.rl.EpisodicMemory`.
"""

from reprolab.methods.mbec.agent import HybridRule, MBECAgent, MBECConfig, official_dqn_config
from reprolab.methods.mbec.maze import GridMaze
from reprolab.methods.mbec.model import MBECNetwork, habitual_network

__all__ = ["HybridRule", "MBECAgent", "MBECConfig", "official_dqn_config", "GridMaze", "MBECNetwork",
           "habitual_network"]
