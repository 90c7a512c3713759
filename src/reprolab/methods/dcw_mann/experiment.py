"""`reprolab run dcw_mann`: suffix and next-activity prediction on real event logs, DCw-MANN against the official
LSTM seq2seq (`lstm_seq2seq`: BiLSTM encoder, attention decoder), the prototype's shared-cell LSTM (`lstm_shared`),
DNC, DC-MANN, Tax et al.'s LSTM and the most-frequent-suffix lookup, over a grid of (log, model, seeds).

- quick (CPU): Helpdesk with all six neural models, then BPI'12 W with cases cut to their first 21 events
  (prefixes <= 20), the LSTM seq2seq and DCw-MANN; 3 seeds each, 800 iterations, quick sizes (N 16, W 32, R 1,
  H 64, batch 32; the seq2seq baseline at its official LSTM(100) / LSTM(200)); the learning curve on a fixed 600-pair
  test subset every 100 iterations, selection on a fixed subset of 1,000 validation pairs, the selected model scored
  on all test pairs, and in the official batches of 10 on the first 3,300 test pairs; the frequency baseline on
  every log.
- paper (GPU): helpdesk, bpi_12_w, bpi_13_incidents and env_permit, all models, 3 seeds, 64 x 64 memory, R 1,
  H 100 (the official Financial Log sizes), batch 10 (official), 10k iterations.
Equal training seconds: DCw-MANN is also selected among its evaluations up to iterations x cost(LSTM seq2seq) /
cost(DCw-MANN), the costs per iteration being fixed numbers in the config (`iteration_cost_ms`, measured once by
`python -m benchmarks dcw_mann`), so no result reads the clock.
The seeds of one (log, model) of the memory models are trained together (`stacked.train_seeds`, the same runs as one
`train` per seed to float rounding) and scored together (`stacked.stacked_predict`) in one grid cell; the seq2seq
(`stacked_models` can add it) and Tax et al.'s LSTM have one cell per seed.
With `cache`, a seed's LSTM seq2seq (when its seeds are not stacked) or Tax et al.'s LSTM of an earlier run with
the same key is loaded from the data cache (`cache.py`) and scored anew instead of trained (`cached` in its run's
record; `fit_seconds` then those of the run that trained it). `--resume` skips finished cells; a cell checkpoints
every `eval_every` iterations. Selection on validation (the last 10% of the training cases)."""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any, Literal

import numpy as np
import torch

from reprolab.methods.dcw_mann.baselines import MostFrequentSuffix, TaxConfig, TaxLSTM
from reprolab.methods.dcw_mann.cache import baseline_path
from reprolab.methods.dcw_mann.claims import claims
from reprolab.methods.dcw_mann.log import EventLog, Pairs, SplitOrder, load_log, make_pairs, split_cases
from reprolab.methods.dcw_mann.metrics import accuracy_by_prefix_length, score
from reprolab.methods.dcw_mann.model import MemoryEncoderDecoder, ModelConfig, SuffixModel
from reprolab.methods.dcw_mann.plots import plot_curves, plot_memory, plot_prefix_accuracy
from reprolab.methods.dcw_mann.predictor import build_model, train_config_for
from reprolab.methods.dcw_mann.seq2seq import Seq2SeqConfig, attention_steps
from reprolab.methods.dcw_mann.stacked import stacked_models, stacked_predict, train_seeds
from reprolab.methods.dcw_mann.training import (Selection, TrainConfig, decoding_targets, encode_prefixes,
                                                longest_suffix, predict, train)
from reprolab.runtime.cache import load_or_train
from reprolab.runtime.config import ConfigError, check_at_least, check_options
from reprolab.runtime.grid import GridResults, cell_checkpoint
from reprolab.runtime.results import RunContext, RunResult
from reprolab.runtime.stats import mean_se

NEEDS_EXTRA_DATA = False
LogName = Literal["helpdesk", "bpi_12_w", "bpi_12_w_no_repeat", "bpi_13_incidents", "env_permit"]
ModelName = Literal["lstm_shared", "lstm_seq2seq", "dnc", "dc_mann", "dcw_mann", "tax_lstm"]
GRID = "run"
SUBSET_SEED = 0                       # the fixed shuffle of the curve's test subset


