"""The official training loop and evaluation, for the memory models and the LSTM seq2seq baseline.

Batch [official code]: bs pairs drawn without replacement; prefixes left-padded to the longest in the batch, then
GO; targets = suffix + EOS, padded; the loss is the softmax cross-entropy averaged over the unmasked target
positions (suffix and EOS). Adam, lr 0.002; each gradient element clipped to +-10 (the memory models; the official
seq2seq baseline uses Adam 0.001 without clipping, `clip_value=0`). Every `eval_every` iterations
the model is scored on the validation pairs (model selection) and on the test pairs (the learning curve);
the official loop selected on test, which `select_on_test` reproduces (labelled in the result).
Evaluation decodes greedily in batches of prefixes of one length, so no evaluation batch is padded and a prediction
does not depend on the other prefixes scored with it. The official test loop decodes fixed batches of 10 pairs in
order, left-padded to the longest prefix of the batch; as the official encoder also writes on pad steps, a prediction
there depends on its batch (trap 8). `official_eval_batches` reproduces that (blocks padded to the same
length are decoded together, `official_blocks`: the same predictions; each block alone for the seq2seq's mixed
attention, whose samples interact, and for `decode_to_longest_target`, whose decoder steps each block sets).
A `Selection` with a `budget` also keeps the best state among the evaluations at iterations <= budget (evaluated at
the budget too): the weights of a shorter run read from the same run, which the equal-seconds comparison uses.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from reprolab.methods.dcw_mann.log import Pairs
from reprolab.methods.dcw_mann.metrics import SuffixMetric, score
from reprolab.methods.dcw_mann.model import EOS, GO, PAD, SuffixModel
from reprolab.runtime.config import check_at_least, check_options
from reprolab.runtime.train import BestModel, run_loop

OFFICIAL_EVAL_BATCH = 10              # official test loop: batches of 10 pairs


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of the official training loop (`train`) and of `evaluate`. Adam `lr` 0.002, element-wise gradient
    clipping at `clip_value` 10 and `eval_every` 100 are the official code's; 800 `iterations` of `batch_size` 32
    are the quick design (official: 10k-150k of 10). Predictions stop after `max_decode` activities (20, official
    Helpdesk; 0: the longest suffix + 1; `decode_to_longest_target`: the official test loops' longest suffix of the
    batch + 1 steps); `metric` is the suffix distance (default: Damerau-Levenshtein)."""

    iterations: int = 800             # quick design; official 10k-150k by log
    batch_size: int = 32              # quick design; official 10
    lr: float = 0.002                 # official (Adam)
    clip_value: float = 10.0          # official: each gradient element clipped to +-10 (0: no clipping)
    eval_every: int = 100             # official
    eval_batch: int = 100             # at most this many prefixes (all of one length) per evaluation batch
    official_eval_batches: bool = False   # official: fixed batches of 10 pairs in order, padded (trap 8)
    max_decode: int = 20              # official Helpdesk; 0: the longest suffix + 1 (official elsewhere); a
                                      # prediction stops after max_decode activities
    metric: SuffixMetric = "damerau_levenshtein"
    select_on_test: bool = False      # the official loop kept the best test score (trap 1)
    decode_to_longest_target: bool = False   # official test loops: each batch of pairs decodes as many steps as its
                                      # longest suffix + 1 (EOS), whatever max_decode (`evaluate`, the run's scoring;
                                      # a prediction from a prefix alone still stops at max_decode). Without
                                      # official_eval_batches a batch is up to eval_batch prefixes of one length, so
                                      # a prediction depends on its batch: pair the two for the official numbers

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("iterations", "batch_size", "eval_every", "eval_batch"))
        check_at_least(self, 0, ("max_decode",))
        if self.lr <= 0 or self.clip_value < 0:
            raise ValueError(f"need lr > 0 and clip_value >= 0, got {self.lr}, {self.clip_value}")


