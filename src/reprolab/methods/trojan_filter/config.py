"""The trojan_filter experiment's config: `TrojanExperimentConfig`, the attack names, and the `--scale quick`
(MNIST, 2-core CPU prototype) and `--scale paper` (CIFAR-10 JPEG copy, sized for a GPU) instances.

Its own module so that the modules the experiment runs (data, classifier, threats, evaluate) can import it without
importing `experiment.py`, which imports them."""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Literal

from reprolab.methods.trojan_filter.attacks import Counts
from reprolab.methods.trojan_filter.augment import Augmentation
from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig
from reprolab.methods.trojan_filter.baselines.fine_pruning import FinePruningConfig
from reprolab.methods.trojan_filter.baselines.neural_cleanse import NeuralCleanseConfig
from reprolab.methods.trojan_filter.baselines.strip import Threshold
from reprolab.methods.trojan_filter.filters import FilterConfig
from reprolab.methods.trojan_filter.input_aware import InputAwareConfig
from reprolab.nets import NetCMNIST, PreActResNet18
from reprolab.runtime.config import (AT_LEAST_ONE, NON_NEGATIVE, OPEN_UNIT, POSITIVE, PROBABILITY, ConfigError,
                                    validate_config)
from reprolab.runtime.fast import FastPath

Attack = Literal["badnet_plus", "wanet", "noise_bi_plus", "image_bi_plus", "input_aware"]
ATTACKS: tuple[str, ...] = typing.get_args(Attack)


# each dataset's classifier network (`classifier.make_classifier`); Fine-Pruning ranks and prunes the
# `last_conv_channels` output channels of its last convolution
CLASSIFIER_NETS: dict[str, type[NetCMNIST] | type[PreActResNet18]] = {"mnist": NetCMNIST, "cifar10": PreActResNet18}


