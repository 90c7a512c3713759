"""The DNC run as an encoder-decoder over a case (DeepProcess), in its four variants.

Input: the left-padded prefix tokens, then GO; the decoder starts one step later. Tokens: 0 = PAD/EOS, 1 = GO,
activity id + 1 [official code]. One-hot inputs (the official `use_emb=False`).
Encoder step t (controller 1, an LSTM):
    h, c = LSTM_1([onehot(x_t); vec(r_{t-1})], (h, c));  v = W_y1 h;  xi = W_xi1 h
    memory step (write, then read);  y_t = v + W_r vec(r_t)
Decoder step (controller 2 = its own LSTM, W_y2, W_xi2, started from controller 1's (h, c)):
    x = onehot(argmax y_{t-1}), no gradient through it (greedy feedback in training too, `use_teacher=False`);
    the first decoder input is the argmax of the output at the GO step
    write skipped when write-protected; read with controller 2's keys, strengths and modes;
    y_t = W_y2 h + W_r vec(r_t)   (W_r is controller 1's read-output matrix, shared by both phases)

| variant     | use_mem | dual_controller | write_protect |
| lstm_shared | False   | -               | -             |  output v alone, one LSTM for both phases (the
| dnc         | True    | False           | False         |  prototype's LSTM; the official LSTM seq2seq
| dc_mann     | True    | True            | False         |  baseline is `seq2seq.Seq2SeqAttention`)
| dcw_mann    | True    | True            | True          |

Initialisation [official code]: W_y, W_xi, W_r ~ N(0, 0.1^2), no biases; each LSTM as TF1's LSTMCell: one
Glorot-uniform kernel over [input; h] -> 4H (limit sqrt(6 / (in + H + 4H))), zero biases, forget-gate bias 1.
`init="pytorch"` keeps torch's defaults instead.

LSTM cell [TF1 LSTMCell]: gates [i, j, f, o] = [x; h] K + b with ONE bias vector, c' = sigmoid(f + 1) c +
sigmoid(i) tanh(j), h' = sigmoid(o) tanh(c'); the forget bias 1 is a constant, not a parameter. torch's
`nn.LSTMCell` (the default here) has two bias vectors b_ih + b_hh, with b_hh's forget block initialised at 1: the
same function at initialisation, but both vectors get the same gradient, so every optimiser step moves their sum
twice as far as TF's single bias moves. `tf_lstm_cell=True` uses `TFLSTMCell`, TF's cell.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from typing import Any, Callable, Literal, NamedTuple, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.dcw_mann import memory as mem
from reprolab.runtime.config import ConfigError, check_at_least, check_options

Variant = Literal["lstm_shared", "dnc", "dc_mann", "dcw_mann"]
VARIANTS: tuple[Variant, ...] = ("lstm_shared", "dnc", "dc_mann", "dcw_mann")
PAD = EOS = 0
GO = 1
OUTPUT_STD = 0.1            # official: output, interface and read-output weights ~ N(0, 0.1)
TF_FORGET_BIAS = 1.0        # TF1 LSTMCell's default forget_bias, added as a constant


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes and flags of `MemoryEncoderDecoder`: the `variant` (the DCw-MANN by default), memory slots N, word
    size W, read heads R and LSTM size H. N 16, W 32 and H 64 are the quick CPU design (official suffix runs: N 64,
    W 64 or 100, H 100); R 1, greedy feedback, writes on pad steps and the official initialisation follow the
    official code, while `tf_lstm_cell=False` uses torch's LSTM cell instead of TF1's."""

    variant: Variant = "dcw_mann"
    slots: int = 16                   # N: quick design; official Financial Log 64, Helpdesk 10 (mix task)
    word_size: int = 32               # W: quick design; official Financial Log 64
    read_heads: int = 1               # R: official suffix runs 1
    hidden: int = 64                  # H: quick design; official 100
    teacher_forcing: bool = False     # official trains with greedy feedback (trap 2)
    mask_encoder_padding: bool = False   # official writes memory on pad steps too (trap 8)
    tf_lstm_cell: bool = False        # True: TF1's LSTMCell (one bias vector, the official cell); False: torch's
    init: Literal["official", "pytorch"] = "official"
    compile_memory: bool = False      # the memory step compiled by TorchInductor in training passes (with gradients);
                                      # evaluation stays eager. Needs a C++ compiler on PATH (TorchInductor
                                      # builds its CPU kernels with it)

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("slots", "word_size", "read_heads", "hidden"))
        if self.compile_memory and not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
            raise ConfigError("config key 'model.compile_memory' needs a C++ compiler (g++, c++ or clang++) for "
                              "TorchInductor; none is on PATH: set it false")

    @property
    def use_mem(self) -> bool:
        return self.variant != "lstm_shared"

    @property
    def dual_controller(self) -> bool:
        return self.variant in ("dc_mann", "dcw_mann")

    @property
    def write_protect(self) -> bool:
        return self.variant == "dcw_mann"