def tokens(ids: Sequence[int]) -> list[int]:
    """Activity id -> token id + 1 (0 = PAD/EOS, 1 = GO)."""
    return [a + 1 for a in ids]


def activity_ids(token_ids: Sequence[int]) -> list[int]:
    """Token -> activity id (GO becomes 0, an invalid activity)."""
    return [t - 1 for t in token_ids]


def encode_prefixes(prefixes: Sequence[Sequence[int]], device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, longest + 1): left-padded prefix tokens, then GO."""
    longest = max(len(p) for p in prefixes)
    out = torch.full((len(prefixes), longest + 1), PAD, dtype=torch.long)
    for row, prefix in enumerate(prefixes):
        if len(prefix):
            out[row, longest - len(prefix):longest] = torch.tensor(tokens(prefix))
    out[:, longest] = GO
    return out.to(device)


def encode_targets(suffixes: Sequence[Sequence[int]], device: torch.device | str = "cpu"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets (B, longest + 1) = suffix tokens + EOS, padded with PAD, and the loss mask over suffix and EOS."""
    longest = max(len(s) for s in suffixes) + 1
    targets = torch.full((len(suffixes), longest), PAD, dtype=torch.long)
    mask = torch.zeros((len(suffixes), longest), dtype=torch.bool)
    for row, suffix in enumerate(suffixes):
        targets[row, :len(suffix)] = torch.tensor(tokens(suffix))
        targets[row, len(suffix)] = EOS
        mask[row, :len(suffix) + 1] = True
    return targets.to(device), mask.to(device)


