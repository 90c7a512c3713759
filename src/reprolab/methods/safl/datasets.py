"""Word images with their labels, from the generator or from the formats real users have.

- `read_lmdb(roots)`: the ASTER / clovaai LMDB layout (MJSynth, SynthText and the seven benchmarks): `num-samples`
  -> ASCII N; for i = 1..N, `image-%09d` -> encoded image bytes, `label-%09d` -> UTF-8 label. One root or several,
  read into memory (the benchmarks, small sets).
- `LmdbWordImages(roots)`: the same records streamed from disk for training: only the index of the usable records
  (two int64 per record) is held in memory, and a batch decodes its images when it is drawn. MJSynth's 8.9M images
  at 64 x 256 would take about 437 GB as uint8 in memory.
- `read_label_file(path)`: lines `relative/path<TAB>label` (or the first space as the separator), or JSON lines
  `{"filename": ..., "text": ...}`; paths relative to the file's folder.
Records that cannot be used are skipped and counted (`skipped`), never passed to training: an empty label, a label
longer than `max_label` characters (the decoder's 25 steps hold 24 and EOS; `max_label=None` keeps every label, for
evaluation, where an over-long label counts as an error of the model rather than leaving the set), with
`oov="skip"` a label with characters outside the vocabulary, and an image that cannot be used (`images.py`: missing,
empty, undecodable, unsupported mode), whose name and reason go into `bad_images`. With `oov="unk"` (the official
behaviour) such characters become UNK and the record is counted; `oov="error"` raises. Images go through
`prepare_image` (the same pixels as `Recognizer.recognize` sees), stored as uint8 (N, 3, H, W).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from reprolab.methods.safl.images import ImageError, prepare_image, stack_images
from reprolab.methods.safl.vocab import OutOfVocabulary, out_of_vocabulary

LmdbRoots = str | Path | Sequence[str | Path]


@dataclasses.dataclass
class WordImages:
    """Labelled word images in memory: `images`, uint8 (N, 3, H, W), and their `labels`; `skipped`, counts by reason of
    the records left out (and of labels kept with UNK); `bad_images`, the unusable images by name with the reason.
    `read_label_file` and `read_lmdb` return one, and `Recognizer.fit` and `Recognizer.evaluate` take one."""

    images: torch.Tensor                      # (N, 3, H, W) uint8
    labels: list[str]
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)
    bad_images: dict[str, str] = dataclasses.field(default_factory=dict)     # image name -> why it was skipped

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


def usable_label(label: str, max_label: int | None, oov: OutOfVocabulary, skipped: Counter) -> bool:
    """Whether a record with this label may be used; counts the reason in `skipped` when not (and an UNK label)."""
    if not label:
        skipped["empty_label"] += 1
        return False
    if max_label is not None and len(label) > max_label:
        skipped["label_too_long"] += 1
        return False
    bad = out_of_vocabulary(label)
    if bad:
        if oov == "error":
            raise ValueError(f"label {label!r} has characters outside the vocabulary: {bad!r}")
        skipped["out_of_vocabulary_skipped" if oov == "skip" else "out_of_vocabulary_as_unk"] += 1
        return oov != "skip"
    return True


def collect(records: Iterable[tuple[str, object, str]], size: tuple[int, int], max_label: int | None,
            oov: OutOfVocabulary) -> WordImages:
    """Records (name, image, label) -> the usable ones, prepared; the rest counted, bad images by name."""
    images, labels, skipped, bad = [], [], Counter(), {}
    for name, image, label in records:
        if not usable_label(label, max_label, oov, skipped):
            continue
        try:
            images.append(prepare_image(image, size, name))
        except ImageError as exc:
            skipped["undecodable_image"] += 1
            bad[name] = exc.reason
            continue
        labels.append(label)
    return WordImages(stack_images(images, size), labels, dict(skipped), bad)


def lmdb_roots(roots: LmdbRoots) -> list[Path]:
    paths = [Path(roots)] if isinstance(roots, (str, Path)) else [Path(r) for r in roots]
    if not paths:
        raise ValueError("no LMDB root given")
    for root in paths:
        if not (root / "data.mdb").exists():
            raise FileNotFoundError(f"{root} is not an LMDB folder (no data.mdb)")
    return paths


@contextlib.contextmanager
def lmdb_reading(root: Path):
    """A read transaction on an LMDB root, its environment closed after (py-lmdb refuses to open one environment
    twice in a process, so none is held between reads)."""
    import lmdb

    env = lmdb.open(str(root), readonly=True, lock=False, readahead=False, meminit=False)
    try:
        with env.begin() as txn:
            yield txn
    finally:
        env.close()


def sample_count(txn, root: Path, limit: int | None = None) -> int:
    raw = txn.get(b"num-samples")
    if raw is None:
        raise ValueError(f"{root}: no 'num-samples' key; not the ASTER / clovaai LMDB layout")
    n = int(raw.decode())
    return min(n, limit) if limit else n


def label_at(txn, i: int) -> str:
    label = txn.get(b"label-%09d" % i)
    return label.decode("utf-8", "replace") if label else ""


def record_name(root: Path, i: int) -> str:
    return f"{root}/image-{i:09d}"


def read_lmdb(roots: LmdbRoots, size: tuple[int, int] = (32, 100), max_label: int | None = 24,
              oov: OutOfVocabulary = "unk", limit: int | None = None) -> WordImages:
    """Every record of one or more roots in memory (`limit`: the first records of each root)."""
    paths = lmdb_roots(roots)

    def records():
        for root in paths:
            with lmdb_reading(root) as txn:
                for i in range(1, sample_count(txn, root, limit) + 1):
                    yield record_name(root, i), txn.get(b"image-%09d" % i), label_at(txn, i)

    return collect(records(), size, max_label, oov)


class LmdbWordImages:
    """The records of one or more LMDB roots (e.g. MJSynth and SynthText), streamed from disk: the labels are
    checked once when it is made; `batch(index)` reads and decodes its images then (opening each root it needs for
    that batch only). An image that cannot be decoded is found when its batch is drawn: it is left out of that
    batch (the loss is divided by the images the batch has), counted in `skipped["undecodable_image"]` and named in
    `bad_images`."""

    def __init__(self, roots: LmdbRoots, size: tuple[int, int] = (32, 100), max_label: int | None = 24,
                 oov: OutOfVocabulary = "unk"):
        self.roots, self.size = lmdb_roots(roots), size
        self.skipped: Counter = Counter()
        self.bad_images: dict[str, str] = {}
        index = []
        for r, root in enumerate(self.roots):
            with lmdb_reading(root) as txn:
                keep = np.fromiter((i for i in range(1, sample_count(txn, root) + 1)
                                    if usable_label(label_at(txn, i), max_label, oov, self.skipped)), np.int64)
            index.append(np.stack([np.full_like(keep, r), keep], axis=1))
        self.records = np.concatenate(index)                 # (N, 2): root, record number

    def __len__(self) -> int:
        return len(self.records)

    def read(self, rows: np.ndarray) -> dict[tuple[int, int], tuple[bytes | None, str]]:
        """(image bytes, label) of records (root, number), one transaction per root."""
        out = {}
        for r in np.unique(rows[:, 0]).tolist():
            with lmdb_reading(self.roots[r]) as txn:
                for i in rows[rows[:, 0] == r, 1].tolist():
                    out[r, i] = txn.get(b"image-%09d" % i), label_at(txn, i)
        return out

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        rows = self.records[index.numpy()]
        raw = self.read(rows)
        images, labels = [], []
        for r, i in rows.tolist():
            name, (data, label) = record_name(self.roots[r], i), raw[r, i]
            try:
                images.append(prepare_image(data, self.size, name))
            except ImageError as exc:
                if name not in self.bad_images:
                    self.skipped["undecodable_image"] += 1
                    self.bad_images[name] = exc.reason
                continue
            labels.append(label)
        if not labels:
            raise ValueError(f"no image of a batch could be decoded (e.g. {sorted(self.bad_images)[:3]}): are "
                             f"{[str(r) for r in self.roots]} image LMDBs?")
        return torch.stack(images), labels


def read_label_file(path: str | Path, size: tuple[int, int] = (32, 100), max_label: int | None = 24,
                    oov: OutOfVocabulary = "unk") -> WordImages:
    """The word images a label file lists, as `WordImages` at `size`: lines `path<TAB>label` (or the first space as the
    separator) or JSON lines {"filename": ..., "text": ...}, paths relative to the file's folder. Empty labels, labels
    over `max_label` characters (None keeps all) and unreadable images are skipped and counted; `oov` ("unk", "skip",
    "error") decides labels with characters outside the vocabulary."""
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
            yield name, path.parent / name, label

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
