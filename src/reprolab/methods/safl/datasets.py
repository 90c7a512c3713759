"""Word images with their labels, from the generator or from the formats real users have.

- `read_lmdb(root)`: the ASTER / clovaai LMDB layout (MJSynth, SynthText and the seven benchmarks): `num-samples`
  -> ASCII N; for i = 1..N, `image-%09d` -> encoded image bytes, `label-%09d` -> UTF-8 label.
- `read_label_file(path)`: lines `relative/path<TAB>label` (or the first space as the separator), or JSON lines
  `{"filename": ..., "text": ...}`; paths relative to the file's folder.
Records that cannot be used are skipped and counted, never passed to training: an undecodable or missing image, an
empty label, a label longer than `max_label` characters, and (with `oov="skip"`) a label with characters outside
the vocabulary. With `oov="unk"` (the official behaviour) such characters become UNK and the record is counted;
`oov="error"` raises. Images are decoded as RGB and resized to the model input (no aspect ratio kept, as the
official code), stored as uint8 (N, 3, H, W).
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from reprolab.methods.safl.vocab import OutOfVocabulary, out_of_vocabulary


@dataclasses.dataclass
class WordImages:
    images: torch.Tensor                      # (N, 3, H, W) uint8
    labels: list[str]
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "WordImages":
        index = list(index)
        return WordImages(self.images[index], [self.labels[i] for i in index])

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        return self.images[index], [self.labels[i] for i in index.tolist()]


def as_model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] (the official scaling)."""
    if images.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {images.dtype}")
    return images.float() / 127.5 - 1


def decode_image(data: bytes, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.array(image.convert("RGB").resize((size[1], size[0]), Image.BILINEAR)).transpose(2, 0, 1)


def collect(records: Iterable[tuple[bytes | None, str]], size: tuple[int, int], max_label: int,
            oov: OutOfVocabulary) -> WordImages:
    images, labels, skipped = [], [], Counter()
    for data, label in records:
        if not label:
            skipped["empty_label"] += 1
            continue
        if len(label) > max_label:
            skipped["label_too_long"] += 1
            continue
        bad = out_of_vocabulary(label)
        if bad:
            if oov == "error":
                raise ValueError(f"label {label!r} has characters outside the vocabulary: {bad!r}")
            skipped["out_of_vocabulary_skipped" if oov == "skip" else "out_of_vocabulary_as_unk"] += 1
            if oov == "skip":
                continue
        try:
            if data is None:
                raise OSError("missing")
            images.append(decode_image(data, size))
        except Exception:                        # any undecodable image is counted, never passed on
            skipped["undecodable_image"] += 1
            continue
        labels.append(label)
    stacked = torch.from_numpy(np.stack(images)) if images else torch.zeros((0, 3, *size), dtype=torch.uint8)
    return WordImages(stacked, labels, dict(skipped))


def read_lmdb(root: str | Path, size: tuple[int, int] = (32, 100), max_label: int = 24,
              oov: OutOfVocabulary = "unk", limit: int | None = None) -> WordImages:
    import lmdb

    root = Path(root)
    if not (root / "data.mdb").exists():
        raise FileNotFoundError(f"{root} is not an LMDB folder (no data.mdb)")
    env = lmdb.open(str(root), readonly=True, lock=False, readahead=False, meminit=False)
    try:
        with env.begin() as txn:
            raw = txn.get(b"num-samples")
            if raw is None:
                raise ValueError(f"{root}: no 'num-samples' key; not the ASTER / clovaai LMDB layout")
            n = int(raw.decode())
            n = min(n, limit) if limit else n

            def records():
                for i in range(1, n + 1):
                    label = txn.get(b"label-%09d" % i)
                    yield txn.get(b"image-%09d" % i), (label.decode("utf-8", "replace") if label else "")

            return collect(records(), size, max_label, oov)
    finally:
        env.close()


def read_label_file(path: str | Path, size: tuple[int, int] = (32, 100), max_label: int = 24,
                    oov: OutOfVocabulary = "unk") -> WordImages:
    path = Path(path)

    def records():
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                item = json.loads(line)
                name, label = item["filename"], item["text"]
            else:
                name, _, label = line.partition("\t") if "\t" in line else line.partition(" ")
            file = path.parent / name
            yield (file.read_bytes() if file.exists() else None), label

    return collect(records(), size, max_label, oov)


def write_lmdb(root: str | Path, data: WordImages) -> Path:
    """The ASTER / clovaai layout, PNG-encoded (for tests and for users converting a folder)."""
    import lmdb
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(root), map_size=max(1 << 24, 4 * data.images.numel() + (1 << 20)))
    with env.begin(write=True) as txn:
        for i, (image, label) in enumerate(zip(data.images, data.labels), start=1):
            buffer = io.BytesIO()
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
            txn.put(b"image-%09d" % i, buffer.getvalue())
            txn.put(b"label-%09d" % i, label.encode("utf-8"))
        txn.put(b"num-samples", str(len(data)).encode())
    env.close()
    return root
