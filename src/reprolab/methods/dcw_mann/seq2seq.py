"""The official LSTM seq2seq baseline (`baseline_seq2seq.py`, `build_seq2seq_mask`, as the suffix runs call it):
a bidirectional LSTM encoder and an LSTM decoder with attention, in PyTorch.

Encoder [official code]: one-hot prefix tokens (no GO), a forward and a backward LSTM(H) over each prefix's own
length (`sequence_length`: padded steps neither change the state nor give an output, outputs there are 0);
e_t = [h^fw_t; h^bw_t] (2H). The decoder LSTM(2H) starts from ([h^fw; h^bw], [c^fw; c^bw]) of the final states.
Attention [official code], D = the number of decoder steps it was built for:
    v_t = tanh(W_omega e_t + b_omega)   (D values per encoder step)
    alpha_{t,d} = softmax over d of v_t  (normalised over the decoder steps, not over the encoder steps)
    a_d = sum_t alpha_{t,d} e_t          (padded steps add 0)
Decoder step d [official code]: input [onehot(x_d); a_d], x_0 = GO (token 1), then x_d = argmax y_{d-1} (greedy,
also in training; no gradient through it); y_d = W h_d + b (softmax with a bias).
Training [official code]: the masked softmax cross-entropy over suffix + EOS, Adam at TF's default rate 0.001, no
gradient clipping (`Seq2SeqConfig.lr`, `clip_value`). Initialisation [official code]: W, W_omega, b_omega ~ U(-1, 1),
b = 0; the LSTMs as TF1's LSTMCell (`model.tf_lstm_init_`).

Mixed attention [official code]: the official code computes alpha on the encoder outputs flattened time-major (rows
t*B + b of its right-padded [T, B, 2H] outputs, T the batch's longest prefix) and reshapes them batch-major
([B, T, D]), so sample b's weight at step t is the one computed for row b*T + t, i.e. for step (b*T + t) // B of
sample (b*T + t) % B: the weights of different samples of a batch mix. By default each sample gets its own weights;
`time_major_attention=True` reproduces the mixing (`time_major_context`), and a prediction then depends on the
other prefixes of its batch.
Shared directions [official code]: `baseline_seq2seq.py` passes one `tf.contrib.rnn.LSTMCell` object as both cell_fw
and cell_bw. From TF 1.2 on an RNN cell is a layer that creates its weights at its first call and reuses them at
every later call, so both directions run with one set of weights; `shared_directions=True` (the default) does that,
False gives each direction its own cell.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.dcw_mann.log import Pairs
from reprolab.methods.dcw_mann.model import GO, PAD, SuffixModel, all_finished, lstm_cell, tf_lstm_init_
from reprolab.runtime.config import check_at_least, check_options

OFFICIAL_UNIFORM = 1.0      # official: W, W_omega, b_omega ~ U(-1, 1)


@dataclasses.dataclass(frozen=True)
class Seq2SeqConfig:
    """Settings of the official LSTM seq2seq baseline (`Seq2SeqAttention`): `hidden` units per encoder direction
    (the decoder has 2 x hidden) and its optimiser, Adam at `lr` with element-wise clipping at `clip_value`
    (0: none). `hidden`, `lr`, `clip_value` and `shared_directions` default to the official code's 100, 0.001, no
    clipping and one cell for both directions; `tf_lstm_cell` uses TF1's LSTM cell."""

    hidden: int = 100                 # official encoder_hidden_units=100 per direction; the decoder has 2 x 100
    lr: float = 0.001                 # official: tf.train.AdamOptimizer() at its default rate
    clip_value: float = 0.0           # official: no clipping (0: none)
    shared_directions: bool = True    # official: one cell for both directions (see the module docstring)
    tf_lstm_cell: bool = False        # True: TF1's LSTMCell (one bias vector); False: torch's
    time_major_attention: bool = False    # official: alpha computed time-major and read batch-major, mixing the
                                      # samples of a batch (module docstring); False: each sample's own weights
    init: Literal["official", "pytorch"] = "official"

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("hidden",))
        if self.lr <= 0 or self.clip_value < 0:
            raise ValueError(f"need lr > 0 and clip_value >= 0, got {self.lr}, {self.clip_value}")