def longest_suffix(*parts: Pairs) -> int:
    return max(len(s) for pairs in parts for s in pairs.suffixes)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy averaged over the unmasked positions."""
    losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return losses[mask].mean()


def official_blocks(prefixes: Sequence[Sequence[int]], batch: int) -> list[list[int]]:
    """The official test batches, consecutive blocks of OFFICIAL_EVAL_BATCH positions, each padded to its longest
    prefix; blocks of one longest prefix length are joined (in order, up to max(`batch`, OFFICIAL_EVAL_BATCH)
    positions), which pads every prefix as its own block does and changes no prediction: the samples of a batch do
    not interact, a prediction depends on its batch only through the padded length."""
    by_padding: dict[int, list[list[int]]] = {}
    for start in range(0, len(prefixes), OFFICIAL_EVAL_BATCH):
        block = list(range(start, min(start + OFFICIAL_EVAL_BATCH, len(prefixes))))
        by_padding.setdefault(max(len(prefixes[i]) for i in block), []).append(block)
    joined: list[list[int]] = []
    for _, blocks in sorted(by_padding.items()):
        joined.append([])
        for block in blocks:
            if joined[-1] and len(joined[-1]) + len(block) > max(batch, OFFICIAL_EVAL_BATCH):
                joined.append([])
            joined[-1] += block
    return joined


def evaluation_batches(prefixes: Sequence[Sequence[int]], batch: int, official: bool = False,
                       separate_blocks: bool = False) -> list[list[int]]:
    """Positions of the prefixes scored together: by default the prefixes of each length in order, at most `batch`
    at a time (no padding); `official`: the official blocks of OFFICIAL_EVAL_BATCH positions (`official_blocks`),
    each alone with `separate_blocks` (a prediction that depends on more of its batch than the padded length: the
    seq2seq's mixed attention, `SuffixModel.mixes_samples`, or decoder steps set by the batch's longest suffix)."""
    if official:
        return official_blocks(prefixes, OFFICIAL_EVAL_BATCH if separate_blocks else batch)
    by_length: dict[int, list[int]] = {}
    for i, prefix in enumerate(prefixes):
        by_length.setdefault(len(prefix), []).append(i)
    return [same[start:start + batch] for _, same in sorted(by_length.items())
            for start in range(0, len(same), batch)]


def decode_steps_of(rows: Sequence[int], max_decode: int, suffixes: Sequence[Sequence[int]] | None) -> int:
    """The decoder steps of the batch of `rows`: `max_decode`, or given the true `suffixes` (the official test
    loops) the longest suffix among the rows + 1 (EOS)."""
    return max_decode if suffixes is None else max(len(suffixes[i]) for i in rows) + 1


def predict(model: SuffixModel, prefixes: Sequence[Sequence[int]], max_decode: int, batch: int,
            device: torch.device | str = "cpu", official: bool = False,
            suffixes: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
    """Greedy suffixes (activity ids, up to EOS) of the prefixes, in their order, decoded in the batches of
    `evaluation_batches`, each for `decode_steps_of` steps (`suffixes`: the prefixes' true suffixes, which set
    them as the official test loops do)."""
    out: list[list[int]] = [[] for _ in prefixes]
    for rows in evaluation_batches(prefixes, batch, official, model.mixes_samples or suffixes is not None):
        decoded = model.greedy_decode(encode_prefixes([prefixes[i] for i in rows], device),
                                      decode_steps_of(rows, max_decode, suffixes))
        for i, tokens_row in zip(rows, decoded):
            out[i] = activity_ids(tokens_row)
    return out


def first_step_probabilities(model: SuffixModel, prefixes: Sequence[Sequence[int]], batch: int,
                             device: torch.device | str = "cpu", official: bool = False) -> np.ndarray:
    """(n, vocab): the softmax of each prefix's first decoder step, decoded in the batches of
    `evaluation_batches`."""
    out = np.zeros((len(prefixes), model.vocab))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for rows in evaluation_batches(prefixes, batch, official, model.mixes_samples):
                logits = model(encode_prefixes([prefixes[i] for i in rows], device), 1)[:, 0]
                out[rows] = logits.softmax(-1).double().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def evaluate(model: SuffixModel, pairs: Pairs, cfg: TrainConfig,
             device: torch.device | str = "cpu") -> dict[str, float]:
    """Greedy suffix predictions of `model` for the prefixes of `pairs` (at most `cfg.max_decode` activities, or
    with `cfg.decode_to_longest_target` the batch's longest suffix + 1 steps; in the batches `cfg.eval_batch` and
    `cfg.official_eval_batches` set), scored by `score` under `cfg.metric`: the mean suffix similarity
    ("dl_similarity") and the next-activity accuracy."""
    preds = predict(model, pairs.prefixes, cfg.max_decode, cfg.eval_batch, device, cfg.official_eval_batches,
                    decoding_targets(pairs, cfg))
    return score(preds, pairs.suffixes, cfg.metric)


def decoding_targets(pairs: Pairs, cfg: TrainConfig) -> tuple[tuple[int, ...], ...] | None:
    """The suffixes that set the decoder steps (`cfg.decode_to_longest_target`), else None (`max_decode`)."""
    return pairs.suffixes if cfg.decode_to_longest_target else None


def sample_batch(rng: np.random.Generator, pairs: Pairs, batch_size: int) -> Pairs:
    """`batch_size` pairs drawn without replacement (the official sampling)."""
    return pairs.subset(rng.choice(len(pairs), batch_size, replace=False))


def clip_gradients_(params, clip_value: float) -> None:
    """Each gradient element clipped to +-clip_value (0: no clipping), in place."""
    if clip_value > 0:
        torch.nn.utils.clip_grad_value_(params, clip_value)


def check_training_pairs(train_pairs: Pairs, val_pairs: Pairs, cfg: TrainConfig) -> TrainConfig:
    """Refuse too few pairs; resolve `max_decode` 0 to the longest suffix + 1."""
    if len(train_pairs) < cfg.batch_size:
        raise ValueError(f"{len(train_pairs)} training pairs, fewer than batch_size {cfg.batch_size}")
    if len(val_pairs) == 0:
        raise ValueError("no validation pairs: the validation cases give no prefix/suffix pair")
    if cfg.max_decode == 0:
        cfg = dataclasses.replace(cfg, max_decode=longest_suffix(train_pairs, val_pairs) + 1)
    return cfg


class Selection:
    """Model selection of one run: the best state over all evaluations and, when `budget` is set, the best over
    the evaluations at iterations <= budget (a second, shorter training budget read from the same run)."""

    def __init__(self, model: SuffixModel, budget: int | None = None):
        self.best, self.budget = BestModel(model), budget
        self.within_budget = BestModel(model) if budget is not None else None

    def offer(self, record: dict[str, Any], iteration: int, on_test: bool) -> None:
        value = record["test_dl_similarity" if on_test else "val_dl_similarity"]
        self.best.offer(value, iteration)
        if self.within_budget is not None and iteration <= self.budget:
            self.within_budget.offer(value, iteration)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best.state_dict(),
                **({"within_budget": self.within_budget.state_dict()} if self.within_budget is not None else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best.load_state_dict(state["best"])
        if self.within_budget is not None:
            self.within_budget.load_state_dict(state["within_budget"])

    def summary(self, on_test: bool) -> dict[str, Any]:
        """The selected iteration(s), for the run's record."""
        out = {"selected_iteration": self.best.iteration,
               "selected_on": "test (official; labelled)" if on_test else "validation"}
        if self.within_budget is not None:
            out.update(budget_iterations=self.budget, budget_selected_iteration=self.within_budget.iteration)
        return out


