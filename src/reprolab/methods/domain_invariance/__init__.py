"""General vs compressed domain-invariant representations with multiple sources (Phung et al., NeurIPS 2021).

Public API:
- penalties on any featurizer's output: `general_penalty`, `compressed_penalty`, `group_mmd_matrix`, `mmd2`,
  `feature_map`, `ramp`;
- algorithms in DomainBed's form (`update(minibatches)`, `predict(x)`): `DomainInvariant` (the paper's two
  representations), and the baselines `ERM`, `DANN` (CDANN with `conditional=True`), `MMD`, `CORAL`;
- featurizers: `build_featurizer` (the quick CNN and DomainBed's MNIST CNN; any module mapping a batch to (B, D)
  features works);
- data: `build_task` (RotatedDigits, RotatedMNIST, ColoredMNIST, digits multi-source, label-shifted variants,
  RotatedFashionMNIST), `from_arrays` (a user's own arrays or tensors), `to_digit_frame` (digits of any size into
  MNIST's 28x28 frame), `DomainTask`, `Domain`;
- training and measurement: `train`, `evaluate`, `validation_subset`, `domain_probe` (a `ProbeScore`: accuracy and
  majority rate), `accuracy`, `features`.
"""

from reprolab.registry import MethodEntry, lazy_api

ENTRY = MethodEntry("domain_invariance",
                    "Phung et al., On learning domain-invariant representations for transfer learning with "
                    "multiple sources, NeurIPS 2021",
                    "reprolab.methods.domain_invariance.experiment")

_API = {
    "Algorithm": "reprolab.methods.domain_invariance.algorithms:Algorithm",
    "DomainInvariant": "reprolab.methods.domain_invariance.algorithms:DomainInvariant",
    "OptimConfig": "reprolab.methods.domain_invariance.algorithms:OptimConfig",
    "CORAL": "reprolab.methods.domain_invariance.baselines:CORAL",
    "DANN": "reprolab.methods.domain_invariance.baselines:DANN",
    "ERM": "reprolab.methods.domain_invariance.baselines:ERM",
    "MMD": "reprolab.methods.domain_invariance.baselines:MMD",
    "AdversarialConfig": "reprolab.methods.domain_invariance.baselines:AdversarialConfig",
    "gradient_reversal": "reprolab.methods.domain_invariance.baselines:gradient_reversal",
    "Domain": "reprolab.methods.domain_invariance.domains:Domain",
    "DomainTask": "reprolab.methods.domain_invariance.domains:DomainTask",
    "build_task": "reprolab.methods.domain_invariance.domains:build_task",
    "from_arrays": "reprolab.methods.domain_invariance.domains:from_arrays",
    "to_digit_frame": "reprolab.methods.domain_invariance.domains:to_digit_frame",
    "build_featurizer": "reprolab.methods.domain_invariance.featurizers:build_featurizer",
    "compressed_penalty": "reprolab.methods.domain_invariance.penalties:compressed_penalty",
    "feature_map": "reprolab.methods.domain_invariance.penalties:feature_map",
    "general_penalty": "reprolab.methods.domain_invariance.penalties:general_penalty",
    "group_mmd_matrix": "reprolab.methods.domain_invariance.penalties:group_mmd_matrix",
    "mmd2": "reprolab.methods.domain_invariance.penalties:mmd2",
    "ramp": "reprolab.methods.domain_invariance.penalties:ramp",
    "ProbeScore": "reprolab.methods.domain_invariance.training:ProbeScore",
    "accuracy": "reprolab.methods.domain_invariance.training:accuracy",
    "domain_probe": "reprolab.methods.domain_invariance.training:domain_probe",
    "evaluate": "reprolab.methods.domain_invariance.training:evaluate",
    "features": "reprolab.methods.domain_invariance.training:features",
    "train": "reprolab.methods.domain_invariance.training:train",
    "validation_subset": "reprolab.methods.domain_invariance.training:validation_subset",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
