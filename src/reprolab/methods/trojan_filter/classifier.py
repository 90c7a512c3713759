"""The attacked classifier and its training: NetCMNIST on MNIST (the WaNet code's MNIST network, inputs normalised to
[-1, 1] inside the wrapper; Adam 1e-3, batch 128 in the CPU prototype), PreActResNet18 on CIFAR-10 (the WaNet code's
recipe: SGD lr 0.01, momentum 0.9, weight decay 5e-4, x0.1 at fixed milestones, random crop with padding 5 and
horizontal flip; `augmentation="official"`: the WaNet code's crop, rotation and flip, `augment.py`). With an attack,
a fraction `poison_rate` of every batch is poisoned, after the augmentation; with `wanet_warp_first`, WaNet's batch
is warped first and then every input of it augmented, as the WaNet code does.
`cached_classifier` loads the classifier of an earlier run with the same key from the data cache (`cache.py`)
instead of training it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

from reprolab.methods.trojan_filter.attacks import TrojanAttack
from reprolab.methods.trojan_filter.augment import official_augment
from reprolab.methods.trojan_filter.cache import cache_path, classifier_key
from reprolab.methods.trojan_filter.config import CLASSIFIER_NETS, TrojanExperimentConfig
from reprolab.nets import Normalized
from reprolab.nets.augment import random_crop_flip
from reprolab.runtime.cache import load_or_train
from reprolab.runtime.fast import autocast, fast_batch, fast_model
from reprolab.runtime.train import LoopCheckpoints, ShuffledBatches, run_loop

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
MNIST_MEAN, MNIST_STD = (0.5,), (0.5,)
NORMALISATION = {"mnist": (MNIST_MEAN, MNIST_STD), "cifar10": (CIFAR_MEAN, CIFAR_STD)}   # per channel
CROP_PADDING = 5                      # the WaNet code's random crop


def make_classifier(dataset: str) -> torch.nn.Module:
    """The dataset's network (`config.CLASSIFIER_NETS`: NetCMNIST on MNIST, PreActResNet18 on CIFAR-10); both take
    [0, 1] images and normalise inside."""
    return Normalized(CLASSIFIER_NETS[dataset](), *NORMALISATION[dataset])


def batch_augmentation(cfg: TrojanExperimentConfig, gen: torch.Generator,
                       images: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """The training augmentation of a batch, drawing from `gen`, its constants built once (on the device and in the
    dtype of the training `images`): with `cfg.augment`, as `cfg.augmentation` says, "crop_flip", every image cropped
    (padding 5) and flipped with p 1/2; "official", the WaNet code's (`augment.official_augment`: its zeros on
    normalised images are the dataset's mean pixel here, and only CIFAR-10 is flipped); without, the batch as it
    is."""
    if not cfg.augment:
        return lambda x: x
    if cfg.augmentation == "official":
        fill = torch.tensor(NORMALISATION[cfg.dataset][0], dtype=images.dtype, device=images.device)   # the mean
        return lambda x: official_augment(x, gen, CROP_PADDING, fill, flip=cfg.dataset == "cifar10")
    return lambda x: random_crop_flip(x, gen, CROP_PADDING)


def train_classifier(x, y, epochs: int, cfg: TrojanExperimentConfig, seed: int,
                     attack: TrojanAttack | None = None,
                     checkpoints: LoopCheckpoints = LoopCheckpoints()) -> torch.nn.Module:
    """The dataset's classifier on [0, 1] images; with an attack, each batch is poisoned at `poison_rate`. The attack
    prepares itself first (InputAware pretrains its mask), and a trainable attack's optimiser steps beside the
    classifier's. `checkpoints`: where the loops keep their checkpoints ("classifier", and the attack's own)."""
    torch.manual_seed(seed)
    model = fast_model(make_classifier(cfg.dataset).to(x.device), cfg)
    if cfg.classifier_optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.classifier_lr, momentum=0.9, weight_decay=5e-4)
    elif cfg.classifier_optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.classifier_lr)
    else:
        raise ValueError(f"classifier_optimizer must be 'adam' or 'sgd', got {cfg.classifier_optimizer!r}")
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.lr_milestones), 0.1)
    gen = torch.Generator().manual_seed(seed)
    if attack is not None:
        attack.prepare(x, seed, checkpoints)
    attack_optimizer = attack.optimizer() if attack is not None else None
    augment = batch_augmentation(cfg, gen, x)
    model.train()
    batches = ShuffledBatches(len(y), cfg.classifier_batch, gen)

    def inputs(xb: torch.Tensor) -> torch.Tensor:
        """What the classifier takes of a batch: augmented, in the fast path's memory format."""
        return fast_batch(augment(xb), cfg)

    def step(i: int) -> torch.Tensor:
        idx = batches(i).to(x.device)
        xb, yb = x[idx], y[idx]
        with autocast(cfg, x.device):
            loss = (attack.augmented_loss(model, xb, yb, cfg.poison_rate, gen, inputs, cfg.wanet_warp_first)
                    if attack is not None else F.cross_entropy(model(inputs(xb)), yb))
        optimizer.zero_grad(set_to_none=True)
        if attack_optimizer is not None:
            attack_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if attack_optimizer is not None:
            attack_optimizer.step()
        if (i + 1) % batches.per_epoch == 0:
            schedule.step()
        return loss.detach()

    objects = {"model": model, "optimizer": optimizer, "schedule": schedule, "gen": gen, "batches": batches,
               **(attack.state_objects() if attack is not None else {}),
               **({"attack_optimizer": attack_optimizer} if attack_optimizer is not None else {})}
    run_loop(epochs * batches.per_epoch, step, objects=objects,
             desc=f"classifier ({attack.name if attack is not None else 'benign'})", **checkpoints.of("classifier"))
    return model.eval()


def cached_classifier(x, y, epochs: int, cfg: TrojanExperimentConfig, seed: int, attack_name: str | None = None,
                      attack: TrojanAttack | None = None, alpha: float | None = None,
                      checkpoints: LoopCheckpoints = LoopCheckpoints()) -> tuple[torch.nn.Module, dict]:
    """`train_classifier`, or with `cfg.cache` the classifier and its attack's trainable state stored by an earlier
    run under the same key (`attack_name`: the attack's config name, None for the benign reference; `alpha`: the
    norm sweep's blend weight); with its training seconds (those of the run that trained it) and whether they came
    from the cache."""
    key = classifier_key(cfg, attack_name, alpha, epochs, seed, str(x.device))
    path = cache_path("classifier", key) if cfg.cache else None
    state = attack.state_objects if attack is not None else dict

    def fresh() -> dict:
        return {"classifier": fast_model(make_classifier(cfg.dataset).to(x.device), cfg),
                **(attack.to(x.device).state_objects() if attack is not None else {})}

    def train() -> tuple[dict, dict]:
        start = time.perf_counter()
        classifier = train_classifier(x, y, epochs, cfg, seed, attack, checkpoints)
        return {"classifier": classifier, **state()}, {"train_seconds": time.perf_counter() - start}

    networks, extra, cached = load_or_train(path, fresh, train, ("train_seconds",))
    return networks["classifier"].eval(), {**extra, "cached": cached}