# Milliseconds per training iteration of one seed (`train`, one thread) on the quick data, measured once by
# `python -m benchmarks dcw_mann` on a 2-core AMD EPYC CPU; the equal-seconds budgets and the curves' seconds axis
# use them (fixed numbers, so no result depends on the clock).
QUICK_ITERATION_COST_MS = (
    ("helpdesk", "lstm_shared", 6.7), ("helpdesk", "lstm_seq2seq", 17.8), ("helpdesk", "dnc", 36.4),
    ("helpdesk", "dc_mann", 34.9), ("helpdesk", "dcw_mann", 33.1),
    ("bpi_12_w", "lstm_shared", 12.2), ("bpi_12_w", "lstm_seq2seq", 43.7), ("bpi_12_w", "dnc", 95.6),
    ("bpi_12_w", "dc_mann", 89.5), ("bpi_12_w", "dcw_mann", 73.3))
STACKABLE: tuple[str, ...] = ("lstm_shared", "lstm_seq2seq", "dnc", "dc_mann", "dcw_mann")   # not Tax et al.'s


@dataclasses.dataclass(frozen=True)
class DcwMannConfig:
    logs: tuple[LogName, ...] = ("helpdesk", "bpi_12_w")
    models: tuple[ModelName, ...] = ("lstm_shared", "lstm_seq2seq", "dnc", "dc_mann", "dcw_mann", "tax_lstm")
    second_log_models: tuple[ModelName, ...] = ("lstm_seq2seq", "dcw_mann")   # models on every log after the first
    seeds: int = 3                    # a paired comparison needs >= 3 seeds to be decidable
    second_log_seeds: int = 3         # seeds on every log after the first
    stack_seeds: bool = True          # the seeds of each of `stacked_models` trained and scored together
                                      # (`stacked`; same runs to float rounding); False: one `train` per seed
    stacked_models: tuple[ModelName, ...] = ("lstm_shared", "dnc", "dc_mann", "dcw_mann")   # the memory models;
                                      # the seq2seq stacks too, but on the 2-core CPU its stacked training is no
                                      # faster and its stacked decoding slower (`python -m benchmarks dcw_mann`)
    model: ModelConfig = ModelConfig(compile_memory=True)   # the quick run's memory models train with the compiled
                                      # memory step (`memory.compiled_step`; evaluation eager)
    seq2seq: Seq2SeqConfig = Seq2SeqConfig()    # the official seq2seq baseline's sizes and optimiser
    train: TrainConfig = TrainConfig(eval_batch=1000)    # up to 1,000 prefixes of one length per evaluation batch
                                                         # (a prediction does not depend on its batch)
    tax: TaxConfig = TaxConfig()
    curve_pairs: int = 600            # test subset of the learning curve (0: all test pairs)
    val_pairs: int = 1000             # validation subset for model selection (0: all validation pairs)
    official_test_pairs: int = 3300   # the official batch-10 scoring on the first test pairs in order (0: all);
                                      # quick cut: all of Helpdesk's 3,261, the first 3,300 of BPI'12 W's 19,201
    max_case_len: int = 21            # cases cut to their first events (0: whole cases); Helpdesk's longest is 14
    min_prefix_len: int = 1           # the prototype's; Tax et al. score k >= 2
    split_order: SplitOrder = "file"  # Tax et al.'s file order (the reference numbers'); "time": by case start
    equal_seconds_reference: ModelName = "lstm_seq2seq"   # DCw-MANN's equal-seconds budget is this model's seconds
    iteration_cost_ms: tuple[tuple[str, str, float], ...] = QUICK_ITERATION_COST_MS   # (log, model, ms); see above
    workers: int = 2
    # keep the LSTM seq2seq's and Tax et al.'s LSTM's trained runs in the data cache, keyed by what they depend on
    # (cache.py)
    cache: bool = True

    def __post_init__(self) -> None:
        check_options(self)
        if not self.logs or not self.models:
            raise ConfigError("config keys 'logs' and 'models' need at least one value each")
        check_at_least(self, 1, ("seeds", "second_log_seeds", "workers", "min_prefix_len"))
        if not set(self.stacked_models) <= set(STACKABLE):
            raise ConfigError(f"config key 'stacked_models': only {STACKABLE} stack their seeds, got "
                              f"{self.stacked_models}")
        if self.seq2seq.time_major_attention and self.stack_seeds and "lstm_seq2seq" in self.stacked_models:
            raise ConfigError("config key 'seq2seq.time_major_attention' mixes the samples of a batch, which "
                              "stacking seeds changes: leave lstm_seq2seq out of 'stacked_models'")
        check_at_least(self, 0, ("curve_pairs", "val_pairs", "max_case_len", "official_test_pairs"))
        if 0 < self.max_case_len < 2:
            raise ConfigError(f"config key 'max_case_len' must be 0 or >= 2, got {self.max_case_len}")
        for log in self.logs:
            budget = equal_seconds_budget(self, log)
            if budget is not None and not 1 <= budget <= self.train.iterations:
                raise ConfigError(f"config key 'iteration_cost_ms': DCw-MANN's equal-seconds budget on {log} is "
                                  f"{budget} iterations; it must be 1 to train.iterations ({self.train.iterations})")


