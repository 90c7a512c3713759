"""The baselines, in DomainBed's algorithm form (DomainBed is not on PyPI; these follow its `algorithms.py`).

- **ERM**: CE(h(g(x)), y) on the concatenated source batches.
- **DANN** (Ganin et al., JMLR 2016): a K-way domain discriminator Disc(z), trained adversarially.
- **CDANN** (Li et al., "Deep domain generalization via conditional invariant adversarial networks",
  ECCV 2018; DomainBed cites another paper for it): Disc(z + E[y]) with a learned class embedding E in
  R^{C x D}, and per-sample discriminator weights 1 / (n_y * C), summed.
  Alternation (DomainBed): the update counter t is incremented first; the gradient penalty
  grad_penalty * ||d P / d disc_input||^2 joins disc_loss before branching; if t mod (1 + d_steps) < d_steps a
  discriminator step on disc_loss, else a generator step on CE - lambda * disc_loss, so the generator maximises the
  penalty too. With d_steps = 1 the featurizer is updated on only half of the calls.
  `AdversarialConfig(mode="grl")`: one optimiser, CE + disc_loss(GRL(z)), the gradient reversal layer multiplying
  the gradient reaching z by -lambda (Ganin et al.).
- **MMD** (DomainBed's): mean_i CE_i + gamma * mean_{i<j} MMD^2(Z_i, Z_j) with raw features and
  Gamma = {1e-3, ..., 1e3}, constant weight: the general penalty of `penalties.py` with `features="raw"`. Like
  DomainBed's, it ignores an unlabelled target batch unless `use_unlabeled=True` (the target is then one more group).
- **CORAL** (Sun and Saenko, 2016; DomainBed's): mean_i CE_i + gamma * mean_{i<j} [mean((mu_i - mu_j)^2) +
  mean((Sigma_i - Sigma_j)^2)], unbiased covariances.
MMD and CORAL run the featurizer once on every domain's batch together; DomainBed's run it once per domain's batch
(`featurizer_per_domain=True`), which differs only for a featurizer with batch statistics (BatchNorm).

The gradient penalty's P (`AdversarialConfig.grad_penalty_form`; moot at DomainBed's default grad_penalty = 0):
- `"domainbed"` (default; DomainBed since August 2022): the summed discriminator cross-entropy.
- `"domainbed_pre2022"` (DomainBed's first version, July 2020 to August 2022): softmax(disc_out)[:, labels].sum(),
  a B x B block (every sample's domain label for every row). Its sum is sum_i sum_d n_d softmax_id, the constant
  n * B when every domain has n samples in the batch: with DomainBed's equal batches that penalty is exactly 0
  (tested).
DomainBed's other quirk, off by default and reproduced by its flag: `domainbed_class_weight`, CDANN divides by
(largest label in the batch + 1) instead of C.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.domain_invariance.algorithms import (Algorithm, DomainInvariant, Minibatches, OptimConfig,
                                                           domain_index, featurize, mean_source_risk)

AdversarialMode = Literal["alternate", "grl"]
GradPenaltyForm = Literal["domainbed", "domainbed_pre2022"]


class ERM(Algorithm):
    """Empirical risk minimisation over the pooled sources."""

    def __init__(self, featurizer: nn.Module, feature_dim: int, num_classes: int, num_domains: int, *,
                 optim: OptimConfig = OptimConfig()):
        super().__init__(featurizer, feature_dim, num_classes, num_domains)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)

    def update(self, minibatches: Minibatches, unlabeled: torch.Tensor | None = None) -> dict[str, float]:
        self.check_minibatches(minibatches)
        x = torch.cat([x for x, _ in minibatches])
        y = torch.cat([y for _, y in minibatches])
        loss = F.cross_entropy(self.predict(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.update_count += 1
        value = float(loss.detach())
        return {"loss": value, "risk": value}


class MMD(DomainInvariant):
    """DomainBed's MMD: the general penalty on raw features with DomainBed's bandwidths, constant weight gamma.
    An unlabelled target batch is ignored, as in DomainBed, unless `use_unlabeled` (then it is one more group)."""

    def __init__(self, featurizer: nn.Module, feature_dim: int, num_classes: int, num_domains: int, *,
                 gamma: float = 1.0, use_unlabeled: bool = False, optim: OptimConfig = OptimConfig(),
                 featurizer_per_domain: bool = False):
        super().__init__(featurizer, feature_dim, num_classes, num_domains, invariance="general", lam=gamma,
                         penalty_features="raw", use_ramp=False, optim=optim,
                         featurizer_per_domain=featurizer_per_domain)
        self.use_unlabeled = use_unlabeled

    def update(self, minibatches: Minibatches, unlabeled: torch.Tensor | None = None) -> dict[str, float]:
        return super().update(minibatches, unlabeled if self.use_unlabeled else None)


def coral_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """mean((mu_a - mu_b)^2) + mean((Sigma_a - Sigma_b)^2), unbiased covariances."""
    mean_a, mean_b = a.mean(0, keepdim=True), b.mean(0, keepdim=True)
    cov_a = (a - mean_a).T @ (a - mean_a) / (len(a) - 1)
    cov_b = (b - mean_b).T @ (b - mean_b) / (len(b) - 1)
    return (mean_a - mean_b).pow(2).mean() + (cov_a - cov_b).pow(2).mean()


class CORAL(Algorithm):
    """Mean source risk + gamma * mean over source pairs of `coral_distance`; `featurizer_per_domain`: each domain's
    batch through the featurizer in its own pass (DomainBed's)."""

    def __init__(self, featurizer: nn.Module, feature_dim: int, num_classes: int, num_domains: int, *,
                 gamma: float = 1.0, optim: OptimConfig = OptimConfig(), featurizer_per_domain: bool = False):
        super().__init__(featurizer, feature_dim, num_classes, num_domains)
        if not gamma >= 0:
            raise ValueError(f"gamma (the CORAL weight) must be >= 0, got {gamma}")
        self.gamma, self.featurizer_per_domain = gamma, featurizer_per_domain
        self.optimizer = torch.optim.Adam(self.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)

    def update(self, minibatches: Minibatches, unlabeled: torch.Tensor | None = None) -> dict[str, float]:
        self.check_minibatches(minibatches)
        z = featurize(self.featurizer, [x for x, _ in minibatches], self.featurizer_per_domain)
        risk = mean_source_risk(self.classifier(z), minibatches)
        parts = torch.split(z, [len(y) for _, y in minibatches])
        pairs = list(itertools.combinations(range(len(parts)), 2))
        pen = torch.stack([coral_distance(parts[i], parts[j]) for i, j in pairs]).mean() if pairs else z.new_zeros(())
        loss = risk + self.gamma * pen
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.update_count += 1
        return {"loss": loss.item(), "risk": risk.item(), "penalty": pen.item()}


class GradientReversal(torch.autograd.Function):
    """Identity forward; the backward pass multiplies the incoming gradient by -lambda."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lam * grad, None


def gradient_reversal(x: torch.Tensor, lam: float) -> torch.Tensor:
    """The gradient reversal layer GRL (Ganin et al.): returns x unchanged and multiplies the gradient flowing back
    through it by -`lam`. DANN with `AdversarialConfig(mode="grl")` applies it to the features z before the domain
    discriminator."""
    return GradientReversal.apply(x, lam)


def domainbed_mlp(n_inputs: int, n_outputs: int, width: int, depth: int, dropout: float) -> nn.Sequential:
    """DomainBed's MLP: Linear -> Dropout -> ReLU, (depth - 2) hidden blocks of the same, then Linear."""
    layers: list[nn.Module] = [nn.Linear(n_inputs, width), nn.Dropout(dropout), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.Dropout(dropout), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, n_outputs))


