"""Neural Collapse in deep linear networks (Dang et al., ICML 2023): closed form, metrics, UFM and real-data runs.

Public API:
- `theory`: `UFMProblem`, `optimal_singular_values`, `optimal_loss`, `layer_singular_values`, `GOFTarget`,
  `balanced_ce_etf`, `minority_collapse_threshold`, `official_root_choice`.
- `collapse_metrics(features, labels, W, b=None, gof=None)`, `per_depth_metrics`, `collect_features`: on any model.
- `train_ufm(...)`: full-batch GD on the deep linear unconstrained-feature model.
- `NCNetwork` + `track_collapse`: a backbone with an M-layer linear head, NC tracked during training.
"""

from reprolab.registry import MethodEntry, lazy_api

ENTRY = MethodEntry("neural_collapse",
                    "Dang et al., Neural Collapse in Deep Linear Networks, ICML 2023",
                    "reprolab.methods.neural_collapse.experiment")

_API = {
    "theory": "reprolab.methods.neural_collapse.theory",
    "collapse_metrics": "reprolab.methods.neural_collapse.metrics:collapse_metrics",
    "collect_features": "reprolab.methods.neural_collapse.metrics:collect_features",
    "per_depth_metrics": "reprolab.methods.neural_collapse.metrics:per_depth_metrics",
    "DeepLinearHead": "reprolab.methods.neural_collapse.model:DeepLinearHead",
    "UnconstrainedFeatures": "reprolab.methods.neural_collapse.model:UnconstrainedFeatures",
    "train_ufm": "reprolab.methods.neural_collapse.model:train_ufm",
    "NCNetwork": "reprolab.methods.neural_collapse.real:NCNetwork",
    "RealRecipe": "reprolab.methods.neural_collapse.real:RealRecipe",
    "track_collapse": "reprolab.methods.neural_collapse.real:track_collapse",
    "GOFTarget": "reprolab.methods.neural_collapse.theory:GOFTarget",
    "UFMProblem": "reprolab.methods.neural_collapse.theory:UFMProblem",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