def iteration_cost(cfg: DcwMannConfig, log: str, model: str) -> float | None:
    """Milliseconds per training iteration of `model` on `log` from the config's table (None: not measured)."""
    return next((ms for lg, m, ms in cfg.iteration_cost_ms if lg == log and m == model), None)


def equal_seconds_budget(cfg: DcwMannConfig, log: str) -> int | None:
    """DCw-MANN's iterations in the reference model's training seconds: iterations x cost(reference) / cost(DCw-MANN)
    (None when a cost is not in the table)."""
    ref, dcw = iteration_cost(cfg, log, cfg.equal_seconds_reference), iteration_cost(cfg, log, "dcw_mann")
    return None if ref is None or dcw is None else round(cfg.train.iterations * ref / dcw)


CONFIGS = {
    "quick": DcwMannConfig(),
    "paper": DcwMannConfig(
        logs=("helpdesk", "bpi_12_w", "bpi_13_incidents", "env_permit"),
        second_log_models=("lstm_shared", "lstm_seq2seq", "dnc", "dc_mann", "dcw_mann", "tax_lstm"),
        model=ModelConfig(slots=64, word_size=64, read_heads=1, hidden=100),
        train=TrainConfig(iterations=10_000, batch_size=10, eval_every=100, eval_batch=1000, max_decode=0),
        tax=TaxConfig(iterations=10_000, batch_size=64),
        curve_pairs=0, val_pairs=0, official_test_pairs=0, max_case_len=0, iteration_cost_ms=(), workers=1),
}


@dataclasses.dataclass(frozen=True)
class LogData:
    log: EventLog
    train: Pairs
    val: Pairs
    selection: Pairs                      # the validation pairs model selection scores (a fixed subset)
    test: Pairs
    curve: Pairs
    curve_index: tuple[int, ...]          # positions of the curve's pairs among the test pairs
    train_cases: tuple[int, ...]
    max_decode: int
    attention_steps: int                  # the decoder steps the seq2seq baseline's attention covers (with
                                          # `train.decode_to_longest_target`, the test suffixes' too, as officially)


def fixed_subset(n: int, size: int) -> tuple[int, ...]:
    """`size` of n positions in a fixed shuffled order (all n, in order, when size is 0 or >= n)."""
    if size == 0 or size >= n:
        return tuple(range(n))
    return tuple(int(i) for i in np.random.default_rng(SUBSET_SEED).permutation(n)[:size])


