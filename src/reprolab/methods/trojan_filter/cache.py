"""Trained networks kept in the data cache (`reprolab.data.cache_dir() / "trojan_filter"`), keyed by everything
their training depends on, so that a later run with the same key loads them instead of training them again:

- a Trojaned (or the benign) classifier, with the trainable state of its attack: every config field except those
  of the defenses, the evaluation and the run's layout (`CLASSIFIER_FREE_FIELDS`), the attack, the norm sweep's
  blend weight, the epochs, the seed and the device type;
- the Februus-like inpainter, which sees only the defender's clean images: the data split sizes, its settings, the
  filters' width and latent it is built with, the seed and the device type (shared by every attack of a seed).

Every key also holds the torch version. An entry is written atomically after its training and read with
`weights_only=True`; an entry that does not match its networks is removed and trained anew, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from reprolab.data import cache_dir
from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
from reprolab.runtime.config import config_to_dict
from reprolab.runtime.io import atomic_write

# fields that do not reach the classifier's training: the defenses, the evaluation, the sweeps and the run's layout
CLASSIFIER_FREE_FIELDS = frozenset({
    "attacks", "defenses", "seeds", "test_size", "filter", "filter_width", "filter_latent", "defender_sweep",
    "sweep_attacks", "norm_sweep", "aif_steps", "collapse_floor", "strip_blends", "strip_fpr", "neural_cleanse",
    "fine_pruning", "februus", "checkpoint_every", "workers", "cache"})


def cache_path(kind: str, key: dict) -> Path:
    """The cache file of network `kind` under `key` (a JSON-ready dict; the torch version is added)."""
    text = json.dumps({**key, "torch": torch.__version__}, sort_keys=True)
    return cache_dir() / "trojan_filter" / f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pt"


def classifier_key(cfg: TrojanExperimentConfig, attack: str | None, alpha: float | None, epochs: int, seed: int,
                   device: str) -> dict:
    """What a classifier's training depends on (`attack` None: the benign reference)."""
    fields = {k: v for k, v in config_to_dict(cfg).items() if k not in CLASSIFIER_FREE_FIELDS}
    return {**fields, "attack": attack, "alpha": alpha, "epochs": epochs, "seed": seed,
            "device": torch.device(device).type}


def inpainter_key(cfg: TrojanExperimentConfig, seed: int, device: str) -> dict:
    """What the Februus-like inpainter's training depends on: the defender set, its settings and the seed."""
    return {"dataset": cfg.dataset, "train_size": cfg.train_size, "defender_size": cfg.defender_size,
            "februus": config_to_dict(cfg.februus), "width": cfg.filter_width, "latent": cfg.filter_latent,
            "seed": seed, "device": torch.device(device).type}


def restore(path: Path, networks: dict[str, nn.Module]) -> bool:
    """Load `networks`' states from `path`; False (and the entry removed) when it is missing, unreadable or holds
    other networks (names, keys or shapes differ)."""
    if not path.exists():
        return False
    try:
        states = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError):
        states = None
    if not _matches(states, networks):
        path.unlink(missing_ok=True)
        return False
    for name, net in networks.items():
        net.load_state_dict(states[name])
    return True


def _matches(states, networks: dict[str, nn.Module]) -> bool:
    if not isinstance(states, dict) or set(states) != set(networks):
        return False
    return all({k: v.shape for k, v in states[name].items()} == {k: v.shape for k, v in net.state_dict().items()}
               for name, net in networks.items())


def store(path: Path, networks: dict[str, nn.Module]) -> None:
    states = {name: {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
              for name, net in networks.items()}
    atomic_write(path, lambda tmp: torch.save(states, tmp))


def load_or_train(path: Path | None, fresh: Callable[[], dict[str, nn.Module]],
                  train: Callable[[], dict[str, nn.Module]]) -> tuple[dict[str, nn.Module], bool]:
    """The networks restored from `path` into `fresh()` ones, or `train()`ed and stored there; and whether they
    came from the cache. `path` None: always trained, nothing stored."""
    if path is not None and path.exists():
        networks = fresh()
        if restore(path, networks):
            return networks, True
    networks = train()
    if path is not None:
        store(path, networks)
    return networks, False
