"""`SuffixPredictor`: the method for a user's own event log.

    predictor = SuffixPredictor(variant="dcw_mann").fit(frame, case="ticket", activity="step", timestamp="time",
                                                        end_activities=["Closed"])
    predictor.predict(list(predictor.running.values()))    # the rest of each running case, as activity labels
    predictor.predict_proba([["Assign", "Take in charge"]])   # next activity (and the end) probabilities
    predictor.save("model.pt");  SuffixPredictor.load("model.pt")

`fit` reads an EventLog, a pandas DataFrame (any column names, string or integer activities) or a CSV path. With
`end_activities`, a case whose last activity is not one of them is running: it is kept out of training (unless
`train_on_running`) and its prefix is in `running`. The finished cases train with the official loop; the last
`val_fraction` of them (in the log's case order) select the iteration. The budget is `TrainConfig.iterations`
(800 by default, whatever the log's size) or, with `epochs`, epochs x training pairs / batch size; `summary` states
it. A prediction stops after `TrainConfig.max_decode` activities (20 by default): `summary` counts the training and
validation suffixes longer than that, and `predict` counts (and warns about) the predictions it cut.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path
from typing import Any, Collection, Literal, Sequence

import numpy as np
import torch

from reprolab.methods.dcw_mann.log import EventLog, from_dataframe, label_ids, make_pairs, read_csv
from reprolab.methods.dcw_mann.model import EOS, MemoryEncoderDecoder, ModelConfig, SuffixModel
from reprolab.methods.dcw_mann.seq2seq import Seq2SeqAttention, Seq2SeqConfig, attention_steps
from reprolab.methods.dcw_mann.training import (TrainConfig, first_step_probabilities, longest_suffix, predict,
                                                tokens, train)
from reprolab.runtime.config import check_choice, config_to_dict
from reprolab.runtime.io import atomic_write

Variant = Literal["lstm_shared", "lstm_seq2seq", "dnc", "dc_mann", "dcw_mann"]
VARIANTS: tuple[Variant, ...] = ("lstm_shared", "lstm_seq2seq", "dnc", "dc_mann", "dcw_mann")
SEQ2SEQ = "lstm_seq2seq"
SAVE_FORMAT = "reprolab.dcw_mann.SuffixPredictor"
SAVE_VERSION = 1


def as_event_log(log: Any, case: str | None = None, activity: str | None = None,
                 timestamp: str | None = None) -> EventLog:
    """An EventLog from an EventLog, a pandas event log or the path of a CSV log. Column names (`case`,
    `activity`, `timestamp`) select the columns of a DataFrame (default: the XES columns) or of a CSV (default:
    `CaseID,ActivityID,CompleteTimestamp` with integer ids)."""
    names = {"case_key": case, "activity_key": activity, "timestamp_key": timestamp}
    keys = {k: v for k, v in names.items() if v is not None}
    if isinstance(log, EventLog):
        if keys:
            raise ValueError("column names (case, activity, timestamp) apply to a DataFrame or a CSV, not an EventLog")
        return log
    if isinstance(log, (str, Path)):
        if not keys:
            return read_csv(log)
        import pandas as pd

        path = Path(log)
        if not path.is_file():
            raise FileNotFoundError(f"event log {str(path)!r} does not exist")
        return from_dataframe(pd.read_csv(path), name=path.stem, **keys)
    if hasattr(log, "columns"):
        return from_dataframe(log, **keys)
    raise TypeError(f"log must be an EventLog, a pandas DataFrame or a CSV path, got {type(log).__name__}")


def build_model(variant: Variant, vocab: int, cfg: ModelConfig | Seq2SeqConfig, decode_steps: int) -> SuffixModel:
    """The official LSTM seq2seq (`Seq2SeqConfig`, attention over `decode_steps`) or a memory model."""
    if variant == SEQ2SEQ:
        return Seq2SeqAttention(vocab, cfg, decode_steps)
    return MemoryEncoderDecoder(vocab, dataclasses.replace(cfg, variant=variant))


def train_config_for(variant: Variant, train_cfg: TrainConfig, cfg: ModelConfig | Seq2SeqConfig) -> TrainConfig:
    """The seq2seq baseline's official optimiser settings (Adam 0.001, no clipping) replace the memory models'."""
    if variant == SEQ2SEQ:
        return dataclasses.replace(train_cfg, lr=cfg.lr, clip_value=cfg.clip_value)
    return train_cfg


def running_cases(log: EventLog, end_activities: Collection[Any] | None) -> list[int]:
    """Positions of the cases whose last activity is not an end activity (none when `end_activities` is None)."""
    if end_activities is None:
        return []
    if isinstance(end_activities, (str, bytes)) or not end_activities:
        raise ValueError(f"end_activities must be a non-empty collection of activity labels, got {end_activities!r}")
    ends = set(log.ids_of(list(end_activities)))
    return [c for c, trace in enumerate(log.traces) if trace[-1] not in ends]


class SuffixPredictor:
    """Predicts the rest of a running case (its suffix) and its next activity from activity labels, with the
    DCw-MANN or another `variant` ("dc_mann", "dnc", "lstm_shared", "lstm_seq2seq"). `model` is a `ModelConfig`
    (a `Seq2SeqConfig` for "lstm_seq2seq"), `training` a `TrainConfig`; `epochs` replaces
    `TrainConfig.iterations`, and the last `val_fraction` of the cases `fit` trains on select the iteration."""

    def __init__(self, variant: Variant = "dcw_mann", model: ModelConfig | Seq2SeqConfig | None = None,
                 training: TrainConfig | None = None, val_fraction: float = 0.1, epochs: float | None = None,
                 seed: int = 0, device: str = "cpu"):
        check_choice("variant", variant, VARIANTS)
        config_type = Seq2SeqConfig if variant == SEQ2SEQ else ModelConfig
        if model is not None and not isinstance(model, config_type):
            raise ValueError(f"variant {variant!r} takes a {config_type.__name__}, got {type(model).__name__}")
        if isinstance(model, ModelConfig) and model.variant != variant:
            raise ValueError(f"variant {variant!r} differs from model.variant {model.variant!r}")
        if not 0 < val_fraction < 1 or (epochs is not None and epochs <= 0):
            raise ValueError(f"need 0 < val_fraction < 1 and epochs > 0 (or None), got {val_fraction}, {epochs}")
        self.variant = variant
        self.model_cfg = model or (Seq2SeqConfig() if variant == SEQ2SEQ else ModelConfig(variant=variant))
        self.training = training or TrainConfig()
        self.train_cfg = self.training            # the configuration the last fit used (budget, max_decode, lr)
        self.val_fraction, self.epochs, self.seed, self.device = val_fraction, epochs, seed, device
        self.model: SuffixModel | None = None
        self.activities: tuple[Any, ...] = ()
        self.log_name, self.decode_steps, self.cut_predictions = "", 0, 0
        self.running: dict[Any, list[Any]] = {}
        self.summary: dict[str, Any] = {}
        self.fit_record: dict[str, Any] = {}

    @property
    def classes_(self) -> tuple[Any, ...]:
        """The columns of `predict_proba`: the activities, then None (the end of the case)."""
        return (*self.activities, None)

    def fit(self, log: Any, case: str | None = None, activity: str | None = None, timestamp: str | None = None,
            end_activities: Collection[Any] | None = None, train_on_running: bool = False) -> "SuffixPredictor":
        log = as_event_log(log, case, activity, timestamp)
        running = running_cases(log, end_activities)
        cases = list(range(len(log.traces))) if train_on_running else sorted(set(range(len(log.traces))) -
                                                                             set(running))
        n_val = max(1, int(len(cases) * self.val_fraction))
        train_pairs, val_pairs = make_pairs(log, cases[:-n_val]), make_pairs(log, cases[-n_val:])
        single = sum(len(log.traces[c]) < 2 for c in cases)
        counts = (f"log {log.name!r}: {len(cases)} training case(s) ({len(running)} running case(s) "
                  f"{'included' if train_on_running else 'left out'}, {single} with one event, which gives no pair)")
        if len(train_pairs) < self.training.batch_size or len(val_pairs) == 0:
            raise ValueError(f"{counts}: {len(train_pairs)} training and {len(val_pairs)} validation prefix/suffix "
                             f"pair(s); need at least batch_size = {self.training.batch_size} and 1")
        train_cfg = train_config_for(self.variant, self.training, self.model_cfg)
        if self.epochs is not None:
            train_cfg = dataclasses.replace(train_cfg, iterations=math.ceil(
                self.epochs * len(train_pairs) / train_cfg.batch_size))
        if train_cfg.max_decode == 0:
            train_cfg = dataclasses.replace(train_cfg, max_decode=longest_suffix(train_pairs, val_pairs) + 1)
        self.activities, self.log_name, self.train_cfg = log.activities, log.name, train_cfg
        self.running = {log.case_ids[c]: log.labels_of(log.traces[c]) for c in running}
        self.decode_steps = attention_steps(train_cfg.max_decode, train_pairs, val_pairs)
        torch.manual_seed(self.seed)
        self.model = build_model(self.variant, log.num_activities + 2, self.model_cfg, self.decode_steps)
        self.fit_record = train(self.model, train_pairs, val_pairs, None, train_cfg, self.seed, self.device,
                                desc=f"{self.variant} fit")
        too_long = sum(len(s) > train_cfg.max_decode for pairs in (train_pairs, val_pairs) for s in pairs.suffixes)
        self.summary = {"cases": len(log.traces), "running_cases": len(running), "training_includes_running":
                        train_on_running, "single_event_cases": single, "training_pairs": len(train_pairs),
                        "validation_pairs": len(val_pairs), "iterations": train_cfg.iterations,
                        "batch_size": train_cfg.batch_size,
                        "epochs": train_cfg.iterations * train_cfg.batch_size / len(train_pairs),
                        "selected_iteration": self.fit_record["selected_iteration"], "max_decode": train_cfg.max_decode,
                        "suffixes_longer_than_max_decode": too_long,
                        "longest_suffix": longest_suffix(train_pairs, val_pairs)}
        if too_long:
            warnings.warn(f"{counts}: {too_long} training/validation suffix(es) are longer than max_decode = "
                          f"{train_cfg.max_decode}; predictions stop after {train_cfg.max_decode} activities "
                          f"(TrainConfig(max_decode=0): the longest suffix + 1)", stacklevel=2)
        return self

    def _ids(self, prefixes: Sequence[Sequence[Any]]) -> list[tuple[int, ...]]:
        if self.model is None:
            raise RuntimeError("call fit(log) or SuffixPredictor.load(path) before predicting")
        if isinstance(prefixes, (str, bytes)) or not prefixes:
            raise ValueError("prefixes must be a non-empty list of activity sequences")
        ids = [label_ids(self.activities, p, self.log_name) for p in prefixes]
        if any(len(p) == 0 for p in ids):
            raise ValueError("every prefix needs at least one activity")
        return ids

    def predict(self, prefixes: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """The predicted rest of each case (activity labels, up to the end of the case, at most `max_decode`).
        `cut_predictions` counts those that reached `max_decode` without predicting the end."""
        cfg = self.train_cfg
        preds = predict(self.model, self._ids(prefixes), cfg.max_decode, cfg.eval_batch, self.device,
                        cfg.official_eval_batches)
        self.cut_predictions = sum(len(p) == cfg.max_decode for p in preds)
        if self.cut_predictions:
            warnings.warn(f"{self.cut_predictions} of {len(preds)} prediction(s) reached max_decode = "
                          f"{cfg.max_decode} activities without predicting the end of the case: cut there",
                          stacklevel=2)
        return [[self.activities[a - 1] for a in p if a >= 1] for p in preds]

    def next_activity(self, prefixes: Sequence[Sequence[Any]]) -> list[Any | None]:
        """The predicted next activity of each prefix (None: the model predicts the end of the case)."""
        return [p[0] if p else None for p in self.predict(prefixes)]

    def predict_proba(self, prefixes: Sequence[Sequence[Any]]) -> np.ndarray:
        """(n, A + 1): the probability of each next activity and of the end (columns `classes_`), the softmax of
        the first decoder step renormalised over the activities and EOS (GO is no prediction)."""
        cfg = self.train_cfg
        probs = first_step_probabilities(self.model, self._ids(prefixes), cfg.eval_batch, self.device,
                                         cfg.official_eval_batches)
        kept = probs[:, [*tokens(range(1, len(self.activities) + 1)), EOS]]
        return kept / kept.sum(axis=1, keepdims=True)

    def save(self, path: str | Path) -> Path:
        """One file: the format version, the variant, every config, the activity vocabulary, the fit summary and
        the weights."""
        if self.model is None:
            raise RuntimeError("call fit(log) before save")
        payload = {"format": SAVE_FORMAT, "version": SAVE_VERSION, "variant": self.variant,
                   "model_config": config_to_dict(self.model_cfg), "training": config_to_dict(self.train_cfg),
                   "val_fraction": self.val_fraction, "epochs": self.epochs, "seed": self.seed,
                   "activities": list(self.activities), "log_name": self.log_name, "summary": self.summary,
                   "decode_steps": self.decode_steps,
                   "state_dict": {k: v.cpu() for k, v in self.model.state_dict().items()}}
        return atomic_write(path, lambda tmp: torch.save(payload, tmp))

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "SuffixPredictor":
        """A predictor saved by `save` (same format version), ready to predict."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"saved predictor {str(path)!r} does not exist")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:          # torch raises several types for a file it cannot read
            raise ValueError(f"{path}: not a saved SuffixPredictor ({type(error).__name__})") from error
        if not isinstance(payload, dict) or payload.get("format") != SAVE_FORMAT:
            raise ValueError(f"{path}: not a saved SuffixPredictor")
        if payload["version"] != SAVE_VERSION:
            raise ValueError(f"{path}: saved with format version {payload['version']}; this reprolab reads version "
                             f"{SAVE_VERSION}")
        variant = payload["variant"]
        model_cfg = (Seq2SeqConfig if variant == SEQ2SEQ else ModelConfig)(**payload["model_config"])
        predictor = cls(variant, model_cfg, TrainConfig(**payload["training"]), payload["val_fraction"],
                        payload["epochs"], payload["seed"], device)
        predictor.activities, predictor.log_name = tuple(payload["activities"]), payload["log_name"]
        predictor.summary, predictor.decode_steps = payload["summary"], payload["decode_steps"]
        predictor.model = build_model(variant, len(predictor.activities) + 2, model_cfg, predictor.decode_steps)
        predictor.model.load_state_dict(payload["state_dict"])
        predictor.model.to(device)
        return predictor
