"""The black box f: probabilities for a batch of items, and the same under a feature mask z in [0, 1]^L.

AIM needs f(x, z) only for the label y1 = argmax f(x, Z) (no gradient flows into f), so three adapters cover the
user's models without changing them:
- `embedding_black_box(model)`: a torch classifier with an `nn.Embedding`; a forward hook multiplies the
  embedding output by z (the official code multiplies token embeddings by z inside its black boxes);
- `callable_black_box(fn)`: any function of token ids (B, L) that returns probabilities; positions whose mask
  rounds to 0 become PAD [design];
- `image_black_box(model, patch)`: a classifier of (B, C, H, W) images; each patch's pixels are multiplied by its
  mask value.
Every output is checked to be probabilities (finite, >= 0, rows summing to 1): a model that returns logits is an
error that says so. `masked_probs(x, z, dropout=True)` runs a torch model in training mode (dropout on), as the
official training loop does: its `Model` holds the black box as a submodule, so `model.train()` reaches it
[official code, `main.py`, `explainer.py`].
`WordCNN` is the text black box the experiments train (Kim's CNN: filter widths 3 and 5, 100 filters each, as the
prototype's; as the official black boxes: a plain embedding (PAD has its own learned vector), valid convolutions,
max over time, probabilities out). Unmasked, `embedding_black_box` queries it through `WordCNN.unpadded_probs`,
which computes the windows of PAD alone once (the same probabilities to float rounding). With `balanced=True`
[design] per-class offsets are added to its logits after training, fitted on the validation items so that it gives
every class the same share of them (`balanced_offsets`): trained plainly, the quick WordCNN gave 74 % of the Rotten
Tomatoes test snippets one class (58 % of them have it) and 72 % of the debates' statements one party (40 % have
it), and a kept word that gives the majority class is faithful at that rate.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reprolab.runtime.config import AT_LEAST_ONE, POSITIVE
from reprolab.methods.aim.corpus import PAD
from reprolab.methods.aim.modules import drawing_from

PROBABILITY_TOLERANCE = 1e-3


def check_probabilities(p: Any, batch: int) -> torch.Tensor:
    p = torch.as_tensor(np.asarray(p) if not isinstance(p, torch.Tensor) else p, dtype=torch.float32)
    if p.dim() != 2 or p.shape[0] != batch:
        raise ValueError(f"the black box must return probabilities of shape (batch, classes) = ({batch}, C), got "
                         f"{tuple(p.shape)}")
    if not (torch.isfinite(p).all() & (p >= 0).all() & ((p.sum(1) - 1).abs() <= PROBABILITY_TOLERANCE).all()):
        raise ValueError("the black box must return probabilities (non-negative, each row summing to 1); it returned "
                         "values that are not (logits?): wrap it with a softmax")
    return p


@dataclasses.dataclass
class BlackBox:
    """probs(x) -> (B, C); masked_probs(x, z) -> (B, C) with z (B, L) in [0, 1]; `module`: the torch model, when
    there is one (kept in eval mode)."""
    forward: Callable[[Any], Any]
    masked: Callable[[Any, torch.Tensor], Any]
    device: str = "cpu"
    module: nn.Module | None = None

    @torch.no_grad()
    def probs(self, x: Any) -> torch.Tensor:
        return check_probabilities(self.forward(x), len(x)).to(self.device)

    @torch.no_grad()
    def masked_probs(self, x: Any, z: torch.Tensor, dropout: bool = False) -> torch.Tensor:
        """f(x, z); `dropout=True` runs the torch model in training mode for this call (official training)."""
        if not dropout:
            return check_probabilities(self.masked(x, z), len(x)).to(self.device)
        if self.module is None:
            raise ValueError("black-box dropout needs a torch model black box (embedding_black_box or "
                             "image_black_box); a plain callable has no dropout to turn on")
        self.module.train()
        try:
            return check_probabilities(self.masked(x, z), len(x)).to(self.device)
        finally:
            self.module.eval()

    def batched_probs(self, x: Any, batch: int = 500) -> torch.Tensor:
        """probs over `x` in batches of `batch` items, on the CPU."""
        return torch.cat([self.probs(x[i:i + batch]).cpu() for i in range(0, len(x), batch)])

    def predict(self, x: Any, batch: int = 500) -> torch.Tensor:
        return self.batched_probs(x, batch).argmax(-1)


def find_embedding(model: nn.Module) -> nn.Embedding:
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            return module
    raise ValueError("no nn.Embedding in the model: pass embedding=..., or wrap the model with callable_black_box")


def embedding_black_box(model: nn.Module, embedding: nn.Module | None = None) -> BlackBox:
    """A torch text classifier (ids -> probabilities); the mask multiplies the embedding output. A `WordCNN`'s
    unmasked probabilities skip the windows of PAD alone (`WordCNN.unpadded_probs`)."""
    model.eval()
    forward = model.unpadded_probs if isinstance(model, WordCNN) and embedding is None else model
    embedding = embedding or find_embedding(model)
    device = str(next(model.parameters()).device)

    def masked(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        hook = embedding.register_forward_hook(lambda module, inputs, output: output * z.unsqueeze(-1))
        try:
            return model(x)
        finally:
            hook.remove()

    return BlackBox(forward, masked, device, model)


def callable_black_box(fn: Callable[[torch.Tensor], Any], device: str = "cpu") -> BlackBox:
    """Any function of token ids (B, L) returning probabilities; masked positions (z < 0.5) become PAD."""
    def masked(x: torch.Tensor, z: torch.Tensor) -> Any:
        return fn(torch.where(z >= 0.5, x, torch.full_like(x, PAD)))

    return BlackBox(fn, masked, device)


def patch_mask_to_pixels(z: torch.Tensor, image_shape: tuple[int, int], patch: int) -> torch.Tensor:
    """(B, L) patch mask -> (B, 1, H, W) pixel mask, patches in row-major order."""
    rows, cols = image_shape[0] // patch, image_shape[1] // patch
    grid = z.view(-1, 1, rows, cols)
    return grid.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)


def image_black_box(model: nn.Module, patch: int = 7) -> BlackBox:
    """An image classifier ((B, C, H, W) -> probabilities); each patch is scaled by its mask value."""
    model.eval()
    device = str(next(model.parameters()).device)

    def masked(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return model(x * patch_mask_to_pixels(z, tuple(x.shape[-2:]), patch))

    return BlackBox(model, masked, device, model)


class WordCNN(nn.Module):
    """Embedding -> Conv1d per width + ReLU + max over time -> dropout -> Linear (+ per-class offsets, zero unless
    balanced) -> softmax."""

    def __init__(self, vocab: int, classes: int, embed: int = 100, widths: tuple[int, ...] = (3, 5),
                 filters: int = 100, dropout: float = 0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)         # no padding_idx: PAD has a learned vector [official]
        self.convs = nn.ModuleList(nn.Conv1d(embed, filters, w) for w in widths)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(filters * len(widths), classes)
        self.register_buffer("class_offsets", torch.zeros(classes))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embedding(x).transpose(1, 2)
        features = self.dropout(torch.cat([F.relu(conv(e)).amax(-1) for conv in self.convs], dim=1))
        return self.out(features) + self.class_offsets

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=-1)

    @torch.no_grad()
    def unpadded_probs(self, x: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """`forward(x)` in eval mode, computed without the windows that hold only PAD: the items are sorted by
        where their last real token ends (e), cut in chunks of `chunk`, and each chunk's convolution of width w
        runs over its first max(e) + w - 1 positions. Every window of PAD alone has the same output, computed once
        from PAD's vector, and it joins the max over time of each item that has such a window (e + w <= L). The
        same windows enter the max as in `forward`, so the probabilities agree to float rounding."""
        if self.training:
            raise ValueError("unpadded_probs computes the eval-mode forward: call model.eval() first")
        length, widths = x.shape[1], [conv.kernel_size[0] for conv in self.convs]
        ends = torch.where(x != PAD, torch.arange(1, length + 1, device=x.device), 0).amax(1)
        order = torch.argsort(ends, stable=True)
        pad_vector = self.embedding.weight[PAD].view(1, -1, 1)
        pad_windows = [F.relu(conv(pad_vector.expand(1, -1, w)))[0, :, 0] for conv, w in zip(self.convs, widths)]
        out = torch.empty(len(x), self.out.out_features, device=x.device)
        for start in range(0, len(x), chunk):
            index = order[start:start + chunk]
            end = max(int(ends[index].max()), 1)
            e = self.embedding(x[index, :min(length, end + max(widths) - 1)]).transpose(1, 2)
            features = []
            for conv, width, pad_window in zip(self.convs, widths, pad_windows):
                h = F.relu(conv(e[:, :, :min(length, end + width - 1)])).amax(-1)
                features.append(torch.where((ends[index] + width <= length).unsqueeze(1), h.maximum(pad_window), h))
            out[index] = self.out(torch.cat(features, dim=1)) + self.class_offsets
        return torch.softmax(out, dim=-1)


@dataclasses.dataclass(frozen=True)
class BlackBoxConfig:
    widths: Annotated[tuple[int, ...], AT_LEAST_ONE] = (3, 5)  # the prototype's WordCNN
    filters: Annotated[int, AT_LEAST_ONE] = 100
    embed: Annotated[int, AT_LEAST_ONE] = 100
    epochs: Annotated[int, AT_LEAST_ONE] = 3                   # the prototype's
    batch_size: Annotated[int, AT_LEAST_ONE] = 50
    lr: Annotated[float, POSITIVE] = 1e-3                      # [official black boxes: Adam 1e-3]
    balanced: bool = False                 # [design] class offsets fitted on validation (module docstring); the
                                           # experiments turn it on


def balanced_offsets(logits: torch.Tensor, rounds: int = 100) -> torch.Tensor:
    """Per-class offsets b (mean 0) with which argmax(logits + b) gives every class the same share of the N items,
    up to ties: coordinate steps, each setting one class's offset midway between the round(N / C)-th and the next
    smallest margin max_{j != c}(logits_j + b_j) - logits_c, i.e. so that round(N / C) items pick that class;
    rounds over the classes until the counts differ by at most one."""
    n, classes = logits.shape
    q = round(n / classes)
    offsets = torch.zeros(classes)
    for _ in range(rounds):
        for c in range(classes):
            rivals = torch.cat([logits[:, :c] + offsets[:c], logits[:, c + 1:] + offsets[c + 1:]], 1)
            margins = (rivals.amax(1) - logits[:, c]).sort().values
            below = margins[q - 1] if q >= 1 else margins[0] - 1
            above = margins[q] if q < n else margins[-1] + 1
            offsets[c] = (below + above) / 2
        counts = torch.bincount((logits + offsets).argmax(1), minlength=classes)
        if counts.max() - counts.min() <= 1:
            break
    return offsets - offsets.mean()


def train_word_cnn(train_x: torch.Tensor, train_y: torch.Tensor, classes: int, vocab: int, cfg: BlackBoxConfig,
                   seed: int, device: str = "cpu", desc: str = "black box",
                   val_x: torch.Tensor | None = None) -> WordCNN:
    """Adam on the cross-entropy of the ground-truth labels, shuffled batches; with `cfg.balanced`, class offsets
    fitted on `val_x` (`balanced_offsets`); the model returned in eval mode. `seed` drives the initialisation and
    dropout through its own stream; the caller's global RNG is left as it was."""
    if cfg.balanced and val_x is None:
        raise ValueError("a balanced black box (BlackBoxConfig.balanced=True) needs val_x: its class offsets are "
                         "fitted on validation items")
    from reprolab.runtime.train import ShuffledBatches, run_loop

    generator = torch.Generator().manual_seed(seed)
    with drawing_from(generator, device):
        model = WordCNN(vocab, classes, cfg.embed, cfg.widths, cfg.filters).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)    # one kernel per tensor
    batches = ShuffledBatches(len(train_x), cfg.batch_size, seed)

    def step(i: int) -> torch.Tensor:
        index = batches(i)
        model.train()
        loss = F.cross_entropy(model.logits(train_x[index].to(device)), train_y[index].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach()

    with drawing_from(generator, device):
        run_loop(cfg.epochs * batches.per_epoch, step, desc=desc)
    model.eval()
    if cfg.balanced:
        with torch.no_grad():
            logits = torch.cat([model.logits(val_x[i:i + 500].to(device)).cpu() for i in range(0, len(val_x), 500)])
        model.class_offsets.copy_(balanced_offsets(logits).to(device))
    return model
