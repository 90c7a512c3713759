"""Training objectives in DomainBed's algorithm form, and the paper's two invariant representations.

Every algorithm is a `torch.nn.Module` with a featurizer g (any module mapping a batch to (B, D) features), a
linear classifier h, its own optimiser, and DomainBed's two calls:

- `update(minibatches, unlabeled=None) -> dict`: one step on one (x, y) minibatch per source domain (and, in
  multi-source domain adaptation, one unlabelled target batch);
- `predict(x) -> logits`.

`DomainInvariant` is the paper's objective, per step with n samples per source:

    loss = mean_i CE(h(g(x_i)), y_i) + lambda * r(t) * Pen,    Pen in {Pen_general, Pen_compressed}

(penalties and ramp r: `penalties.py`). The mean over sources of each source's mean cross-entropy is DomainBed's
form of the source risk sum_i pi_i loss(h, D^{S,i}_g) with pi_i = 1/K.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.domain_invariance.penalties import PenaltyFeatures, compressed_penalty, general_penalty, ramp
from reprolab.runtime.config import check_choice

Invariance = Literal["general", "compressed"]
Minibatches = Sequence[tuple[torch.Tensor, torch.Tensor]]


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """The Adam optimiser of `DomainInvariant`, `ERM`, `MMD` and `CORAL`: learning rate `lr` and `weight_decay`.
    Defaults are DomainBed's for small images (Adam 1e-3, weight decay 0)."""

    lr: float = 1e-3              # DomainBed, small images
    weight_decay: float = 0.0     # DomainBed, small images

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got lr={self.lr}, "
                             f"weight_decay={self.weight_decay}")


class Algorithm(nn.Module):
    """featurizer -> linear classifier, trained by `update`; subclasses define the objective."""

    def __init__(self, featurizer: nn.Module, feature_dim: int, num_classes: int, num_domains: int):
        super().__init__()
        if feature_dim < 1 or num_classes < 2 or num_domains < 1:
            raise ValueError(f"need feature_dim >= 1, num_classes >= 2 and num_domains >= 1, got {feature_dim}, "
                             f"{num_classes}, {num_domains}")
        self.featurizer = featurizer
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.num_classes, self.num_domains = num_classes, num_domains
        self.register_buffer("update_count", torch.zeros((), dtype=torch.int64))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.featurizer(x))

    def update(self, minibatches: Minibatches, unlabeled: torch.Tensor | None = None) -> dict[str, float]:
        raise NotImplementedError

    def set_run_length(self, steps: int) -> None:
        """Called by `train` with the run's number of updates before the first one; a schedule tied to the run's
        length reads it (`DomainInvariant`'s ramp); the others ignore it."""

    def check_minibatches(self, minibatches: Minibatches) -> None:
        """One (x, y) per source domain, labels in [0, num_classes)."""
        if len(minibatches) != self.num_domains:
            raise ValueError(f"update needs one minibatch per source domain ({self.num_domains}), "
                             f"got {len(minibatches)}")
        for i, (x, y) in enumerate(minibatches):
            if len(x) != len(y) or len(y) == 0:
                raise ValueError(f"minibatch {i}: {len(x)} inputs and {len(y)} labels (need equal, non-zero)")
            if int(y.min()) < 0 or int(y.max()) >= self.num_classes:
                raise ValueError(f"minibatch {i}: labels must lie in [0, {self.num_classes}), got "
                                 f"[{int(y.min())}, {int(y.max())}]")


def domain_index(minibatches: Minibatches) -> torch.Tensor:
    """Each row's source index when the minibatches are concatenated."""
    return torch.cat([torch.full((len(y),), i, dtype=torch.int64, device=y.device)
                      for i, (_, y) in enumerate(minibatches)])


def featurize(featurizer: nn.Module, inputs: Sequence[torch.Tensor], per_domain: bool = False) -> torch.Tensor:
    """g on the concatenated inputs in one pass (a BatchNorm in g sees the pooled batch), or (`per_domain`) g on each
    input in its own pass, concatenated: DomainBed's MMD and CORAL, whose BatchNorm statistics are then per domain.
    The two agree for a featurizer without batch statistics."""
    if per_domain:
        return torch.cat([featurizer(x) for x in inputs])
    return featurizer(torch.cat(inputs))


