"""Baselines under the same black box, items and deletion protocol: each returns scores (N, L) for the black box's
label y; `metrics.top_k` ranks them the same way for every method.

Every seeded baseline draws from its own seeded stream (`modules.drawing_from`): the caller's global torch RNG is
left as it was.

- `random_scores`: uniform noise (seeded).
- `L2X` (Chen et al. 2018; a PyTorch port of the official Keras code, `baseline/L2X.py`): selector =
  embedding(100) -> Conv1d(100, k 3) + ReLU -> [global: max over positions -> Linear(100) + ReLU] concatenated with
  [local: two Conv1d(100, k 3) + ReLU] -> Dropout 0.2 -> 1x1 Conv(100) + ReLU -> 1x1 Conv(1) = position logits.
  Training: K Gumbel-softmax draws over positions at temperature tau, element-wise max = the mask; approximator =
  second embedding x mask, summed / K -> Linear(250) + ReLU -> Linear(C), cross-entropy against the black box's
  probabilities; RMSprop (torch's defaults, alpha 0.99 and eps 1e-8; the official Keras code's `'rmsprop'` has rho
  0.9 and eps 1e-7, `official_rmsprop=True`; the two embeddings' rows that a batch does not touch have zero
  gradient, so their step only decays the squared-gradient average: `RowRMSprop` moves only the touched rows, bit
  for bit torch's step). Evaluation: the logits rank the positions. Retrained for every K. PAD positions are
  never drawn and score lowest [design: the port masks their logits, as the ranking does]; the official code's
  draws range over every position, PAD included, and PAD gets a logit like any other position (`official_pad=True`:
  unmasked logits, which the ranking reads at PAD only under `evaluation.rank_padding`). The official code draws
  the Gumbel noise once, as a Keras variable of shape (batch, K, L), and reuses it for every batch;
  `official_fixed_noise=True` does the same (default: fresh noise every batch).
- LIME (`lime` 0.2.0.1 `LimeTextExplainer`, kernel width 15, bag of words): an item is written as the string of
  its token ids, so any id black box works; one run explains every class, and each word type's weight goes to
  each of its positions. How the weights are ranked (signed or |weight|, the label's class or class 1, positions
  or word types) is the evaluation protocol's choice (`metrics.Protocol`).
- Kernel SHAP (captum 0.9.0 `KernelShap`): one feature per real position, PAD as the baseline.
- Integrated Gradients (captum `LayerIntegratedGradients` on the embedding layer, PAD baseline, 32 steps), summed
  over the embedding dimension: needs a torch black box.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.aim.blackbox import BlackBox
from reprolab.methods.aim.corpus import PAD
from reprolab.methods.aim.modules import drawing_from
from reprolab.runtime.config import check_at_least
from reprolab.runtime.train import ShuffledBatches, run_loop


def random_scores(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Uniform scores (N, L) from a seeded generator."""
    return torch.rand(x.shape[:2], generator=torch.Generator().manual_seed(seed))


@dataclasses.dataclass(frozen=True)
class L2XConfig:
    embed: int = 100                  # [official]
    filters: int = 100                # [official]
    hidden: int = 250                 # approximator [official]
    dropout: float = 0.2              # [official]
    tau: float = 0.7                  # IMDB [official]; AG News 0.2, HateXplain 0.1
    epochs: int = 5                   # [official]
    batch_size: int = 40              # [official]
    lr: float = 1e-3                  # RMSprop (Keras default)
    official_fixed_noise: bool = False  # one Gumbel draw for every batch [official: K.random_uniform_variable]
    official_rmsprop: bool = False    # Keras's RMSprop [official: optimizer='rmsprop']: rho 0.9, eps 1e-7 (K.epsilon()
                                      # from Keras 2.1; 2.0 had 1e-8); default torch's: alpha 0.99, eps 1e-8
    official_pad: bool = False        # PAD's logits left unmasked, so the Gumbel draws range over every position
                                      # [official: logits over all L]; default: PAD masked (never drawn, lowest)

    def __post_init__(self) -> None:
        check_at_least(self, 1, ("embed", "filters", "hidden", "epochs", "batch_size"))


