"""`Recognizer`: SAFL (or the CRNN baseline) for a user's word images.

    recognizer = Recognizer.from_config(size="light")
    recognizer.fit(train)                    # WordImages (read_label_file, read_lmdb), LmdbWordImages (streamed
                                             # from disk) or SyntheticWordImages
    recognizer.recognize("word.png")         # one image of any size and mode -> its string
    recognizer.recognize("my_words/")        # a folder -> FolderReading: each file's string, the files skipped
    recognizer.evaluate(test)                # normalised word accuracy and 1-NED
    recognizer.save("safl.pt"); Recognizer.load("safl.pt")

Images reach the model through `images.prepare_image` (the readers use it too, so recognition sees the pixels that
training saw). `save` writes one file: a format name and version, the model kind and its config, the vocabulary,
the weights and their SHA-256; `load` refuses, with a `ValueError` naming the file, a file of another format
version, another vocabulary, or a damaged file (unreadable, or weights that do not match their SHA-256).

Training [official code]: Adam (0.9, 0.98), eps 1e-9, no weight decay (torch's fused kernel, `adam`); the learning
rate set before every step (Noam from step 1, or warmup + cosine, or constant; the official trainer sets it after
every step instead, which `TrainConfig.official_lr_order` reproduces); one rate for every parameter [official], or
the Transformer encoder and the rectifier at a fraction of it (`encoder_lr_scale`, `rectifier_lr_scale`: the quick
CPU run's setting, under which the light model leaves the character prior within its budget); the global gradient
norm clipped to 1; teacher forcing; focal loss or NLL (gamma = 0, alpha = 1). Batches are drawn epoch by epoch from
a seeded permutation; the loss of every step is kept, with the rectifier's gradient norm at the first step.
`fit(..., fast=FastPath(...))` takes the opt-in fast path for the training steps (`reprolab.runtime.fast`: compile,
bf16 autocast of the forward pass and the loss, channels-last); recognition stays eager float32 (it decodes with
`greedy` / `beam`, not the compiled forward).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch
from torch import nn

from reprolab.methods.safl.baselines import CRNN
from reprolab.methods.safl.datasets import LmdbWordImages, WordImages, as_model_input
from reprolab.methods.safl.images import prepare_image, read_images, stack_images
from reprolab.methods.safl.loss import focal_loss, noam, warmup_cosine
from reprolab.methods.safl.model import SAFL, SAFLConfig
from reprolab.methods.safl.synth import SyntheticWordImages
from reprolab.methods.safl.vocab import VOCABULARY, decode, encode, recognition_scores
from reprolab.runtime.config import check_at_least, check_options
from reprolab.runtime.cache import tensor_bytes
from reprolab.runtime.fast import FastPath, autocast, check_fast_path, fast_batch, fast_model
from reprolab.runtime.io import atomic_write
from reprolab.runtime.train import ShuffledBatches, StepLosses, run_loop

FILE_FORMAT = "reprolab.safl.Recognizer"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The training of `Recognizer.fit`: `steps` of `batch_size` images; the rate `schedule` ("noam" with `warmup`,
    "warmup_cosine" to the peak `lr` after `warmup` steps, or a "constant" `lr`); the loss, "nll" or "focal" (`gamma`,
    `alpha`); the gradient-norm `clip` (1, official); the fractions of the rate the encoder and the rectifier train at.
    Defaults: a CPU schedule (350 steps of batch 32, warmup 50 + cosine from 1e-3, every part at that rate) with NLL,
    the loss the released official code trains; the quick run sets its own (`experiment.py`)."""

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
    encoder_lr_scale: float = 1.0     # SAFL's Transformer encoder trains at this fraction of the rate, and
    rectifier_lr_scale: float = 1.0   # its rectifier at this one; official: 1 and 1 (one rate). CRNN has neither

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("steps", "batch_size", "max_label"))
        if self.gamma < 0 or not 0 < self.alpha <= 1 or self.lr <= 0:
            raise ValueError(f"need gamma >= 0, 0 < alpha <= 1, lr > 0; got {self.gamma}, {self.alpha}, {self.lr}")
        for key in ("encoder_lr_scale", "rectifier_lr_scale"):
            if not 0 < getattr(self, key) <= 1:
                raise ValueError(f"need 0 < {key} <= 1, got {getattr(self, key)}")

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


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """The optimizer's parameter groups, each with the fraction of the scheduled rate it trains at (`lr_scale`): every
    parameter at 1, except SAFL's Transformer encoder at `encoder_lr_scale` and its rectifier at
    `rectifier_lr_scale`, each in a group of its own when below 1."""
    parts = ([(model.transformer.core.encoder, cfg.encoder_lr_scale), (model.rectifier, cfg.rectifier_lr_scale)]
             if isinstance(model, SAFL) else [])
    scaled = [{"params": list(part.parameters()), "lr_scale": scale} for part, scale in parts
              if part is not None and scale != 1]
    taken = {id(p) for group in scaled for p in group["params"]}
    return [{"params": [p for p in model.parameters() if id(p) not in taken], "lr_scale": 1.0}, *scaled]