def attention_steps(max_decode: int, *parts: Pairs) -> int:
    """The decoder steps the attention is built for: enough for training (the longest suffix + EOS) and for
    decoding `max_decode` tokens (official: the longest suffix + 1 or + 2)."""
    return max(max_decode, max(len(s) for pairs in parts for s in pairs.suffixes) + 1)


def run_direction(cell: Callable, hidden: int, x: torch.Tensor, valid: torch.Tensor
                  ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One LSTM direction (`cell`: (x, (h, c)) -> (h', c') of size `hidden`) over x (L..., T, in), any leading
    shape L; where `valid` (L..., T) is False the state is kept and the output is 0. Returns the outputs
    (L..., T, hidden) and the final (h, c)."""
    h = c = x.new_zeros((*x.shape[:-2], hidden))
    outputs = []
    for t in range(x.shape[-2]):
        h_new, c_new = cell(x[..., t, :], (h, c))
        keep = valid[..., t, None]
        h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
        outputs.append(torch.where(keep, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs, dim=-2), (h, c)


def encode_directions(prefix: torch.Tensor, vocab: int, forward_cell: Callable, backward_cell: Callable | None,
                      hidden: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Encoder outputs e (L..., B, T, 2H), the decoder's initial (h, c) and the prefixes' non-padding steps
    (L..., B, T), from left-padded tokens ending with GO (L..., B, T + 1). `backward_cell` None: one cell for both
    directions, run as one batch of 2B sequences."""
    tokens = prefix[..., :-1]
    valid = tokens != PAD
    x = F.one_hot(tokens, vocab).float()
    if backward_cell is None:
        both, (h, c) = run_direction(forward_cell, hidden, torch.cat([x, x.flip(-2)], dim=-3),
                                     torch.cat([valid, valid.flip(-1)], dim=-2))
        (fw, bw), (h_fw, h_bw), (c_fw, c_bw) = both.chunk(2, dim=-3), h.chunk(2, dim=-2), c.chunk(2, dim=-2)
    else:
        fw, (h_fw, c_fw) = run_direction(forward_cell, hidden, x, valid)
        bw, (h_bw, c_bw) = run_direction(backward_cell, hidden, x.flip(-2), valid.flip(-1))
    return (torch.cat([fw, bw.flip(-2)], dim=-1),
            (torch.cat([h_fw, h_bw], dim=-1), torch.cat([c_fw, c_bw], dim=-1)), valid)


def right_aligned(encoded: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Encoder outputs (L..., B, T, 2H) of left-padded prefixes (`valid` (L..., B, T) False at the padding) moved to
    the right-padded layout of the official batch: each prefix's outputs first, its zero padding outputs after."""
    steps = valid.shape[-1]
    pads = (~valid).sum(dim=-1, keepdim=True)                           # (L..., B, 1)
    index = (torch.arange(steps, device=valid.device) + pads) % steps   # (L..., B, T)
    return encoded.gather(-2, index[..., None].expand(encoded.shape))


def time_major_context(encoded: torch.Tensor, valid: torch.Tensor, attention: Callable) -> torch.Tensor:
    """The official code's attention contexts a (L..., B, D, 2H) over the outputs e (L..., B, T, 2H) of a batch of
    left-padded prefixes (`valid` False at the padding): with e right-aligned (`right_aligned`), alpha = softmax over
    d of tanh(W e + b) on the rows t*B + b of the time-major outputs, read back batch-major as rows b*T + t;
    a_{b,d} = sum_t alpha[b*T + t, d] e_{b,t}."""
    right = right_aligned(encoded, valid)
    alphas = torch.tanh(attention(right.transpose(-3, -2))).softmax(dim=-1)    # (L..., T, B, D): row t*B + b
    alphas = alphas.reshape(right.shape[:-1] + alphas.shape[-1:])              # (L..., B, T, D): row b*T + t
    return torch.einsum("...btd,...bth->...bdh", alphas, right)


def attend_and_decode(encoded: torch.Tensor, hc: tuple[torch.Tensor, torch.Tensor], attention: Callable,
                      decoder: Callable, output: Callable, vocab: int, decode_steps: int,
                      stop_at_eos: bool = False, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The attention over the encoder outputs e (L..., T, 2H) and `decode_steps` greedy decoder steps from hc
    (GO first, then the previous argmax, no gradient through it); logits (L..., decode_steps, vocab). `valid`
    (L..., T), the prefixes' non-padding steps, selects the official mixed attention (`time_major_context`) over the
    batch dimension before T."""
    if valid is None:
        alphas = torch.tanh(attention(encoded)).softmax(dim=-1)         # (L..., T, D), over the decoder steps
        context = torch.einsum("...td,...th->...dh", alphas, encoded)   # (L..., D, 2H)
    else:
        context = time_major_context(encoded, valid, attention)
    lead = encoded.shape[:-2]
    x = torch.full(lead, GO, dtype=torch.long, device=encoded.device)
    finished = torch.zeros(lead, dtype=torch.bool, device=encoded.device)
    outputs = []
    for d in range(decode_steps):
        hc = decoder(torch.cat([F.one_hot(x, vocab).float(), context[..., d, :]], dim=-1), hc)
        y = output(hc[0])
        outputs.append(y)
        if stop_at_eos and all_finished(finished, y):
            break
        x = y.detach().argmax(dim=-1)
    return torch.stack(outputs, dim=len(lead))


def check_decode_steps(decode_steps: int, built_for: int) -> None:
    if decode_steps > built_for:
        raise ValueError(f"decode_steps {decode_steps} exceeds the {built_for} decoder steps the attention was "
                         f"built for")


class Seq2SeqAttention(SuffixModel):
    """The official LSTM seq2seq over `vocab` tokens, with attention over `decode_steps` decoder steps."""

    def __init__(self, vocab: int, cfg: Seq2SeqConfig, decode_steps: int):
        super().__init__()
        if vocab < 3 or decode_steps < 1:
            raise ValueError(f"need vocab >= 3 (PAD/EOS, GO and one activity) and decode_steps >= 1, got {vocab}, "
                             f"{decode_steps}")
        self.vocab, self.cfg, self.decode_steps = vocab, cfg, decode_steps
        self.mixes_samples = cfg.time_major_attention
        hidden = cfg.hidden
        self.forward_cell = lstm_cell(vocab, hidden, cfg.tf_lstm_cell)
        self.backward_cell = self.forward_cell if cfg.shared_directions else lstm_cell(vocab, hidden,
                                                                                      cfg.tf_lstm_cell)
        self.attention = nn.Linear(2 * hidden, decode_steps)               # W_omega, b_omega
        self.decoder = lstm_cell(vocab + 2 * hidden, 2 * hidden, cfg.tf_lstm_cell)
        self.output = nn.Linear(2 * hidden, vocab)                          # W, b
        if cfg.init == "official":
            for cell in (self.forward_cell, self.backward_cell, self.decoder):
                tf_lstm_init_(cell)
            with torch.no_grad():
                for p in (self.attention.weight, self.attention.bias, self.output.weight):
                    nn.init.uniform_(p, -OFFICIAL_UNIFORM, OFFICIAL_UNIFORM)
                self.output.bias.zero_()

    def encode(self, prefix: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """Encoder outputs e (B, T, 2H), the decoder's initial (h, c) and the prefixes' non-padding steps (B, T),
        from left-padded tokens ending with GO."""
        backward = None if self.cfg.shared_directions else self.backward_cell
        return encode_directions(prefix, self.vocab, self.forward_cell, backward, self.cfg.hidden)

    def forward(self, prefix: torch.Tensor, decode_steps: int, targets: torch.Tensor | None = None,
                stop_at_eos: bool = False) -> torch.Tensor:
        """Logits (B, decode_steps, vocab). `targets` is accepted for the training loop's call and unused: the
        official decoder always feeds back its own argmax."""
        check_decode_steps(decode_steps, self.decode_steps)
        encoded, hc, valid = self.encode(prefix)
        return attend_and_decode(encoded, hc, self.attention, self.decoder, self.output, self.vocab, decode_steps,
                                 stop_at_eos, valid if self.cfg.time_major_attention else None)
