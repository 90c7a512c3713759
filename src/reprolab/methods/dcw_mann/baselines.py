"""Baselines under the same split, pairs and metric: the most-frequent-suffix lookup (the mandatory sanity
baseline, not from the paper) and Tax et al.'s LSTM here; the shared-cell LSTM (`lstm_shared`), DNC and DC-MANN are
variants of `model.MemoryEncoderDecoder`, and the official LSTM seq2seq is `seq2seq.Seq2SeqAttention`.

Most-frequent suffix: count the training suffixes of each exact prefix and predict the most frequent one (ties:
the first seen); for a prefix never seen, the most frequent suffix after its last activity (as the last event of
any training prefix); else the empty suffix.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections import Counter
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.dcw_mann.log import EventLog, Pairs
from reprolab.methods.dcw_mann.metrics import score
from reprolab.runtime.config import check_at_least


class MostFrequentSuffix:
    """The most-frequent-suffix lookup (the sanity baseline, not from the paper): `fit(pairs)` counts the
    training suffixes of each exact prefix; `predict` returns the most frequent one (ties: the first seen), for an
    unseen prefix the most frequent suffix after its last activity, else the empty suffix."""

    def __init__(self) -> None:
        self.by_prefix: dict[tuple[int, ...], tuple[int, ...]] = {}
        self.by_last: dict[int, tuple[int, ...]] = {}

    def fit(self, pairs: Pairs) -> "MostFrequentSuffix":
        if len(pairs) == 0:
            raise ValueError("MostFrequentSuffix.fit needs at least one prefix/suffix pair")
        by_prefix: dict[tuple[int, ...], Counter] = {}
        by_last: dict[int, Counter] = {}
        for prefix, suffix in zip(pairs.prefixes, pairs.suffixes):
            by_prefix.setdefault(tuple(prefix), Counter())[tuple(suffix)] += 1
            by_last.setdefault(prefix[-1], Counter())[tuple(suffix)] += 1
        self.by_prefix = {k: c.most_common(1)[0][0] for k, c in by_prefix.items()}
        self.by_last = {k: c.most_common(1)[0][0] for k, c in by_last.items()}
        return self

    def predict(self, prefixes: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
        return [self.by_prefix.get(tuple(p)) or self.by_last.get(p[-1] if p else -1, ()) for p in prefixes]

    def exact_hit_rate(self, prefixes: Sequence[Sequence[int]]) -> float:
        """The share of prefixes seen exactly in training."""
        return sum(tuple(p) in self.by_prefix for p in prefixes) / max(1, len(prefixes))


SECONDS_PER_DAY = 86400.0
KERAS_BN_MOMENTUM = 0.01              # Keras BatchNormalization(momentum=0.99), in torch's convention (1 - Keras's)
KERAS_BN_EPS = 1e-3                   # Keras 2's BatchNormalization epsilon, which the official `train.py` gets
                                      # (the model saved with Keras 1.1.1 in the official repository has 1e-5)


@dataclasses.dataclass(frozen=True)
class TaxConfig:
    hidden: int = 100                 # Tax et al.: LSTM(100) layers
    dropout: float = 0.2              # Tax et al.
    lr: float = 0.002                 # Tax et al. (Nadam)
    clip_value: float = 3.0           # Tax et al. (clipvalue)
    iterations: int = 800             # the same budget of updates as the other models (Tax: epochs + early stop)
    batch_size: int = 32
    eval_every: int = 100
    patience: int = 42                # Tax et al.: early stopping, in evaluations here
    max_suffix: int = 20              # longest suffix predicted by iteration
    official_divisors: bool = False   # Tax et al.'s `train.py`: the time divisors are the mean gaps over every event
                                      # of the whole log, test cases included, a first event counting 0; False: over
                                      # the training cases' events after the first
    official_ties: bool = False       # Tax et al.'s `getSymbol`: a tie in the argmax goes to the last class in their
                                      # order (end of case first); False: to the first class (torch's argmax)
    official_keras: bool = False      # Tax et al.'s Keras layers: LSTM(dropout) drops each LSTM's input with one mask
                                      # over all time steps; hard-sigmoid input, forget and output gates; Glorot /
                                      # orthogonal initialisation, forget bias 1, one bias vector; BatchNorm momentum
                                      # 0.99, eps 1e-3. False: the shared LSTM's and each head's output dropped per
                                      # step; torch's LSTM (sigmoid gates), initialisation and BatchNorm
    official_suffix_times: bool = False   # Tax et al.'s suffix loop: the predicted (scaled) gap joins the seconds
                                      # since the previous event unscaled, and the clock advances by it times the
                                      # mean remaining time; False: the gap rescaled by its divisor for both

    def __post_init__(self) -> None:
        check_at_least(self, 1, ("hidden", "iterations", "batch_size", "eval_every", "patience", "max_suffix"))
        if not 0 <= self.dropout < 1 or self.lr <= 0:
            raise ValueError(f"need 0 <= dropout < 1 and lr > 0, got {self.dropout}, {self.lr}")


def elapsed_times(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each event's seconds since the previous event, t_i - t_{i-1} (0 for the first), and since the case start,
    t_i - t_0, of one case's event times t (seconds)."""
    return np.diff(times, prepend=times[:1]), times - times[0]