def log_data(name: str, cfg: DcwMannConfig) -> LogData:
    """The log, its case split, the pairs of each part and the learning curve's fixed test subset."""
    log = load_log(name)
    split = split_cases(log, order=cfg.split_order)
    cut = cfg.max_case_len or None
    train_pairs, val, test = (make_pairs(log, cases, cfg.min_prefix_len, cut)
                              for cases in (split.train, split.val, split.test))
    if min(len(train_pairs), len(val), len(test)) == 0:
        raise ValueError(f"log {name!r}: a part of the split has no prefix/suffix pair")
    index = fixed_subset(len(test), cfg.curve_pairs)
    longest = longest_suffix(train_pairs, val) + 1
    selection = val.subset(fixed_subset(len(val), cfg.val_pairs))
    max_decode = cfg.train.max_decode or longest
    decoded = (train_pairs, val, test) if cfg.train.decode_to_longest_target else (train_pairs, val)
    return LogData(log, train_pairs, val, selection, test, test.subset(index), index, split.train, max_decode,
                   attention_steps(max_decode, *decoded))


def models_for(log_index: int, cfg: DcwMannConfig) -> tuple[str, ...]:
    return cfg.models if log_index == 0 else tuple(m for m in cfg.models if m in cfg.second_log_models)


def seeds_of(log_index: int, cfg: DcwMannConfig) -> int:
    return cfg.seeds if log_index == 0 else cfg.second_log_seeds


def stacked(model: str, cfg: DcwMannConfig) -> bool:
    return cfg.stack_seeds and model in cfg.stacked_models


def cell_cost(cell: dict[str, Any], cfg: DcwMannConfig) -> float:
    """A rough relative cost of a cell (ms per iteration x seeds; 20 ms where the table has none), to start the
    longest cells first: the order changes no result, only how evenly the workers finish."""
    return (iteration_cost(cfg, cell["log"], cell["model"]) or 20.0) * cell["seeds"]


def grid_cells(cfg: DcwMannConfig, base_seed: int) -> list[dict[str, Any]]:
    """One cell per (log, model, seed), or per (log, model) with all its seeds when they are trained stacked;
    longest first."""
    cells = []
    for i, log in enumerate(cfg.logs):
        seeds = range(base_seed, base_seed + seeds_of(i, cfg))
        for model in models_for(i, cfg):
            if stacked(model, cfg):
                cells.append({"log": log, "model": model, "first_seed": base_seed, "seeds": len(seeds)})
            else:
                cells += [{"log": log, "model": model, "first_seed": seed, "seeds": 1} for seed in seeds]
    return sorted(cells, key=lambda cell: -cell_cost(cell, cfg))


def memory_trace(model: MemoryEncoderDecoder, prefix: tuple[int, ...], max_decode: int) -> dict[str, Any]:
    """Per memory step of one decoded case: write weighting, read weightings (head 0), read modes (head 0), usage,
    gates, and whether the step wrote."""
    trace: list[dict[str, Any]] = []
    model.eval()
    with torch.no_grad():
        model(encode_prefixes([prefix]), max_decode, trace=trace, stop_at_eos=True)
    states, ifaces = [r["state"] for r in trace], [r["interface"] for r in trace]
    return {"prefix": list(prefix), "encoder_steps": len(prefix) + 1,
            "write_weighting": [np.round(s.write_weighting[0].numpy(), 4).tolist() for s in states],
            "read_weightings": [np.round(s.read_weightings[0, 0].numpy(), 4).tolist() for s in states],
            "usage": [np.round(s.usage[0].numpy(), 4).tolist() for s in states],
            "read_modes": [np.round(i.read_modes[0, 0].numpy(), 4).tolist() for i in ifaces],
            "write_gate": [round(float(i.write_gate[0]), 4) for i in ifaces],
            "written": [bool(r["written"]) for r in trace]}


def final_scores(preds: list[list[int]], data: LogData, cfg: DcwMannConfig) -> dict[str, Any]:
    """All test pairs, the curve subset, and next-activity accuracy per prefix length."""
    curve_preds = [preds[i] for i in data.curve_index]
    return {"test": score(preds, data.test.suffixes, cfg.train.metric),
            "curve_subset": score(curve_preds, data.curve.suffixes, cfg.train.metric),
            "by_prefix_length": accuracy_by_prefix_length(preds, data.test.suffixes,
                                                          [len(p) for p in data.test.prefixes])}


