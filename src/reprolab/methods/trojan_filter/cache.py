"""Trained networks (and STRIP's clean pass) kept in the data cache (`reprolab.data.cache_dir() / "trojan_filter"`),
keyed by everything their training depends on, so that a later run with the same key loads them instead of training
them again:

- a Trojaned (or the benign) classifier, with the trainable state of its attack: every config field except those
  of the defenses, the evaluation and the run's layout (`CLASSIFIER_FREE_FIELDS`), the attack, the norm sweep's
  blend weight, the epochs, the seed and the device type;
- the Februus-like inpainter, which sees only the defender's clean images: the data split sizes, its training
  settings, the filters' width and latent it is built with, the seed and the device type (shared by every attack of
  a seed);
- a baseline's repair of a classifier (Neural Cleanse's trigger search and unlearning, Fine-Pruning's pruning and
  fine-tuning): the classifier's key, the baseline's settings and torch's global generators' states before the repair
  (`load_or_repair`);
- STRIP's clean pass (its threshold and its blend generator's state after it; no network): the classifier's weights
  (raw bytes, names and shapes) and memory format, the clean defender images (raw bytes), STRIP's settings, the seed
  and the device type (`experiment.strip_detector`).

Every key also holds the torch version. The entries are `reprolab.runtime.cache` entries: written atomically after
the training, a network's with its seconds (`train_seconds`, recorded on a hit too), read with `weights_only=True`;
an entry that does not match its networks is removed and trained anew, never trusted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig
from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
from reprolab.runtime.cache import Networks, entry_path, load_or_train, tensor_bytes
from reprolab.runtime.config import config_to_dict
from reprolab.runtime.train import is_generator_state, set_torch_rng_state, torch_rng_state

REPAIR_FORMAT = 1       # part of a repair's key: raised when what its entry holds changes (`load_or_repair`)
# part of a STRIP clean pass's key (`experiment.strip_detector`): raised when what its entry holds or how the pass
# computes it (`STRIP.entropy`, `strip.clean_threshold`) changes
STRIP_FORMAT = 1
CALIBRATION_KEYS = ("threshold", "generator_state")     # what a STRIP clean pass's entry holds
# fields that do not reach the classifier's training: the defenses, the evaluation, the sweeps and the run's layout
CLASSIFIER_FREE_FIELDS = frozenset({
    "attacks", "defenses", "seeds", "test_size", "filter", "filter_width", "filter_latent", "defender_sweep",
    "sweep_attacks", "norm_sweep", "aif_steps", "aif_enforce_budget", "collapse_floor", "strip_blends", "strip_fpr",
    "strip_clip", "strip_threshold", "neural_cleanse", "fine_pruning", "februus", "checkpoint_every", "workers",
    "cache"})


def cache_path(kind: str, key: dict, blobs: tuple[bytes, ...] = ()) -> Path:
    """The cache file of network `kind` under `key` (a JSON-ready dict; the torch version is added) and `blobs`."""
    return entry_path("trojan_filter", kind, {**key, "torch": torch.__version__}, blobs, sort_keys=True)


def classifier_key(cfg: TrojanExperimentConfig, attack: str | None, alpha: float | None, epochs: int, seed: int,
                   device: str) -> dict:
    """What a classifier's training depends on (`attack` None: the benign reference)."""
    fields = {k: v for k, v in config_to_dict(cfg).items() if k not in CLASSIFIER_FREE_FIELDS}
    return {**fields, "attack": attack, "alpha": alpha, "epochs": epochs, "seed": seed,
            "device": torch.device(device).type}


def inpainter_settings(cfg: FebruusConfig) -> dict:
    """The Februus settings the inpainter's training reads: all but those of the heat map (`heat_threshold`, `heat`,
    `layer`), which only the filter built on it reads."""
    return {key: value for key, value in config_to_dict(cfg).items() if key not in ("heat_threshold", "heat", "layer")}


def inpainter_key(cfg: TrojanExperimentConfig, seed: int, device: str) -> dict:
    """What the Februus-like inpainter's training depends on: the defender set, its settings and the seed."""
    return {"dataset": cfg.dataset, "train_size": cfg.train_size, "defender_size": cfg.defender_size,
            "februus": inpainter_settings(cfg.februus), "width": cfg.filter_width, "latent": cfg.filter_latent,
            "seed": seed, "device": torch.device(device).type}


def baseline_key(classifier: dict, settings: Any) -> dict:
    """What a baseline's repair of a classifier depends on besides the global generators: the classifier's key
    (`classifier_key`) and the baseline's settings (a dataclass)."""
    return {**classifier, "settings": config_to_dict(settings)}


def load_or_repair(kind: str, key: dict, fresh: Callable[[], Networks],
                   repair: Callable[[], tuple[Networks, dict[str, Any]]], extra_keys: tuple[str, ...],
                   cache: bool = True) -> tuple[Networks, dict[str, Any], bool]:
    """`load_or_train` for a baseline's repair that draws from torch's global generators (dropout while it fine-tunes
    the classifier): the entry's key also holds those generators' states before the repair, and their states after
    it are kept with the entry and set on a hit, so every later draw is the one that follows the repair. The extras
    (`extra_keys`) come with `train_seconds`, the repair's seconds (those of the run that did it); `cache` false:
    always repaired, nothing stored. An entry whose kept states are not generator states is repaired again."""
    before = torch_rng_state()
    blobs = tensor_bytes((before["torch"], *before.get("cuda", ())))
    path = cache_path(kind, {**key, "format": REPAIR_FORMAT}, blobs) if cache else None

    def train() -> tuple[Networks, dict[str, Any]]:
        start = time.perf_counter()
        networks, extra = repair()
        return networks, {**extra, "train_seconds": time.perf_counter() - start, "rng": torch_rng_state()}

    networks, extra, cached = load_or_train(path, fresh, train, (*extra_keys, "train_seconds", "rng"),
                                            check=holds_generator_states)
    if cached:
        set_torch_rng_state(extra["rng"])
    return networks, {k: v for k, v in extra.items() if k != "rng"}, cached


def holds_generator_states(extra: dict[str, Any]) -> bool:
    """Whether a repair's entry keeps torch's generator states after it (`torch_rng_state`'s form)."""
    states = extra["rng"]
    return isinstance(states, dict) and is_generator_state(states.get("torch"))