def measure(model: SuffixModel, val_pairs: Pairs, test_pairs: Pairs | None, cfg: TrainConfig,
            device: torch.device | str) -> dict[str, Any]:
    """One evaluation record: validation scores and, when given, the test (curve) scores."""
    record = {f"val_{k}": v for k, v in evaluate(model, val_pairs, cfg, device).items()}
    if test_pairs is not None:
        record.update({f"test_{k}": v for k, v in evaluate(model, test_pairs, cfg, device).items()})
    return record


def evaluation_steps(cfg: TrainConfig, budget: int | None) -> tuple[int, ...]:
    """Evaluations besides every `eval_every` iterations: at the budget, so its selection sees its last state."""
    return (budget,) if budget is not None and budget < cfg.iterations else ()


def train(model: SuffixModel, train_pairs: Pairs, val_pairs: Pairs, test_pairs: Pairs | None,
          cfg: TrainConfig, seed: int, device: torch.device | str = "cpu", checkpoint: Path | None = None,
          resume: bool = False, desc: str = "train", selection: Selection | None = None) -> dict[str, Any]:
    """Train with the official loop; return the history (every `eval_every` iterations: validation and test
    scores) and the selected iteration. The model ends with the selected weights. A `selection` with a budget
    (<= cfg.iterations) also keeps the best state among the evaluations up to that iteration."""
    cfg = check_training_pairs(train_pairs, val_pairs, cfg)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(seed)
    selection = selection or Selection(model)

    def step(_: int) -> torch.Tensor:
        batch = sample_batch(rng, train_pairs, cfg.batch_size)
        targets, mask = encode_targets(batch.suffixes, device)
        logits = model(encode_prefixes(batch.prefixes, device), targets.shape[1], targets=targets)
        loss = masked_cross_entropy(logits, targets, mask)
        optimizer.zero_grad()
        loss.backward()
        clip_gradients_(model.parameters(), cfg.clip_value)
        optimizer.step()
        return loss.detach()

    def evaluation(iteration: int) -> dict[str, Any]:
        record = measure(model, val_pairs, test_pairs, cfg, device)
        selection.offer(record, iteration, cfg.select_on_test)
        return record

    model.train()
    history = run_loop(cfg.iterations, step, objects={"model": model, "optimizer": optimizer, "rng": rng,
                                                      "selection": selection},
                       eval_fn=evaluation, eval_every=cfg.eval_every,
                       eval_steps=evaluation_steps(cfg, selection.budget),
                       checkpoint=checkpoint, checkpoint_every=cfg.eval_every if checkpoint is not None else 0,
                       resume=resume, desc=desc)
    model.load_state_dict(selection.best.state)
    return {"history": history, **selection.summary(cfg.select_on_test)}