def tax_run(log: str, data: LogData, cfg: DcwMannConfig, seed: int, device: str) -> dict[str, Any]:
    """Tax et al.'s LSTM fitted for `seed` (or with `cfg.cache` read from the data cache, `cache.baseline_path`:
    its weights, history and training seconds), then scored."""
    tax = TaxLSTM(dataclasses.replace(cfg.tax, max_suffix=data.max_decode))

    def fit() -> tuple[dict, dict]:
        start = time.perf_counter()
        tax.fit(data.log, data.train_cases, data.selection, seed=seed)
        return {"net": tax.net}, {"history": tax.history, "fit_seconds": time.perf_counter() - start}

    def fresh() -> dict:
        return {"net": tax.prepare(data.log, data.train_cases).net}

    path = baseline_path(cfg, "tax_lstm", log, (data.train, data.selection), seed, device) if cfg.cache else None
    _, extra, cached = load_or_train(path, fresh, fit, ("history", "fit_seconds"))
    tax.history = extra["history"]
    start = time.perf_counter()
    preds = tax.predict_pairs(data.test)
    return {"history": tax.history, "params": sum(p.numel() for p in tax.net.parameters()),
            **final_scores(preds, data, cfg), "fit_seconds": extra["fit_seconds"], "cached": cached,
            "seconds_per_prediction": (time.perf_counter() - start) / len(data.test)}


def seed_predictions(models: list[SuffixModel], pairs: Pairs, max_decode: int, train_cfg: TrainConfig, device: str,
                     official: bool = False) -> list[list[list[int]]]:
    """Each model's predictions for the prefixes of `pairs` (`training.predict`; the decoder steps set by
    `training.decoding_targets`); several models of one kind decode in one stacked pass (`stacked.stacked_predict`,
    the same predictions to float rounding)."""
    prefixes, suffixes = pairs.prefixes, decoding_targets(pairs, train_cfg)
    if len(models) == 1:
        return [predict(models[0], prefixes, max_decode, train_cfg.eval_batch, device, official, suffixes)]
    return stacked_predict(stacked_models(models).to(device), prefixes, max_decode, train_cfg.eval_batch, device,
                           official, suffixes)


def budget_predictions(models: list[SuffixModel], selections: list[Selection], preds: list[list[list[int]]],
                       data: LogData, train_cfg: TrainConfig, device: str) -> list[list[list[int]] | None]:
    """Per seed, the test predictions of the weights selected within the budget (None: no budget): `preds` (those of
    the best weights) where both selections chose the same evaluation, else decoded with the budget's weights."""
    differ = [i for i, sel in enumerate(selections)
              if sel.within_budget is not None and sel.within_budget.iteration != sel.best.iteration]
    budget_models = [copy.deepcopy(models[i]) for i in differ]
    for i, model in zip(differ, budget_models):
        model.load_state_dict(selections[i].within_budget.state)
    decoded = dict(zip(differ, seed_predictions(budget_models, data.test, data.max_decode, train_cfg, device,
                                                train_cfg.official_eval_batches))) if differ else {}
    return [None if sel.within_budget is None else decoded.get(i, preds[i]) for i, sel in enumerate(selections)]


