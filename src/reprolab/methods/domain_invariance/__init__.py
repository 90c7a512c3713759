"""General vs compressed domain-invariant representations with multiple sources (Phung et al., NeurIPS 2021).

Public API:
- penalties on any featurizer's output: `general_penalty`, `compressed_penalty`, `group_mmd_matrix`, `mmd2`,
  `feature_map`, `ramp`;
- algorithms in DomainBed's form (`update(minibatches)`, `predict(x)`): `DomainInvariant` (the paper's two
  representations), and the baselines `ERM`, `DANN` (CDANN with `conditional=True`), `MMD`, `CORAL`;
- data: `build_task` (RotatedDigits, RotatedMNIST, ColoredMNIST, digits multi-source, label-shifted variants,
  RotatedFashionMNIST), `from_arrays` (a user's own domains), `DomainTask`, `Domain`;
- training and measurement: `train`, `evaluate`, `domain_probe`, `accuracy`, `features`.
"""

from reprolab.methods.domain_invariance.algorithms import Algorithm, DomainInvariant, OptimConfig
from reprolab.methods.domain_invariance.baselines import (CORAL, DANN, ERM, MMD, AdversarialConfig,
                                                          gradient_reversal)
from reprolab.methods.domain_invariance.domains import Domain, DomainTask, build_task, from_arrays
from reprolab.methods.domain_invariance.penalties import (compressed_penalty, feature_map, general_penalty,
                                                          group_mmd_matrix, mmd2, ramp)
from reprolab.methods.domain_invariance.training import accuracy, domain_probe, evaluate, features, train

__all__ = ["Algorithm", "DomainInvariant", "OptimConfig", "CORAL", "DANN", "ERM", "MMD", "AdversarialConfig",
           "gradient_reversal", "Domain", "DomainTask", "build_task", "from_arrays", "compressed_penalty",
           "feature_map", "general_penalty", "group_mmd_matrix", "mmd2", "ramp", "accuracy", "domain_probe",
           "evaluate", "features", "train"]
