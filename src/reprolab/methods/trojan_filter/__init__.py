"""Input filtering against Trojan attacks (Do et al., ECCV 2022): IF, VIF, AIF and Filtering-then-Contrasting, with
the attacks as reusable poisoners and STRIP, Neural Cleanse, Fine-Pruning and a Februus-like purifier as baselines.

Public API: `BadNetPlus`, `BlendedPlus`, `WaNet`, `InputAware` (+ `InputAwareConfig`, `pretrain_mask`),
`attack_success` (attacks); `PlainFilter` (IF),
`VariationalFilter` (VIF), `FilterConfig`, `train_filter`, `AIFConfig`, `trigger_generator` (a `TriggerGenerator`) +
`train_adversarial_filter` (AIF), `FilterDefense` (wraps any frozen classifier: `detect(x)`, `predict(x)`),
`FilterCollapsed`; `STRIP`; `NeuralCleanseConfig`, `neural_cleanse` + `unlearn`; `FinePruningConfig`, `fine_prune`;
`gradcam`, `Inpainter`, `FebruusConfig`, `train_inpainter`, `FebruusFilter`.
"""

from reprolab.registry import MethodEntry, lazy_api

ENTRY = MethodEntry("trojan_filter",
                    "Do et al., Towards effective and robust neural Trojan defenses via input filtering, ECCV "
                    "2022",
                    "reprolab.methods.trojan_filter.experiment")

_API = {
    "BadNetPlus": "reprolab.methods.trojan_filter.attacks:BadNetPlus",
    "BlendedPlus": "reprolab.methods.trojan_filter.attacks:BlendedPlus",
    "WaNet": "reprolab.methods.trojan_filter.attacks:WaNet",
    "InputAware": "reprolab.methods.trojan_filter.input_aware:InputAware",
    "InputAwareConfig": "reprolab.methods.trojan_filter.input_aware:InputAwareConfig",
    "pretrain_mask": "reprolab.methods.trojan_filter.input_aware:pretrain_mask",
    "attack_success": "reprolab.methods.trojan_filter.attacks:attack_success",
    "FilterCollapsed": "reprolab.methods.trojan_filter.filters:FilterCollapsed",
    "FilterConfig": "reprolab.methods.trojan_filter.filters:FilterConfig",
    "FilterDefense": "reprolab.methods.trojan_filter.filters:FilterDefense",
    "PlainFilter": "reprolab.methods.trojan_filter.filters:PlainFilter",
    "VariationalFilter": "reprolab.methods.trojan_filter.filters:VariationalFilter",
    "train_filter": "reprolab.methods.trojan_filter.filters:train_filter",
    "STRIP": "reprolab.methods.trojan_filter.baselines.strip:STRIP",
    "AIFConfig": "reprolab.methods.trojan_filter.adversarial:AIFConfig",
    "TriggerGenerator": "reprolab.methods.trojan_filter.adversarial:TriggerGenerator",
    "trigger_generator": "reprolab.methods.trojan_filter.adversarial:trigger_generator",
    "train_adversarial_filter": "reprolab.methods.trojan_filter.adversarial:train_adversarial_filter",
    "NeuralCleanseConfig": "reprolab.methods.trojan_filter.baselines.neural_cleanse:NeuralCleanseConfig",
    "neural_cleanse": "reprolab.methods.trojan_filter.baselines.neural_cleanse:neural_cleanse",
    "unlearn": "reprolab.methods.trojan_filter.baselines.neural_cleanse:unlearn",
    "FinePruningConfig": "reprolab.methods.trojan_filter.baselines.fine_pruning:FinePruningConfig",
    "fine_prune": "reprolab.methods.trojan_filter.baselines.fine_pruning:fine_prune",
    "FebruusConfig": "reprolab.methods.trojan_filter.baselines.februus:FebruusConfig",
    "FebruusFilter": "reprolab.methods.trojan_filter.baselines.februus:FebruusFilter",
    "Inpainter": "reprolab.methods.trojan_filter.baselines.februus:Inpainter",
    "gradcam": "reprolab.methods.trojan_filter.baselines.februus:gradcam",
    "train_inpainter": "reprolab.methods.trojan_filter.baselines.februus:train_inpainter",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
