"""The input-aware dynamic attack, InpAwAtk (Nguyen & Tran, NeurIPS 2020; recipe of the official code): every
image gets its own trigger, made by two generators trained with the classifier.

- Mask net M and pattern net G: small conv encoder-decoders (two 2x down / up stages). The mask is pushed towards
  binary, m(x) = tanh(20 h - 10) / 2 + 0.5, the pattern is p(x) = tanh(h) / 2 + 0.5, both in [0, 1].
- Trojan input: x~ = x + (p(x) - x) * m(x); all-to-one, target 0.
- Mask pretraining (`pretrain_mask`, official 25 epochs): minimise
      lambda_norm mean(relu(m(x) - density)) + lambda_div mean(d(x1, x2) / d(m(x1), m(x2)))
  with d the per-image root-mean-square distance, density 0.032, lambda_norm 100, lambda_div 1; M is then frozen.
- Joint training (`InputAware.training_loss`, the classifier and G stepped together): of each batch a fraction
  `rate` (the experiment's `poison_rate`, 0.1, the official p_attack) carries its own trigger and the target label,
  a further p_cross = 0.1 carries the trigger of another image and keeps its label (the cross-trigger mode: a
  trigger works only on the image it was made for), the rest is clean;
  L = CE(C(batch), labels) + lambda_div mean(d(x1, x2) / d(p(x1), p(x2))).
  Optimisers: C as the experiment trains it (official SGD lr 0.01), G Adam lr 0.01, betas (0.5, 0.9).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.runtime.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, PROBABILITY
from reprolab.methods.trojan_filter.attacks import TrojanAttack
from reprolab.methods.trojan_filter.filters import log_record, log_steps
from reprolab.runtime.train import LoopCheckpoints, StepLosses, run_loop

MASK_LOG_EVERY = 50                   # steps between the records of the mask pretraining's loss log


@dataclasses.dataclass(frozen=True)
class InputAwareConfig:
    """Settings of the `InputAware` attack: the mask pretraining (`mask_density`, `lambda_norm`, `lambda_div`,
    `mask_steps` batches of `mask_batch` images), the joint training (`p_cross`, `lambda_div`; the own-trigger
    fraction is `training_loss`'s `rate`), Adam `lr` and `betas`, and the generators' `width`. The weights, rates,
    lr and betas are the official code's, width 16 is its MNIST width (CIFAR-10: 32), and 300 mask steps replace its
    25 epochs of mask pretraining (each step draws two batches of `mask_batch` images)."""

    mask_density: Annotated[float, PROBABILITY] = 0.032  # official
    lambda_norm: Annotated[float, NON_NEGATIVE] = 100.0  # official
    lambda_div: Annotated[float, NON_NEGATIVE] = 1.0  # official
    p_cross: Annotated[float, PROBABILITY] = 0.1  # official
    lr: Annotated[float, POSITIVE] = 0.01  # official, M and G (Adam)
    betas: tuple[float, float] = (0.5, 0.9)
    mask_steps: Annotated[int, AT_LEAST_ONE] = 300  # official: 25 epochs of mask pretraining
    mask_batch: Annotated[int, AT_LEAST_ONE] = 128
    width: Annotated[int, AT_LEAST_ONE] = 16  # official: 16 (MNIST), 32 (CIFAR-10)


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.ReLU()]


class TriggerNet(nn.Module):
    """Conv encoder-decoder, (N, c, h, w) -> (N, out, h, w) pre-activations; h and w divisible by 4."""

    def __init__(self, channels: int, out_channels: int, width: int = 16):
        super().__init__()
        w = width
        self.net = nn.Sequential(*_conv(channels, w), *_conv(w, w), nn.MaxPool2d(2),
                                 *_conv(w, 2 * w), *_conv(2 * w, 2 * w), nn.MaxPool2d(2),
                                 *_conv(2 * w, 2 * w),
                                 nn.Upsample(scale_factor=2), *_conv(2 * w, 2 * w), *_conv(2 * w, w),
                                 nn.Upsample(scale_factor=2), *_conv(w, w), nn.Conv2d(w, out_channels, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"TriggerNet needs height and width divisible by 4, got {tuple(x.shape[-2:])}")
        return self.net(x)


def rms_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """d(a, b) per image: sqrt(mean over pixels of (a - b)^2 + 1e-12). The 1e-12 keeps the gradient finite when
    two saturated masks coincide exactly (sqrt'(0) is infinite; the official code turns that into NaN)."""
    return ((a - b).pow(2).flatten(1).mean(1) + 1e-12).sqrt()


def diversity_loss(x1: torch.Tensor, x2: torch.Tensor, g1: torch.Tensor, g2: torch.Tensor) -> torch.Tensor:
    """mean d(x1, x2) / d(g1, g2): small when different images get different masks / patterns."""
    return (rms_distance(x1, x2) / (rms_distance(g1, g2) + 1e-6)).mean()


class InputAware(TrojanAttack):
    """The input-aware dynamic attack (InpAwAtk, Nguyen & Tran 2020): a mask net M and a pattern net G give each
    image its own trigger, x~ = x + (p(x) - x) m(x), all-to-one to `target`. `prepare` pretrains and freezes M
    (`pretrain_mask`); `training_loss` trains G with the classifier, with own-trigger and cross-trigger samples
    and the diversity loss. `cfg`: an `InputAwareConfig`."""

    name = "input_aware"

    def __init__(self, channels: int, cfg: InputAwareConfig = InputAwareConfig(), target: int = 0, seed: int = 0):
        torch.manual_seed(seed)
        self.cfg, self.targets = cfg, (target,)
        self.mask_net = TriggerNet(channels, 1, cfg.width)
        self.pattern_net = TriggerNet(channels, channels, cfg.width)
        self.mask_net.eval().requires_grad_(False)

    def to(self, device) -> "InputAware":
        self.mask_net.to(device)
        self.pattern_net.to(device)
        return self

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """m(x) = tanh(20 h - 10) / 2 + 0.5 (official threshold)."""
        return torch.tanh(20 * self.mask_net(x) - 10) / 2 + 0.5

    def pattern(self, x: torch.Tensor) -> torch.Tensor:
        """p(x) = tanh(h) / 2 + 0.5."""
        return torch.tanh(self.pattern_net(x)) / 2 + 0.5

    @staticmethod
    def stamp(x: torch.Tensor, pattern: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x~ = x + (p - x) * m."""
        return x + (pattern - x) * mask

    @torch.no_grad()
    def apply(self, x, k=0):
        self.pattern_net.eval()
        return self.stamp(x, self.pattern(x), self.mask(x)).clamp(0, 1)

    @torch.no_grad()
    def cross_inputs(self, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
        """Image i stamped with the trigger made for image i - 1 (the cross-trigger test: should NOT flip C)."""
        self.pattern_net.eval()
        partners = torch.roll(x, 1, dims=0)
        return torch.cat([self.stamp(x[i:i + batch], self.pattern(partners[i:i + batch]),
                                     self.mask(partners[i:i + batch])).clamp(0, 1) for i in range(0, len(x), batch)])

    def parameters(self):
        return list(self.pattern_net.parameters())

    def prepare(self, x: torch.Tensor, seed: int, checkpoints: LoopCheckpoints = LoopCheckpoints()) -> None:
        """Move the generators to the images' device and pretrain (then freeze) the mask net."""
        self.to(x.device)
        pretrain_mask(self, x, seed, checkpoints)

    def state_objects(self) -> dict:
        return {"mask_net": self.mask_net, "pattern_net": self.pattern_net}

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.cfg.lr, betas=self.cfg.betas)

    def training_loss(self, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor, rate: float,
                      gen: torch.Generator) -> torch.Tensor:
        """CE over a batch with a fraction `rate` of own-trigger images (target label; the official p_attack is 0.1)
        and p_cross of cross-trigger images (own label), plus lambda_div times the pattern diversity loss."""
        self.pattern_net.train()
        n = len(y)
        order = torch.randperm(n, generator=gen).to(x.device)
        n_bd, n_cross = int(rate * n), int(self.cfg.p_cross * n)
        bd, cross = order[:n_bd], order[n_bd:n_bd + n_cross]
        partners = x[torch.roll(order, 1)[:n_bd + n_cross]]
        patterns = self.pattern(torch.cat([x[bd], partners]))
        with torch.no_grad():
            masks = self.mask(torch.cat([x[bd], partners]))
        p_own, p_partner = patterns[:n_bd], patterns[n_bd:]
        x_new, y_new = x.clone(), y.clone()
        x_new[bd] = self.stamp(x[bd], p_own, masks[:n_bd])
        y_new[bd] = self.targets[0]
        x_new[cross] = self.stamp(x[cross], p_partner[n_bd:], masks[n_bd:][n_bd:])
        loss = F.cross_entropy(classifier(x_new), y_new)
        if n_bd:
            loss = loss + self.cfg.lambda_div * diversity_loss(x[bd], partners[:n_bd], p_own, p_partner[:n_bd])
        return loss


def pretrain_mask(attack: InputAware, x: torch.Tensor, seed: int = 0,
                  checkpoints: LoopCheckpoints = LoopCheckpoints()) -> list[dict]:
    """Train M alone on the (clean) training images, then freeze it. Returns a loss log (every `MASK_LOG_EVERY`
    steps and the last); `checkpoints`: where the loop keeps its checkpoint ("input_aware_mask")."""
    cfg = attack.cfg
    gen = torch.Generator().manual_seed(seed)
    net = attack.mask_net.train().requires_grad_(True)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=cfg.betas)
    losses = StepLosses()

    def step(i: int) -> torch.Tensor:
        idx = torch.randint(len(x), (2 * cfg.mask_batch,), generator=gen).to(x.device)
        x1, x2 = x[idx[:cfg.mask_batch]], x[idx[cfg.mask_batch:]]
        m1, m2 = attack.mask(x1), attack.mask(x2)
        norm = F.relu(m1 - cfg.mask_density).mean()
        div = diversity_loss(x1, x2, m1, m2)
        loss = cfg.lambda_norm * norm + cfg.lambda_div * div
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.add(i, norm=norm, div=div, density=m1.mean())
        return loss.detach()

    log = run_loop(cfg.mask_steps, step, objects={"mask_net": net, "optimizer": optimizer, "gen": gen},
                   eval_fn=lambda done: log_record(done, losses), eval_steps=log_steps(cfg.mask_steps, MASK_LOG_EVERY),
                   desc="input-aware mask", **checkpoints.of("input_aware_mask"))
    net.eval().requires_grad_(False)
    return log
