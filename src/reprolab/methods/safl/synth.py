"""A seeded, deterministic word-image generator (the paper trains on synthetic data; spec 5's recipe).

Image i of a set depends only on (seed, i): its own generator `np.random.default_rng([seed, i])`, so any split of
the work across processes gives the same images.
- Text: random strings of 3-6 characters, each character drawn Zipf (p ~ 1 / rank) over the `alphabet` (default the
  36 lower-case alphanumerics) in a seeded shuffled order (over the 36: the top character ~24 % of the mass, the
  rarest half ~16 %; over the 10 digits: ~34 % and ~22 %); or uniformly over the rarest half of that order
  (`charset="rare"`); or words drawn Zipf from a given word list.
- Rendering (PIL): a TrueType font of the set's families, size 28 / 34 / 40 px, padding 4-16 px (x) and 4-12 px (y),
  a random background colour with a linear gradient, a text colour of contrasting luminance, Gaussian blur with
  p = 0.3 (sigma 0.3-1.2).
- Distortion (grid_sample, border padding), uniform over the set's kinds: none; rotation +-15 degrees with scale
  0.85-1; perspective (keystone y' = y (1 + k x), k in [-0.35, 0.35], shear in [-0.3, 0.3]); curve (a parabolic or
  sine arc, amplitude +-[a_min, a_max], default [0.25, 0.6] of the half-height).
- Then resized to the model input, Gaussian noise with p = 0.3 (std 0.01-0.06), stored as uint8 (N, 3, H, W).
Fonts come from Debian packages (installed by `make setup` when run as root): DejaVu (training), Liberation and
FreeFont (held-out test families).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from reprolab.methods.safl.vocab import ALPHANUMERIC
from reprolab.runtime.config import check_options

FONT_FAMILIES = {"dejavu": ("/usr/share/fonts/truetype/dejavu", "DejaVu*.ttf"),
                 "liberation": ("/usr/share/fonts/truetype/liberation", "Liberation*.ttf"),
                 "freefont": ("/usr/share/fonts/truetype/freefont", "Free*.ttf")}
Distortion = Literal["none", "rotation", "perspective", "curve"]


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """The seeded word-image generator (`generate`, `SyntheticWordImages`): image `height` x `width`, font families,
    distortion kinds, random strings of `min_len` to `max_len` characters of `alphabet`, drawn Zipf (or, with
    `charset="rare"`, uniformly over the rarest half), font sizes, blur and noise probabilities. Defaults: the recipe
    above at the light model's 32 x 100 input, with the DejaVu training fonts and straight or curved text."""

    height: int = 32
    width: int = 100
    fonts: tuple[str, ...] = ("dejavu",)
    distortions: tuple[Distortion, ...] = ("none", "curve")
    charset: Literal["zipf", "rare"] = "zipf"
    alphabet: str = ALPHANUMERIC       # the characters of the random strings
    min_len: int = 3
    max_len: int = 6
    curve_amplitude: tuple[float, float] = (0.25, 0.6)
    font_sizes: tuple[int, ...] = (28, 34, 40)
    blur_p: float = 0.3
    noise_p: float = 0.3
    order_seed: int = 0                # the shuffled character order of the Zipf law (shared by train and test)

    def __post_init__(self) -> None:
        check_options(self)
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got {self.min_len}, {self.max_len}")
        if len(self.alphabet) < 2 or len(set(self.alphabet)) != len(self.alphabet) or set(self.alphabet) - set(
                ALPHANUMERIC):
            raise ValueError(f"alphabet must be >= 2 distinct characters of {ALPHANUMERIC!r}, got {self.alphabet!r}")
        unknown = [f for f in self.fonts if f not in FONT_FAMILIES]
        if unknown:
            raise ValueError(f"unknown font families {unknown}; known: {sorted(FONT_FAMILIES)}")


@functools.cache
def font_files(family: str) -> tuple[str, ...]:
    folder, pattern = FONT_FAMILIES[family]
    files = tuple(sorted(str(p) for p in Path(folder).glob(pattern) if "ExtraLight" not in p.name
                         and "Math" not in p.name))
    if not files:
        raise FileNotFoundError(f"no {family} fonts in {folder}: install the Debian font packages (`make setup` as "
                                f"root installs fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf)")
    return files


@functools.cache
def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def zipf_order(seed: int, alphabet: str = ALPHANUMERIC) -> tuple[str, np.ndarray]:
    """The alphabet's characters in a seeded shuffled order and their Zipf probabilities (p ~ 1 / rank)."""
    order = "".join(np.random.default_rng(seed).permutation(list(alphabet)))
    p = 1.0 / np.arange(1, len(order) + 1)
    return order, p / p.sum()


