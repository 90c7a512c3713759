"""The LSTM seq2seq baseline's trained runs kept in the data cache (`reprolab.data.cache_dir() / "dcw_mann"`), so
that a later run with the same key loads a seed's selected weights (and scores them anew) instead of training them.

The key holds every config field the baseline's training reads (all but `SEQ2SEQ_FREE_FIELDS`: the other models',
the grid's layout, the scoring that reruns anyway), the log's name, the pairs it trains on, selects on and draws its
learning curve on, the seed, the device type, torch's version and `SEQ2SEQ_FORMAT`. An entry holds the selected
weights, the training's record (the curve's history and the selected iteration) and its seconds; it is a
`reprolab.runtime.cache` entry (written atomically, read with `weights_only=True`, trained anew when damaged).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from reprolab.methods.dcw_mann.log import Pairs
from reprolab.runtime.cache import entry_path
from reprolab.runtime.config import config_to_dict

SEQ2SEQ_FORMAT = 1                    # raised when the seq2seq's training or its record changes
# config fields the seq2seq's training does not read: the other models, the grid's layout, the test scoring
SEQ2SEQ_FREE_FIELDS = frozenset({"logs", "models", "second_log_models", "seeds", "second_log_seeds", "model", "tax",
                                 "official_test_pairs", "equal_seconds_reference", "iteration_cost_ms", "workers",
                                 "cache"})


def seq2seq_path(cfg: Any, log: str, pairs: tuple[Pairs, ...], seed: int, device: str) -> Path:
    """The cache file of the seq2seq trained by `cfg` (a `DcwMannConfig`) on `log` for `seed`; `pairs`: the
    training, selection and curve pairs it sees."""
    fields = {k: v for k, v in config_to_dict(cfg).items() if k not in SEQ2SEQ_FREE_FIELDS}
    key = {"format": SEQ2SEQ_FORMAT, "log": log, "config": fields, "seed": seed,
           "device": torch.device(device).type, "torch": torch.__version__}
    blobs = [json.dumps([p.prefixes, p.suffixes]).encode() for p in pairs]
    return entry_path("dcw_mann", f"lstm_seq2seq-{log}-s{seed}", key, blobs, sort_keys=True)
