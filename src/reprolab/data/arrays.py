"""The loaded form of every image dataset and the atomic on-disk cache of decoded arrays."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from reprolab.data.root import cache_dir
from reprolab.runtime.io import atomic_write


@dataclasses.dataclass(frozen=True)
class ArrayDataset:
    """Images `x` and integer labels `y` (int64, 0..K-1) of one split; dtype/shape/range per loader."""

    name: str
    split: str
    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    source: str  # the file(s) it was decoded from
    checksum: str = ""  # sha256 of the verified source file(s), "+" between files; "" when nothing is verified
                        # (scikit-learn's bundled digits)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y, minlength=self.num_classes)

    def subset(self, indices: np.ndarray) -> "ArrayDataset":
        return dataclasses.replace(self, x=self.x[indices], y=self.y[indices])


def cached_arrays(key: str, decode: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Decode once, then read `key`'s arrays from the cache. `key` must change when the source changes."""
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path) as archive:
                return {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError):
            path.unlink(missing_ok=True)  # a damaged cache entry is rebuilt, never trusted
    arrays = decode()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
            np.savez(fh, **arrays)

    atomic_write(path, write)
    return arrays