def rare_characters(seed: int, alphabet: str = ALPHANUMERIC) -> str:
    """The rarest half of the Zipf order."""
    order, _ = zipf_order(seed, alphabet)
    return order[len(order) // 2:]


def sample_text(rng: np.random.Generator, cfg: SynthConfig, words: Sequence[str] | None = None) -> str:
    if words is not None:
        p = 1.0 / np.arange(1, len(words) + 1)
        return words[int(rng.choice(len(words), p=p / p.sum()))]
    order, p = zipf_order(cfg.order_seed, cfg.alphabet)
    if cfg.charset == "rare":
        order, p = order[len(order) // 2:], np.full(len(order) - len(order) // 2, 1.0 / (len(order) - len(order) // 2))
    n = int(rng.integers(cfg.min_len, cfg.max_len + 1))
    return "".join(order[i] for i in rng.choice(len(order), n, p=p))


def render(text: str, rng: np.random.Generator, cfg: SynthConfig) -> np.ndarray:
    """(h, w, 3) uint8 of the text on its background, before distortion."""
    from PIL import Image, ImageDraw, ImageFilter

    fonts = [f for family in cfg.fonts for f in font_files(family)]
    font = _font(fonts[int(rng.integers(len(fonts)))], int(rng.choice(cfg.font_sizes)))
    left, top, right, bottom = font.getbbox(text)
    px, py = int(rng.integers(4, 17)), int(rng.integers(4, 13))
    w, h = right - left + 2 * px, bottom - top + 2 * py
    background = rng.uniform(0, 255, 3)
    end = np.clip(background + rng.uniform(-60, 60, 3), 0, 255)
    ramp = np.linspace(0, 1, w)[None, :, None]
    canvas = (background * (1 - ramp) + end * ramp) * np.ones((h, 1, 1))
    luminance = float(background.mean())
    ink = rng.uniform(0, max(1.0, luminance - 100), 3) if luminance > 128 else rng.uniform(min(254.0, luminance + 100),
                                                                                           255, 3)
    image = Image.fromarray(canvas.astype(np.uint8))
    ImageDraw.Draw(image).text((px - left, py - top), text, font=font, fill=tuple(int(c) for c in ink))
    if rng.random() < cfg.blur_p:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))
    return np.array(image)


def distortion_grid(kind: str, rng: np.random.Generator, height: int, width: int, amplitude: tuple[float, float]
                    ) -> torch.Tensor:
    """(1, H, W, 2) sampling grid in [-1, 1] (x, y) for an output of H x W."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    if kind == "rotation":
        angle, scale = np.deg2rad(rng.uniform(-15, 15)), rng.uniform(0.85, 1.0)
        c, s = np.cos(angle) / scale, np.sin(angle) / scale
        xs, ys = c * xs - s * ys, s * xs + c * ys
    elif kind == "perspective":
        k, shear = rng.uniform(-0.35, 0.35), rng.uniform(-0.3, 0.3)
        xs, ys = xs + shear * ys, ys * (1 + k * xs)
    elif kind == "curve":
        a = rng.uniform(*amplitude) * rng.choice([-1, 1])
        ys = ys + (a * (xs ** 2 - 0.5) * 2 if rng.random() < 0.5 else a * torch.sin(np.pi * xs))
    return torch.stack([xs, ys], dim=-1)[None].float()


def make_image(index: int, seed: int, cfg: SynthConfig, words: Sequence[str] | None = None
               ) -> tuple[np.ndarray, str]:
    rng = np.random.default_rng([seed, index])
    text = sample_text(rng, cfg, words)
    image = torch.from_numpy(render(text, rng, cfg)).permute(2, 0, 1)[None].float()
    kind = cfg.distortions[int(rng.integers(len(cfg.distortions)))]
    if kind != "none":
        grid = distortion_grid(kind, rng, image.shape[2], image.shape[3], cfg.curve_amplitude)
        image = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    image = F.interpolate(image, size=(cfg.height, cfg.width), mode="bilinear", align_corners=False, antialias=True)
    if rng.random() < cfg.noise_p:
        image = image + torch.from_numpy(rng.normal(0, rng.uniform(0.01, 0.06) * 255, image.shape)).float()
    return image.clamp(0, 255).round().to(torch.uint8)[0].numpy(), text


def generate(n: int, cfg: SynthConfig, seed: int, start: int = 0, words: Sequence[str] | None = None
             ) -> tuple[torch.Tensor, list[str]]:
    """Images (n, 3, H, W) uint8 and labels of items start .. start + n - 1 of the set (seed, cfg)."""
    torch.set_num_threads(1)
    images = np.zeros((n, 3, cfg.height, cfg.width), dtype=np.uint8)
    labels = []
    for i in range(n):
        images[i], text = make_image(start + i, seed, cfg, words)
        labels.append(text)
    return torch.from_numpy(images), labels


class SyntheticWordImages:
    """n generated images made on demand (`batch(index)`), for training sets too large to hold (paper scale)."""

    def __init__(self, n: int, cfg: SynthConfig, seed: int):
        self.n, self.cfg, self.seed = n, cfg, seed

    def __len__(self) -> int:
        return self.n

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        made = [make_image(int(i), self.seed, self.cfg) for i in index]
        return torch.from_numpy(np.stack([m[0] for m in made])), [m[1] for m in made]
