"""A word image of any size and mode -> the model's input pixels. `prepare_image` is the one path that the readers
(`read_lmdb`, `read_label_file`, `LmdbWordImages`: training and evaluation) and `Recognizer.recognize` share, so a
model reads its images exactly as it was trained on them.

prepare_image(image, size):
- image: a file path, encoded bytes, a PIL image, or an array (H, W) / (H, W, 1 | 3 | 4) of uint8, or (H, W) of
  uint16;
- 16-bit grey ("I;16" in any byte order, and "I", Pillow's mode for 16-bit PNGs before release 10): v / 257,
  rounded, maps 0..65535 onto 0..255 (Pillow's own conversion clips at 255, which turns such an image white);
- with transparency (RGBA, LA, PA, or a transparent palette / colour key): composited on white;
- 1, L, P, RGB, RGBX, CMYK, YCbCr: converted to RGB by Pillow; any other mode (e.g. "F", floats with no fixed
  range) is an `ImageError`;
- resized to size = (H, W) with Pillow's bilinear filter, the aspect ratio not kept (as the official code) ->
  uint8 (3, H, W).
An image that cannot be used (a missing or empty file, undecodable bytes, an unsupported mode or array) raises
`ImageError`, a `ValueError` naming the image. `read_images(folder)` reads every image file of a folder (the names
with an extension Pillow knows, not hidden) and skips the bad ones, reporting each by name with the reason.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
WITH_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")
PLAIN = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr")
SUPPORTED_MODES = PLAIN + WITH_ALPHA + SIXTEEN_BIT


class ImageError(ValueError):
    """An image that cannot be used; `name` says which, `reason` why."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


@dataclasses.dataclass
class ImageFolder:
    names: list[str]              # the file names of the images read, in sorted order
    images: torch.Tensor          # (N, 3, H, W) uint8
    bad: dict[str, str]           # file name -> why it was skipped


def image_from_array(array: np.ndarray, name: str):
    from PIL import Image

    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    grey_or_colour = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    if array.size and ((array.dtype == np.uint8 and grey_or_colour) or (array.dtype == np.uint16 and array.ndim == 2)):
        return Image.fromarray(array)
    raise ImageError(name, f"an array image must be uint8 (H, W) or (H, W, 1 | 3 | 4), or uint16 (H, W), got "
                           f"{array.dtype} {array.shape}")


def open_image(image: Any, name: str):
    """A decoded PIL image from a path, bytes, a PIL image or an array."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    if isinstance(image, np.ndarray):
        return image_from_array(image, name)
    if image is None:
        raise ImageError(name, "missing image")
    if isinstance(image, (str, Path)):
        if not Path(image).is_file():
            raise ImageError(name, "no such file")
        image = Path(image).read_bytes()
    if not isinstance(image, bytes):
        raise ImageError(name, f"expected a file path, encoded bytes, a PIL image or an array, got "
                               f"{type(image).__name__}")
    if not image:
        raise ImageError(name, "empty file")
    try:
        decoded = Image.open(io.BytesIO(image))
        decoded.load()
    except Image.UnidentifiedImageError:
        raise ImageError(name, "not an image in a format Pillow reads") from None
    except Exception as exc:     # Pillow's decoders raise OSError, SyntaxError, ValueError, struct.error, ...
        raise ImageError(name, f"not a readable image ({type(exc).__name__}: {exc})") from None
    return decoded


def as_rgb(image, name: str):
    from PIL import Image

    if image.mode not in SUPPORTED_MODES:
        raise ImageError(name, f"unsupported image mode {image.mode!r}; supported: {', '.join(SUPPORTED_MODES)}")
    if image.mode in SIXTEEN_BIT:
        grey = np.rint(np.clip(np.asarray(image, dtype=np.float64), 0, 65535) / 257).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode in WITH_ALPHA or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image.convert("RGB")


def prepare_image(image: Any, size: tuple[int, int], name: str = "image") -> torch.Tensor:
    """The model input pixels of one image: uint8 (3, H, W) for size = (H, W); `name` goes into any error."""
    from PIL import Image

    rgb = as_rgb(open_image(image, name), name)
    return torch.from_numpy(np.array(rgb.resize((size[1], size[0]), Image.BILINEAR)).transpose(2, 0, 1).copy())


def stack_images(images: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    return torch.stack(images) if images else torch.zeros((0, 3, *size), dtype=torch.uint8)


def image_files(folder: Path) -> list[Path]:
    """The files of a folder whose extension Pillow knows, hidden ones left out, sorted by name."""
    from PIL import Image

    extensions = Image.registered_extensions()
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions)


def read_images(folder: str | Path, size: tuple[int, int]) -> ImageFolder:
    """Every image file of a folder, prepared; the bad ones skipped and reported by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    names, images, bad = [], [], {}
    for path in image_files(folder):
        try:
            images.append(prepare_image(path, size, path.name))
        except ImageError as exc:
            bad[path.name] = exc.reason
            continue
        names.append(path.name)
    return ImageFolder(names, stack_images(images, size), bad)
