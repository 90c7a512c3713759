"""AIM: the objective, the training loop and both inference rules, for any black box [official code:
`main.py` (loss, loop), `trainer.py`, `infer_conventional.py`, `infer_adaptive.py`].

Objective (per batch; Z the relaxed mask, y_hat = argmax f(x) precomputed):
    s = W_x Z  (s_c = sum_i W_x[c, i] Z_i);   y1 = argmax f(x, Z)  (no gradient)
    L = CE(s, y1) + alpha CE(G(x, Z), y_hat) + beta R(W)
    R(W) = sum_b sum_c ||W_b[c, :]||_2   (`l21_axis="class"`, official)  |  sum_b sum_i ||W_b[:, i]||_2  ("feature")
CE means over the batch, R sums over it [official]. `official_double_softmax` feeds both CE terms softmax outputs
(the official modules end in softmax and CrossEntropyLoss applies another). `official_black_box_dropout` computes
y1 with the black box's dropout on (the official `Model` holds the black box as a submodule, so `model.train()`
turns its dropout on). The selector learns only through Z.
Training [official]: Adam lr 1e-3 (torch's fused implementation of the same update), StepLR(step 10, gamma 0.99)
stepped every batch, the black box frozen; after every epoch the weights are kept when the approximator's
validation accuracy against y_hat is >= the best so far (starting at 0.20). That accuracy is over all validation
items; `official_selection` takes the official loop's, the mean of the accuracies of consecutive batches of
`batch_size` items (the last one shorter), so a short last batch weighs as much as a full one.
Inference, conventional: y = argmax f(x); the top K features by W_x[y] (pi unused): one model serves every K and
every class. Adaptive (v1): for j = 1 .. K_max + 1 keep the top-j features (descending weight order, PAD-filled)
and stop at the first j with argmax f(x_j) = y (K* = j); items that never match are unfaithful.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from torch.nn import functional as F

from reprolab.methods.aim.blackbox import BlackBox
from reprolab.methods.aim.metrics import keep_items, top_k
from reprolab.methods.aim.modules import (Approximator, Explainer, FeatureKind, ModuleSizes, Selector, concrete_mask,
                                          drawing_from)
from reprolab.runtime.config import check_at_least, check_options
from reprolab.runtime.train import BestModel, ShuffledBatches, run_loop


@dataclasses.dataclass(frozen=True)
class AIMConfig:
    """AIM's training settings (the official code's for IMDB) and the flags that reproduce the official code."""
    sizes: ModuleSizes = ModuleSizes()
    alpha: float = 1.8                  # IMDB [official]; AG News and HateXplain 0.1
    beta: float = 1e-3                  # IMDB [official]
    tau: float = 0.2                    # [official]
    epochs: int = 10                    # [official]
    batch_size: int = 50                # IMDB [official]
    lr: float = 1e-3                    # [official]
    lr_step: int = 10                   # StepLR step, in batches [official]
    lr_gamma: float = 0.99              # [official]
    selection_floor: float = 0.2        # the official loop keeps weights from approximator accuracy 0.20 up
    l21_axis: Literal["class", "feature"] = "class"
    official_concrete: bool = False     # the official sampler: temperature cancels (tau = 1)
    official_double_softmax: bool = False
    official_rank_padding: bool = False
    official_black_box_dropout: bool = False   # y1 under the black box's dropout [official `main.py`]
    official_selection: bool = False    # selection on the mean of per-batch validation accuracies, batches of
                                        # `batch_size` in order [official `trainer.val_epoch`]; default: over all items

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("epochs", "batch_size", "lr_step"))
        if min(self.alpha, self.beta) < 0 or self.tau <= 0 or self.lr <= 0:
            raise ValueError(f"need alpha, beta >= 0 and tau, lr > 0, got {self.alpha}, {self.beta}, {self.tau}, "
                             f"{self.lr}")


@dataclasses.dataclass(frozen=True)
class Explanation:
    """`AIM.explain`'s answer: the top-K positions for the labels, every class's weights, the cost per item."""
    positions: torch.Tensor          # (N, K) selected features, best first; -1 where an item has fewer
    weights: torch.Tensor            # (N, C, L) W_x: every class's weights from the same pass
    labels: torch.Tensor             # (N,) the black box's labels the positions explain
    seconds_per_item: float          # explainer time (all classes), black-box labels excluded


def mean_batch_accuracy(correct: torch.Tensor, batch: int) -> float:
    """The official validation accuracy: sum_b acc_b / n_batches, acc_b the share of correct items in the b-th run
    of `batch` consecutive items (the last may be shorter), summed in float32 in batch order."""
    chunks = correct.split(batch)
    total = torch.zeros((), dtype=torch.float32)
    for chunk in chunks:
        total = total + chunk.sum() / len(chunk)
    return float(total / len(chunks))


def l21_norm(w: torch.Tensor, axis: str) -> torch.Tensor:
    """sum over the batch of the l2 norms of W's class rows (axis "class") or feature columns ("feature")."""
    return w.norm(dim=-1).sum() if axis == "class" else w.norm(dim=1).sum()