def cdann_weights(y: torch.Tensor, num_classes: int, domainbed_class_weight: bool = False) -> torch.Tensor:
    """Per-sample weights 1 / (n_y * C) (they sum to (#classes present) / C); DomainBed's C = max(y) + 1."""
    counts = torch.bincount(y, minlength=num_classes)
    c = int(y.max()) + 1 if domainbed_class_weight else num_classes
    return 1.0 / (counts[y] * c).to(torch.float32)


@dataclasses.dataclass(frozen=True)
class AdversarialConfig:
    """DomainBed's DANN/CDANN hyperparameters for small images."""

    lam: float = 1.0                       # DomainBed default (sweep 10^U(-2, 2))
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    beta1: float = 0.5                     # Adam betas (beta1, 0.9)
    weight_decay_g: float = 0.0
    weight_decay_d: float = 0.0
    mlp_width: int = 256
    mlp_depth: int = 3
    mlp_dropout: float = 0.0
    d_steps: int = 1                       # discriminator steps per generator step
    grad_penalty: float = 0.0              # DomainBed default (sweep 10^U(-2, 1))
    grad_penalty_form: GradPenaltyForm = "domainbed"
    mode: AdversarialMode = "alternate"
    domainbed_class_weight: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("alternate", "grl"):
            raise ValueError(f"mode must be 'alternate' or 'grl', got {self.mode!r}")
        if self.grad_penalty_form not in ("domainbed", "domainbed_pre2022"):
            raise ValueError(f"grad_penalty_form must be 'domainbed' or 'domainbed_pre2022', got "
                             f"{self.grad_penalty_form!r}")
        if self.lam < 0 or self.grad_penalty < 0 or self.d_steps < 1 or self.mlp_depth < 2:
            raise ValueError("need lam >= 0, grad_penalty >= 0, d_steps >= 1 and mlp_depth >= 2, got "
                             f"{self.lam}, {self.grad_penalty}, {self.d_steps}, {self.mlp_depth}")


