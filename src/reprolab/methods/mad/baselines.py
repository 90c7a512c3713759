"""MAD's base methods. DFAD (Fang et al., 2019; the digits and MNIST cases) and ZSKT/ABM (Micaelli and Storkey,
2019; the CIFAR-10 case) are MAD without its EMA term: the student learns from the adversarial generator's samples
only, lambda = (lambda0, lambda1) = (1, 0), with the same loss, order and schedule as the MAD run they compare to."""

from __future__ import annotations

import dataclasses

from reprolab.methods.mad.distiller import DistillConfig


def base_method(cfg: DistillConfig) -> DistillConfig:
    """The base method of a MAD configuration: lambda = (1, 0)."""
    return dataclasses.replace(cfg, lambda0=1.0, lambda1=0.0)


def base_name(cfg: DistillConfig) -> str:
    """The base method a MAD configuration extends, named by its loop order: "DFAD" or "ABM"."""
    return cfg.order.upper()
