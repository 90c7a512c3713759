"""`SuffixPredictor`: the method for a user's own event log.

    predictor = SuffixPredictor(variant="dcw_mann").fit(log)       # an EventLog, pm4py's DataFrame or a CSV path
    predictor.predict([["Assign", "Take in charge"]])             # the rest of each case, as activity labels
    predictor.next_activity([["Assign"]])

`fit` trains on every case of the log (the last `val_fraction` of them select the iteration) with the official
loop; prefixes and predictions use the log's own activity labels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import torch

from reprolab.methods.dcw_mann.log import EventLog, from_dataframe, make_pairs, read_csv
from reprolab.methods.dcw_mann.model import MemoryEncoderDecoder, ModelConfig, Variant
from reprolab.methods.dcw_mann.training import TrainConfig, longest_suffix, predict, train


def as_event_log(log: Any) -> EventLog:
    """An EventLog from an EventLog, a pandas event log with XES columns, or the path of a CSV log."""
    if isinstance(log, EventLog):
        return log
    if isinstance(log, (str, Path)):
        return read_csv(log)
    if hasattr(log, "columns"):
        return from_dataframe(log)
    raise TypeError(f"log must be an EventLog, a pandas DataFrame with XES columns or a CSV path, got "
                    f"{type(log).__name__}")


class SuffixPredictor:
    def __init__(self, variant: Variant = "dcw_mann", model: ModelConfig | None = None,
                 training: TrainConfig | None = None, val_fraction: float = 0.1, seed: int = 0,
                 device: str = "cpu"):
        self.model_cfg = ModelConfig(variant=variant) if model is None else model
        if model is not None and model.variant != variant:
            raise ValueError(f"variant {variant!r} differs from model.variant {model.variant!r}")
        self.train_cfg = training or TrainConfig()
        self.val_fraction, self.seed, self.device = val_fraction, seed, device
        self.model: MemoryEncoderDecoder | None = None
        self.log: EventLog | None = None

    def fit(self, log: Any) -> "SuffixPredictor":
        self.log = as_event_log(log)
        cases = len(self.log.traces)
        n_val = max(1, int(cases * self.val_fraction))
        if cases - n_val < 1:
            raise ValueError(f"log {self.log.name!r} has {cases} case(s): too few to train and validate")
        train_pairs = make_pairs(self.log, range(cases - n_val))
        val_pairs = make_pairs(self.log, range(cases - n_val, cases))
        if self.train_cfg.max_decode == 0:
            self.train_cfg = dataclasses.replace(self.train_cfg,
                                                 max_decode=longest_suffix(train_pairs, val_pairs) + 1)
        torch.manual_seed(self.seed)
        self.model = MemoryEncoderDecoder(self.log.num_activities + 2, self.model_cfg)
        self.fit_record = train(self.model, train_pairs, val_pairs, None, self.train_cfg, self.seed, self.device,
                                desc=f"{self.model_cfg.variant} fit")
        return self

    def _ids(self, prefixes: Sequence[Sequence[Any]]) -> list[tuple[int, ...]]:
        if self.model is None or self.log is None:
            raise RuntimeError("call fit(log) before predicting")
        if isinstance(prefixes, (str, bytes)) or not prefixes:
            raise ValueError("prefixes must be a non-empty list of activity sequences")
        ids = [self.log.ids_of(p) for p in prefixes]
        if any(len(p) == 0 for p in ids):
            raise ValueError("every prefix needs at least one activity")
        return ids

    def predict(self, prefixes: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """The predicted rest of each case (activity labels, up to the end of the case)."""
        preds = predict(self.model, self._ids(prefixes), self.train_cfg.max_decode, self.train_cfg.eval_batch,
                        self.device, self.train_cfg.official_eval_batches)
        return [self.log.labels_of([a for a in p if a >= 1]) for p in preds]

    def next_activity(self, prefixes: Sequence[Sequence[Any]]) -> list[Any | None]:
        """The predicted next activity of each prefix (None: the model predicts the end of the case)."""
        return [p[0] if p else None for p in self.predict(prefixes)]
