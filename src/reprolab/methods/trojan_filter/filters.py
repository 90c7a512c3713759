"""Input filters against Trojan triggers and Filtering-then-Contrasting (all
equations are a reconstruction: the paper's body was not available).

A filter F maps [0, 1] images to [0, 1] images; the run-time prediction is C(F(x)), with C the frozen Trojaned
classifier (eval mode, requires_grad False, but NOT under no_grad during filter training: gradients reach F).
- IF (the ablation): a deterministic conv autoencoder,
    L_IF = CE(C(F(x)), y) + lambda_rec rec(F(x), x)
- VIF: a VAE filter, z = mu + sigma * eps at training, z = mu at test time,
    L_VIF = CE(C(x_o), y) + lambda_rec rec(x_o, x) + w_t lambda_KL KL(N(mu, sigma^2) || N(0, I))
  KL = 1/2 sum (mu^2 + sigma^2 - 1 - log sigma^2) over latent units, mean over the batch; log sigma^2 clamped to
  [-10, 10]; w_t an optional linear warm-up 0 -> 1 over the first half of the steps.
rec = per-image Bernoulli NLL (BCE summed over pixels, mean over the batch; MSE made the sigmoid output collapse in
the CPU prototype). Defaults: lambda_rec 0.01, lambda_KL 0.05, Adam 1e-3, batch 64 (MNIST). MNIST architecture: encoder
Conv4x4 s2 (c->32)-ReLU-Conv4x4 s2 (32->64)-ReLU-Conv3x3 (64->16, or 2 x 16 for mu and log sigma^2), a 7x7x16
latent; decoder Conv3x3 (16->64)-ReLU-ConvT4x4 s2 (64->32)-ReLU-ConvT4x4 s2 (32->c)-sigmoid. CIFAR-10: the same
pattern twice as wide (width 64) with a 8x8x32 latent.
FtC: y_hat = argmax C(x), y_f = argmax C(F(x)); x is flagged as Trojan when they differ, and then rejected (-1) or
answered with y_f; otherwise y_hat is returned.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.runtime.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, check_choice
from reprolab.nets.scoring import prediction_accuracy
from reprolab.runtime.fast import FastPath, autocast, fast_batch, fast_model
from reprolab.runtime.train import LoopCheckpoints, StepLosses, run_loop

LATENT_CHANNELS = 16
LOG_EVERY = 64                        # steps between the records of a loss log


def encoder_block(channels: int, out_channels: int, width: int = 32) -> nn.Sequential:
    """Conv4x4 s2 (c -> w), ReLU, Conv4x4 s2 (w -> 2w), ReLU, Conv3x3 (2w -> out): a quarter-resolution latent."""
    return nn.Sequential(nn.Conv2d(channels, width, 4, 2, 1), nn.ReLU(), nn.Conv2d(width, 2 * width, 4, 2, 1),
                         nn.ReLU(), nn.Conv2d(2 * width, out_channels, 3, 1, 1))


def decoder_block(channels: int, latent: int = LATENT_CHANNELS, width: int = 32) -> nn.Sequential:
    """Conv3x3 (latent -> 2w), ReLU, ConvT4x4 s2 (2w -> w), ReLU, ConvT4x4 s2 (w -> c), sigmoid."""
    return nn.Sequential(nn.Conv2d(latent, 2 * width, 3, 1, 1), nn.ReLU(),
                         nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
                         nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Sigmoid())


class PlainFilter(nn.Module):
    """IF: x -> decoder(encoder(x)). MNIST: width 32, latent 16 (7x7x16); CIFAR-10: width 64, latent 32 (8x8x32)."""

    variational = False

    def __init__(self, channels: int = 1, width: int = 32, latent: int = LATENT_CHANNELS):
        super().__init__()
        self.encoder = encoder_block(channels, latent, width)
        self.decoder = decoder_block(channels, latent, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class VariationalFilter(nn.Module):
    """VIF: encoder -> (mu, log sigma^2); training samples z, evaluation decodes mu."""

    variational = True

    def __init__(self, channels: int = 1, width: int = 32, latent: int = LATENT_CHANNELS):
        super().__init__()
        self.encoder = encoder_block(channels, 2 * latent, width)
        self.decoder = decoder_block(channels, latent, width)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)

    def forward(self, x: torch.Tensor, noise: torch.Generator | None = None):
        mu, logvar = self.encode(x)
        if not self.training:
            return self.decoder(mu)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=noise).to(mu.device)
        return self.decoder(z), mu, logvar


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) = 1/2 sum (mu^2 + sigma^2 - 1 - log sigma^2), summed per image, batch mean."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1).mean()


def reconstruction_nll(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli NLL: BCE summed over pixels, mean over the batch."""
    return F.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).sum(1).mean()


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    """Settings of `train_filter` (IF and VIF) and of the filter inside AIF: `steps` Adam steps at `lr` on
    batches of `batch_size` defender images, the weights `lambda_rec` (summed BCE) and `lambda_kl` (VIF only), the
    linear KL warm-up over the first half of the steps, and `label_free` (y = argmax C(x)). The paper's values are
    unknown: the MNIST defaults (lambda_rec 0.01, lambda_KL 0.05, Adam 1e-3, batch 64) are a reconstruction."""

    steps: Annotated[int, AT_LEAST_ONE] = 512
    batch_size: Annotated[int, AT_LEAST_ONE] = 64
    lr: Annotated[float, POSITIVE] = 1e-3
    lambda_rec: Annotated[float, NON_NEGATIVE] = 0.01
    lambda_kl: Annotated[float, NON_NEGATIVE] = 0.05
    kl_warmup: bool = True            # linear 0 -> 1 over the first half of the steps
    label_free: bool = False          # y = argmax C(x) instead of the defender's labels


