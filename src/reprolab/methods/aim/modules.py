"""AIM's three trained modules and the relaxed mask, as in the official code (isVy08/AIM, `explainer.py`).

x has L features (token ids with PAD = 0, or image patches); C classes; each module has its own feature encoder
(an Embedding(V, D) for tokens, a linear map of the flattened patch for images), nothing shared.
    Explainer E:   W_x[c, i] = MLP(enc_E(x_i))_c,  MLP = D -> HE -> HE -> C (ReLU)      (a class-by-feature lexicon)
    Selector S:    pi_x = sigmoid(MLP(BiLSTM(enc_S(x))_i)),  MLP = Dropout, 2HS -> HS, ReLU, Dropout, HS -> HS,
                   ReLU, Dropout, HS -> 1       (independent Bernoulli probabilities, not k-hot)
    Mask (train):  Z = sigmoid((logit pi + log u - log(1 - u)) / tau),  u ~ U(0, 1)     (binary Concrete)
                   official: Z = pi e^{g_a} / (pi e^{g_a} + (1 - pi) e^{g_b}), both terms divided by tau, which
                   cancels: Z = sigmoid(logit pi + g_a - g_b), temperature 1 (`official_concrete`)
    Mask (eval):   Z = pi
    Approximator G: enc_G(x) o Z -> Dropout -> Conv1d(D, HU, 3, same) -> ReLU -> max over positions -> Dropout ->
                   Linear(HU, C)   (logits)
Settings [official code]: D = 100, HS = 100, HE = HU = 250, kernel 3, dropout 0.2, tau = 0.2.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator, Literal

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.runtime.config import check_at_least, check_options

EPS = 1e-6


@dataclasses.dataclass(frozen=True)
class ModuleSizes:
    """The sizes of AIM's three modules (the official code's by default)."""
    embed: int = 100                  # D [official]
    selector_hidden: int = 100        # HS [official]
    explainer_hidden: int = 250       # HE [official]
    approximator_hidden: int = 250    # HU [official]
    kernel: int = 3                   # [official]
    dropout: float = 0.2              # [official]

    def __post_init__(self) -> None:
        check_at_least(self, 1, ("embed", "selector_hidden", "explainer_hidden", "approximator_hidden", "kernel"))
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclasses.dataclass(frozen=True)
class FeatureKind:
    """What a feature is: a token id of a vocabulary of `vocab` ids (items: (N, L) ids, PAD = 0), or a square
    patch of `patch` x `patch` pixels of (N, channels, size, size) images (L = (size / patch)^2 patches in
    row-major order)."""
    kind: Literal["tokens", "patches"] = "tokens"
    vocab: int = 0
    patch: int = 7
    image_size: int = 28
    channels: int = 1

    def __post_init__(self) -> None:
        check_options(self)
        if self.kind == "tokens" and self.vocab < 3:
            raise ValueError(f"tokens need vocab >= 3 (PAD, UNK and a word), got {self.vocab}")
        if self.kind == "patches" and (self.patch < 1 or self.image_size % self.patch):
            raise ValueError(f"patch {self.patch} must divide image_size {self.image_size}")

    def encoder(self, dim: int) -> nn.Module:
        if self.kind == "tokens":
            return nn.Embedding(self.vocab, dim)
        return nn.Linear(self.channels * self.patch * self.patch, dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The modules' input: ids (N, L) as they are, or images as flattened patches (N, L, C * patch^2)."""
        if self.kind == "tokens":
            return x
        p = self.patch
        return F.unfold(x, kernel_size=p, stride=p).transpose(1, 2)

    def valid(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L): which features can be selected (every token but PAD; every patch)."""
        if self.kind == "tokens":
            return x != 0
        return torch.ones(x.shape[0], (self.image_size // self.patch) ** 2, dtype=torch.bool, device=x.device)


class Explainer(nn.Module):
    def __init__(self, features: FeatureKind, classes: int, sizes: ModuleSizes):
        super().__init__()
        h = sizes.explainer_hidden
        self.tokens = features.kind == "tokens"
        self.encode = features.encoder(sizes.embed)
        self.mlp = nn.Sequential(nn.Linear(sizes.embed, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
                                 nn.Linear(h, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """W_x (B, C, L): each column depends on its own feature only. A token's column is a function of its id,
        so the MLP runs once per distinct id of the batch and its rows are gathered back to the positions (the
        same values as running it at every position, to float rounding)."""
        if not self.tokens:
            return self.mlp(self.encode(x)).transpose(1, 2)
        ids, where = torch.unique(x, return_inverse=True)
        return self.mlp(self.encode(ids))[where].transpose(1, 2)


class Selector(nn.Module):
    def __init__(self, features: FeatureKind, sizes: ModuleSizes):
        super().__init__()
        h, p = sizes.selector_hidden, sizes.dropout
        self.encode = features.encoder(sizes.embed)
        self.lstm = nn.LSTM(sizes.embed, h, batch_first=True, bidirectional=True)
        self.mlp = nn.Sequential(nn.Dropout(p), nn.Linear(2 * h, h), nn.ReLU(), nn.Dropout(p), nn.Linear(h, h),
                                 nn.ReLU(), nn.Dropout(p), nn.Linear(h, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """pi_x (B, L) in (0, 1)."""
        return torch.sigmoid(self.mlp(self.lstm(self.encode(x))[0]))[..., 0]


class Approximator(nn.Module):
    def __init__(self, features: FeatureKind, classes: int, sizes: ModuleSizes):
        super().__init__()
        h, p = sizes.approximator_hidden, sizes.dropout
        self.encode = features.encoder(sizes.embed)
        self.conv = nn.Sequential(nn.Dropout(p), nn.Conv1d(sizes.embed, h, sizes.kernel, padding="same"), nn.ReLU())
        self.out = nn.Sequential(nn.Dropout(p), nn.Linear(h, classes))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) of the black box's label from the masked features."""
        e = self.encode(x) * z.unsqueeze(-1)
        return self.out(self.conv(e.transpose(1, 2)).amax(dim=-1))


def concrete_mask(pi: torch.Tensor, tau: float, official: bool = False) -> torch.Tensor:
    """A relaxed Bernoulli(pi) sample; noise drawn on pi's device (the official sampler draws on the CPU)."""
    pi = pi.clamp(EPS, 1 - EPS)
    if official:
        gumbel_a, gumbel_b = (-torch.log(-torch.log(torch.rand_like(pi).clamp_min(EPS))) for _ in range(2))
        numerator = pi * torch.exp(gumbel_a) / tau
        return numerator / (numerator + (1 - pi) * torch.exp(gumbel_b) / tau)
    u = torch.rand_like(pi).clamp(EPS, 1 - EPS)
    return torch.sigmoid((torch.logit(pi) + torch.log(u) - torch.log1p(-u)) / tau)


@contextlib.contextmanager
def drawing_from(generator: torch.Generator, device: str | torch.device = "cpu") -> Iterator[None]:
    """Runs the block on a private copy of torch's global RNG that continues `generator`'s stream: module
    initialisation, dropout, `torch.rand_like` and captum's samplers draw only from the global RNG (they take no
    generator). On a CUDA device that device's stream is seeded from `generator` as well. Afterwards `generator`
    holds where its stream stopped and the caller's global RNG states are as they were, so a seeded call gives the
    same numbers whatever the caller drew before and leaves the caller's draws unchanged."""
    device = torch.device(device)
    cuda = [torch.cuda.current_device() if device.index is None else device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.set_rng_state(generator.get_state())
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(int(torch.randint(2**62, (1,))))
        yield
        generator.set_state(torch.get_rng_state())
