"""Neural Collapse in deep linear networks (Dang et al., ICML 2023): closed form, metrics, UFM and real-data runs.

Public API:
- `theory`: `UFMProblem`, `optimal_singular_values`, `optimal_loss`, `layer_singular_values`, `GOFTarget`,
  `balanced_ce_etf`, `minority_collapse_threshold`, `official_root_choice`.
- `collapse_metrics(features, labels, W, b=None, gof=None)`, `per_depth_metrics`, `collect_features`: on any model.
- `train_ufm(...)`: full-batch GD on the deep linear unconstrained-feature model.
- `NCNetwork` + `track_collapse`: a backbone with an M-layer linear head, NC tracked during training.
"""

from reprolab.methods.neural_collapse import theory
from reprolab.methods.neural_collapse.metrics import collapse_metrics, collect_features, per_depth_metrics
from reprolab.methods.neural_collapse.model import DeepLinearHead, UnconstrainedFeatures, train_ufm
from reprolab.methods.neural_collapse.real import NCNetwork, RealRecipe, track_collapse
from reprolab.methods.neural_collapse.theory import GOFTarget, UFMProblem

__all__ = ["theory", "collapse_metrics", "collect_features", "per_depth_metrics", "DeepLinearHead",
           "UnconstrainedFeatures", "train_ufm", "NCNetwork", "RealRecipe", "track_collapse", "GOFTarget",
           "UFMProblem"]
