"""Characters, targets and the evaluation metrics [official code, `aster.pytorch` lineage].

Vocabulary: the 94 printable ASCII characters without whitespace (digits, lower, upper, punctuation), then EOS = 94,
PAD = 95, UNK = 96 (C = 97 output classes); BOS = 97 exists only as a decoder input. Targets are the characters and
EOS, PAD after; a character outside the vocabulary becomes UNK [official]. Training is case-sensitive.
Evaluation [official, `_normalize_text`]: normalize(s) = keep the ASCII digits and letters [0-9A-Za-z], then
lower-case (filtering first drops 'İ' and the Kelvin sign, which `str.lower` would turn into ASCII 'i' and 'k');
word accuracy = exact match of the normalised prediction and label. 1-NED = 1 - ED / max(len(pred), len(gt)) on
normalised strings, 1 when both are empty (the mmocr / PaddleOCR convention).
"""

from __future__ import annotations

import re
import string
from typing import Literal, Sequence

import numpy as np
import torch

CHARS = string.digits + string.ascii_lowercase + string.ascii_uppercase + string.punctuation
EOS, PAD, UNK, BOS = 94, 95, 96, 97
NUM_CLASSES = 97
ALPHANUMERIC = string.digits + string.ascii_lowercase
DIGITS = string.digits
INDEX = {c: i for i, c in enumerate(CHARS)}
VOCABULARY = {"chars": CHARS, "eos": EOS, "pad": PAD, "unk": UNK, "bos": BOS}   # what a saved recognizer records
OutOfVocabulary = Literal["unk", "skip", "error"]


def encode(labels: Sequence[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets (B, T) = characters + EOS, PAD-filled, T = the longest label + 1, and the lengths with EOS."""
    too_long = [s for s in labels if len(s) + 1 > max_len]
    if too_long:
        raise ValueError(f"label {too_long[0]!r} has {len(too_long[0])} characters; max_len {max_len} allows "
                         f"{max_len - 1}")
    longest = max(len(s) for s in labels) + 1
    out = torch.full((len(labels), longest), PAD, dtype=torch.long)
    for row, s in enumerate(labels):
        out[row, :len(s)] = torch.tensor([INDEX.get(c, UNK) for c in s], dtype=torch.long)
        out[row, len(s)] = EOS
    return out, torch.tensor([len(s) + 1 for s in labels])


def decode(ids: Sequence[int]) -> str:
    """Characters up to the first EOS; UNK, PAD and BOS dropped."""
    out = []
    for i in ids:
        if i == EOS:
            break
        if i < len(CHARS):
            out.append(CHARS[i])
    return "".join(out)


def out_of_vocabulary(label: str) -> str:
    """The characters of a label that the vocabulary lacks."""
    return "".join(sorted({c for c in label if c not in INDEX}))


def normalize(s: str) -> str:
    """The official evaluation normaliser: keep only the ASCII digits and letters [0-9A-Za-z], then lower-case
    ("Hello-World!" -> "helloworld")."""
    return re.sub(r"[^0-9A-Za-z]", "", s).lower()


def one_minus_ned(pred: str, gt: str) -> float:
    """1-NED of one prediction against its label: 1 - Levenshtein distance / max(len(pred), len(gt)) on the
    `normalize`d strings, 1 when both are empty (the mmocr / PaddleOCR convention)."""
    from rapidfuzz.distance import Levenshtein

    pred, gt = normalize(pred), normalize(gt)
    longest = max(len(pred), len(gt))
    return 1.0 if longest == 0 else 1.0 - Levenshtein.distance(pred, gt) / longest


def word_accuracy(preds: Sequence[str], gts: Sequence[str]) -> float:
    """Word accuracy, the paper's metric: the fraction of predictions equal to their labels after `normalize`. A
    ValueError unless there are as many predictions as labels, and at least one."""
    if len(preds) != len(gts) or not gts:
        raise ValueError(f"need as many predictions as labels (> 0), got {len(preds)} and {len(gts)}")
    return float(np.mean([normalize(p) == normalize(g) for p, g in zip(preds, gts)]))


def mean_one_minus_ned(preds: Sequence[str], gts: Sequence[str]) -> float:
    if len(preds) != len(gts) or not gts:
        raise ValueError(f"need as many predictions as labels (> 0), got {len(preds)} and {len(gts)}")
    return float(np.mean([one_minus_ned(p, g) for p, g in zip(preds, gts)]))


def recognition_scores(preds: Sequence[str], gts: Sequence[str]) -> dict[str, float]:
    """Normalised word accuracy and mean 1-NED of predictions against labels."""
    return {"word_accuracy": word_accuracy(preds, gts), "one_minus_ned": mean_one_minus_ned(preds, gts)}