def scored_runs(models: list[SuffixModel], records: list[dict[str, Any]], selections: list[Selection],
                data: LogData, cfg: DcwMannConfig, train_cfg: TrainConfig, device: str, trace: bool
                ) -> list[dict[str, Any]]:
    """Each trained model's record with its scores: all test pairs (selected weights), the official batch-10
    scoring of the first `official_test_pairs`, the weights selected within the equal-seconds budget, and (with
    `trace`) the first model's memory trace. `seconds_per_prediction`: the test decoding's seconds / models / pairs."""
    start = time.perf_counter()
    preds = seed_predictions(models, data.test, data.max_decode, train_cfg, device, train_cfg.official_eval_batches)
    seconds = (time.perf_counter() - start) / len(models)
    official = data.test.subset(range(min(len(data.test), cfg.official_test_pairs or len(data.test))))
    # the same weights scored as the official test loop does (batches of 10 in order, padded): a prediction
    # there depends on the other prefixes of its batch, so the two scorings differ by that dependence alone
    official_preds = seed_predictions(models, official, data.max_decode, train_cfg, device, official=True)
    budget_preds = budget_predictions(models, selections, preds, data, train_cfg, device)
    out = []
    for model, record, seed_preds, seed_official, seed_budget in zip(models, records, preds, official_preds,
                                                                      budget_preds):
        record["official_batch_test"] = {"pairs": len(official),
                                         **score(seed_official, official.suffixes, cfg.train.metric)}
        if seed_budget is not None:
            record["budget_test"] = score(seed_budget, data.test.suffixes, cfg.train.metric)
        record["params"] = sum(p.numel() for p in model.parameters())
        out.append({**record, **final_scores(seed_preds, data, cfg),
                    "seconds_per_prediction": seconds / len(data.test)})
    if trace and isinstance(models[0], MemoryEncoderDecoder) and models[0].cfg.use_mem:
        out[0]["memory_trace"] = memory_trace(models[0].cpu(), data.curve.prefixes[0], data.max_decode)
    return out


def neural_runs(cell: dict[str, Any], data: LogData, cfg: DcwMannConfig, device: str, seeds: list[int],
                first_seed: int, checkpoint, resume: bool) -> list[dict[str, Any]]:
    """Train the cell's model for each of its seeds (stacked, or one `train`), then score them."""
    name = cell["model"]
    model_cfg = cfg.seq2seq if name == "lstm_seq2seq" else cfg.model
    train_cfg = train_config_for(name, dataclasses.replace(cfg.train, max_decode=data.max_decode), model_cfg)
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build_model(name, data.log.num_activities + 2, model_cfg, data.attention_steps))
    budget = equal_seconds_budget(cfg, cell["log"]) if name == "dcw_mann" else None
    selections = [Selection(model, budget) for model in models]
    desc = f"{cell['log']} {name} seeds {seeds[0]}-{seeds[-1]}"
    start = time.perf_counter()
    fit: dict[str, Any] = {}             # the seq2seq's: its training's seconds, and whether it came from the cache
    if stacked(name, cfg):
        records = train_seeds(models, data.train, data.selection, data.curve, train_cfg, seeds, device,
                              checkpoint=checkpoint, resume=resume, desc=desc, selections=selections)
    elif name == "lstm_seq2seq":
        record, seconds, hit = trained_seq2seq(models[0], selections[0], cell["log"], data, cfg, train_cfg,
                                               seeds[0], device, checkpoint, resume, desc)
        records, fit = [record], {"fit_seconds": seconds, "cached": hit}
    else:
        records = [train(models[0], data.train, data.selection, data.curve, train_cfg, seeds[0], device,
                         checkpoint=checkpoint, resume=resume, desc=desc, selection=selections[0])]
    fit_seconds = (time.perf_counter() - start) / len(seeds)
    return [{**run, "fit_seconds": fit_seconds, **fit}
            for run in scored_runs(models, records, selections, data, cfg, train_cfg, device, seeds[0] == first_seed)]


