"""The trojan_filter experiment's config: `TrojanExperimentConfig`, the attack names, and the `--scale quick`
(MNIST, 2-core CPU prototype) and `--scale paper` (CIFAR-10 JPEG copy, sized for a GPU) instances.

Its own module so that the modules the experiment runs (data, classifier, threats, evaluate) can import it without
importing `experiment.py`, which imports them."""

from __future__ import annotations

import dataclasses
import typing
from typing import Literal

from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig
from reprolab.methods.trojan_filter.baselines.fine_pruning import FinePruningConfig
from reprolab.methods.trojan_filter.baselines.neural_cleanse import NeuralCleanseConfig
from reprolab.methods.trojan_filter.filters import FilterConfig
from reprolab.methods.trojan_filter.input_aware import InputAwareConfig
from reprolab.runtime.config import ConfigError, check_at_least, check_options
from reprolab.runtime.fast import FastPath

Attack = Literal["badnet_plus", "wanet", "noise_bi_plus", "image_bi_plus", "input_aware"]
ATTACKS: tuple[str, ...] = typing.get_args(Attack)


@dataclasses.dataclass(frozen=True)
class TrojanExperimentConfig(FastPath):  # compile, bf16, channels_last, cuda_graphs: the opt-in GPU fast path
    dataset: Literal["mnist", "cifar10"] = "mnist"       # cifar10: the JPEG copy
    attacks: tuple[Attack, ...] = ("badnet_plus", "wanet")
    defenses: tuple[Literal["IF", "VIF", "AIF"], ...] = ("IF", "VIF", "AIF")
    seeds: int = 1                       # runs seeds seed .. seed + seeds - 1 (quick: one, about 160 s of stages each)
    train_size: int = 12_000             # 2-core CPU prototype
    defender_size: int = 2000            # 2-core CPU prototype
    test_size: int = 1000                # 2-core CPU prototype
    poison_rate: float = 0.1
    badnet_epochs: int = 2               # 2-core CPU prototype; also BI+ and the benign reference
    wanet_epochs: int = 4                # 2-core CPU prototype
    input_aware_epochs: int = 4
    wanet_s: float = 1.0                 # raised from the official 0.5 for the short schedule
    wanet_noise_fraction: float = 0.2    # 2-core CPU prototype noise mode
    input_aware: InputAwareConfig = InputAwareConfig()
    blend_alpha: float = 0.15            # noise-BI+ (prototype default)
    image_blend_alpha: float = 0.25      # image-BI+: the "large-norm trigger" case (0.2-0.3)
    classifier_optimizer: Literal["adam", "sgd"] = "adam"   # adam: CPU prototype; sgd: official (momentum 0.9, wd 5e-4)
    classifier_lr: float = 1e-3
    classifier_batch: int = 128
    lr_milestones: tuple[int, ...] = ()  # epochs where the lr is multiplied by 0.1 (official 100/200/300/400)
    augment: bool = False                # random crop (padding 5) + horizontal flip (the CIFAR-10 recipe)
    filter: FilterConfig = FilterConfig()
    filter_width: int = 32               # MNIST 32 (latent 7x7x16); CIFAR-10 wider (64, latent 8x8x32)
    filter_latent: int = 16
    defender_sweep: tuple[int, ...] = ()  # smaller defender sets the filters are retrained on (robustness)
    sweep_attacks: tuple[Attack, ...] = ("badnet_plus", "wanet")
    norm_sweep: tuple[float, ...] = ()   # image-BI+ blend weights, a classifier each ("large-norm triggers")
    aif_steps: int = 256                 # 2-core CPU prototype ("8 ep"); an AIF step costs about two filter steps
    collapse_floor: float = 0.9          # the least filtered clean accuracy on held-out D_def (spec §7 A4, MNIST)
    strip_blends: int = 20
    strip_fpr: float = 0.01
    neural_cleanse: NeuralCleanseConfig = NeuralCleanseConfig()
    fine_pruning: FinePruningConfig = FinePruningConfig()
    februus: FebruusConfig = FebruusConfig()
    checkpoint_every: int = 0            # steps between the checkpoints of every training loop (0: none)
    workers: int = 2

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("seeds", "train_size", "defender_size", "test_size", "badnet_epochs",
                                 "wanet_epochs", "input_aware_epochs", "classifier_batch", "filter_width",
                                 "filter_latent", "aif_steps", "strip_blends", "workers"))
        if self.checkpoint_every < 0:
            raise ConfigError(f"config key 'checkpoint_every' must be >= 0, got {self.checkpoint_every}")
        if not 0 < self.poison_rate < 1 or not self.classifier_lr > 0:
            raise ConfigError(f"config keys 'poison_rate' must lie in (0, 1) and 'classifier_lr' be > 0, got "
                              f"{self.poison_rate}, {self.classifier_lr}")


# --scale paper: CIFAR-10 (JPEG copy) PreActResNet18, all five attacks, the official classifier recipe cut
# to 100 epochs (official 1000 for WaNet, 600 for InpAwAtk), WaNet at the official s = 0.5, a defender set of 10 % of
# the training data, filters 100 epochs of batch 128 (3900 steps), both sweeps, and 3 seeds for the paired per-seed
# comparisons of claims.py; every training loop checkpoints every 1000 steps (about 3 classifier epochs) and at
# its end. Sized for a GPU.
PAPER = TrojanExperimentConfig(
    dataset="cifar10", attacks=ATTACKS, seeds=3, train_size=45_000, defender_size=5000, test_size=10_000,
    badnet_epochs=100, wanet_epochs=100, input_aware_epochs=100, wanet_s=0.5,
    input_aware=InputAwareConfig(width=32, mask_steps=25 * 352), classifier_optimizer="sgd", classifier_lr=0.01,
    lr_milestones=(50, 75), augment=True, filter=FilterConfig(steps=3900, batch_size=128), filter_width=64,
    filter_latent=32, aif_steps=3900, defender_sweep=(450, 2250), sweep_attacks=ATTACKS, norm_sweep=(0.3, 0.4),
    checkpoint_every=1000, workers=1)

CONFIGS = {"quick": TrojanExperimentConfig(), "paper": PAPER}