def time_features(times: np.ndarray, divisors: tuple[float, float], gaps: np.ndarray | None = None) -> np.ndarray:
    """Tax et al.'s four time features per event: time since the previous event / mean, time since the case start
    / mean, seconds since midnight / 86400, weekday / 7 (times in seconds since the epoch, UTC). `gaps` (Tax et
    al.'s suffix loop): the seconds since the previous event given apart from the clock `times`; the time since
    the case start is then their cumulative sum."""
    since_prev, since_start = elapsed_times(times) if gaps is None else (gaps, np.cumsum(gaps))
    midnight = np.mod(times, SECONDS_PER_DAY) / SECONDS_PER_DAY
    weekday = np.mod(np.floor(times / SECONDS_PER_DAY) + 3, 7) / 7        # 1970-01-01 was a Thursday (3)
    return np.stack([since_prev / divisors[0], since_start / divisors[1], midnight, weekday], axis=1)


def time_divisors(log: EventLog, cases: Sequence[int], whole_log: bool = False) -> tuple[float, float]:
    """The divisors of the first two time features: the mean time since the previous event and the mean time since
    the case start (`elapsed_times`; each at least 1 s). Default: over the events after the first of `cases`;
    `whole_log` (Tax et al.'s code): over every event of every case of `log`, a case's first event counting 0 in both
    means."""
    if whole_log:
        counted, first = range(len(log.times)), 0
    else:
        counted, first = [c for c in cases if len(log.traces[c]) > 1], 1
    elapsed = [elapsed_times(log.times[c]) for c in counted]
    gaps = np.concatenate([since_prev[first:] for since_prev, _ in elapsed])
    starts = np.concatenate([since_start[first:] for _, since_start in elapsed])
    return max(float(gaps.mean()), 1.0), max(float(starts.mean()), 1.0)


def mean_remaining_time(log: EventLog, cases: Sequence[int]) -> float:
    """Tax et al.'s `divisor3`: the mean over `cases` of each case's mean remaining time (its end minus the time
    of each of its events), in seconds."""
    return float(np.mean([np.mean(log.times[c][-1] - log.times[c]) for c in cases]))


def next_class(logits: torch.Tensor, official_ties: bool = False) -> torch.Tensor:
    """The predicted class of each row of (n, A + 1) logits (activities 0..A-1, then the end of case A): the
    argmax, ties to the first class. `official_ties` (Tax et al.'s `getSymbol`): the last largest softmax
    probability in their class order, the end of case first and then the activities by id, so a tie goes to the
    highest activity id, and to the end of case only when no activity ties with it."""
    if not official_ties:
        return logits.argmax(-1)
    probs = torch.softmax(logits, -1)
    ordered = torch.cat([probs[:, -1:], probs[:, :-1]], dim=1)          # Tax et al.'s order: end, activities
    last = ordered.shape[1] - 1 - ordered.flip(1).argmax(1)             # torch's argmax takes the first maximum
    return torch.where(last == 0, ordered.shape[1] - 1, last - 1)


def prefix_features(acts: Sequence[int], times: np.ndarray, num_activities: int,
                    divisors: tuple[float, float], gaps: np.ndarray | None = None) -> np.ndarray:
    """The |A| + 5 features of each event of a prefix: one-hot activity, position (1-based), four time features
    (`gaps`: see `time_features`)."""
    k = len(acts)
    onehot = np.zeros((k, num_activities), dtype=np.float32)
    onehot[np.arange(k), np.asarray(acts) - 1] = 1
    return np.concatenate([onehot, np.arange(1, k + 1)[:, None], time_features(times, divisors, gaps)], axis=1)