class L2XSelector(nn.Module):
    def __init__(self, vocab: int, cfg: L2XConfig):
        super().__init__()
        d, f = cfg.embed, cfg.filters
        self.embedding = nn.Embedding(vocab, d)
        self.first = nn.Sequential(nn.Conv1d(d, f, 3, padding="same"), nn.ReLU())
        self.global_info = nn.Sequential(nn.Linear(f, f), nn.ReLU())
        self.local_info = nn.Sequential(nn.Conv1d(f, f, 3, padding="same"), nn.ReLU(),
                                        nn.Conv1d(f, f, 3, padding="same"), nn.ReLU())
        self.combine = nn.Sequential(nn.Dropout(cfg.dropout), nn.Conv1d(2 * f, f, 1), nn.ReLU(), nn.Conv1d(f, 1, 1))
        self.mask_padding = not cfg.official_pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Position logits (B, L); -1e9 at PAD unless `official_pad`."""
        h = self.first(self.embedding(x).transpose(1, 2))                       # (B, F, L)
        g = self.global_info(h.amax(-1)).unsqueeze(-1).expand_as(h)
        logits = self.combine(torch.cat([g, self.local_info(h)], dim=1))[:, 0]
        return logits.masked_fill(x == PAD, -1e9) if self.mask_padding else logits


class L2XApproximator(nn.Module):
    def __init__(self, vocab: int, classes: int, cfg: L2XConfig):
        super().__init__()
        self.embedding = nn.Embedding(vocab, cfg.embed)
        self.out = nn.Sequential(nn.Linear(cfg.embed, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, classes))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
        return self.out((self.embedding(x) * mask.unsqueeze(-1)).sum(1) / k)


def gumbel_noise(shape: tuple[int, ...]) -> torch.Tensor:
    """-log(-log u), u ~ U(tiny, 1), from the global RNG [official L2X: the same draw]."""
    u = torch.rand(shape).clamp_min(torch.finfo(torch.float32).tiny)
    return -torch.log(-torch.log(u))


def l2x_mask(logits: torch.Tensor, k: int, tau: float, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Element-wise max of K Gumbel-softmax draws over the positions, softmax((logits + g) / tau): fresh noise g,
    or the given `noise` (B, K, L)."""
    expanded = logits.unsqueeze(1).expand(-1, k, -1)
    if noise is None:
        return F.gumbel_softmax(expanded, tau=tau, dim=-1).amax(1)
    return torch.softmax((expanded + noise) / tau, dim=-1).amax(1)


class RowRMSprop:
    """torch's RMSprop step (no momentum, not centred, no weight decay: `torch.optim.RMSprop`'s defaults) for
    parameters whose gradient is zero outside the rows `step` is given, such as an embedding's after a batch of ids:
        v <- alpha v + (1 - alpha) g^2 (every row);  p <- p - lr g / (sqrt(v) + eps) (the given rows only).
    A row with zero gradient gets v * alpha + 0 and p + (-0) in torch's dense step, so skipping its update gives
    the same bits (tested), and the step costs one pass over v instead of five over every tensor."""

    def __init__(self, params: list[nn.Parameter], lr: float, alpha: float, eps: float):
        self.params, self.lr, self.alpha, self.eps = params, lr, alpha, eps
        self.square_avgs = [torch.zeros_like(p) for p in params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, rows: torch.Tensor) -> None:
        """One step; `rows` holds every row whose gradient may be non-zero (once each)."""
        for p, square_avg in zip(self.params, self.square_avgs):
            grad = p.grad[rows]
            square_avg.mul_(self.alpha)
            avg = square_avg[rows].addcmul_(grad, grad, value=1 - self.alpha)
            square_avg[rows] = avg
            p[rows] = p[rows].addcdiv_(grad, avg.sqrt().add_(self.eps), value=-self.lr)


class L2X:
    """`L2X(black_box, vocab, classes, k).fit(train_x).scores(x)`: the port of the official L2X for one K."""

    def __init__(self, black_box: BlackBox, vocab: int, classes: int, k: int, cfg: L2XConfig = L2XConfig(),
                 seed: int = 0):
        self.black_box, self.k, self.cfg, self.seed = black_box, k, cfg, seed
        self.generator = torch.Generator().manual_seed(seed)        # initialisation, then the training noise
        with drawing_from(self.generator):
            self.selector = L2XSelector(vocab, cfg)
            self.approximator = L2XApproximator(vocab, classes, cfg)

    def fit(self, train_x: torch.Tensor, desc: str = "L2X") -> "L2X":
        cfg = self.cfg
        targets = self.black_box.batched_probs(train_x)
        embeddings = [self.selector.embedding.weight, self.approximator.embedding.weight]
        alpha, eps = (0.9, 1e-7) if cfg.official_rmsprop else (0.99, 1e-8)
        optimizer = torch.optim.RMSprop([p for m in (self.selector, self.approximator) for p in m.parameters()
                                         if all(p is not e for e in embeddings)], lr=cfg.lr, alpha=alpha, eps=eps)
        embedding_optimizer = RowRMSprop(embeddings, cfg.lr, alpha, eps)
        batches = ShuffledBatches(len(train_x), cfg.batch_size, self.seed)
        fixed = None
        if cfg.official_fixed_noise:
            with drawing_from(self.generator):
                fixed = gumbel_noise((cfg.batch_size, self.k, train_x.shape[1]))

        def step(i: int) -> torch.Tensor:
            index = batches(i)
            self.selector.train()
            self.approximator.train()
            x = train_x[index]
            mask = l2x_mask(self.selector(x), self.k, cfg.tau, None if fixed is None else fixed[:len(x)])
            logits = self.approximator(x, mask, self.k)
            loss = -(targets[index] * F.log_softmax(logits, -1)).sum(-1).mean()
            optimizer.zero_grad()
            embedding_optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            embedding_optimizer.step(torch.unique(x))
            return loss.detach()

        with drawing_from(self.generator):                          # the Gumbel draws and dropout
            run_loop(cfg.epochs * batches.per_epoch, step, desc=desc)
        return self

    @torch.no_grad()
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        self.selector.eval()
        return torch.cat([self.selector(x[i:i + 500]) for i in range(0, len(x), 500)])


