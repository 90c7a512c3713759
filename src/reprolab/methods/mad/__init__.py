"""Momentum Adversarial Distillation (Do et al., NeurIPS 2022): data-free knowledge distillation in which the
student also learns from an exponential-moving-average copy of the adversarial generator.

Public API: `Distiller` + `DistillConfig` (MAD; DFAD and ZSKT/ABM with lambda1 = 0), `divergence`, `ema_update`,
`DriftProbe`, `ForgettingProbe`, `js_divergence`, `load_or_train_teacher`. Networks: `reprolab.nets` (LeNet5,
SmallCNN, GeneratorA, CIFAR ResNets).
"""

from reprolab.registry import MethodEntry, lazy_api

ENTRY = MethodEntry("mad",
                    "Do et al., Momentum Adversarial Distillation, NeurIPS 2022",
                    "reprolab.methods.mad.experiment")

_API = {
    "DistillConfig": "reprolab.methods.mad.distiller:DistillConfig",
    "Distiller": "reprolab.methods.mad.distiller:Distiller",
    "divergence": "reprolab.methods.mad.distiller:divergence",
    "ema_update": "reprolab.methods.mad.distiller:ema_update",
    "DriftProbe": "reprolab.methods.mad.probes:DriftProbe",
    "ForgettingProbe": "reprolab.methods.mad.probes:ForgettingProbe",
    "js_divergence": "reprolab.methods.mad.probes:js_divergence",
    "load_or_train_teacher": "reprolab.methods.mad.teachers:load_or_train_teacher",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
