"""MBEC++ (Le et al., NeurIPS 2021): a model-based trajectory episodic memory mixed into DQN by a learned,
state-dependent weight beta(h_t).

Public API: `MBECAgent` (a `reprolab.rl.dqn.DQNAgent`: train it with `train_dqn` on any gymnasium environment
with discrete actions and vector or image observations), `MBECConfig`, `official_dqn_config`, `MBECNetwork`,
`habitual_network` (the DQN baseline's network), `GridMaze`. The memory itself is `reprolab.rl.EpisodicMemory`.
"""

from reprolab.registry import MethodEntry, lazy_api

ENTRY = MethodEntry("mbec",
                    "Le et al., Model-based episodic memory induces dynamic hybrid controls, NeurIPS 2021",
                    "reprolab.methods.mbec.experiment")

_API = {
    "HybridRule": "reprolab.methods.mbec.agent:HybridRule",
    "MBECAgent": "reprolab.methods.mbec.agent:MBECAgent",
    "MBECConfig": "reprolab.methods.mbec.agent:MBECConfig",
    "official_dqn_config": "reprolab.methods.mbec.agent:official_dqn_config",
    "GridMaze": "reprolab.methods.mbec.maze:GridMaze",
    "MBECNetwork": "reprolab.methods.mbec.model:MBECNetwork",
    "habitual_network": "reprolab.methods.mbec.model:habitual_network",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
