"""What the claims compare rates against: the majority-class rate (the trivial classifier's accuracy) and a filter's
ASR after filtering. Rates are counted exactly and predictions made in batches by `reprolab.nets.scoring`."""

from __future__ import annotations

import torch


def majority_class_rate(y: torch.Tensor) -> float:
    """The accuracy of always answering the most frequent label of `y` (what a classifier must beat)."""
    return int(torch.bincount(y).max()) / len(y)


def filtered_asr(record: dict) -> float:
    """A filter record's mean ASR after filtering; NaN when the filter collapsed (it is not scored)."""
    return record["asr_filtered"]["mean"] if "asr_filtered" in record else float("nan")
