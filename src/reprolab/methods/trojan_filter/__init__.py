"""Input filtering against Trojan attacks (Do et al., ECCV 2022): IF, VIF, AIF and Filtering-then-Contrasting, with
the attacks as reusable poisoners and STRIP, Neural Cleanse, Fine-Pruning and a Februus-like purifier as baselines.

Public API: `BadNetPlus`, `BlendedPlus`, `WaNet`, `InputAware` (+ `InputAwareConfig`, `pretrain_mask`),
`attack_success` (attacks); `PlainFilter` (IF),
`VariationalFilter` (VIF), `FilterConfig`, `train_filter`, `TriggerGenerator` + `train_adversarial_filter` (AIF),
`FilterDefense` (wraps any frozen classifier: `detect(x)`, `predict(x)`), `FilterCollapsed`; `STRIP`;
`neural_cleanse` + `unlearn`; `fine_prune`; `gradcam`, `Inpainter`, `train_inpainter`, `FebruusFilter`.
"""

from reprolab.methods.trojan_filter.adversarial import AIFConfig, TriggerGenerator, train_adversarial_filter
from reprolab.methods.trojan_filter.attacks import BadNetPlus, BlendedPlus, WaNet, attack_success
from reprolab.methods.trojan_filter.filters import (FilterCollapsed, FilterConfig, FilterDefense, PlainFilter,
                                                    VariationalFilter, train_filter)
from reprolab.methods.trojan_filter.februus import FebruusConfig, FebruusFilter, Inpainter, gradcam, train_inpainter
from reprolab.methods.trojan_filter.fine_pruning import FinePruningConfig, fine_prune
from reprolab.methods.trojan_filter.input_aware import InputAware, InputAwareConfig, pretrain_mask
from reprolab.methods.trojan_filter.neural_cleanse import NeuralCleanseConfig, neural_cleanse, unlearn
from reprolab.methods.trojan_filter.strip import STRIP

__all__ = ["BadNetPlus", "BlendedPlus", "WaNet", "InputAware", "InputAwareConfig", "pretrain_mask", "attack_success",
           "FilterCollapsed", "FilterConfig", "FilterDefense", "PlainFilter", "VariationalFilter", "train_filter",
           "STRIP", "AIFConfig", "TriggerGenerator", "train_adversarial_filter", "NeuralCleanseConfig",
           "neural_cleanse", "unlearn", "FinePruningConfig", "fine_prune", "FebruusConfig", "FebruusFilter",
           "Inpainter", "gradcam", "train_inpainter"]
