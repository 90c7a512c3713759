"""The threat model: the five attacks (`config.ATTACKS`) by name, built for the configured dataset (trigger sizes,
positions and blend weights of the CPU prototype and the paper configuration)."""

from __future__ import annotations

import torch

from reprolab.methods.trojan_filter.attacks import BadNetPlus, BlendedPlus, TrojanAttack, WaNet
from reprolab.methods.trojan_filter.config import ATTACKS, TrojanExperimentConfig
from reprolab.methods.trojan_filter.data import DATASETS, natural_patterns
from reprolab.methods.trojan_filter.input_aware import InputAware


def make_attack(name: str, cfg: TrojanExperimentConfig, seed: int, spare: torch.Tensor | None = None,
                alpha: float | None = None) -> TrojanAttack:
    """The attack `name` for the configured dataset; `alpha` overrides image-BI+'s blend weight (norm sweep)."""
    channels, size = DATASETS[cfg.dataset]
    if name == "badnet_plus":
        far = size - 5                                      # MNIST: (1, 1), (1, 23), (23, 1) as the prototype
        return BadNetPlus((channels, size, size), positions=((1, 1), (1, far), (far, 1)), seed=seed)
    if name == "wanet":
        return WaNet(size, s=cfg.wanet_s, noise_fraction=cfg.wanet_noise_fraction, seed=seed, counts=cfg.wanet_counts)
    if name == "noise_bi_plus":
        return BlendedPlus.noise((channels, size, size), n=3, alpha=cfg.blend_alpha, seed=seed)
    if name == "image_bi_plus":
        return BlendedPlus(natural_patterns(3, cfg, spare, seed), alpha=alpha or cfg.image_blend_alpha)
    if name == "input_aware":
        return InputAware(channels, cfg.input_aware, seed=seed)
    raise ValueError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