class DANN(Algorithm):
    """Domain-adversarial training; `conditional=True` is CDANN."""

    def __init__(self, featurizer: nn.Module, feature_dim: int, num_classes: int, num_domains: int, *,
                 conditional: bool = False, adv: AdversarialConfig = AdversarialConfig()):
        super().__init__(featurizer, feature_dim, num_classes, num_domains)
        self.conditional, self.adv = conditional, adv
        self.discriminator = domainbed_mlp(feature_dim, num_domains, adv.mlp_width, adv.mlp_depth, adv.mlp_dropout)
        self.class_embeddings = nn.Embedding(num_classes, feature_dim)
        disc_params = list(self.discriminator.parameters()) + list(self.class_embeddings.parameters())
        gen_params = list(self.featurizer.parameters()) + list(self.classifier.parameters())
        betas = (adv.beta1, 0.9)
        if adv.mode == "grl":
            self.optimizer = torch.optim.Adam([{"params": gen_params, "weight_decay": adv.weight_decay_g},
                                               {"params": disc_params, "weight_decay": adv.weight_decay_d}],
                                              lr=adv.lr_g, betas=betas)
        else:
            self.disc_opt = torch.optim.Adam(disc_params, lr=adv.lr_d, weight_decay=adv.weight_decay_d, betas=betas)
            self.gen_opt = torch.optim.Adam(gen_params, lr=adv.lr_g, weight_decay=adv.weight_decay_g, betas=betas)

    def generator_steps(self) -> int:
        """How many of the updates so far changed the featurizer."""
        t, d = int(self.update_count), self.adv.d_steps
        return t if self.adv.mode == "grl" else sum(1 for s in range(1, t + 1) if s % (1 + d) >= d)

    def discriminator_loss(self, disc_input: torch.Tensor, y: torch.Tensor,
                           labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(disc_loss, gradient penalty ||d P / d disc_input||^2): DANN's mean CE or CDANN's class-weighted sum;
        P per `grad_penalty_form`."""
        out = self.discriminator(disc_input)
        if self.conditional:
            weights = cdann_weights(y, self.num_classes, self.adv.domainbed_class_weight)
            loss = (weights * F.cross_entropy(out, labels, reduction="none")).sum()
        else:
            loss = F.cross_entropy(out, labels)
        if self.adv.grad_penalty == 0 or not disc_input.requires_grad:
            return loss, loss.new_zeros(())
        target = F.softmax(out, dim=1)[:, labels].sum() if self.adv.grad_penalty_form == "domainbed_pre2022" \
            else F.cross_entropy(out, labels, reduction="sum")
        grad = torch.autograd.grad(target, [disc_input], create_graph=True)[0]
        return loss, grad.pow(2).sum(1).mean()

    def update(self, minibatches: Minibatches, unlabeled: torch.Tensor | None = None) -> dict[str, float]:
        self.check_minibatches(minibatches)
        self.update_count += 1
        x = torch.cat([x for x, _ in minibatches])
        y = torch.cat([y for _, y in minibatches])
        labels = domain_index(minibatches)
        z = self.featurizer(x)
        if self.adv.mode == "grl":
            return self._grl_step(z, y, labels)
        disc_input = z + self.class_embeddings(y) if self.conditional else z
        disc_loss, gp = self.discriminator_loss(disc_input, y, labels)
        disc_loss = disc_loss + self.adv.grad_penalty * gp        # DomainBed: before branching, both steps see it
        t, d = int(self.update_count), self.adv.d_steps
        if t % (1 + d) < d:
            self.disc_opt.zero_grad(set_to_none=True)
            disc_loss.backward()
            self.disc_opt.step()
            return {"disc_loss": disc_loss.item()}
        risk = F.cross_entropy(self.classifier(z), y)
        loss = risk - self.adv.lam * disc_loss
        self.disc_opt.zero_grad(set_to_none=True)
        self.gen_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.gen_opt.step()
        return {"loss": loss.item(), "risk": risk.item(), "disc_loss": disc_loss.item()}

    def _grl_step(self, z: torch.Tensor, y: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        reversed_z = gradient_reversal(z, self.adv.lam)
        disc_input = reversed_z + self.class_embeddings(y) if self.conditional else reversed_z
        disc_loss, gp = self.discriminator_loss(disc_input, y, labels)
        risk = F.cross_entropy(self.classifier(z), y)
        loss = risk + disc_loss + self.adv.grad_penalty * gp
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "risk": risk.item(), "disc_loss": disc_loss.item()}
