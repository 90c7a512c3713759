"""The LSTM seq2seq's and Tax et al.'s LSTM's trained runs kept in the data cache (`reprolab.data.cache_dir() /
"dcw_mann"`), so that a later run with the same key loads a seed's selected weights (and scores them anew) instead of
training them.

The key holds the baseline's name and `BASELINE_FORMAT`, every config field its training reads (all but
`FREE_FIELDS`: the other models', the grid's layout, the scoring that reruns anyway), the log's name, the pairs it
trains on, selects on and draws its learning curve on, the seed, the device type and torch's version. An entry holds
the selected weights, the training's record (history, selected iteration) and its seconds; it is a
`reprolab.runtime.cache` entry (written atomically, read with `weights_only=True`, trained anew when damaged).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch

from reprolab.methods.dcw_mann.log import Pairs
from reprolab.runtime.cache import entry_path
from reprolab.runtime.config import config_to_dict

Baseline = Literal["lstm_seq2seq", "tax_lstm"]
BASELINE_FORMAT = 1                   # raised when a cached baseline's training or its record changes
# config fields no cached baseline's training reads: the other models, the grid's layout, the test scoring
_SHARED_FREE = frozenset({"logs", "models", "second_log_models", "seeds", "second_log_seeds", "model",
                          "official_test_pairs", "equal_seconds_reference", "iteration_cost_ms", "workers", "cache"})
FREE_FIELDS: dict[str, frozenset[str]] = {"lstm_seq2seq": _SHARED_FREE | {"tax"},
                                          "tax_lstm": _SHARED_FREE | {"seq2seq"}}


def baseline_path(cfg: Any, baseline: Baseline, log: str, pairs: tuple[Pairs, ...], seed: int, device: str) -> Path:
    """The cache file of `baseline` trained by `cfg` (a `DcwMannConfig`) on `log` for `seed`; `pairs`: the
    training, selection and curve pairs it sees."""
    fields = {k: v for k, v in config_to_dict(cfg).items() if k not in FREE_FIELDS[baseline]}
    key = {"format": BASELINE_FORMAT, "baseline": baseline, "log": log, "config": fields, "seed": seed,
           "device": torch.device(device).type, "torch": torch.__version__}
    blobs = [json.dumps([p.prefixes, p.suffixes]).encode() for p in pairs]
    return entry_path("dcw_mann", f"{baseline}-{log}-s{seed}", key, blobs, sort_keys=True)
