"""Scoring the defenses on one Trojaned classifier: train a filter (IF, VIF or AIF) on the defender's set, check it
did not collapse, and measure filtered clean accuracy, ASR after filtering and the Filtering-then-Contrasting rates.

ASR counts test images whose label differs from the trigger's target, per trigger. FtC FPR: clean test inputs
flagged; FNR: Trojan inputs not flagged, over all of them and over those the classifier sends to the target.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from reprolab.methods.trojan_filter.adversarial import AIFConfig, train_adversarial_filter, trigger_generator
from reprolab.methods.trojan_filter.attacks import TrojanAttack, success_record
from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
from reprolab.methods.trojan_filter.filters import (FilterCollapsed, FilterDefense, PlainFilter, VariationalFilter,
                                                    train_filter)
from reprolab.nets.scoring import batched, fraction, labels_of
from reprolab.runtime.fast import fast_settings
from reprolab.runtime.train import LoopCheckpoints


def train_defense(name: str, classifier, x_def, y_def, cfg: TrojanExperimentConfig, seed: int,
                  checkpoints: LoopCheckpoints = LoopCheckpoints(), loop: str | None = None):
    """The filter of defense `name` ("IF", "VIF" or "AIF") trained on the defender's set, and its loss log; its
    loop checkpointed by `checkpoints` as `loop` (default: `name`)."""
    where = {"checkpoints": checkpoints, "name": loop or name}
    channels = x_def.shape[1]
    shape = {"channels": channels, "width": cfg.filter_width, "latent": cfg.filter_latent}
    if name == "AIF":
        filt = PlainFilter(**shape).to(x_def.device)
        aif = AIFConfig(filter=dataclasses.replace(cfg.filter, steps=cfg.aif_steps),
                        enforce_budget=cfg.aif_enforce_budget)
        generator = trigger_generator(channels, aif, cfg.filter_width).to(x_def.device)
        log = train_adversarial_filter(filt, generator, classifier, x_def, y_def, aif, seed, fast_settings(cfg),
                                       **where)
        return filt, log
    filters = {"IF": PlainFilter, "VIF": VariationalFilter}
    if name not in filters:
        raise ValueError(f"unknown defense {name!r}; known: IF, VIF, AIF")
    filt = filters[name](**shape).to(x_def.device)
    return filt, train_filter(filt, classifier, x_def, y_def, cfg.filter, seed, fast_settings(cfg), **where)


@dataclasses.dataclass(frozen=True)
class TrojanInputs:
    """For every trigger in turn, every test image whose label differs from the trigger's target, stamped with it
    (`x`); each one's target (`targets`), how many each trigger has (`counts`), and the classifier's labels of them
    (`labels`)."""

    x: torch.Tensor
    targets: torch.Tensor
    counts: tuple[int, ...]
    labels: torch.Tensor

    @property
    def hits(self) -> torch.Tensor:
        """The Trojan inputs the classifier sends to their target."""
        return self.labels == self.targets

    def success(self, labels: torch.Tensor) -> dict:
        """`attacks.attack_success` of the model that gives `labels` to these inputs: per trigger, the fraction of
        its inputs labelled with its target; and their mean."""
        return success_record([fraction(hit) for hit in (labels == self.targets).split(list(self.counts))])


@torch.no_grad()
def trojan_inputs(attack: TrojanAttack, classifier, x, y) -> TrojanInputs:
    """Every test image with a label other than the trigger's target, stamped, for every trigger; with the
    classifier's labels of them."""
    xs, ts = [], []
    for k, target in enumerate(attack.targets):
        keep = y != target
        xs.append(batched(lambda xb: attack.apply(xb, k), x[keep]))
        ts.append(torch.full((int(keep.sum()),), target, device=x.device))
    x_troj = torch.cat(xs)
    return TrojanInputs(x_troj, torch.cat(ts), tuple(len(t) for t in ts), labels_of(classifier, x_troj))


def detection_rates(flags_clean: torch.Tensor, flags_trojan: torch.Tensor, hits: torch.Tensor) -> dict:
    """FPR on clean inputs; FNR over all Trojan inputs and over those the classifier sends to the target."""
    return {"fpr": fraction(flags_clean), "fnr": fraction(~flags_trojan), "fnr_on_hits": fraction(~flags_trojan[hits])}


def evaluate_filter(name: str, classifier, data: dict, trojan: TrojanInputs, cfg: TrojanExperimentConfig,
                    seed: int, x_def=None, y_def=None,
                    checkpoints: LoopCheckpoints = LoopCheckpoints()) -> tuple[dict, torch.nn.Module]:
    """Train filter `name` on the defender set (or the given subset of it; its loop is then checkpointed as
    "<name>_defender<size>"); its collapse check, filtered clean accuracy, ASR after filtering and FtC rates. A
    collapsed filter is reported and not scored. Each image is filtered and classified once: FtC flags an input
    where its filtered label differs from its plain one, and accepts the others with their plain label."""
    x_test, y_test = data["test"]
    loop = name if x_def is None else f"{name}_defender{len(y_def)}"
    if x_def is None:
        x_def, y_def = data["defender"]
    start = time.perf_counter()
    filt, log = train_defense(name, classifier, x_def, y_def, cfg, seed, checkpoints, loop)
    defense = FilterDefense(classifier, filt, mode="ftc")
    record = {"seconds": time.perf_counter() - start, "final_losses": log[-1], "defender_size": len(y_def)}
    try:
        record["held_out_filtered_accuracy"] = defense.check_not_collapsed(*data["held_out"], cfg.collapse_floor)
        record["collapsed"] = False
    except FilterCollapsed as err:
        record.update(collapsed=True, error=str(err))
    filtered_test = batched(defense.filtered_labels, x_test)
    record["filtered_clean_accuracy"] = fraction(filtered_test == y_test)
    if not record["collapsed"]:
        filtered_trojan = batched(defense.filtered_labels, trojan.x)
        record["asr_filtered"] = trojan.success(filtered_trojan)
        plain_test = labels_of(classifier, x_test)
        flags_test = plain_test != filtered_test
        record["ftc"] = detection_rates(flags_test, trojan.labels != filtered_trojan, trojan.hits)
        record["ftc"]["accepted_and_correct"] = fraction(~flags_test & (plain_test == y_test))
    return record, filt
