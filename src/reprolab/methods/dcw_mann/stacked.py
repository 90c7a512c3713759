"""Seeds as a batch dimension: S models of one config (one per seed; `MemoryEncoderDecoder`s or the LSTM seq2seq
`Seq2SeqAttention`) trained in one forward and backward pass per iteration, each as `training.train` trains it
alone, and evaluated in one pass.

Parameters: theta[s] = seed s's parameters, stacked on a leading axis (`torch.func.stack_module_state`). Seed s's
linear maps are one batched product over the seed axis, y[s] = x[s] W[s]^T + b[s] (`nets.grouped.grouped_linear`);
so are its LSTM cells:
    torch's cell:  [i, f, g, o] = x W_ih^T + b_ih + h W_hh^T + b_hh,  c' = s(f) c + s(i) tanh(g),  h' = s(o) tanh(c')
    TF1's cell:    [i, j, f, o] = [x; h] K^T + b,  c' = s(f + 1) c + s(i) tanh(j),  h' = s(o) tanh(c')
The steps are the single model's (`model.unroll`, `seq2seq.encode_directions` and `attend_and_decode`) on tensors
with a leading seed axis; the memory step has no parameters and runs on the S x B memories at once.
Batches: seed s draws its own batch from its own generator (`np.random.default_rng(seed)`, as `train`) and left-pads
it to its own longest prefix; the stacked input pads it further to the longest over seeds. A memory model keeps
seed s's state at those extra leading steps (the step is skipped); the seq2seq encoder reads each prefix at its own
length, so extra padding changes nothing there. Seed s's logits are thus those of its model on its own batch.
Decoder steps beyond a seed's own longest target only add outputs its loss mask drops (the decoder is causal).
Loss = sum over seeds of each seed's masked mean cross-entropy, so seed s's gradient is its own loss's; Adam and the
element-wise clipping act element by element, so each seed's update is the one `train` makes, to float rounding
(the batched products and the unfused LSTM sum in another order than torch's per-seed kernels).
Evaluation decodes every seed's model on the same prefixes in one pass (`stacked_predict`); model selection runs per
seed (each seed's `Selection` reads its own `MemoryEncoderDecoder` or `Seq2SeqAttention`, weights copied from the
stack).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.dcw_mann.log import Pairs
from reprolab.methods.dcw_mann.metrics import score
from reprolab.methods.dcw_mann.model import (EOS, PAD, TF_FORGET_BIAS, ControllerMaps, MemoryEncoderDecoder,
                                             SuffixModel, unroll)
from reprolab.methods.dcw_mann.seq2seq import (Seq2SeqAttention, attend_and_decode, check_decode_steps,
                                               encode_directions)
from reprolab.methods.dcw_mann.training import (Selection, TrainConfig, activity_ids, check_training_pairs,
                                                clip_gradients_, decode_steps_of, decoding_targets, encode_prefixes,
                                                encode_targets, evaluation_batches, evaluation_steps, sample_batch)
from reprolab.nets.grouped import grouped_linear
from reprolab.runtime.train import run_loop


class StackedModels(nn.Module):
    """The parameters of S models of one class, config and vocabulary, stacked (S, ...); subclasses' `forward`
    runs all S models, each on its own batch: (prefix (S, B, T), starts, decode_steps, targets, stop_at_eos) ->
    logits (S, B, steps, vocab)."""

    def __init__(self, models: Sequence[SuffixModel]):
        super().__init__()
        configs = {(type(m), m.cfg, m.vocab, getattr(m, "decode_steps", None)) for m in models}
        if not models or len(configs) != 1:
            raise ValueError(f"{type(self).__name__} needs at least one model, all of one config, class and "
                             f"vocabulary")
        if models[0].mixes_samples:
            raise ValueError("these models mix the samples of a batch over its padded length (the seq2seq's "
                             "time_major_attention), which stacking seeds changes: train and score them one seed at "
                             "a time")
        self.cfg, self.vocab, self.seeds = models[0].cfg, models[0].vocab, len(models)
        params, _ = torch.func.stack_module_state(list(models))
        self.names = list(params)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.stack = nn.ParameterList([nn.Parameter(params[name].detach().clone()) for name in self.names])

    def param(self, name: str) -> torch.Tensor:
        return self.stack[self.index[name]]

    def linear(self, prefix: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """The linear map `prefix` of every seed, x (S, ..., in) -> (S, ..., out)."""
        weight, bias = self.param(f"{prefix}.weight"), f"{prefix}.bias"
        bias_param = self.param(bias) if bias in self.index else None
        return lambda x: grouped_linear(x, weight, bias_param)

    def copy_into(self, models: Sequence[SuffixModel]) -> None:
        """Seed s's current weights into models[s]."""
        with torch.no_grad():
            for s, model in enumerate(models):
                for name, param in model.named_parameters():       # a shared cell is one parameter
                    param.copy_(self.param(name)[s])

    def cell(self, prefix: str, tf_cell: bool) -> Callable:
        """The LSTM cell `prefix` of every seed: (x, (h, c)) -> (h', c'), each (S, B, .); its weights are looked up
        once, not at every time step."""
        if tf_cell:
            gates_of = self.linear(prefix)
        else:
            w_ih, b_ih, w_hh, b_hh = (self.param(f"{prefix}.{name}")
                                      for name in ("weight_ih", "bias_ih", "weight_hh", "bias_hh"))

        def step(x: torch.Tensor, hc: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
            h, c = hc
            if tf_cell:
                i, g, f, o = gates_of(torch.cat([x, h], dim=-1)).chunk(4, dim=-1)
                f = f + TF_FORGET_BIAS
            else:
                gates = grouped_linear(x, w_ih) + b_ih[:, None] + grouped_linear(h, w_hh) + b_hh[:, None]
                i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c

        return step


class StackedMemoryModels(StackedModels):
    """S `MemoryEncoderDecoder`s; seed s's encoder starts at step starts[s] (its state is kept at earlier steps)."""

    def controller(self, name: str) -> ControllerMaps:
        return ControllerMaps(self.cell(f"{name}.cell", self.cfg.tf_lstm_cell), self.linear(f"{name}.output"),
                              self.linear(f"{name}.interface") if self.cfg.use_mem else None)

    def forward(self, prefix: torch.Tensor, starts: Sequence[int], decode_steps: int,
                targets: torch.Tensor | None = None, stop_at_eos: bool = False) -> torch.Tensor:
        """Logits (S, B, decode_steps, vocab) of every seed's model on prefix (S, B, T). `targets` (S, B, >=
        decode_steps - 1) feeds the true previous token when `teacher_forcing` is on (in training mode)."""
        cfg = self.cfg
        late, first_own = torch.tensor(starts, device=prefix.device), max(starts)     # starts are known on the host

        def kept(t: int, x: torch.Tensor) -> torch.Tensor | None:
            keep = (late > t)[:, None].expand(x.shape) if t < first_own else None
            if cfg.mask_encoder_padding:
                keep = (x == PAD) if keep is None else keep | (x == PAD)
            return keep

        return unroll(cfg, self.vocab, prefix, decode_steps, self.controller("encoder"),
                      self.controller("decoder" if cfg.dual_controller else "encoder"),
                      self.linear("read_output") if cfg.use_mem else None, kept,
                      targets if cfg.teacher_forcing and self.training else None, stop_at_eos=stop_at_eos)


class StackedSeq2Seq(StackedModels):
    """S `Seq2SeqAttention`s (the official LSTM seq2seq); `starts` is not needed (each prefix is read at its own
    length)."""

    def __init__(self, models: Sequence[Seq2SeqAttention]):
        super().__init__(models)
        self.decode_steps = models[0].decode_steps

    def forward(self, prefix: torch.Tensor, starts: Sequence[int], decode_steps: int,
                targets: torch.Tensor | None = None, stop_at_eos: bool = False) -> torch.Tensor:
        """Logits (S, B, decode_steps, vocab) of every seed's model on prefix (S, B, T); `targets` is unused (the
        official decoder feeds back its own argmax)."""
        cfg = self.cfg
        check_decode_steps(decode_steps, self.decode_steps)
        backward = None if cfg.shared_directions else self.cell("backward_cell", cfg.tf_lstm_cell)
        encoded, hc, _ = encode_directions(prefix, self.vocab, self.cell("forward_cell", cfg.tf_lstm_cell),
                                           backward, cfg.hidden)
        return attend_and_decode(encoded, hc, self.linear("attention"), self.cell("decoder", cfg.tf_lstm_cell),
                                 self.linear("output"), self.vocab, decode_steps, stop_at_eos)


def stacked_models(models: Sequence[SuffixModel]) -> StackedModels:
    """The stack of `models` (all `MemoryEncoderDecoder`s or all `Seq2SeqAttention`s)."""
    if all(isinstance(m, Seq2SeqAttention) for m in models):
        return StackedSeq2Seq(models)
    if all(isinstance(m, MemoryEncoderDecoder) for m in models):
        return StackedMemoryModels(models)
    raise ValueError("stacking needs models of one class: MemoryEncoderDecoder or Seq2SeqAttention")


@torch.no_grad()
def stacked_predict(stack: StackedModels, prefixes: Sequence[Sequence[int]], max_decode: int, batch: int,
                    device: torch.device | str = "cpu", official: bool = False,
                    suffixes: Sequence[Sequence[int]] | None = None) -> list[list[list[int]]]:
    """`training.predict` for every seed's model at once: per seed, the greedy suffixes (activity ids, up to EOS)
    of the prefixes in their order, decoded in the batches of `evaluation_batches` for `decode_steps_of` steps."""
    out: list[list[list[int]]] = [[[] for _ in prefixes] for _ in range(stack.seeds)]
    was_training = stack.training
    stack.eval()
    try:
        for rows in evaluation_batches(prefixes, batch, official, suffixes is not None):
            encoded = encode_prefixes([prefixes[i] for i in rows], device)
            logits = stack(encoded.expand(stack.seeds, -1, -1), [0] * stack.seeds,
                           decode_steps_of(rows, max_decode, suffixes), stop_at_eos=True)
            for s, seed_tokens in enumerate(logits.argmax(-1).tolist()):
                for i, row in zip(rows, seed_tokens):
                    out[s][i] = activity_ids(row[:row.index(EOS)] if EOS in row else row)
    finally:
        stack.train(was_training)
    return out


def stacked_scores(stack: StackedModels, pairs: Pairs, cfg: TrainConfig, device: torch.device | str
                   ) -> list[dict[str, float]]:
    """`training.evaluate` of every seed's model: each seed's scores of its greedy predictions of `pairs`."""
    preds = stacked_predict(stack, pairs.prefixes, cfg.max_decode, cfg.eval_batch, device, cfg.official_eval_batches,
                            decoding_targets(pairs, cfg))
    return [score(seed_preds, pairs.suffixes, cfg.metric) for seed_preds in preds]


def stacked_measure(stack: StackedModels, val_pairs: Pairs, test_pairs: Pairs | None, cfg: TrainConfig,
                    device: torch.device | str) -> list[dict[str, Any]]:
    """`training.measure` of every seed's model: one evaluation record per seed."""
    records = [{f"val_{k}": v for k, v in scores.items()} for scores in stacked_scores(stack, val_pairs, cfg, device)]
    if test_pairs is not None:
        for record, scores in zip(records, stacked_scores(stack, test_pairs, cfg, device)):
            record.update({f"test_{k}": v for k, v in scores.items()})
    return records


def stacked_batch(batches: Sequence[Pairs], device: torch.device | str
                  ) -> tuple[torch.Tensor, list[int], torch.Tensor, torch.Tensor]:
    """Each seed's batch encoded as `train` encodes it, then padded to the longest over seeds: prefixes (S, B, T)
    left-padded, the first own step of each seed (S host integers), targets (S, B, D) and the loss mask
    (S, B, D)."""
    prefixes = [encode_prefixes(b.prefixes) for b in batches]
    encoded = [encode_targets(b.suffixes) for b in batches]
    steps, decode = max(p.shape[1] for p in prefixes), max(t.shape[1] for t, _ in encoded)
    prefix = torch.full((len(batches), prefixes[0].shape[0], steps), PAD, dtype=torch.long)
    targets = torch.full((len(batches), prefixes[0].shape[0], decode), PAD, dtype=torch.long)
    mask = torch.zeros(targets.shape, dtype=torch.bool)
    for s, (p, (t, m)) in enumerate(zip(prefixes, encoded)):
        prefix[s, :, steps - p.shape[1]:] = p
        targets[s, :, :t.shape[1]], mask[s, :, :m.shape[1]] = t, m
    starts = [steps - p.shape[1] for p in prefixes]
    return prefix.to(device), starts, targets.to(device), mask.to(device)


def seed_losses(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(S,): each seed's softmax cross-entropy averaged over its unmasked positions."""
    losses = F.cross_entropy(logits.flatten(0, 1).transpose(1, 2), targets.flatten(0, 1), reduction="none")
    losses = losses.view(targets.shape) * mask
    return losses.sum((1, 2)) / mask.sum((1, 2))


def train_seeds(models: Sequence[SuffixModel], train_pairs: Pairs, val_pairs: Pairs,
                test_pairs: Pairs | None, cfg: TrainConfig, seeds: Sequence[int], device: torch.device | str = "cpu",
                checkpoint: Path | None = None, resume: bool = False, desc: str = "train",
                selections: Sequence[Selection] | None = None) -> list[dict[str, Any]]:
    """`training.train` for models[s] with seed seeds[s], all seeds in one stacked pass per iteration; returns each
    seed's record (history, selected iteration). Each model ends with its selected weights. The seeds share one
    evaluation schedule, so their `selections` must share one budget (`shared_budget`)."""
    if len(models) != len(seeds):
        raise ValueError(f"{len(models)} models for {len(seeds)} seeds")
    selections = list(selections or [Selection(model) for model in models])
    budget = shared_budget(selections, seeds)
    cfg = check_training_pairs(train_pairs, val_pairs, cfg)
    for model in models:
        model.to(device)
    stack = stacked_models(models).to(device)
    optimizer = torch.optim.Adam(stack.parameters(), lr=cfg.lr)
    rngs = [np.random.default_rng(seed) for seed in seeds]

    def step(_: int) -> torch.Tensor:
        prefix, starts, targets, mask = stacked_batch([sample_batch(rng, train_pairs, cfg.batch_size)
                                                       for rng in rngs], device)
        loss = seed_losses(stack(prefix, starts, targets.shape[2], targets=targets), targets, mask).sum()
        optimizer.zero_grad()
        loss.backward()
        clip_gradients_(stack.parameters(), cfg.clip_value)
        optimizer.step()
        return loss.detach() / len(models)

    def evaluation(iteration: int) -> dict[str, Any]:
        stack.copy_into(models)
        records = stacked_measure(stack, val_pairs, test_pairs, cfg, device)
        for record, selection in zip(records, selections):
            selection.offer(record, iteration, cfg.select_on_test)
        return {"seeds": records}

    history = run_loop(cfg.iterations, step,
                       objects={"stack": stack, "optimizer": optimizer,
                                **{f"rng_{s}": rng for s, rng in zip(seeds, rngs)},
                                **{f"selection_{s}": sel for s, sel in zip(seeds, selections)}},
                       eval_fn=evaluation, eval_every=cfg.eval_every,
                       eval_steps=evaluation_steps(cfg, budget), checkpoint=checkpoint,
                       checkpoint_every=cfg.eval_every if checkpoint is not None else 0, resume=resume, desc=desc)
    for model, selection in zip(models, selections):
        model.load_state_dict(selection.best.state)
    return [{"history": [{"step": h["step"], **h["seeds"][s]} for h in history],
             **selection.summary(cfg.select_on_test)} for s, selection in enumerate(selections)]


def shared_budget(selections: Sequence[Selection], seeds: Sequence[int]) -> int | None:
    """The budget of every seed's selection: one evaluation schedule serves all stacked seeds (`train` evaluates
    at the budget too, `evaluation_steps`), so a seed of another budget would be evaluated, and could be selected,
    where its own `train` run is not."""
    if len(selections) != len(seeds):
        raise ValueError(f"{len(selections)} selections for {len(seeds)} seeds")
    budgets = {seed: selection.budget for seed, selection in zip(seeds, selections)}
    if len(set(budgets.values())) > 1:
        raise ValueError(f"stacked seeds share one evaluation schedule, so their selections need one budget; "
                         f"got budgets by seed {budgets}")
    return selections[0].budget