def sequence_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Keras's `LSTM(dropout=p)` on the LSTM's input x (B, T, F): x * m / (1 - p), m ~ Bernoulli(1 - p) of shape
    (B, 1, F), one mask per sample and feature for all time steps; x itself when not training."""
    if not training or p == 0:
        return x
    return x * torch.bernoulli(x.new_full((x.shape[0], 1, x.shape[2]), 1 - p)) / (1 - p)


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras's `hard_sigmoid`: clip(0.2 x + 0.5, 0, 1) (not torch's `hardsigmoid`, x / 6 + 0.5)."""
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


class HardSigmoidLSTM(nn.LSTM):
    """One batch-first LSTM layer with nn.LSTM's parameters and equations but Keras 2.0-2.2's default
    `recurrent_activation`, `hard_sigmoid`, on the input, forget and output gates, from zero states:
    z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, split into i, f, g, o (torch's order);
    c_t = hard_sigmoid(f) c_{t-1} + hard_sigmoid(i) tanh(g);  h_t = hard_sigmoid(o) tanh(c_t).
    Every step runs (no masking), as nn.LSTM; x (B, T, F) -> (h_1..h_T (B, T, H), (h_T, c_T) each (1, B, H))."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size, batch_first=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        projected = F.linear(x, self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0)     # W_ih x_t + biases, all t
        outputs = []
        for t in range(x.shape[1]):
            z = projected[:, t] + F.linear(h, self.weight_hh_l0)
            i, f, _, o = hard_sigmoid(z).chunk(4, dim=1)                 # one clip for the three gates
            c = f * c + i * torch.tanh(z.chunk(4, dim=1)[2])
            h = o * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h[None], c[None])


def keras_lstm_init_(lstm: nn.LSTM) -> None:
    """Keras 2's LSTM initialisation: Glorot-uniform input kernel, orthogonal recurrent kernel, zero bias with the
    forget block at 1 (`unit_forget_bias`). Keras has one bias vector: b_ih holds it, b_hh stays 0 and untrained."""
    hidden = lstm.hidden_size
    with torch.no_grad():
        nn.init.xavier_uniform_(lstm.weight_ih_l0)
        nn.init.orthogonal_(lstm.weight_hh_l0)
        lstm.bias_ih_l0.zero_()
        lstm.bias_ih_l0[hidden:2 * hidden] = 1.0                  # torch's gate order: i, f, g, o
        lstm.bias_hh_l0.zero_()
    lstm.bias_hh_l0.requires_grad_(False)


def keras_dense_init_(linear: nn.Linear) -> None:
    """Keras's Dense initialisation: Glorot-uniform kernel, zero bias."""
    with torch.no_grad():
        nn.init.xavier_uniform_(linear.weight)
        linear.bias.zero_()


