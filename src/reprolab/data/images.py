"""CIFAR-10 (the JPEG copy, or the canonical python pickles), USPS (HDF5) and scikit-learn's digits.

- `load_cifar10`: x uint8 (N, 32, 32, 3) HWC RGB in 0..255, y int64; 5000 (train) / 1000 (test) per class.
  From the JPEG copy the samples are grouped by class (class order below) and in the official order within a
  class; the copy is lossy (mean absolute pixel error 4.5-8.1), so results on it are "CIFAR-10 (JPEG copy)".
  When the canonical `cifar-10-python.tar.gz` is in the data root it is preferred (official sample order).
- `load_usps`: x float32 (N, 16, 16) in [0, 1], y int64; N = 7291 (train) / 2007 (test).
- `load_digits`: x float32 (1797, 8, 8) in 0..16, y int64; split "all" (use `fixed_split` for train/val).
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from reprolab.data.arrays import ArrayDataset, cached_arrays
from reprolab.data.files import DataFile, DataNotFoundError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_JPEG = DataFile("cifar10/cifar10-jpeg.tar.gz",
                        "097287809041e0a666355dfce11470ba1b3f2631fe910d8793c716253f10b297",
                        "https://www.cs.toronto.edu/~kriz/cifar.html (original; the JPEG copy is a third-party "
                        "re-encoding: use cifar-10-python.tar.gz instead)")
CIFAR10_PYTHON = DataFile("cifar10/cifar-10-python.tar.gz", None,
                          "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                          md5="c58f30108f718f92721af3b95e74349a")
USPS = DataFile("usps/usps.h5", "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36",
                "https://www.kaggle.com/datasets/bistaumanga/usps-dataset (usps.h5)")


def _check_split(split: str, allowed: tuple[str, ...] = ("train", "test")) -> None:
    if split not in allowed:
        raise ValueError(f"split must be one of {allowed}, got {split!r}")


def load_cifar10(split: str = "train") -> ArrayDataset:
    """CIFAR-10 from the canonical python archive when present, else from the JPEG copy."""
    _check_split(split)
    try:
        path, digest = CIFAR10_PYTHON.verified_path()
        decode = lambda: _decode_cifar_python(path, split)  # noqa: E731
    except DataNotFoundError:
        path, digest = CIFAR10_JPEG.verified_path()
        decode = lambda: _decode_cifar_jpeg(path, split)  # noqa: E731
    arrays = cached_arrays(f"cifar10-{split}-{digest[:12]}", decode)
    return ArrayDataset("cifar10", split, arrays["x"], arrays["y"], CIFAR10_CLASSES, str(path), digest)


def _decode_cifar_jpeg(path: Path, split: str) -> dict[str, np.ndarray]:
    from PIL import Image

    found: list[tuple[int, str, np.ndarray]] = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[0] != split:
                continue
            if parts[1] not in CIFAR10_CLASSES:
                raise ValueError(f"{path}: unknown class folder {parts[1]!r} in {member.name}")
            with Image.open(io.BytesIO(tar.extractfile(member).read())) as img:
                pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
            if pixels.shape != (32, 32, 3):
                raise ValueError(f"{path}: {member.name} has shape {pixels.shape}, expected (32, 32, 3)")
            found.append((CIFAR10_CLASSES.index(parts[1]), parts[2], pixels))
    found.sort(key=lambda item: (item[0], item[1]))
    return {"x": np.stack([f[2] for f in found]), "y": np.array([f[0] for f in found], dtype=np.int64)}


def _decode_cifar_python(path: Path, split: str) -> dict[str, np.ndarray]:
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    with tarfile.open(path, "r:gz") as tar:
        for name in names:
            batch = pickle.load(tar.extractfile(f"cifar-10-batches-py/{name}"), encoding="bytes")
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return {"x": np.ascontiguousarray(np.concatenate(xs)), "y": np.concatenate(ys)}


def load_usps(split: str = "train") -> ArrayDataset:
    """USPS 16x16 grey digits (Hull's standard split)."""
    import h5py

    _check_split(split)
    path, digest = USPS.verified_path()

    def decode() -> dict[str, np.ndarray]:
        with h5py.File(path, "r") as f:
            if f"{split}/data" not in f or f"{split}/target" not in f:
                raise ValueError(f"{path} lacks {split}/data or {split}/target")
            x = np.asarray(f[f"{split}/data"], dtype=np.float32).reshape(-1, 16, 16)
            y = np.asarray(f[f"{split}/target"], dtype=np.int64)
        return {"x": x, "y": y}

    arrays = cached_arrays(f"usps-{split}-{digest[:12]}", decode)
    return ArrayDataset("usps", split, arrays["x"], arrays["y"], tuple(str(d) for d in range(10)), str(path), digest)


def load_digits(split: str = "all") -> ArrayDataset:
    """scikit-learn's bundled 8x8 digits (UCI optdigits test set), 1797 samples."""
    from sklearn.datasets import load_digits as sk_load_digits

    _check_split(split, ("all",))
    bunch = sk_load_digits()
    return ArrayDataset("digits", "all", bunch.images.astype(np.float32), bunch.target.astype(np.int64),
                        tuple(str(d) for d in range(10)), "sklearn.datasets.load_digits")