class TFLSTMCell(nn.Module):
    """TF1's `LSTMCell`: one kernel over [x; h] and one bias vector, gates in TF's order (i, j, f, o), the forget
    bias a constant added in the forward pass. The same call as `nn.LSTMCell`: (x, (h, c)) -> (h', c')."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight = nn.Parameter(torch.empty(4 * hidden_size, input_size + hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)                  # torch's default for its own LSTM cells
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, hc: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = hc
        i, j, f, o = F.linear(torch.cat([x, h], dim=1), self.weight, self.bias).chunk(4, dim=1)
        c = torch.sigmoid(f + TF_FORGET_BIAS) * c + torch.sigmoid(i) * torch.tanh(j)
        return torch.sigmoid(o) * torch.tanh(c), c


def lstm_cell(input_size: int, hidden: int, tf_cell: bool) -> nn.Module:
    return TFLSTMCell(input_size, hidden) if tf_cell else nn.LSTMCell(input_size, hidden)


def tf_lstm_init_(cell: nn.Module) -> None:
    """TF1 LSTMCell's initialisation: Glorot-uniform over the joint [input; h] -> 4H kernel, zero biases, forget
    bias 1 (a constant in `TFLSTMCell`; in torch's cell, gate order i, f, g, o, b_hh's forget block starts at 1)."""
    hidden = cell.hidden_size
    limit = math.sqrt(6.0 / (cell.input_size + hidden + 4 * hidden))
    with torch.no_grad():
        if isinstance(cell, TFLSTMCell):
            nn.init.uniform_(cell.weight, -limit, limit)
            cell.bias.zero_()
            return
        nn.init.uniform_(cell.weight_ih, -limit, limit)
        nn.init.uniform_(cell.weight_hh, -limit, limit)
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
        cell.bias_hh[hidden:2 * hidden] = TF_FORGET_BIAS


class SuffixModel(nn.Module):
    """What training and evaluation use: `forward(prefix, decode_steps, targets=None, stop_at_eos=False)` gives
    the logits (B, steps, vocab) of the decoder steps, given `prefix` (B, T), left-padded tokens ending with GO.
    `mixes_samples`: whether a sample's logits depend on the other samples of its batch beyond their padded length
    (the official seq2seq's mixed attention)."""

    mixes_samples: bool = False

    @torch.no_grad()
    def greedy_decode(self, prefix: torch.Tensor, max_steps: int) -> list[list[int]]:
        """Greedy predictions up to the first EOS (at most `max_steps` tokens each)."""
        was_training = self.training
        self.eval()
        try:
            logits = self.forward(prefix, max_steps, stop_at_eos=True)
        finally:
            self.train(was_training)
        tokens = logits.argmax(-1).tolist()
        return [row[:row.index(EOS)] if EOS in row else row for row in tokens]


def all_finished(finished: torch.Tensor, y: torch.Tensor) -> bool:
    """Marks the samples whose output `y` is EOS in `finished` (in place); whether every sample has finished."""
    finished |= y.argmax(-1) == EOS
    return bool(finished.all())


class Controller(nn.Module):
    """An LSTM with the output map W_y and the interface map W_xi (no biases)."""

    def __init__(self, input_size: int, vocab: int, cfg: ModelConfig):
        super().__init__()
        self.cell = lstm_cell(input_size, cfg.hidden, cfg.tf_lstm_cell)
        self.output = nn.Linear(cfg.hidden, vocab, bias=False)
        self.interface = (nn.Linear(cfg.hidden, mem.interface_size(cfg.word_size, cfg.read_heads), bias=False)
                          if cfg.use_mem else None)
        if cfg.init == "official":
            tf_lstm_init_(self.cell)
            for linear in (self.output, self.interface):
                if linear is not None:
                    nn.init.normal_(linear.weight, std=OUTPUT_STD)


class MemoryEncoderDecoder(SuffixModel):
    """The shared-cell LSTM, DNC, DC-MANN or DCw-MANN (`cfg.variant`) over a vocabulary of `vocab` tokens."""

    def __init__(self, vocab: int, cfg: ModelConfig):
        super().__init__()
        if vocab < 3:
            raise ValueError(f"vocab must be >= 3 (PAD/EOS, GO and one activity), got {vocab}")
        self.vocab, self.cfg = vocab, cfg
        reads = cfg.read_heads * cfg.word_size if cfg.use_mem else 0
        self.encoder = Controller(vocab + reads, vocab, cfg)
        self.decoder = Controller(vocab + reads, vocab, cfg) if cfg.dual_controller else None
        self.read_output = nn.Linear(reads, vocab, bias=False) if cfg.use_mem else None
        if self.read_output is not None and cfg.init == "official":
            nn.init.normal_(self.read_output.weight, std=OUTPUT_STD)

    def forward(self, prefix: torch.Tensor, decode_steps: int, targets: torch.Tensor | None = None,
                trace: list | None = None, stop_at_eos: bool = False) -> torch.Tensor:
        """Logits (B, decode_steps, vocab) of the decoder steps, given `prefix` (B, T): left-padded tokens ending
        with GO. `targets` (B, >= decode_steps - 1) feeds the true previous token when `teacher_forcing` is on
        (the first decoder step then gets the target at the GO position, PAD, as in the official code).
        `trace`, when a list, receives one record per memory step: the memory state after it, the parsed
        interface and whether it wrote. `stop_at_eos` ends
        decoding once every sample has emitted EOS (samples are independent, so no prediction changes)."""
        cfg = self.cfg
        decoder = self.decoder if self.decoder is not None else self.encoder
        kept = (lambda t, x: x == PAD) if cfg.mask_encoder_padding else (lambda t, x: None)
        return unroll(cfg, self.vocab, prefix, decode_steps, self.encoder, decoder, self.read_output, kept,
                      targets if cfg.teacher_forcing and self.training else None, trace, stop_at_eos)


class ControllerMaps(NamedTuple):
    """A controller as three maps (what `Controller` holds): the LSTM cell (x, (h, c)) -> (h', c'), the output map
    W_y and the interface map W_xi (None without memory)."""
    cell: Callable
    output: Callable
    interface: Callable | None


def keep_where(keep: torch.Tensor, old: Sequence[torch.Tensor], new: Sequence[torch.Tensor]) -> Any:
    """Each tensor of `new` with the entries of `old` where `keep` (the leading dimensions) is True: the state of
    a sample whose step is skipped. A NamedTuple (`MemoryState`) stays one."""
    values = [torch.where(keep.view(*keep.shape, *[1] * (n.dim() - keep.dim())), o, n) for o, n in zip(old, new)]
    return type(new)(*values) if hasattr(new, "_fields") else tuple(values)


def memory_model_step(cfg: ModelConfig, vocab: int, controller: Controller | ControllerMaps, read_output: Callable,
                      x: torch.Tensor, hc: tuple[torch.Tensor, torch.Tensor], state: mem.MemoryState | None,
                      write_protected: bool, trace: list | None = None):
    """One time step of tokens x (any leading shape L, e.g. (B,) or (seeds, B)): controller, memory (write unless
    protected, then read, on the prod(L) memories of `state`), output y (L, vocab)."""
    inputs = F.one_hot(x, vocab).float()
    if state is not None:
        inputs = torch.cat([inputs, state.read_vectors.reshape(*x.shape, -1)], dim=-1)
    h, c = controller.cell(inputs, hc)
    y = controller.output(h)
    if state is not None:
        xi = controller.interface(h)
        iface = mem.parse_interface(xi.reshape(-1, xi.shape[-1]), cfg.word_size, cfg.read_heads)
        step = mem.compiled_step() if cfg.compile_memory and torch.is_grad_enabled() else mem.step
        state = step(state, iface, write_protected)
        y = y + read_output(state.read_vectors.reshape(*x.shape, -1))
        if trace is not None:
            trace.append({"state": state, "interface": iface, "written": not write_protected})
    return y, (h, c), state


def unroll(cfg: ModelConfig, vocab: int, prefix: torch.Tensor, decode_steps: int,
           encoder: Controller | ControllerMaps, decoder: Controller | ControllerMaps, read_output: Callable | None,
           kept: Callable[[int, torch.Tensor], torch.Tensor | None], targets: torch.Tensor | None = None,
           trace: list | None = None, stop_at_eos: bool = False) -> torch.Tensor:
    """The encoder over prefix (L..., T), then `decode_steps` decoder steps; logits (L..., decode_steps, vocab).
    At encoder step t the samples where `kept(t, x_t)` is True keep their state (None: none kept). `targets`, when
    given, feed the true previous token (teacher forcing), else the previous argmax (no gradient) is fed."""
    lead = prefix.shape[:-1]
    zeros = prefix.new_zeros((*lead, cfg.hidden), dtype=torch.float32)
    hc = (zeros, zeros)
    state = (mem.initial_state(math.prod(lead), cfg.slots, cfg.word_size, cfg.read_heads, prefix.device)
             if cfg.use_mem else None)
    y = None
    for t in range(prefix.shape[-1]):
        x = prefix[..., t]
        y_new, hc_new, state_new = memory_model_step(cfg, vocab, encoder, read_output, x, hc, state, False, trace)
        keep = kept(t, x)
        if keep is not None:
            hc_new = keep_where(keep, hc, hc_new)
            if state is not None:
                state_new = keep_where(keep.flatten(), state, state_new)
        y, hc, state = y_new, hc_new, state_new
    outputs = []
    finished = torch.zeros(lead, dtype=torch.bool, device=prefix.device)
    for t in range(decode_steps):
        if targets is not None:
            x = targets[..., t - 1] if t > 0 else torch.full_like(prefix[..., 0], PAD)
        else:
            x = y.detach().argmax(dim=-1)
        y, hc, state = memory_model_step(cfg, vocab, decoder, read_output, x, hc, state, cfg.write_protect, trace)
        outputs.append(y)
        if stop_at_eos and all_finished(finished, y):
            break
    return torch.stack(outputs, dim=len(lead))