def trained_seq2seq(model: SuffixModel, selection: Selection, log: str, data: LogData, cfg: DcwMannConfig,
                    train_cfg: TrainConfig, seed: int, device: str, checkpoint, resume: bool, desc: str
                    ) -> tuple[dict[str, Any], float, bool]:
    """`train` of one seed's LSTM seq2seq baseline, or with `cfg.cache` the selected weights, training record and
    seconds an earlier run stored under the same key (`cache.baseline_path`); the model ends with the selected
    weights either way. The record, the training's seconds (those of the run that trained it) and whether they
    came from the cache."""
    def fit() -> tuple[dict, dict]:
        start = time.perf_counter()
        record = train(model, data.train, data.selection, data.curve, train_cfg, seed, device,
                       checkpoint=checkpoint, resume=resume, desc=desc, selection=selection)
        return {"model": model}, {"record": record, "fit_seconds": time.perf_counter() - start}

    path = baseline_path(cfg, "lstm_seq2seq", log, (data.train, data.selection, data.curve), seed,
                         device) if cfg.cache else None
    _, extra, hit = load_or_train(path, lambda: {"model": model}, fit, ("record", "fit_seconds"))
    model.to(device)
    return extra["record"], extra["fit_seconds"], hit


def run_cell(cell: dict[str, Any], cfg: DcwMannConfig, device: str, first_seed: int, out_dir, resume: bool
             ) -> dict[str, Any]:
    """The runs of the cell's seeds, in seed order (`fit_seconds` of stacked seeds: their seconds / seeds)."""
    data = log_data(cell["log"], cfg)
    seeds = list(range(cell["first_seed"], cell["first_seed"] + cell["seeds"]))
    if cell["model"] == "tax_lstm":
        return {"runs": [tax_run(cell["log"], data, cfg, seed, device) for seed in seeds]}
    return {"runs": neural_runs(cell, data, cfg, device, seeds, first_seed, cell_checkpoint(out_dir, GRID, cell),
                                resume)}


def fitted_lookup(data: LogData) -> MostFrequentSuffix:
    """The most-frequent-suffix lookup counted on the training and validation pairs: the spec's training part, the
    first 2/3 of the cases (6,645 Helpdesk pairs), on which the prototype measured check 9's 0.809 / 0.773. The
    lookup selects nothing, so it needs no validation pairs of its own."""
    return MostFrequentSuffix().fit(Pairs(data.train.prefixes + data.val.prefixes,
                                          data.train.suffixes + data.val.suffixes, data.train.cases + data.val.cases))


def frequency_baseline(name: str, cfg: DcwMannConfig) -> dict[str, Any]:
    """The lookup scored like the models, and on the split in the other case order (how much the order moves it)."""
    data = log_data(name, cfg)
    baseline = fitted_lookup(data)
    preds = baseline.predict(data.test.prefixes)
    other_order = "time" if cfg.split_order == "file" else "file"
    other = log_data(name, dataclasses.replace(cfg, split_order=other_order))
    return {**final_scores(preds, data, cfg), "osa": score(preds, data.test.suffixes, "osa"),
            "exact_prefix_hit": baseline.exact_hit_rate(data.test.prefixes), "log": data.log.stats(),
            "pairs": {"train": len(data.train), "val": len(data.val), "selection": len(data.selection),
                      "test": len(data.test), "curve": len(data.curve)},
            f"split_order_{other_order}": {"test_pairs": len(other.test), **score(
                fitted_lookup(other).predict(other.test.prefixes), other.test.suffixes, cfg.train.metric)}}


def curve(runs: list[dict[str, Any]], ms_per_iteration: float | None) -> dict[str, Any]:
    """Mean over seeds of the test-subset DL similarity at each evaluation, against iterations and, when the model's
    cost per iteration is in the config, against training seconds (iterations x that cost)."""
    steps = [r["step"] for r in runs[0]["history"]]
    key = "test_dl_similarity" if "test_dl_similarity" in runs[0]["history"][0] else "val_dl_similarity"
    return {"iterations": steps, "measured_on": key.split("_")[0],
            "dl_similarity": [float(np.mean([r["history"][i][key] for r in runs])) for i in range(len(steps))],
            **({"train_seconds": [step * ms_per_iteration / 1000 for step in steps]}
               if ms_per_iteration is not None else {})}


def per_seed(runs: list[dict[str, Any]], part: str, metric: str) -> list[float]:
    return [r[part][metric] for r in runs]


