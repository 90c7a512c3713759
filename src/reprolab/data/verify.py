"""`reprolab data verify`: load every split of every dataset, check its checksum and expected sizes."""

from __future__ import annotations

import dataclasses

import numpy as np

from reprolab.data import LOADERS

# (samples, classes, per-class count or None) the published splits must have.
EXPECTED = {
    ("mnist", "train"): (60000, 10, None), ("mnist", "test"): (10000, 10, None),
    ("fashion_mnist", "train"): (60000, 10, 6000), ("fashion_mnist", "test"): (10000, 10, 1000),
    ("cifar10", "train"): (50000, 10, 5000), ("cifar10", "test"): (10000, 10, 1000),
    ("usps", "train"): (7291, 10, None), ("usps", "test"): (2007, 10, None),
    ("digits", "all"): (1797, 10, None),
}


@dataclasses.dataclass
class VerifyRow:
    dataset: str
    split: str
    samples: int | None
    classes: int | None
    histogram: list[int] | None
    checksum: str  # sha256 prefix(es) of the verified files
    status: str  # "ok" or the error

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def verify_all(names: list[str] | None = None) -> list[VerifyRow]:
    unknown = sorted(set(names or ()) - set(LOADERS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; choose from {sorted(LOADERS)}")
    rows = []
    for name, (loader, splits) in LOADERS.items():
        if names and name not in names:
            continue
        for split in splits:
            rows.append(_verify_one(name, split, loader))
    return rows


def _verify_one(name: str, split: str, loader) -> VerifyRow:
    try:
        data = loader(split)
    except Exception as exc:  # any failure is reported as this row's status
        return VerifyRow(name, split, None, None, None, "-", f"{type(exc).__name__}: {exc}")
    hist = data.class_counts().tolist()
    n, k, per_class = EXPECTED[(name, split)]
    problems = []
    if len(data) != n:
        problems.append(f"{len(data)} samples, expected {n}")
    if data.num_classes != k or len(hist) != k:
        problems.append(f"{data.num_classes} classes, expected {k}")
    if per_class is not None and not np.all(np.asarray(hist) == per_class):
        problems.append(f"class counts {hist}, expected {per_class} each")
    status = "ok" if not problems else "; ".join(problems)
    checksum = "+".join(part[:12] for part in data.checksum.split("+")) if data.checksum else "-"
    return VerifyRow(name, split, len(data), data.num_classes, hist, checksum, status)


def format_rows(rows: list[VerifyRow]) -> str:
    header = (f"{'dataset':<14} {'split':<6} {'samples':>7} {'K':>3}  {'class histogram':<58} "
              f"{'sha256 (verified)':<26} status")
    lines = [header, "-" * len(header)]
    for r in rows:
        hist = " ".join(str(h) for h in r.histogram) if r.histogram else "-"
        lines.append(f"{r.dataset:<14} {r.split:<6} {r.samples if r.samples is not None else '-':>7} "
                     f"{r.classes if r.classes is not None else '-':>3}  {hist:<58} {r.checksum:<26} {r.status}")
    return "\n".join(lines)
