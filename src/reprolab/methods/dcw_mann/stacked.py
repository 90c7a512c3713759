"""Seeds as a batch dimension: S `MemoryEncoderDecoder`s of one config (one per seed) trained in one forward and
backward pass per iteration, each as `training.train` trains it alone.

Parameters: theta[s] = seed s's parameters, stacked on a leading axis (`torch.func.stack_module_state`). Seed s's
linear maps are one batched product over the seed axis, y[s] = x[s] W[s]^T (`torch.bmm`); so are its LSTM cells:
    torch's cell:  [i, f, g, o] = x W_ih^T + b_ih + h W_hh^T + b_hh,  c' = s(f) c + s(i) tanh(g),  h' = s(o) tanh(c')
    TF1's cell:    [i, j, f, o] = [x; h] K^T + b,  c' = s(f + 1) c + s(i) tanh(j),  h' = s(o) tanh(c')
The memory step has no parameters and runs on the S x B memories at once (`memory.step` on the flattened batch).
Batches: seed s draws its own batch from its own generator (`np.random.default_rng(seed)`, as `train`) and left-pads
it to its own longest prefix; the stacked input pads it further to the longest over seeds, and at those extra leading
steps seed s's state is kept (the step is skipped), so its logits are those of its model on its own batch. Decoder
steps beyond a seed's own longest target only add outputs its loss mask drops (the decoder is causal).
Loss = sum over seeds of each seed's masked mean cross-entropy, so seed s's gradient is its own loss's; Adam and the
element-wise clipping act element by element, so each seed's update is the one `train` makes, to float rounding
(the batched products and the unfused LSTM sum in another order than torch's per-seed kernels).
Evaluation and model selection run per seed on its own `MemoryEncoderDecoder` (weights copied from the stack).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.dcw_mann import memory as mem
from reprolab.methods.dcw_mann.log import Pairs
from reprolab.methods.dcw_mann.model import PAD, TF_FORGET_BIAS, MemoryEncoderDecoder
from reprolab.methods.dcw_mann.training import (Selection, TrainConfig, check_training_pairs, clip_gradients_,
                                                encode_prefixes, encode_targets, evaluation_steps, measure,
                                                sample_batch)
from reprolab.runtime.train import run_loop


def stacked_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """y[s] = x[s] W[s]^T for x (S, B, in), W (S, out, in)."""
    return torch.bmm(x, weight.transpose(1, 2))


class StackedMemoryModels(nn.Module):
    """The parameters of S `MemoryEncoderDecoder`s of one config, stacked (S, ...); `forward` runs all S models,
    each on its own batch."""

    def __init__(self, models: Sequence[MemoryEncoderDecoder]):
        super().__init__()
        configs = {(m.cfg, m.vocab) for m in models}
        if not models or len(configs) != 1:
            raise ValueError("StackedMemoryModels needs at least one model, all of one config and vocabulary")
        self.cfg, self.vocab, self.seeds = models[0].cfg, models[0].vocab, len(models)
        params, _ = torch.func.stack_module_state(list(models))
        self.names = list(params)
        self.stack = nn.ParameterList([nn.Parameter(params[name].detach().clone()) for name in self.names])

    def param(self, name: str) -> torch.Tensor:
        return self.stack[self.names.index(name)]

    def copy_into(self, models: Sequence[MemoryEncoderDecoder]) -> None:
        """Seed s's current weights into models[s]."""
        with torch.no_grad():
            for s, model in enumerate(models):
                model.load_state_dict({name: p[s].clone() for name, p in zip(self.names, self.stack)})

    def cell(self, prefix: str, x: torch.Tensor, hc: tuple[torch.Tensor, torch.Tensor]
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM cell `prefix` of every seed (x, h, c: (S, B, .))."""
        h, c = hc
        if self.cfg.tf_lstm_cell:
            gates = stacked_linear(torch.cat([x, h], dim=2), self.param(f"{prefix}.weight"))
            i, g, f, o = (gates + self.param(f"{prefix}.bias").unsqueeze(1)).chunk(4, dim=2)
            f = f + TF_FORGET_BIAS
        else:
            gates = (stacked_linear(x, self.param(f"{prefix}.weight_ih")) + self.param(f"{prefix}.bias_ih").unsqueeze(1)
                     + stacked_linear(h, self.param(f"{prefix}.weight_hh"))
                     + self.param(f"{prefix}.bias_hh").unsqueeze(1))
            i, f, g, o = gates.chunk(4, dim=2)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def step(self, controller: str, x: torch.Tensor, hc: tuple[torch.Tensor, torch.Tensor],
             state: mem.MemoryState | None, write_protected: bool):
        """`MemoryEncoderDecoder._step` for every seed: controller, memory (on S x B memories), output."""
        cfg = self.cfg
        seeds, batch = x.shape
        inputs = F.one_hot(x, self.vocab).float()
        if state is not None:
            inputs = torch.cat([inputs, state.read_vectors.reshape(seeds, batch, -1)], dim=2)
        h, c = self.cell(f"{controller}.cell", inputs, hc)
        y = stacked_linear(h, self.param(f"{controller}.output.weight"))
        if state is not None:
            xi = stacked_linear(h, self.param(f"{controller}.interface.weight")).flatten(0, 1)
            state = mem.step(state, mem.parse_interface(xi, cfg.word_size, cfg.read_heads), write_protected)
            y = y + stacked_linear(state.read_vectors.reshape(seeds, batch, -1), self.param("read_output.weight"))
        return y, (h, c), state

    def forward(self, prefix: torch.Tensor, starts: torch.Tensor, decode_steps: int,
                targets: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (S, B, decode_steps, vocab) of every seed's model in training mode on prefix (S, B, T); seed s's
        encoder starts at step starts[s] (its state is kept at earlier steps). `targets` (S, B, >= decode_steps -
        1) feeds the true previous token when `teacher_forcing` is on."""
        cfg = self.cfg
        seeds, batch, steps = prefix.shape
        zeros = prefix.new_zeros((seeds, batch, cfg.hidden), dtype=torch.float32)
        hc = (zeros, zeros)
        state = (mem.initial_state(seeds * batch, cfg.slots, cfg.word_size, cfg.read_heads, prefix.device)
                 if cfg.use_mem else None)
        y = None
        for t in range(steps):
            x = prefix[:, :, t]
            y_new, hc_new, state_new = self.step("encoder", x, hc, state, False)
            keep = (starts > t)[:, None].expand(seeds, batch)
            if cfg.mask_encoder_padding:
                keep = keep | (x == PAD)
            if bool(keep.any()):
                hc_new = tuple(torch.where(keep[..., None], old, new) for old, new in zip(hc, hc_new))
                if state is not None:
                    flat = keep.flatten()
                    state_new = mem.MemoryState(*(torch.where(flat.view(-1, *[1] * (new.dim() - 1)), old, new)
                                                  for old, new in zip(state, state_new)))
            y, hc, state = y_new, hc_new, state_new
        controller = "decoder" if cfg.dual_controller else "encoder"
        outputs = []
        for t in range(decode_steps):
            if cfg.teacher_forcing and targets is not None:
                x = targets[:, :, t - 1] if t > 0 else torch.full_like(prefix[:, :, 0], PAD)
            else:
                x = y.detach().argmax(dim=-1)
            y, hc, state = self.step(controller, x, hc, state, cfg.write_protect)
            outputs.append(y)
        return torch.stack(outputs, dim=2)


def stacked_batch(batches: Sequence[Pairs], device: torch.device | str
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each seed's batch encoded as `train` encodes it, then padded to the longest over seeds: prefixes (S, B, T)
    left-padded, the first own step of each seed (S,), targets (S, B, D) and the loss mask (S, B, D)."""
    prefixes = [encode_prefixes(b.prefixes) for b in batches]
    encoded = [encode_targets(b.suffixes) for b in batches]
    steps, decode = max(p.shape[1] for p in prefixes), max(t.shape[1] for t, _ in encoded)
    prefix = torch.full((len(batches), prefixes[0].shape[0], steps), PAD, dtype=torch.long)
    targets = torch.full((len(batches), prefixes[0].shape[0], decode), PAD, dtype=torch.long)
    mask = torch.zeros(targets.shape, dtype=torch.bool)
    for s, (p, (t, m)) in enumerate(zip(prefixes, encoded)):
        prefix[s, :, steps - p.shape[1]:] = p
        targets[s, :, :t.shape[1]], mask[s, :, :m.shape[1]] = t, m
    starts = torch.tensor([steps - p.shape[1] for p in prefixes])
    return prefix.to(device), starts.to(device), targets.to(device), mask.to(device)


def seed_losses(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(S,): each seed's softmax cross-entropy averaged over its unmasked positions."""
    losses = F.cross_entropy(logits.flatten(0, 1).transpose(1, 2), targets.flatten(0, 1), reduction="none")
    losses = losses.view(targets.shape) * mask
    return losses.sum((1, 2)) / mask.sum((1, 2))


def train_seeds(models: Sequence[MemoryEncoderDecoder], train_pairs: Pairs, val_pairs: Pairs,
                test_pairs: Pairs | None, cfg: TrainConfig, seeds: Sequence[int], device: torch.device | str = "cpu",
                checkpoint: Path | None = None, resume: bool = False, desc: str = "train",
                selections: Sequence[Selection] | None = None) -> list[dict[str, Any]]:
    """`training.train` for models[s] with seed seeds[s], all seeds in one stacked pass per iteration; returns each
    seed's record (history, selected iteration). Each model ends with its selected weights."""
    if len(models) != len(seeds):
        raise ValueError(f"{len(models)} models for {len(seeds)} seeds")
    cfg = check_training_pairs(train_pairs, val_pairs, cfg)
    for model in models:
        model.to(device)
    stack = StackedMemoryModels(models).to(device)
    optimizer = torch.optim.Adam(stack.parameters(), lr=cfg.lr)
    rngs = [np.random.default_rng(seed) for seed in seeds]
    selections = list(selections or [Selection(model) for model in models])

    def step(_: int) -> float:
        prefix, starts, targets, mask = stacked_batch([sample_batch(rng, train_pairs, cfg.batch_size)
                                                       for rng in rngs], device)
        loss = seed_losses(stack(prefix, starts, targets.shape[2], targets=targets), targets, mask).sum()
        optimizer.zero_grad()
        loss.backward()
        clip_gradients_(stack.parameters(), cfg.clip_value)
        optimizer.step()
        return loss.item() / len(models)

    def evaluation(iteration: int) -> dict[str, Any]:
        stack.copy_into(models)
        records = [measure(model, val_pairs, test_pairs, cfg, device) for model in models]
        for record, selection in zip(records, selections):
            selection.offer(record, iteration, cfg.select_on_test)
        return {"seeds": records}

    history = run_loop(cfg.iterations, step,
                       objects={"stack": stack, "optimizer": optimizer,
                                **{f"rng_{s}": rng for s, rng in zip(seeds, rngs)},
                                **{f"selection_{s}": sel for s, sel in zip(seeds, selections)}},
                       eval_fn=evaluation, eval_every=cfg.eval_every,
                       eval_steps=evaluation_steps(cfg, selections[0].budget), checkpoint=checkpoint,
                       checkpoint_every=cfg.eval_every if checkpoint is not None else 0, resume=resume, desc=desc)
    for model, selection in zip(models, selections):
        model.load_state_dict(selection.best.state)
    return [{"history": [{"step": h["step"], **h["seeds"][s]} for h in history],
             **selection.summary(cfg.select_on_test)} for s, selection in enumerate(selections)]