def adam(model: nn.Module, cfg: TrainConfig) -> torch.optim.Adam:
    """Adam (0.9, 0.98), eps 1e-9 [official] over `param_groups`, starting at step 1's rate, as torch's fused kernel:
    the update of the per-parameter loop in one pass over each parameter, equal to it to float rounding (tested) and
    faster (`python -m benchmarks safl` times both)."""
    return torch.optim.Adam(param_groups(model, cfg), lr=cfg.lr_for_step(1), betas=(0.9, 0.98), eps=1e-9, fused=True)


class LossLog:
    """The loss of every step (checkpointed with the run). `add` keeps a step's loss as a detached tensor on its
    device, so a step does not wait for it to reach the host; `values` reads the kept ones in one transfer, which
    `add` also does every `read_every` steps: a non-finite loss raises FloatingPointError naming its step within
    `read_every` steps of it (a checkpoint reads them before it is written, so it never holds one)."""

    def __init__(self, read_every: int = 50) -> None:
        self.read_every = read_every
        self._values: list[float] = []
        self._kept = StepLosses(finite=("loss",))

    def add(self, loss: torch.Tensor) -> None:
        self._kept.add(len(self._values) + len(self._kept) + 1, loss=loss)
        if len(self._kept) >= self.read_every:
            self.values()

    def values(self) -> list[float]:
        """Every step's loss, in step order (the numbers `loss.item()` gives)."""
        self._values += [row["loss"] for row in self._kept.read()]
        return self._values

    def state_dict(self) -> dict[str, Any]:
        return {"values": torch.tensor(self.values(), dtype=torch.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._values, self._kept = state["values"].tolist(), StepLosses(finite=("loss",))


@dataclasses.dataclass
class FolderReading:
    """What `Recognizer.recognize(folder)` returns: `predictions`, the recognised string of each image file by name, and
    `skipped`, each image file that could not be read, by name, with the reason."""

    predictions: dict[str, str]       # file name -> the recognised string
    skipped: dict[str, str]           # file name -> why the image was not read


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of the weights (torch.load does not check its archive's
    checksums: a changed byte in a weight loads silently)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key]
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(*tensor_bytes((tensor,)))
    return digest.hexdigest()


def check_saved(payload: Any, path: Path) -> None:
    """A `Recognizer.save` file of this format version and vocabulary, with intact weights."""
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise ValueError(f"{path} is not a SAFL recognizer file (one written by Recognizer.save)")
    if payload.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path} has format version {payload.get('version')!r}; this reprolab reads version "
                         f"{FORMAT_VERSION}")
    if payload.get("vocabulary") != VOCABULARY:
        raise ValueError(f"{path} was saved with another vocabulary than this reprolab's")
    if weights_digest(payload["weights"]) != payload.get("sha256"):
        raise ValueError(f"{path} is damaged: its weights do not match their SHA-256")


