"""AIF: a filter trained against a trigger generator (the design is a reconstruction:
the abstract says only "adversarial").

G(x, eps), eps ~ N(0, I) with 8 channels broadcast over space, outputs a mask m = sigmoid(h_m - 2) in [0, 1]^{1xhxw},
scaled to a mean area of at most xi (m <- m min(1, xi / mean(m)); `enforce_budget`), and a pattern p = sigmoid(h_p)
in [0, 1]^{cxhxw}; the synthetic Trojan input is x_bar = (1 - m) x + m p (input-specific triggers).
Each batch alternates:
  G step (F, C fixed): minimise E[-log(1 - p_C(y | F(x_bar)))] + lambda_m relu(mean_pixels(m) - xi)
      (small triggers that survive F and flip C away from the true label);
  F step (x_bar regenerated without gradient to G): minimise
      L_IF(x, y) + CE(C(F(x_bar)), y) + lambda_rec rec(F(x_bar), x).
Defaults: xi 0.05, lambda_m 10, mask bias -2, a 3-layer conv G on MNIST. The F inside AIF is the plain (IF)
filter here; whether the paper's is variational is not known.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.runtime.config import NON_NEGATIVE, POSITIVE, PROBABILITY
from reprolab.methods.trojan_filter.filters import FilterConfig, freeze, log_record, log_steps, reconstruction_nll
from reprolab.runtime.fast import FastPath, autocast, fast_batch, fast_model
from reprolab.runtime.train import LoopCheckpoints, StepLosses, run_loop

NOISE_CHANNELS = 8


class TriggerGenerator(nn.Module):
    """`budget`: each mask is scaled down to a mean area of at most `budget` (m <- m min(1, xi / mean(m)));
    None leaves only the soft penalty of the G loss to bound it."""

    def __init__(self, channels: int = 1, width: int = 32, mask_bias: float = -2.0, budget: float | None = None):
        super().__init__()
        if budget is not None and not 0 < budget <= 1:
            raise ValueError(f"the mask budget must be in (0, 1], got {budget}")
        self.channels, self.mask_bias, self.budget = channels, mask_bias, budget
        self.net = nn.Sequential(nn.Conv2d(channels + NOISE_CHANNELS, width, 3, 1, 1), nn.ReLU(),
                                 nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(), nn.Conv2d(width, 1 + channels, 3, 1, 1))

    def forward(self, x: torch.Tensor, gen: torch.Generator | None = None):
        """(x_bar, m, p) for a batch of [0, 1] images."""
        eps = torch.randn(len(x), NOISE_CHANNELS, 1, 1, generator=gen).to(x.device)
        out = self.net(torch.cat([x, eps.expand(-1, -1, *x.shape[2:])], dim=1))
        m = torch.sigmoid(out[:, :1] + self.mask_bias)
        if self.budget is not None:
            area = m.flatten(1).mean(1).view(-1, 1, 1, 1)
            m = m * torch.clamp(self.budget / area.clamp_min(1e-12), max=1.0)
        p = torch.sigmoid(out[:, 1:])
        return (1 - m) * x + m * p, m, p


@dataclasses.dataclass(frozen=True)
class AIFConfig:
    """Settings of AIF (`train_adversarial_filter`): the filter's `FilterConfig`, the trigger generator's Adam
    `generator_lr`, the allowed mean mask area `xi` and its penalty weight `lambda_m` in the G loss, and
    `enforce_budget`, whether `trigger_generator` builds `TriggerGenerator(budget=xi)`, which scales masks to area
    <= xi. xi 0.05 and lambda_m 10 are a reconstruction (the paper's values are unknown)."""

    filter: FilterConfig = FilterConfig()
    generator_lr: Annotated[float, POSITIVE] = 1e-3
    xi: Annotated[float, PROBABILITY] = 0.05  # allowed mean mask area
    lambda_m: Annotated[float, NON_NEGATIVE] = 10.0
    enforce_budget: bool = True       # scale masks to area <= xi; False: the soft penalty alone (areas of 0.15-0.19
                                      # were measured with it)


def trigger_generator(channels: int, cfg: AIFConfig, width: int = 32) -> TriggerGenerator:
    """The trigger generator AIF trains against: masks scaled to a mean area <= xi when `cfg.enforce_budget`, the
    soft penalty of the G loss alone otherwise."""
    return TriggerGenerator(channels, width=width, budget=cfg.xi if cfg.enforce_budget else None)


def generator_loss(classifier, filt, x_bar, m, y, cfg: AIFConfig) -> torch.Tensor:
    """-log(1 - p_C(y | F(x_bar))) + lambda_m relu(mean_pixels(m) - xi), batch means."""
    p_true = torch.softmax(classifier(filt(x_bar)), dim=1).gather(1, y.unsqueeze(1)).squeeze(1)
    flip = -torch.log((1 - p_true).clamp_min(1e-6)).mean()
    area = F.relu(m.flatten(1).mean(1) - cfg.xi).mean()
    return flip + cfg.lambda_m * area


def filter_loss(classifier, filt, x, x_bar, y, cfg: AIFConfig) -> torch.Tensor:
    """L_IF(x, y) + CE(C(F(x_bar)), y) + lambda_rec rec(F(x_bar), x)."""
    lam = cfg.filter.lambda_rec
    clean, purified = filt(x), filt(x_bar)
    return (F.cross_entropy(classifier(clean), y) + lam * reconstruction_nll(clean, x)
            + F.cross_entropy(classifier(purified), y) + lam * reconstruction_nll(purified, x))


def train_adversarial_filter(filt: nn.Module, generator: TriggerGenerator, classifier: nn.Module,
                             x_def: torch.Tensor, y_def: torch.Tensor, cfg: AIFConfig, seed: int = 0,
                             fast: FastPath = FastPath(), checkpoints: LoopCheckpoints = LoopCheckpoints(),
                             name: str = "AIF") -> list[dict]:
    """Alternate G and F steps on the defender's clean set; the classifier stays frozen. Returns a loss log (every
    `LOG_EVERY` steps and the last). `fast`: the opt-in GPU fast path (`reprolab.runtime.fast`) for both networks'
    steps; `checkpoints`: where the loop keeps its checkpoint, as `name`."""
    if filt.variational:
        raise ValueError("AIF here trains a plain (IF) filter; pass PlainFilter")
    freeze(classifier)
    fast_model(filt, fast)
    fast_model(generator, fast)
    gen = torch.Generator().manual_seed(seed)
    opt_f = torch.optim.Adam(filt.parameters(), lr=cfg.filter.lr)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.generator_lr)
    filt.train()
    generator.train()
    losses = StepLosses(finite=("loss_g", "loss_f"))   # read at each record: a non-finite loss raises within LOG_EVERY

    def step(i: int) -> torch.Tensor:
        idx = torch.randint(len(y_def), (cfg.filter.batch_size,), generator=gen)
        x, y = fast_batch(x_def[idx], fast), y_def[idx]
        filt.requires_grad_(False)
        with autocast(fast, x.device):
            x_bar, m, _ = generator(x, gen)
            loss_g = generator_loss(classifier, filt, x_bar, m, y, cfg)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        filt.requires_grad_(True)
        with autocast(fast, x.device):
            with torch.no_grad():
                x_bar, m, _ = generator(x, gen)
            loss_f = filter_loss(classifier, filt, x, x_bar, y, cfg)
        opt_f.zero_grad(set_to_none=True)
        loss_f.backward()
        opt_f.step()
        losses.add(i, loss_g=loss_g, loss_f=loss_f, mask_area=m.flatten(1).mean(1).mean())
        return loss_f.detach()

    objects = {"filter": filt, "generator": generator, "opt_f": opt_f, "opt_g": opt_g, "gen": gen}
    log = run_loop(cfg.filter.steps, step, objects=objects, eval_fn=lambda done: log_record(done, losses),
                   eval_steps=log_steps(cfg.filter.steps), desc="AIF filter", **checkpoints.of(name))
    filt.eval()
    generator.eval()
    return log