class AIM:
    """`AIM(black_box, classes, features).fit(train_x, val_x).explain(x, k)`. `seed` drives the initialisation and
    then the training noise (mask, dropout) through one stream of its own (`generator`); the caller's global torch
    RNG is left as it was."""

    def __init__(self, black_box: BlackBox, num_classes: int, features: FeatureKind,
                 config: AIMConfig = AIMConfig(), device: str = "cpu", seed: int = 0):
        if num_classes < 2:
            raise ValueError(f"need at least 2 classes, got {num_classes}")
        if config.official_black_box_dropout and black_box.module is None:
            raise ValueError("official_black_box_dropout needs a torch model black box (embedding_black_box or "
                             "image_black_box); a plain callable has no dropout to turn on")
        self.black_box, self.num_classes, self.features, self.cfg = black_box, num_classes, features, config
        self.device, self.seed = device, seed
        self.generator = torch.Generator().manual_seed(seed)        # initialisation, then the training noise
        with drawing_from(self.generator, device):
            self.explainer = Explainer(features, num_classes, config.sizes).to(device)
            self.selector = Selector(features, config.sizes).to(device)
            self.approximator = Approximator(features, num_classes, config.sizes).to(device)
        self.modules = torch.nn.ModuleDict({"explainer": self.explainer, "selector": self.selector,
                                            "approximator": self.approximator})
        self.history: list[dict[str, Any]] = []

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) == 0:
            raise ValueError("no items to explain")
        if self.features.kind == "tokens":
            if x.dtype != torch.long or x.dim() != 2:
                raise ValueError(f"token items must be a (N, L) LongTensor of ids, got {x.dtype} {tuple(x.shape)}")
            if (x < 0).any() or (x >= self.features.vocab).any():
                bad = x[(x < 0) | (x >= self.features.vocab)][0].item()
                raise ValueError(f"unknown token id {bad}: ids must be in [0, {self.features.vocab})")
            if not (x != 0).any(1).all():
                raise ValueError("an item has no token (all PAD): an empty text cannot be explained")
        return x

    def loss(self, x: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        f = self.features.features(x)
        w = self.explainer(f)                                           # (B, C, L)
        z = concrete_mask(self.selector(f), cfg.tau, cfg.official_concrete)
        y1 = self.black_box.masked_probs(x, z.detach(), cfg.official_black_box_dropout).argmax(-1)
        s, g = (w * z.unsqueeze(1)).sum(-1), self.approximator(f, z)
        if cfg.official_double_softmax:
            s, g = torch.softmax(s, -1), torch.softmax(g, -1)
        explainer_ce, approximator_ce = F.cross_entropy(s, y1), F.cross_entropy(g, y_hat)
        return explainer_ce + cfg.alpha * approximator_ce + cfg.beta * l21_norm(w, cfg.l21_axis)

    @torch.no_grad()
    def _eval_pass(self, x: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """W (N, C, L), pi (N, L) and the approximator's logits at Z = pi, in eval mode."""
        self.modules.eval()
        ws, pis, gs = [], [], []
        for i in range(0, len(x), batch):
            f = self.features.features(x[i:i + batch].to(self.device))
            pi = self.selector(f)
            ws.append(self.explainer(f).cpu())
            pis.append(pi.cpu())
            gs.append(self.approximator(f, pi).cpu())
        return torch.cat(ws), torch.cat(pis), torch.cat(gs)

    def _measure(self, x: torch.Tensor, y_hat: torch.Tensor) -> dict[str, float]:
        w, pi, g = self._eval_pass(x)
        valid = self.features.valid(x)
        correct = g.argmax(1) == y_hat.cpu()
        accuracy = (mean_batch_accuracy(correct, self.cfg.batch_size) if self.cfg.official_selection
                    else float(correct.float().mean()))
        return {"val_approximator_accuracy": accuracy, "mean_pi": float(pi[valid].mean())}

    def fit(self, train_x: torch.Tensor, val_x: torch.Tensor, checkpoint: Path | None = None, resume: bool = False,
            desc: str = "AIM") -> "AIM":
        cfg = self.cfg
        self._check(train_x)
        self._check(val_x)
        y_train, y_val = self.black_box.predict(train_x).cpu(), self.black_box.predict(val_x).cpu()
        batches = ShuffledBatches(len(train_x), cfg.batch_size, self.seed)
        per_epoch = batches.per_epoch
        optimizer = torch.optim.Adam(self.modules.parameters(), lr=cfg.lr, fused=True)    # one kernel per tensor
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
        best = BestModel(self.modules, keep_ties=True, floor=cfg.selection_floor)

        def step(i: int) -> torch.Tensor:
            index = batches(i)
            self.modules.train()
            loss = self.loss(train_x[index].to(self.device), y_train[index].to(self.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            return loss.detach()

        def measure(i: int) -> dict[str, Any]:
            record = {"epoch": i // per_epoch, "lr": scheduler.get_last_lr()[0], **self._measure(val_x, y_val)}
            if i > 0:
                record["kept"] = best.offer(record["val_approximator_accuracy"], i)
            return record

        with drawing_from(self.generator, self.device):          # the mask's noise and dropout
            self.history = run_loop(cfg.epochs * per_epoch, step, objects={
                "modules": self.modules, "optimizer": optimizer, "scheduler": scheduler, "best": best,
                "batches": batches}, eval_fn=measure, eval_every=per_epoch, eval_at_start=True,
                checkpoint=checkpoint, checkpoint_every=per_epoch if checkpoint is not None else 0, resume=resume,
                desc=desc)
        self.selected_epoch = best.iteration // per_epoch
        if best.iteration == 0:          # the official loop saves no model then
            warnings.warn(f"AIM: no epoch's validation accuracy reached selection_floor {cfg.selection_floor}; the "
                          "initial weights are kept (selected_epoch 0)", stacklevel=2)
        self.modules.load_state_dict(best.state)
        return self

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """W_x (N, C, L) of every class, one pass."""
        return self._eval_pass(self._check(x))[0]

    def selection_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self._eval_pass(self._check(x))[1]

    def explain(self, x: torch.Tensor, k: int, labels: torch.Tensor | None = None) -> Explanation:
        """The top-K features of each item for its black-box label (or the given `labels`), and every class's
        weights."""
        self._check(x)
        labels = self.black_box.predict(x).cpu() if labels is None else labels.cpu()
        start = time.perf_counter()
        w = self.weights(x)
        scores = w.gather(1, labels.view(-1, 1, 1).expand(-1, 1, w.shape[2]))[:, 0]
        positions = top_k(scores, self.features.valid(x).cpu(), k, self.cfg.official_rank_padding)
        return Explanation(positions, w, labels, (time.perf_counter() - start) / len(x))

    def explain_adaptive(self, x: torch.Tensor, k_max: int = 10) -> dict[str, Any]:
        """`adaptive_k` on this model's ranking (`explain` with K = K_max + 1)."""
        explanation = self.explain(x, min(k_max + 1, x.shape[1]))
        return adaptive_k(self.black_box, x, explanation.positions, explanation.labels, self.features, k_max)


def adaptive_k(black_box: BlackBox, x: torch.Tensor, positions: torch.Tensor, labels: torch.Tensor,
               features: FeatureKind, k_max: int) -> dict[str, Any]:
    """K* per item (the first j <= K_max + 1 whose top-j of `positions` (N, >= K_max + 1 or L columns, best first)
    keeps the label; 0 when none does), and the black-box queries spent."""
    k_star = torch.zeros(len(x), dtype=torch.long)
    queries = torch.zeros(len(x), dtype=torch.long)
    for j in range(1, min(k_max + 1, positions.shape[1]) + 1):
        pending = k_star == 0
        if not pending.any():
            break
        kept = keep_items(x[pending], positions[pending, :j], features, order="rank")
        hit = black_box.probs(kept).argmax(1).cpu() == labels[pending]
        queries[pending] += 1
        k_star[pending.nonzero()[:, 0][hit]] = j
    found = k_star > 0
    return {"k_star": k_star.tolist(), "queries": queries.tolist(), "faithful": float(found.float().mean()),
            "mean_k_star": float(k_star[found].float().mean()) if found.any() else float("nan"),
            "max_k_star": int(k_star.max()), "max_queries": int(queries.max()), "k_max": k_max}


def mean_pi_shift(history: list[dict[str, Any]]) -> float:
    """Mean pi over real features after the last epoch minus after the first (spec check 8)."""
    epochs = [h for h in history if h["epoch"] >= 1]
    return float(epochs[-1]["mean_pi"] - epochs[0]["mean_pi"]) if epochs else float("nan")
