"""`Recognizer`: SAFL (or the CRNN baseline) for a user's word images.

    recognizer = Recognizer.from_config(size="light", loss="focal")
    recognizer.fit(train)                    # WordImages (uint8), e.g. read_lmdb(...), or SyntheticWordImages
    recognizer.recognize(images)             # uint8 (N, 3, H, W) -> strings
    recognizer.evaluate(test)                # normalised word accuracy and 1-NED

Training [official code]: Adam (0.9, 0.98), eps 1e-9, no weight decay; the learning rate set before every step
(Noam from step 1, or warmup + cosine, or constant; the official trainer sets it after every step instead, which
`TrainConfig.official_lr_order` reproduces); the global gradient norm clipped to 1; teacher forcing; focal loss or
NLL (gamma = 0, alpha = 1). Batches are drawn epoch by epoch from a seeded permutation; the loss of every step is
kept, with the rectifier's gradient norm at the first step. `fit(..., fast=FastPath(...))` takes the opt-in GPU fast
path for the training steps (`reprolab.runtime.fast`: compile, bf16 autocast of the forward pass and the loss,
channels-last); recognition stays eager float32 (it decodes with `greedy` / `beam`, not the compiled forward).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from reprolab.methods.safl.baselines import CRNN
from reprolab.methods.safl.datasets import WordImages, as_model_input
from reprolab.methods.safl.loss import focal_loss, noam, warmup_cosine
from reprolab.methods.safl.model import SAFL, SAFLConfig
from reprolab.methods.safl.synth import SyntheticWordImages
from reprolab.methods.safl.vocab import decode, encode, recognition_scores
from reprolab.runtime.config import check_at_least, check_options
from reprolab.runtime.fast import FastPath, autocast, check_fast_path, fast_batch, fast_model
from reprolab.runtime.train import ShuffledBatches, run_loop


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    steps: int = 350
    batch_size: int = 32
    schedule: Literal["noam", "warmup_cosine", "constant"] = "warmup_cosine"
    lr: float = 1e-3                  # peak of warmup_cosine, the constant lr, or step 1's with official_lr_order
    warmup: int = 50                  # noam: 16,000 [official]
    loss: Literal["nll", "focal"] = "nll"
    gamma: float = 2.0                # focal: the spec's ablation value; official commented-out lines: 1
    alpha: float = 1.0                # official commented-out lines: 0.99
    clip: float = 1.0                 # [official]
    max_label: int = 24               # the decoder's 25 steps hold 24 characters and EOS
    official_lr_order: bool = False   # official: True (the rate set after each step: step 1 runs at `lr`, the
                                      # command-line --lr; step k > 1 at the schedule's value for k - 1)

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("steps", "batch_size", "max_label"))
        if self.gamma < 0 or not 0 < self.alpha <= 1 or self.lr <= 0:
            raise ValueError(f"need gamma >= 0, 0 < alpha <= 1, lr > 0; got {self.gamma}, {self.alpha}, {self.lr}")

    def lr_for_step(self, step: int) -> float:
        """The rate optimisation step `step` (from 1) runs at: the schedule's value at `step`, set before the step;
        with `official_lr_order`, the official trainer's order, which sets the rate after each step from its count,
        so that step 1 runs at the optimizer's initial rate `lr` and step k > 1 at the schedule's value for k - 1."""
        if not self.official_lr_order:
            return self.lr_at(step)
        return self.lr if step == 1 else self.lr_at(step - 1)

    def lr_at(self, step: int) -> float:
        if self.schedule == "noam":
            return noam(step, 512, self.warmup)
        if self.schedule == "warmup_cosine":
            return warmup_cosine(step, self.lr, self.warmup, self.steps)
        return self.lr


class LossLog:
    """The loss of every step (checkpointed with the run)."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def state_dict(self) -> dict[str, Any]:
        return {"values": torch.tensor(self.values, dtype=torch.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.values = state["values"].tolist()


class Recognizer:
    def __init__(self, model: nn.Module, device: str = "cpu"):
        self.model, self.device = model.to(device), device
        self.history: dict[str, Any] = {}

    @classmethod
    def from_config(cls, model: Literal["safl", "crnn"] = "safl", device: str = "cpu", seed: int = 0,
                    **safl: Any) -> "Recognizer":
        """`safl` keys: size ("official" | "light"), stn, variant ("official" | "clean"), aster_lstm, max_len,
        official_decoder_pe, official_align_corners."""
        torch.manual_seed(seed)
        if model == "crnn":
            return cls(CRNN(), device)
        if model != "safl":
            raise ValueError(f"model must be 'safl' or 'crnn', got {model!r}")
        return cls(SAFL(SAFLConfig(**safl)), device)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.model.cfg.input_size if isinstance(self.model, SAFL) else (32, 100)

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        expected = (3, *self.input_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images must be (N, {', '.join(map(str, expected))}), got {tuple(images.shape)}")
        if images.dtype == torch.uint8:      # moved as uint8 (a quarter of float32's bytes), scaled on the device
            return as_model_input(images.to(self.device))
        if images.dtype != torch.float32:
            raise ValueError(f"images must be uint8 in [0, 255] or float32 in [-1, 1], got {images.dtype}")
        return images.to(self.device)

    def loss(self, images: torch.Tensor, labels: list[str], cfg: TrainConfig, fast: FastPath = FastPath()
             ) -> torch.Tensor:
        x = fast_batch(self._inputs(images), fast)
        if isinstance(self.model, CRNN):
            return self.model.loss(x, labels)
        targets, _ = encode(labels, cfg.max_label + 1)
        targets = targets.to(self.device)
        gamma, alpha = (cfg.gamma, cfg.alpha) if cfg.loss == "focal" else (0.0, 1.0)
        return focal_loss(self.model(x, targets), targets, gamma, alpha)

    def fit(self, data: WordImages | SyntheticWordImages, cfg: TrainConfig = TrainConfig(), seed: int = 0,
            checkpoint: Path | None = None, resume: bool = False, desc: str = "SAFL", fast: FastPath = FastPath()
            ) -> "Recognizer":
        if len(data) == 0:
            raise ValueError("no training images (every record was skipped?)")
        check_fast_path(fast, self.device)
        model = fast_model(self.model, fast)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr_for_step(1), betas=(0.9, 0.98), eps=1e-9)
        batches = ShuffledBatches(len(data), cfg.batch_size, seed)
        losses = LossLog()
        first: dict[str, float] = {}

        def step(i: int) -> float:
            index = batches(i)
            model.train()
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr_for_step(i + 1)
            with autocast(fast, self.device):
                loss = self.loss(*data.batch(index), cfg, fast)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {i + 1}")
            optimizer.zero_grad()
            loss.backward()
            if i == 0 and getattr(model, "rectifier", None) is not None:
                grads = [p.grad.norm() for p in model.rectifier.parameters() if p.grad is not None]
                first["rectifier_grad_norm"] = float(torch.stack(grads).norm()) if grads else 0.0
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            optimizer.step()
            losses.values.append(loss.item())
            return loss.item()

        run_loop(cfg.steps, step, objects={"model": model, "optimizer": optimizer, "batches": batches,
                                           "losses": losses}, checkpoint=checkpoint,
                 checkpoint_every=max(1, cfg.steps // 5) if checkpoint is not None else 0, resume=resume, desc=desc)
        self.history = {"loss": losses.values, **first}
        return self

    @torch.no_grad()
    def recognize(self, images: torch.Tensor, batch: int = 256, beam_width: int = 1) -> list[str]:
        self.model.eval()
        out: list[str] = []
        for i in range(0, len(images), batch):
            x = self._inputs(images[i:i + batch])
            if isinstance(self.model, CRNN):
                out += self.model.recognize(x)
                continue
            ids = self.model.greedy(x) if beam_width == 1 else self.model.beam(x, beam_width)
            out += [decode(row) for row in ids.tolist()]
        return out

    def evaluate(self, data: WordImages) -> dict[str, float]:
        return recognition_scores(self.recognize(data.images), data.labels)

    @torch.no_grad()
    def control_points(self, images: torch.Tensor) -> torch.Tensor | None:
        if getattr(self.model, "rectifier", None) is None:
            return None
        self.model.eval()
        return self.model.rectifier.localization(self._inputs(images)).cpu()