def summarize_model(seeds: list[int], runs: list[dict[str, Any]], ms_per_iteration: float | None) -> dict[str, Any]:
    """Means and standard errors over seeds, and the per-seed test scores (in the order of `seeds`) that the claims
    pair across models."""
    out = {"dl_similarity": mean_se(per_seed(runs, "test", "dl_similarity")),
           "next_activity_accuracy": mean_se(per_seed(runs, "test", "next_activity_accuracy")),
           "curve_subset_dl_similarity": mean_se(per_seed(runs, "curve_subset", "dl_similarity")),
           "seeds": seeds,
           "per_seed_dl_similarity": per_seed(runs, "test", "dl_similarity"),
           "per_seed_next_activity_accuracy": per_seed(runs, "test", "next_activity_accuracy"),
           "selected_iteration": [r.get("selected_iteration") for r in runs],
           "fit_seconds": mean_se([r["fit_seconds"] for r in runs]),
           "seconds_per_prediction": mean_se([r["seconds_per_prediction"] for r in runs]),
           "params": runs[0]["params"], "curve": curve(runs, ms_per_iteration),
           "by_prefix_length": runs[0]["by_prefix_length"]}
    if all("official_batch_test" in r for r in runs):
        out.update(official_batch_pairs=runs[0]["official_batch_test"]["pairs"],
                   official_batch_dl_similarity=mean_se(per_seed(runs, "official_batch_test", "dl_similarity")),
                   official_batch_next_activity_accuracy=mean_se(
                       per_seed(runs, "official_batch_test", "next_activity_accuracy")))
    if all("budget_test" in r for r in runs):
        out.update(budget_iterations=runs[0]["budget_iterations"],
                   budget_selected_iteration=[r["budget_selected_iteration"] for r in runs],
                   budget_dl_similarity=mean_se(per_seed(runs, "budget_test", "dl_similarity")),
                   per_seed_budget_dl_similarity=per_seed(runs, "budget_test", "dl_similarity"))
    return out


def seed_runs(grid: GridResults, log: str, model: str) -> list[tuple[int, dict[str, Any]]]:
    """(seed, run) of every seed of (log, model), in seed order."""
    return sorted(((cell["first_seed"] + i, run) for cell, value in grid.select(log=log, model=model)
                   for i, run in enumerate(value["runs"])), key=lambda pair: pair[0])


def summarize(grid: GridResults, baselines: dict[str, Any], cfg: DcwMannConfig) -> dict[str, Any]:
    logs = {}
    for log in cfg.logs:
        block = {model: summarize_model([s for s, _ in runs], [r for _, r in runs], iteration_cost(cfg, log, model))
                 for model in cfg.models if (runs := seed_runs(grid, log, model))}
        logs[log] = {"models": block, "frequency": baselines[log]}
    return {"logs": logs, "runs": sum(len(value["runs"]) for _, value in grid)}


def run(cfg: DcwMannConfig, ctx: RunContext) -> RunResult:
    baselines = {name: ctx.stage(f"frequency__log={name}", lambda name=name: frequency_baseline(name, cfg))
                 for name in cfg.logs}                    # also loads and checks every log before any worker starts
    cells = grid_cells(cfg, ctx.seed)
    grid = ctx.grid(GRID, cells, run_cell, cfg, ctx.device, ctx.seed, ctx.out_dir, ctx.resume, workers=cfg.workers)
    metrics = summarize(grid, baselines, cfg)
    with ctx.timed("plots"):
        artifacts = [plot_curves(metrics["logs"], ctx.out_dir / "plot_dl_curves.png").name,
                     plot_prefix_accuracy(metrics["logs"], ctx.out_dir / "plot_prefix_accuracy.png").name]
        traces = {cell["model"]: run["memory_trace"] for cell, value in grid.select(log=cfg.logs[0])
                  for run in value["runs"] if "memory_trace" in run}
        if traces:
            artifacts.append(plot_memory(traces, ctx.out_dir / "plot_memory.png").name)
    seeds = sorted({c["first_seed"] + i for c in cells for i in range(c["seeds"])})
    return ctx.result("dcw_mann", cfg, seeds, metrics, claims(metrics, cfg), artifacts)
