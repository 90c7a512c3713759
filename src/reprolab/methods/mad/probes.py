"""Probes of distribution shift and forgetting.

- `DriftProbe`: on a fixed z batch, p_t = softmax(T(G_t(z))) after every generator step; reports the mean
  Jensen-Shannon divergence JS(p_t, p_{t-1}) for G and (`ema=True`) for the EMA generator G~, their ratio (G over
  G~), and JS(G_t, G~_t). The generators run in train mode (as in training) with their BN running statistics
  untouched. A base distiller (lambda1 = 0) trains on G alone, so a probe of it follows G only (`ema=False`); the
  experiment probes its MAD runs only, the drift its claims read.
- `ForgettingProbe`: at evaluation t, a pool of samples of G_t with the teacher's labels; `lag` iterations later
  the student's top-1 agreement with the teacher on that old pool is measured again. Reports the mean agreement
  on old pools and the mean drop (agreement when stored - agreement `lag` iterations later).
"""

from __future__ import annotations

import torch
from torch import nn

from reprolab.methods.mad.distiller import READ_EVERY, Distiller, frozen_bn_statistics


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Mean over rows of JS(p || q) = (KL(p || m) + KL(q || m)) / 2, m = (p + q) / 2 (natural log)."""
    m = 0.5 * (p + q)

    def kl(a, b):
        return torch.where(a > 0, a * (a.clamp_min(1e-12).log() - b.clamp_min(1e-12).log()), 0.0).sum(dim=1)

    return (0.5 * (kl(p, m) + kl(q, m))).mean()


@torch.no_grad()
def teacher_probabilities(distiller: Distiller, generator: nn.Module, z, y) -> torch.Tensor:
    with frozen_bn_statistics(generator):
        return torch.softmax(distiller.teacher(distiller.generate(generator, z, y)), dim=1)


class DriftProbe:
    """Generator drift: on a fixed batch of `n` latent codes, after every generator step (`update`), the
    Jensen-Shannon divergence between the teacher's predictions on G_t and on G_{t-1}, for G and (`ema`) for the
    EMA generator G~. `summary` gives the means, and with `ema` their ratio (G over G~) and the mean
    JS(G_t, G~_t). The divergences stay on the device and are added up every `READ_EVERY` updates, at
    `state_dict` and at `summary`."""

    def __init__(self, distiller: Distiller, n: int = 256, seed: int = 12345, ema: bool = True):
        rng = torch.Generator(distiller.device).manual_seed(seed)
        self.z, self.y = distiller.noise(n, rng)
        self.ema = ema
        self.previous: dict[str, torch.Tensor] = {}
        self.totals = {"G": 0.0, "G_ema": 0.0, "G_vs_ema": 0.0} if ema else {"G": 0.0}
        self.count = 0
        self._pending: list[tuple[str, torch.Tensor]] = []   # divergences not yet added to `totals`

    def update(self, distiller: Distiller) -> None:
        """Call after every generator step."""
        current = {"G": teacher_probabilities(distiller, distiller.generator, self.z, self.y)}
        if self.ema:
            current["G_ema"] = teacher_probabilities(distiller, distiller.ema_generator, self.z, self.y)
        if self.previous:
            self._pending += [(name, js_divergence(current[name], self.previous[name])) for name in current]
            if self.ema:
                self._pending.append(("G_vs_ema", js_divergence(current["G"], current["G_ema"])))
            self.count += 1
            if self.count % READ_EVERY == 0:
                self._add_pending()
        self.previous = current

    def _add_pending(self) -> None:
        """Add the kept divergences to `totals` in one transfer, in the order they were computed (the sums
        `item()` after every update would give)."""
        if self._pending:
            for (name, _), value in zip(self._pending, torch.stack([js for _, js in self._pending]).tolist()):
                self.totals[name] += value
            self._pending = []

    def state_dict(self) -> dict:
        self._add_pending()
        return {"previous": dict(self.previous), "totals": dict(self.totals), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.previous, self.totals, self.count = dict(state["previous"]), dict(state["totals"]), int(state["count"])
        self._pending = []

    def summary(self) -> dict:
        self._add_pending()
        n = max(self.count, 1)
        js_g = self.totals["G"] / n
        if not self.ema:
            return {"js_step_G": js_g, "steps": self.count}
        js_ema = self.totals["G_ema"] / n
        return {"js_step_G": js_g, "js_step_G_ema": js_ema, "js_G_vs_G_ema": self.totals["G_vs_ema"] / n,
                "ratio_G_over_G_ema": js_g / js_ema if js_ema > 0 else float("nan"), "steps": self.count}


class ForgettingProbe:
    """Forgetting of old samples: at each evaluation (`update`) it stores `n` samples of G with the teacher's top-1
    labels, and re-tests the student's agreement with them `lag` iterations later. `summary` gives the mean
    agreement on old pools and the mean drop (agreement when stored minus agreement `lag` iterations later)."""

    def __init__(self, distiller: Distiller, lag: int = 60, n: int = 256, seed: int = 54321):
        self.lag, self.n = lag, n
        self.rng = torch.Generator(distiller.device).manual_seed(seed)
        self.pools: dict[int, tuple[torch.Tensor, torch.Tensor, float]] = {}
        self.records: list[dict] = []

    @torch.no_grad()
    def agreement(self, distiller: Distiller, x: torch.Tensor, labels: torch.Tensor) -> float:
        was_training = distiller.student.training
        distiller.student.eval()
        agree = (distiller.student(x).argmax(dim=1) == labels).float().mean().item()
        distiller.student.train(was_training)
        return agree

    @torch.no_grad()
    def update(self, distiller: Distiller, iteration: int) -> None:
        """Call at every evaluation: store a pool of G's samples, re-test the pool stored `lag` iterations ago."""
        old = self.pools.pop(iteration - self.lag, None)
        if old is not None:
            x, labels, then = old
            now = self.agreement(distiller, x, labels)
            self.records.append({"stored_at": iteration - self.lag, "agreement_then": then, "agreement_now": now,
                                 "drop": then - now})
        z, y = distiller.noise(self.n, self.rng)
        with frozen_bn_statistics(distiller.generator):
            x = distiller.generate(distiller.generator, z, y)
        labels = distiller.teacher(x).argmax(dim=1)
        self.pools[iteration] = (x, labels, self.agreement(distiller, x, labels))

    def state_dict(self) -> dict:
        return {"pools": {str(k): {"x": x, "labels": labels, "then": then} for k, (x, labels, then) in
                          self.pools.items()}, "records": list(self.records), "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.pools = {int(k): (v["x"], v["labels"], float(v["then"])) for k, v in state["pools"].items()}
        self.records = list(state["records"])
        self.rng.set_state(state["rng"])

    def summary(self) -> dict:
        if not self.records:
            return {"old_agreement": float("nan"), "mean_drop": float("nan"), "pools": 0}
        return {"old_agreement": sum(r["agreement_now"] for r in self.records) / len(self.records),
                "mean_drop": sum(r["drop"] for r in self.records) / len(self.records), "pools": len(self.records)}