def freeze(classifier: nn.Module) -> nn.Module:
    """Eval mode and no parameter gradients; inputs still get gradients."""
    return classifier.eval().requires_grad_(False)


def log_steps(total: int, every: int = LOG_EVERY) -> tuple[int, ...]:
    """The `run_loop` counts (steps done) after which a loss log records: after steps 0, every, 2 every, ...
    (0-based), and after the last step (`run_loop` always records then)."""
    return tuple(range(1, total + 1, every))


def log_record(done: int, losses: StepLosses, names: tuple[str, ...] | None = None) -> dict:
    """A loss-log record: the 0-based index of the step just done (`run_loop` passes the count of steps done) and
    that step's losses (those in `names`; None: all), read with the losses kept since the last record in one
    transfer."""
    latest = losses.read()[-1]
    return {"step": done - 1, **{name: latest[name] for name in (names or latest)}}


def train_filter(filt: nn.Module, classifier: nn.Module, x_def: torch.Tensor, y_def: torch.Tensor,
                 cfg: FilterConfig, seed: int = 0, fast: FastPath = FastPath(),
                 checkpoints: LoopCheckpoints = LoopCheckpoints(), name: str = "filter") -> list[dict]:
    """Train `filt` on the defender's clean set only; the classifier stays frozen. Returns a loss log (every
    `LOG_EVERY` steps and the last). `fast`: the opt-in GPU fast path (`reprolab.runtime.fast`) for the filter's
    steps; `checkpoints`: where the loop keeps its checkpoint, as `name`."""
    if x_def.ndim != 4 or len(x_def) != len(y_def):
        raise ValueError(f"x_def must be (N, C, H, W) with one label each, got {tuple(x_def.shape)} and "
                         f"{tuple(y_def.shape)}")
    freeze(classifier)
    fast_model(filt, fast)
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(filt.parameters(), lr=cfg.lr)
    if cfg.label_free:
        with torch.no_grad():
            y_def = classifier(x_def).argmax(1)
    filt.train()
    losses = StepLosses(finite=("loss",))          # read at each record: a non-finite loss raises within LOG_EVERY

    def step(i: int) -> torch.Tensor:
        idx = torch.randint(len(y_def), (cfg.batch_size,), generator=gen)
        x, y = fast_batch(x_def[idx], fast), y_def[idx]
        with autocast(fast, x.device):
            if filt.variational:
                x_hat, mu, logvar = filt(x, gen)
                warm = min(1.0, i / max(1, cfg.steps // 2)) if cfg.kl_warmup else 1.0
                kl = kl_to_standard_normal(mu, logvar)
            else:
                x_hat, warm, kl = filt(x), 0.0, torch.zeros((), device=x.device)
            ce, rec = F.cross_entropy(classifier(x_hat), y), reconstruction_nll(x_hat, x)
            loss = ce + cfg.lambda_rec * rec + warm * cfg.lambda_kl * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.add(i, ce=ce, rec=rec, kl=kl, loss=loss)
        return loss.detach()

    log = run_loop(cfg.steps, step, objects={"filter": filt, "optimizer": optimizer, "gen": gen},
                   eval_fn=lambda done: log_record(done, losses, ("ce", "rec", "kl")), eval_steps=log_steps(cfg.steps),
                   desc="VIF filter" if filt.variational else "IF filter", **checkpoints.of(name))
    filt.eval()
    return log


class FilterCollapsed(RuntimeError):
    """The filter's output no longer carries the class: filtered clean accuracy fell below the floor."""


class FilterDefense:
    """Wraps ANY frozen classifier (taking [0, 1] images) with a trained filter.

    `predict(x)`: C(F(x)) in "filter" mode; in "ftc" mode argmax C(x) where C agrees with C(F(x)), else -1
    (`reject=True`) or argmax C(F(x)). `detect(x)`: the FtC flags (True = Trojan suspected).
    """

    def __init__(self, classifier: nn.Module, filt: nn.Module, mode: str = "ftc", reject: bool = True):
        check_choice("mode", mode, ("filter", "ftc"))
        self.classifier, self.filter, self.mode, self.reject = freeze(classifier), filt.eval(), mode, reject

    @torch.no_grad()
    def filtered_labels(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.filter(x)).argmax(1)

    @torch.no_grad()
    def detect(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x).argmax(1) != self.filtered_labels(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        filtered = self.filtered_labels(x)
        if self.mode == "filter":
            return filtered
        plain = self.classifier(x).argmax(1)
        flagged = plain != filtered
        return torch.where(flagged, torch.full_like(plain, -1) if self.reject else filtered, plain)

    def check_not_collapsed(self, x: torch.Tensor, y: torch.Tensor, floor: float) -> float:
        """Filtered clean accuracy on held-out clean data; raises `FilterCollapsed` below `floor`."""
        acc = prediction_accuracy(self.filtered_labels, x, y)
        if acc < floor:
            raise FilterCollapsed(f"filtered clean accuracy {acc:.3f} is below {floor:.3f}: the filter collapsed "
                                  "and its attack-success numbers would be meaningless")
        return acc
