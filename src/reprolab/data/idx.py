"""MNIST and Fashion-MNIST in the canonical gzip IDX format.

Returns `ArrayDataset` with x: uint8 (N, 28, 28) in 0..255 and y: int64 (N,) in 0..9.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from reprolab.data.arrays import ArrayDataset, cached_arrays
from reprolab.data.files import DataFile

_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # mirror used by torchvision (yann.lecun.com is gone)
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_FASHION_DEBIAN = "/usr/share/datasets/fashion-mnist"

_NAMES = {"train-images": "train-images-idx3-ubyte.gz", "train-labels": "train-labels-idx1-ubyte.gz",
          "test-images": "t10k-images-idx3-ubyte.gz", "test-labels": "t10k-labels-idx1-ubyte.gz"}


def _idx_files(folder: str, url: str, sums: dict[str, tuple[str, str]],
               extra_dirs: tuple[str, ...] = ()) -> dict[str, DataFile]:
    """The four files of an IDX dataset; `sums[key]` = (sha256 of the .gz as stored, sha256 of its raw bytes)."""
    return {key: DataFile(f"{folder}/{name}", sums[key][0], url + name, raw_sha256=sums[key][1],
                          extra_dirs=extra_dirs) for key, name in _NAMES.items()}


FILES: dict[str, dict[str, DataFile]] = {
    "mnist": _idx_files("mnist", _MNIST_URL, {
        "train-images": ("0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
                         "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        "train-labels": ("1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
                         "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        "test-images": ("1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
                        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        "test-labels": ("b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
                        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    }),
    # The .gz sums are those of Debian's recompressed copies; the raw sums are upstream's bytes.
    "fashion_mnist": _idx_files("fashion-mnist", _FASHION_URL, {
        "train-images": ("b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
                         "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        "train-labels": ("0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
                         "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        "test-images": ("cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
                        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        "test-labels": ("8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
                        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    }, extra_dirs=(_FASHION_DEBIAN,)),
}

CLASSES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                      "Bag", "Ankle boot"),
}


def read_idx(path: Path) -> np.ndarray:
    """Parse a (gzip) IDX file: magic 0x00 0x00 dtype ndim, big-endian dims, then the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {data[:4].hex()})")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} ({int(np.prod(dims))} values), file holds {body.size}")
    return body.reshape(dims)


def _load_idx_dataset(name: str, split: str) -> ArrayDataset:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images_file, labels_file = FILES[name][f"{split}-images"], FILES[name][f"{split}-labels"]
    images_path, images_sha = images_file.verified_path()
    labels_path, labels_sha = labels_file.verified_path()

    def decode() -> dict[str, np.ndarray]:
        x, y = read_idx(images_path), read_idx(labels_path).astype(np.int64)
        if len(x) != len(y):
            raise ValueError(f"{images_path} has {len(x)} images but {labels_path} has {len(y)} labels")
        return {"x": x, "y": y}

    arrays = cached_arrays(f"{name}-{split}-{images_sha[:12]}-{labels_sha[:12]}", decode)
    return ArrayDataset(name, split, arrays["x"], arrays["y"], CLASSES[name], f"{images_path}, {labels_path}",
                        f"{images_sha}+{labels_sha}")


def load_mnist(split: str = "train") -> ArrayDataset:
    """MNIST: x uint8 (N, 28, 28) in 0..255, y int64; N = 60000 (train) / 10000 (test)."""
    return _load_idx_dataset("mnist", split)


def load_fashion_mnist(split: str = "train") -> ArrayDataset:
    """Fashion-MNIST: x uint8 (N, 28, 28) in 0..255, y int64; 6000 (train) / 1000 (test) per class."""
    return _load_idx_dataset("fashion_mnist", split)