def mean_source_risk(logits: torch.Tensor, minibatches: Minibatches) -> torch.Tensor:
    """mean_i CE(logits of source i, y_i): each source's mean cross-entropy, averaged over sources."""
    sizes = [len(y) for _, y in minibatches]
    return torch.stack([F.cross_entropy(part, y) for part, (_, y) in
                        zip(torch.split(logits, sizes), minibatches)]).mean()


class DomainInvariant(Algorithm):
    """The paper's general (`invariance="general"`) or compressed (`"compressed"`) domain-invariant
    representation: source risk + lambda * r(t) * penalty. The ramp r reaches ~1 after `total_steps` updates; None
    (default) ties it to the run's length, which `train` sets from its `steps` (ignored when `use_ramp=False`,
    DomainBed's constant weight). `featurizer_per_domain`: each domain's batch through the featurizer in its own pass
    (`featurize`)."""

    def __init__(self, featurizer: nn.Module, feature_dim: int, num_classes: int, num_domains: int, *,
                 invariance: Invariance, lam: float, total_steps: int | None = None,
                 penalty_features: PenaltyFeatures = "l2norm", use_ramp: bool = True,
                 optim: OptimConfig = OptimConfig(), featurizer_per_domain: bool = False):
        super().__init__(featurizer, feature_dim, num_classes, num_domains)
        check_choice("invariance", invariance, Invariance)
        if not lam >= 0:
            raise ValueError(f"lambda (the penalty weight) must be >= 0, got {lam}")
        if total_steps is not None and total_steps < 1:
            raise ValueError(f"total_steps must be >= 1 (or None: the run's length), got {total_steps}")
        check_choice("penalty_features", penalty_features, PenaltyFeatures)
        self.invariance, self.lam, self.total_steps = invariance, lam, total_steps
        self.ramp_follows_run = total_steps is None
        self.penalty_features, self.use_ramp = penalty_features, use_ramp
        self.featurizer_per_domain = featurizer_per_domain
        self.optimizer = torch.optim.Adam(self.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)

    def set_run_length(self, steps: int) -> None:
        if self.ramp_follows_run:
            self.total_steps = steps

    def weight(self) -> float:
        """lambda * r(t) at the current update."""
        if not self.use_ramp:
            return self.lam
        if self.total_steps is None:
            raise ValueError("the ramp's length is unknown: pass total_steps=, call set_run_length(steps), or train "
                             "with `train`, which sets it to its steps")
        return self.lam * ramp(int(self.update_count), self.total_steps)

    def penalty(self, z: torch.Tensor, minibatches: Minibatches, n_unlabeled: int = 0) -> torch.Tensor:
        """The penalty on the features of the concatenated minibatches (then `n_unlabeled` target rows)."""
        domains = domain_index(minibatches)
        if self.invariance == "compressed":     # labels needed: the unlabelled target does not take part
            labels = torch.cat([y for _, y in minibatches])
            return compressed_penalty(z[:len(domains)], domains, labels, self.num_domains, self.num_classes,
                                      self.penalty_features)
        if n_unlabeled:
            domains = torch.cat([domains, domains.new_full((n_unlabeled,), self.num_domains)])
        return general_penalty(z, domains, self.num_domains + (1 if n_unlabeled else 0), self.penalty_features)

    def update(self, minibatches: Minibatches, unlabeled: torch.Tensor | None = None) -> dict[str, float]:
        self.check_minibatches(minibatches)
        inputs = [x for x, _ in minibatches] + ([unlabeled] if unlabeled is not None else [])
        z = featurize(self.featurizer, inputs, self.featurizer_per_domain)
        n_source = sum(len(y) for _, y in minibatches)
        risk = mean_source_risk(self.classifier(z[:n_source]), minibatches)
        pen = self.penalty(z, minibatches, 0 if unlabeled is None else len(unlabeled))
        weight = self.weight()
        loss = risk + weight * pen
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.update_count += 1
        return {"loss": loss.item(), "risk": risk.item(), "penalty": pen.item(), "weight": weight}
