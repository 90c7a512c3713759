"""Momentum Adversarial Distillation (Do et al., NeurIPS 2022): data-free knowledge distillation in which the
student also learns from an exponential-moving-average copy of the adversarial generator.

Public API: `Distiller` + `DistillConfig` (MAD; DFAD and ZSKT/ABM with lambda1 = 0), `divergence`, `ema_update`,
`DriftProbe`, `ForgettingProbe`, `js_divergence`, `load_or_train_teacher`. Networks: `reprolab.nets` (LeNet5,
SmallCNN, GeneratorA, CIFAR ResNets).
"""

from reprolab.methods.mad.distiller import DistillConfig, Distiller, divergence, ema_update
from reprolab.methods.mad.probes import DriftProbe, ForgettingProbe, js_divergence
from reprolab.methods.mad.teachers import load_or_train_teacher

__all__ = ["DistillConfig", "Distiller", "divergence", "ema_update", "DriftProbe", "ForgettingProbe",
           "js_divergence", "load_or_train_teacher"]