class TaxNetwork(nn.Module):
    """Shared LSTM + BatchNorm, then one LSTM + BatchNorm per head: next activity (|A| + 1 classes, the last one
    = end of case) and time to the next event (scaled by the mean). Default: the shared LSTM's output and each
    head's LSTM output dropped (a mask per step), torch's nn.LSTM (sigmoid gates), initialisation and BatchNorm.
    `cfg.official_keras` (Tax et al.'s Keras layers): each LSTM's input dropped with one mask over its time steps
    (`sequence_dropout`), hard-sigmoid gates (`HardSigmoidLSTM`), Keras's initialisation (`keras_lstm_init_`,
    `keras_dense_init_`) and BatchNorm momentum 0.99, eps 1e-3."""

    def __init__(self, features: int, num_activities: int, cfg: TaxConfig):
        super().__init__()
        h = cfg.hidden
        make_lstm = HardSigmoidLSTM if cfg.official_keras else functools.partial(nn.LSTM, batch_first=True)
        self.shared, self.bn = make_lstm(features, h), nn.BatchNorm1d(h)
        self.act_lstm, self.act_bn = make_lstm(h, h), nn.BatchNorm1d(h)
        self.time_lstm, self.time_bn = make_lstm(h, h), nn.BatchNorm1d(h)
        self.act_out, self.time_out = nn.Linear(h, num_activities + 1), nn.Linear(h, 1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.official_keras = cfg.official_keras
        if cfg.official_keras:
            for lstm in (self.shared, self.act_lstm, self.time_lstm):
                keras_lstm_init_(lstm)
            for linear in (self.act_out, self.time_out):
                keras_dense_init_(linear)
            for bn in (self.bn, self.act_bn, self.time_bn):
                bn.momentum, bn.eps = KERAS_BN_MOMENTUM, KERAS_BN_EPS

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-activity logits (B, |A| + 1) and the scaled time to the next event (B,) of x (B, T, F):
        s = BN(LSTM_shared(x)) over every step, then per head BN(LSTM_head(s) at the last step) and its linear map;
        each LSTM with the dropout of `dropped_lstm`."""
        shared = self.bn(self.dropped_lstm(self.shared, x).transpose(1, 2)).transpose(1, 2)
        act = self.act_bn(self.dropped_lstm(self.act_lstm, shared, last_step=True))
        tim = self.time_bn(self.dropped_lstm(self.time_lstm, shared, last_step=True))
        return self.act_out(act), self.time_out(tim)[:, 0]

    def dropped_lstm(self, lstm: nn.Module, x: torch.Tensor, last_step: bool = False) -> torch.Tensor:
        """The outputs of `lstm` on x (B, T, F), every step (B, T, H) or the last (B, H), with dropout p: by default
        on those outputs, a mask per step (nn.Dropout); `official_keras` (Tax et al.'s Keras graph): on x, one mask
        over its time steps (`sequence_dropout`)."""
        if self.official_keras:
            x = sequence_dropout(x, self.dropout.p, self.training)
        out = lstm(x)[0]
        out = out[:, -1] if last_step else out
        return out if self.official_keras else self.dropout(out)


class TaxLSTM:
    """Tax et al. (2017): next activity and time from the |A| + 5 features of the prefix, left-padded to `maxlen`,
    the longest training case + 1, as Tax et al.'s code pads every prefix (the network has no masking, so the
    padding length changes its state; a longer prefix is padded to its own length and run in a group of its length,
    so no prediction depends on the other prefixes of its batch); the suffix by iterating the next-event prediction
    (the predicted event and its predicted time join the prefix) until the end-of-case class or `max_suffix` events.
    The predicted gap y (scaled) joins as y x the mean gap; `cfg.official_suffix_times` (Tax et al.'s
    `evaluate_suffix_and_remaining_time.py`): y joins the seconds since the previous event as it is (the feature
    reads y / mean gap), the time since the case start sums those seconds, and the clock of the midnight and weekday
    features advances by y x the mean remaining time (`mean_remaining_time`). Model selection on validation
    next-activity accuracy."""

    def __init__(self, cfg: TaxConfig = TaxConfig()):
        self.cfg = cfg
        self.net: TaxNetwork | None = None
        self.history: list[dict[str, Any]] = []

    def _padded(self, prefixes: Sequence[tuple[Sequence[int], np.ndarray]], length: int,
                gaps: Sequence[np.ndarray] | None = None) -> torch.Tensor:
        """The features of (activities, times) prefixes, each left-padded with zero rows to `length` steps
        (`gaps`: each prefix's seconds since the previous event, see `time_features`)."""
        x = np.zeros((len(prefixes), length, self.log.num_activities + 5), dtype=np.float32)
        for row, (acts, times) in enumerate(prefixes):
            x[row, length - len(acts):] = prefix_features(acts, times, self.log.num_activities, self.divisors,
                                                          None if gaps is None else gaps[row])
        return torch.from_numpy(x)

    def prepare(self, log: EventLog, train_cases: Sequence[int]) -> "TaxLSTM":
        """The time features' divisors, the mean remaining time and the padding length read from the log and its
        training cases, and an untrained network (initialised from torch's global generator); `fit` trains it."""
        cfg = self.cfg
        self.divisors = time_divisors(log, train_cases, whole_log=cfg.official_divisors)
        self.remaining_mean = mean_remaining_time(log, range(len(log.traces)) if cfg.official_divisors
                                                  else train_cases)
        self.log, self.maxlen = log, max(len(log.traces[c]) for c in train_cases) + 1
        self.net = TaxNetwork(log.num_activities + 5, log.num_activities, cfg)
        return self

    def fit(self, log: EventLog, train_cases: Sequence[int], val_pairs: Pairs, seed: int) -> "TaxLSTM":
        cfg = self.cfg
        torch.manual_seed(seed)
        self.prepare(log, train_cases)
        events = [(c, k) for c in train_cases for k in range(1, len(log.traces[c]) + 1)]   # k = len: end of case
        optimizer = torch.optim.NAdam(self.net.parameters(), lr=cfg.lr)
        rng = np.random.default_rng(seed)
        best, best_state, waited, seconds = -1.0, None, 0, 0.0
        for iteration in range(1, cfg.iterations + 1):
            start = time.perf_counter()
            self.net.train()
            chosen = [events[i] for i in rng.choice(len(events), cfg.batch_size, replace=False)]
            x = self._padded([(log.traces[c][:k], log.times[c][:k]) for c, k in chosen], self.maxlen)
            act_target = torch.tensor([log.traces[c][k] - 1 if k < len(log.traces[c]) else log.num_activities
                                       for c, k in chosen])
            gap = torch.tensor([(log.times[c][k] - log.times[c][k - 1]) / self.divisors[0]
                                if k < len(log.traces[c]) else 0.0 for c, k in chosen], dtype=torch.float32)
            act_logits, time_pred = self.net(x)
            loss = F.cross_entropy(act_logits, act_target) + (time_pred - gap).abs().mean()
            optimizer.zero_grad()
            loss.backward()
            for p in self.net.parameters():
                if p.grad is not None:
                    p.grad.clamp_(-cfg.clip_value, cfg.clip_value)
            optimizer.step()
            seconds += time.perf_counter() - start
            if iteration % cfg.eval_every == 0 or iteration == cfg.iterations:
                val = score(self.predict_pairs(val_pairs), val_pairs.suffixes)
                self.history.append({"step": iteration, "train_seconds": seconds,
                                     **{f"val_{k}": v for k, v in val.items()}})
                if val["next_activity_accuracy"] > best:
                    best, best_state, waited = val["next_activity_accuracy"], {
                        k: v.clone() for k, v in self.net.state_dict().items()}, 0
                else:
                    waited += 1
                    if waited >= cfg.patience:
                        break
        self.net.load_state_dict(best_state)
        return self

    def predict_pairs(self, pairs: Pairs, chunk: int = 500) -> list[list[int]]:
        """Suffixes of the pairs' prefixes (their cases' true times up to the prefix end), by iteration."""
        if self.net is None:
            raise RuntimeError("TaxLSTM.predict_pairs before fit")
        return [s for start in range(0, len(pairs), chunk)
                for s in self._iterate(pairs.subset(range(start, min(start + chunk, len(pairs)))))]

    @torch.no_grad()
    def _iterate(self, pairs: Pairs) -> list[list[int]]:
        self.net.eval()
        log, n_act = self.log, self.log.num_activities
        acts = [list(p) for p in pairs.prefixes]
        times = [list(log.times[c][:len(p)]) for c, p in zip(pairs.cases, pairs.prefixes)]
        official = self.cfg.official_suffix_times
        gaps = [list(elapsed_times(np.asarray(t))[0]) for t in times] if official else None
        out: list[list[int]] = [[] for _ in acts]
        active = list(range(len(acts)))
        for _ in range(self.cfg.max_suffix):
            if not active:
                break
            nxt, predicted = {}, {}
            groups: dict[int, list[int]] = {}
            for i in active:
                groups.setdefault(max(self.maxlen, len(acts[i])), []).append(i)
            for length, rows in groups.items():
                logits, gap = self.net(self._padded([(acts[i], np.asarray(times[i])) for i in rows], length,
                                                    [np.asarray(gaps[i]) for i in rows] if official else None))
                nxt.update(zip(rows, next_class(logits, self.cfg.official_ties).tolist()))
                predicted.update(zip(rows, gap.clamp_min(0).tolist()))
            still = []
            for i in active:
                if nxt[i] == n_act:
                    continue
                out[i].append(nxt[i] + 1)
                acts[i].append(nxt[i] + 1)
                if official:
                    gaps[i].append(predicted[i])
                    times[i].append(times[i][-1] + predicted[i] * self.remaining_mean)
                else:
                    times[i].append(times[i][-1] + predicted[i] * self.divisors[0])
                still.append(i)
            active = still
        return out