def saved_model(payload: dict[str, Any], path: Path) -> nn.Module:
    """The model a checked file describes, with its weights; the caller's random state left as it was."""
    try:
        with torch.random.fork_rng(devices=[]):            # building the model draws an initialisation
            model = SAFL(SAFLConfig(**payload["config"])) if payload["model"] == "safl" else CRNN(**payload["config"])
        model.load_state_dict(payload["weights"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: its model config or weights do not fit this reprolab ({exc})") from None
    return model


def is_one_image(images: Any) -> bool:
    from PIL import Image

    return isinstance(images, (str, Path, bytes, np.ndarray, Image.Image))


class Recognizer:
    """A scene text recognizer: a SAFL model (or the CRNN-CTC baseline) on `device`. `from_config` builds it, `fit`
    trains it on word images, `recognize` reads an image, a list or a folder, `evaluate` scores normalised word accuracy
    and 1-NED, and `save` / `Recognizer.load` keep it in one checked file."""

    def __init__(self, model: nn.Module, device: str = "cpu"):
        self.model, self.device = model.to(device), device
        self.history: dict[str, Any] = {}

    @classmethod
    def from_config(cls, model: Literal["safl", "crnn"] = "safl", device: str = "cpu", seed: int = 0,
                    **safl: Any) -> "Recognizer":
        """`safl` keys: size ("official" | "light"), stn, variant ("official" | "clean"), aster_lstm, max_len,
        official_decoder_pe, official_align_corners, torch_dropout."""
        torch.manual_seed(seed)
        if model == "crnn":
            return cls(CRNN(), device)
        if model != "safl":
            raise ValueError(f"model must be 'safl' or 'crnn', got {model!r}")
        return cls(SAFL(SAFLConfig(**safl)), device)

    def save(self, path: str | Path) -> Path:
        """One file (written atomically): format and version, model kind and config, vocabulary, weights (CPU) and
        their SHA-256."""
        weights = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        kind, config = (("safl", dataclasses.asdict(self.model.cfg)) if isinstance(self.model, SAFL)
                        else ("crnn", dict(self.model.sizes)))
        payload = {"format": FILE_FORMAT, "version": FORMAT_VERSION, "model": kind, "config": config,
                   "vocabulary": VOCABULARY, "weights": weights, "sha256": weights_digest(weights)}
        return atomic_write(path, lambda tmp: torch.save(payload, tmp))

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Recognizer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such recognizer file")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:    # a damaged archive raises RuntimeError, EOFError, KeyError, UnicodeDecodeError, ...
            raise ValueError(f"{path} is damaged or not a recognizer file ({type(exc).__name__}: {exc})") from None
        check_saved(payload, path)
        return cls(saved_model(payload, path), device)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.model.cfg.input_size if isinstance(self.model, SAFL) else (32, 100)

    def prepare(self, images: torch.Tensor | Sequence[Any]) -> torch.Tensor:
        """The uint8 input batch (N, 3, H, W) at `input_size` (`prepare_image` for each image): from a uint8 tensor
        (N, C, H, W), C = 1, 3 or 4, of any size, or a sequence of images (file paths, encoded bytes, PIL images,
        arrays) of any size and mode. A bad image raises `ImageError` (a ValueError) naming it (path or index)."""
        size = self.input_size
        if isinstance(images, torch.Tensor):
            if images.dim() != 4 or images.dtype != torch.uint8 or images.shape[1] not in (1, 3, 4):
                raise ValueError(f"a tensor of images must be uint8 (N, 1 | 3 | 4, H, W), got {images.dtype} "
                                 f"{tuple(images.shape)}")
            if tuple(images.shape[1:]) == (3, *size):
                return images
            images = [image.permute(1, 2, 0).numpy() for image in images]
        names = [str(image) if isinstance(image, (str, Path)) else f"images[{i}]" for i, image in enumerate(images)]
        return stack_images([prepare_image(image, size, name) for image, name in zip(images, names)], size)

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

    def fit(self, data: WordImages | LmdbWordImages | SyntheticWordImages, cfg: TrainConfig = TrainConfig(),
            seed: int = 0, checkpoint: Path | None = None, resume: bool = False, desc: str = "SAFL",
            fast: FastPath = FastPath()) -> "Recognizer":
        if len(data) == 0:
            raise ValueError("no training images (every record was skipped?)")
        check_fast_path(fast, self.device)
        model = fast_model(self.model, fast)
        optimizer = adam(model, cfg)
        batches = ShuffledBatches(len(data), cfg.batch_size, seed)
        losses = LossLog()
        first: dict[str, float] = {}

        def step(i: int) -> torch.Tensor:
            index = batches(i)
            model.train()
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr_for_step(i + 1) * group["lr_scale"]
            with autocast(fast, self.device):
                loss = self.loss(*data.batch(index), cfg, fast)
            optimizer.zero_grad()
            loss.backward()
            if i == 0 and getattr(model, "rectifier", None) is not None:
                grads = [p.grad.norm() for p in model.rectifier.parameters() if p.grad is not None]
                first["rectifier_grad_norm"] = float(torch.stack(grads).norm()) if grads else 0.0
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            optimizer.step()
            losses.add(loss)
            return loss.detach()

        run_loop(cfg.steps, step, objects={"model": model, "optimizer": optimizer, "batches": batches,
                                           "losses": losses}, checkpoint=checkpoint,
                 checkpoint_every=max(1, cfg.steps // 5) if checkpoint is not None else 0, resume=resume, desc=desc)
        self.history = {"loss": losses.values(), **first}
        return self

    def recognize(self, images: Any, batch: int = 256, beam_width: int = 1) -> str | list[str] | FolderReading:
        """Strings read from:
        - a folder -> `FolderReading` (each image file's string by name; the files that cannot be read skipped and
          named with the reason, never an exception);
        - one image (a file path, encoded bytes, a PIL image or an array; any size and mode) -> its string;
        - a sequence of images, or a uint8 tensor (N, C, H, W) of any size -> strings;
        - a float32 tensor (N, 3, H, W) in [-1, 1] at `input_size` (the model's input itself) -> strings.
        An image given directly that cannot be read raises `ImageError`, a ValueError naming it."""
        if isinstance(images, (str, Path)) and Path(images).is_dir():
            folder = read_images(images, self.input_size)
            return FolderReading(dict(zip(folder.names, self.transcribe(folder.images, batch, beam_width))),
                                 folder.bad)
        if is_one_image(images):
            return self.transcribe(self.prepare([images]), batch, beam_width)[0]
        if isinstance(images, torch.Tensor) and images.dtype != torch.uint8:
            return self.transcribe(images, batch, beam_width)
        return self.transcribe(self.prepare(images), batch, beam_width)

    @torch.no_grad()
    def transcribe(self, images: torch.Tensor, batch: int = 256, beam_width: int = 1) -> list[str]:
        """The strings of a model-input batch (uint8 in [0, 255] or float32 in [-1, 1], at `input_size`)."""
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
        return recognition_scores(self.transcribe(data.images), data.labels)

    @torch.no_grad()
    def control_points(self, images: torch.Tensor) -> torch.Tensor | None:
        if getattr(self.model, "rectifier", None) is None:
            return None
        self.model.eval()
        return self.model.rectifier.localization(self._inputs(images)).cpu()