def _id_string(row: torch.Tensor) -> str:
    return " ".join(str(int(t)) for t in row if t != PAD)


def _ids_from_strings(texts: list[str], length: int) -> torch.Tensor:
    rows = [[int(t) for t in text.split()][:length] for text in texts]
    return torch.tensor([row + [PAD] * (length - len(row)) for row in rows], dtype=torch.long).view(len(texts), length)


def lime_weights(black_box: BlackBox, x: torch.Tensor, classes: int, samples: int, seed: int,
                 kernel_width: float = 15.0, progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """(N, C, L): per class and position, the LIME weight of the position's word type, from one LIME run per item
    that explains every class (-inf at PAD)."""
    from lime.lime_text import LimeTextExplainer

    length = x.shape[1]

    def classify(texts: list[str]) -> np.ndarray:
        ids = _ids_from_strings(texts, length)
        return black_box.batched_probs(ids).numpy()

    weights = torch.full((len(x), classes, length), -np.inf)
    for row in range(len(x)):
        explainer = LimeTextExplainer(kernel_width=kernel_width, split_expression=r"\s+", bow=True,
                                      random_state=seed + row)
        text = _id_string(x[row])
        explanation = explainer.explain_instance(text, classify, labels=tuple(range(classes)),
                                                 num_features=len(set(text.split())), num_samples=samples)
        word = explanation.domain_mapper.indexed_string.word
        for label in range(classes):
            weight = {word(j): w for j, w in explanation.as_map()[label]}
            for position, token in enumerate(x[row].tolist()):
                if token != PAD:
                    weights[row, label, position] = weight.get(str(token), 0.0)
        if progress:
            progress(row)
    return weights


def lime_scores(black_box: BlackBox, x: torch.Tensor, labels: torch.Tensor, samples: int, seed: int,
                kernel_width: float = 15.0) -> torch.Tensor:
    """(N, L): per position, the LIME weight of its word type for the item's label (`lime_weights` of that class)."""
    weights = lime_weights(black_box, x, black_box.probs(x[:1]).shape[1], samples, seed, kernel_width)
    return weights[torch.arange(len(x)), labels.cpu()]


def kernel_shap_scores(black_box: BlackBox, x: torch.Tensor, labels: torch.Tensor, samples: int,
                       seed: int, progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """captum KernelShap over the real positions of each item (PAD as baseline)."""
    from captum.attr import KernelShap

    length = x.shape[1]

    def forward(ids: torch.Tensor) -> torch.Tensor:
        padded = torch.cat([ids, torch.full((ids.shape[0], length - ids.shape[1]), PAD, dtype=ids.dtype)], 1)
        return black_box.probs(padded).cpu()

    shap = KernelShap(forward)
    scores = torch.full(x.shape, -np.inf)
    for row in range(len(x)):
        n = int((x[row] != PAD).sum())
        inputs = x[row:row + 1, :n]
        with drawing_from(torch.Generator().manual_seed(seed + row)):
            attribution = shap.attribute(inputs, baselines=PAD, target=int(labels[row]), n_samples=samples,
                                         feature_mask=torch.arange(n).unsqueeze(0), perturbations_per_eval=samples)
        scores[row, :n] = attribution[0].float()
        if progress:
            progress(row)
    return scores


def integrated_gradients_scores(model: nn.Module, embedding: nn.Module, x: torch.Tensor, labels: torch.Tensor,
                                steps: int = 32, batch: int = 50) -> torch.Tensor:
    """Integrated Gradients of the labels' probabilities on the embedding layer from a PAD baseline, summed over
    the embedding dimension: (N, L)."""
    from captum.attr import LayerIntegratedGradients

    ig = LayerIntegratedGradients(model, embedding)
    out = []
    for i in range(0, len(x), batch):
        chunk = x[i:i + batch]
        attribution = ig.attribute(chunk, baselines=torch.full_like(chunk, PAD), target=labels[i:i + batch],
                                   n_steps=steps)
        out.append(attribution.sum(-1).detach())
    return torch.cat(out)