@dataclasses.dataclass(frozen=True)
class TrojanExperimentConfig(FastPath):  # compile, bf16, channels_last, cuda_graphs: the opt-in fast path
                                          # (QUICK turns on channels_last on the CPU)
    dataset: Literal["mnist", "cifar10"] = "mnist"       # cifar10: the JPEG copy
    attacks: tuple[Attack, ...] = ("badnet_plus", "wanet")
    defenses: tuple[Literal["IF", "VIF", "AIF"], ...] = ("IF", "VIF", "AIF")
    # runs seeds seed .. seed + seeds - 1: three, the fewest behind the paired per-seed claims at quick scale
    seeds: Annotated[int, AT_LEAST_ONE] = 3
    train_size: Annotated[int, AT_LEAST_ONE] = 12_000  # 2-core CPU prototype
    defender_size: Annotated[int, AT_LEAST_ONE] = 2000  # 2-core CPU prototype
    test_size: Annotated[int, AT_LEAST_ONE] = 1000  # 2-core CPU prototype
    poison_rate: Annotated[float, PROBABILITY] = 0.1
    badnet_epochs: Annotated[int, AT_LEAST_ONE] = 2  # 2-core CPU prototype; also BI+ and the benign reference
    wanet_epochs: Annotated[int, AT_LEAST_ONE] = 4  # 2-core CPU prototype
    input_aware_epochs: Annotated[int, AT_LEAST_ONE] = 4
    wanet_s: Annotated[float, POSITIVE] = 1.0  # raised from the official 0.5 for the short schedule
    wanet_noise_fraction: Annotated[float, PROBABILITY] = 0.2  # official noise mode (p_c 0.1 x cross_ratio 2)
    # WaNet's Trojan and noise images per batch: round(0.1 B), round(0.2 B); official "floor": floor(0.1 B) and
    # cross_ratio 2 times that (12 and 24 of 128; `WaNet.batch_counts`)
    wanet_counts: Counts = "round"
    input_aware: InputAwareConfig = InputAwareConfig()
    blend_alpha: Annotated[float, PROBABILITY] = 0.15  # noise-BI+ (prototype default)
    image_blend_alpha: Annotated[float, PROBABILITY] = 0.25  # image-BI+: the "large-norm trigger" case (0.2-0.3)
    classifier_optimizer: Literal["adam", "sgd"] = "adam"   # adam: CPU prototype; sgd: official (momentum 0.9, wd 5e-4)
    classifier_lr: Annotated[float, POSITIVE] = 1e-3
    classifier_batch: Annotated[int, AT_LEAST_ONE] = 128
    # epochs where the lr is multiplied by 0.1 (official 100/200/300/400)
    lr_milestones: Annotated[tuple[int, ...], AT_LEAST_ONE] = ()
    augment: bool = False                # augment every classifier's training batches (`augmentation`)
    # crop_flip: every batch cropped (padding 5) and each image flipped with p 0.5; official (the WaNet code's
    # training): a batch cropped with p 0.8, rotated with p 0.5 (each image with p 0.5, up to 10 degrees), each image
    # flipped with p 0.5 on CIFAR-10 only, the pad and the rotation's border the dataset's mean pixel (augment.py)
    augmentation: Augmentation = "crop_flip"
    # with augment, WaNet's batches are augmented, then warped; official (true): warped first, then every input of
    # the batch augmented
    wanet_warp_first: bool = False
    filter: FilterConfig = FilterConfig()
    filter_width: Annotated[int, AT_LEAST_ONE] = 32  # MNIST 32 (latent 7x7x16); CIFAR-10 wider (64, latent 8x8x32)
    filter_latent: Annotated[int, AT_LEAST_ONE] = 16
    # smaller defender sets the filters are retrained on (robustness)
    defender_sweep: Annotated[tuple[int, ...], AT_LEAST_ONE] = ()
    sweep_attacks: tuple[Attack, ...] = ("badnet_plus", "wanet")
    # image-BI+ blend weights, a classifier each ("large-norm triggers")
    norm_sweep: Annotated[tuple[float, ...], PROBABILITY] = ()
    # 2-core CPU prototype (about 9 epochs of the 1,800 training defender images); an AIF step costs about five IF
    # steps (README, Performance)
    aif_steps: Annotated[int, AT_LEAST_ONE] = 256
    # AIF's trigger masks scaled to a mean area <= xi (`AIFConfig.enforce_budget`); false: spec §2.4's soft penalty
    # alone
    aif_enforce_budget: bool = True
    # the least filtered clean accuracy on held-out D_def (spec §7 A4, MNIST)
    collapse_floor: Annotated[float, PROBABILITY] = 0.9
    strip_blends: Annotated[int, AT_LEAST_ONE] = 20
    strip_fpr: Annotated[float, OPEN_UNIT] = 0.01
    strip_clip: bool = True                                # official: false (blends x + x_j unclipped)
    strip_threshold: Threshold = "quantile"             # official: "normal" (a fitted normal's quantile)
    neural_cleanse: NeuralCleanseConfig = NeuralCleanseConfig()
    fine_pruning: FinePruningConfig = FinePruningConfig()
    februus: FebruusConfig = FebruusConfig()
    checkpoint_every: Annotated[int, NON_NEGATIVE] = 0  # steps between the checkpoints of every training loop (0: none)
    workers: Annotated[int, AT_LEAST_ONE] = 2
    # keep the trained classifiers and Februus inpainters in the data cache, keyed by what they depend on (cache.py)
    cache: bool = True

    def __post_init__(self) -> None:
        validate_config(self)            # options and the declared bounds of every field, nested configs included
        if self.wanet_warp_first and not self.augment:
            raise ConfigError("config key 'wanet_warp_first' orders the warp before the augmentation, and 'augment' "
                              "is false")
        if self.augmentation != "crop_flip" and not self.augment:
            raise ConfigError(f"config key 'augmentation' ({self.augmentation!r}) chooses the augmentation, and "
                              "'augment' is false")
        channels = CLASSIFIER_NETS[self.dataset].last_conv_channels
        if self.fine_pruning.prune_count >= channels:
            raise ConfigError(f"config key 'fine_pruning.prune_count' must be below the {channels} channels of the "
                              f"{self.dataset} classifier's last convolution, got {self.fine_pruning.prune_count}")


# --scale paper: CIFAR-10 (JPEG copy) PreActResNet18, all five attacks, the official classifier recipe cut
# to 100 epochs (official 1000 for WaNet, 600 for InpAwAtk), WaNet at the official s = 0.5, a defender set of 10 % of
# the training data, filters 3900 steps of batch 128 (about 111 epochs of the 4,500 training defender images), both
# sweeps, and 3 seeds for the paired per-seed comparisons of claims.py; every training loop checkpoints every 1000
# steps (about 3 classifier epochs) and at its end. Sized for a GPU.
PAPER = TrojanExperimentConfig(
    dataset="cifar10", attacks=ATTACKS, seeds=3, train_size=45_000, defender_size=5000, test_size=10_000,
    badnet_epochs=100, wanet_epochs=100, input_aware_epochs=100, wanet_s=0.5,
    input_aware=InputAwareConfig(width=32, mask_steps=25 * 352), classifier_optimizer="sgd", classifier_lr=0.01,
    lr_milestones=(50, 75), augment=True, filter=FilterConfig(steps=3900, batch_size=128), filter_width=64,
    filter_latent=32, aif_steps=3900, defender_sweep=(450, 2250), sweep_attacks=ATTACKS, norm_sweep=(0.3, 0.4),
    checkpoint_every=1000, workers=1)

# --scale quick: the defaults, with every network of the classifier and filter training in channels-last memory
# format (on a 2-core AMD EPYC CPU an IF step of batch 64 runs 1.13x-1.18x faster, `python -m benchmarks trojan_filter`;
# the convolutions round differently from NCHW ones).
QUICK = TrojanExperimentConfig(channels_last=True)

CONFIGS = {"quick": QUICK, "paper": PAPER}
