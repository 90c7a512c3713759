"""The claims of Do et al. (ECCV 2022) checked on the measured attacks and defenses of every seed
(`metrics["runs"]`, one record per seed in seed order; within a seed every arm rests on the same Trojaned
classifier, so the arms are paired by seed). Only the paper's abstract was available (spec §1): every size below is
an acceptance check of the spec (§7) or, where there is none, 0 ("paper states no size").

Checks (hold or fail):
- `attacks_are_effective`: every attack on every seed reaches ASR >= 0.9 (MNIST) or 0.97 (CIFAR-10) with clean
  accuracy within 2 points of the same seed's benign classifier (spec §7 A1): a sanity check of the attacks.
- `filtered_clean_accuracy_above_floor`: no filter collapsed (held-out D_def accuracy >= `collapse_floor`) and every
  filter keeps test clean accuracy >= `collapse_floor` (spec §7 A4, trap T1): a sanity check of filter training.

Reproductions, decided on the 95 % t interval over seeds (`runtime.claims`; one seed is always inconclusive):
- `vif_cuts_badnet`: BadNet+ ASR after VIF below half of IF's: paired IF / 2 - VIF > 0 (factor 1/2: spec §7 A3).
- `vif_brings_badnet_asr_low`: BadNet+ ASR after VIF below 0.05 (threshold: spec §7 A3).
- `aif_beats_if_<attack>`, per attack: ASR after AIF < ASR after IF, delta 0 (paper states no size).
- `filtering_beats_mitigation_baselines_<attack>`, per attack: ASR after the best non-collapsed filter < ASR after the
  best mitigation baseline (Neural Cleanse, Fine-Pruning, Februus-like) of the same seed, delta 0 (paper states no
  size).
- `wanet_strip_misses_filter_catches`: on WaNet, FNR of the best filter with FtC < STRIP's FNR, delta 0 (paper states
  no size); both detectors' FPRs are shown beside them.
- `robust_to_small_defender_set_<attack>`, per swept attack: ASR after the best filter trained on the smallest swept
  defender set below 0.1 (threshold: spec §7 A6).
- `robust_to_large_norm_triggers`: ASR after the best filter on image-BI+ at the largest swept alpha below 0.1
  (threshold: spec §7 A6).

Signal gates (mean over seeds; a gate that fails gives `no_signal`): each Trojaned classifier's clean accuracy
against the test set's majority-class rate; each attack's ASR against its untriggered target rate (how often the
classifier sends clean images of other classes to the target); for the WaNet claim also FtC's detection rate
(1 - FNR) against its FPR (a detector flagging inputs at random at its FPR).
"""

from __future__ import annotations

import numpy as np

from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
from reprolab.methods.trojan_filter.metrics import filtered_asr
from reprolab.runtime.claims import Claim, Signal, compare, reaches

ATTACK_ASR_FLOOR = {"mnist": 0.9, "cifar10": 0.97}   # spec §7 A1
ATTACK_CLEAN_DROP = 0.02                             # spec §7 A1: within 2 points of the benign classifier
VIF_SHARE_OF_IF = 0.5                                # spec §7 A3: VIF ASR at most half of IF's
VIF_BADNET_ASR = 0.05                                # spec §7 A3: VIF ASR <= 5 % on BadNet+
FILTERED_ASR = 0.1                                   # spec §7 A6: a working filter leaves ASR <= 10 %
BASELINES = ("NeuralCleanse", "FinePruning", "Februus")
NO_SIZE = "paper states no size"


def _value(block: dict, *keys, default=float("nan")) -> float:
    for key in keys:
        if not isinstance(block, dict) or key not in block:
            return default
        block = block[key]
    return float(block)


def _mean(values) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def classifier_signal(blocks: list[dict], runs: list[dict], name: str) -> Signal:
    """A Trojaned classifier's clean accuracy (`blocks`: its record per seed) against the majority-class rate."""
    return Signal(f"{name} classifier clean accuracy", _mean([_value(b, "no_defense", "clean_accuracy")
                                                              for b in blocks]),
                  "majority-class rate", _mean([_value(r, "benign", "majority_class_rate") for r in runs]))


def attack_signal(blocks: list[dict], name: str) -> Signal:
    """An attack's ASR without defense against its untriggered target rate (`blocks`: its record per seed)."""
    return Signal(f"{name} ASR", _mean([_value(b, "no_defense", "asr", "mean") for b in blocks]),
                  "untriggered target rate", _mean([_value(b, "no_defense", "untriggered_target_rate")
                                                    for b in blocks]))


def attack_signals(runs: list[dict], attack: str) -> list[Signal]:
    blocks = [r["attacks"][attack] for r in runs]
    return [classifier_signal(blocks, runs, attack), attack_signal(blocks, attack)]


def best_filter(block: dict, defenses) -> tuple[str | None, float]:
    """The non-collapsed filter with the lowest ASR after filtering, and that ASR (None, NaN if all collapsed)."""
    scored = {d: filtered_asr(block[d]) for d in defenses if "asr_filtered" in block[d]}
    top = min(scored, key=scored.get) if scored else None
    return top, float(scored.get(top, float("nan")))


def best_baseline(block: dict) -> tuple[str, float]:
    """The mitigation baseline with the lowest ASR, and that ASR."""
    asr = {b: _value(block, b, "asr", "mean") for b in BASELINES}
    top = min(asr, key=asr.get)
    return top, asr[top]


def best_ftc(block: dict, defenses) -> tuple[str | None, dict]:
    """The non-collapsed filter whose FtC detector has the lowest FNR, and its rates (None, NaN rates if none)."""
    ftc = {d: block[d]["ftc"] for d in defenses if "ftc" in block[d]}
    if not ftc:
        return None, {"fnr": float("nan"), "fpr": float("nan")}
    top = min(ftc, key=lambda d: _value(ftc[d], "fnr"))
    return top, ftc[top]


def attacks_are_effective(metrics: dict, cfg: TrojanExperimentConfig) -> Claim:
    floor = ATTACK_ASR_FLOOR[cfg.dataset]
    runs = metrics["runs"]
    benign = [_value(r, "benign", "clean_accuracy") for r in runs]
    observed = {a: {"asr": [_value(r["attacks"][a], "no_defense", "asr", "mean") for r in runs],
                    "clean_accuracy": [_value(r["attacks"][a], "no_defense", "clean_accuracy") for r in runs]}
                for a in cfg.attacks}
    observed["benign_accuracy"] = benign
    ok = all(asr >= floor and b - clean <= ATTACK_CLEAN_DROP
             for a in cfg.attacks for asr, clean, b in zip(observed[a]["asr"], observed[a]["clean_accuracy"], benign))
    return Claim.check("attacks_are_effective",
                       f"every attack on {metrics['dataset']} reaches ASR >= {floor:g} with clean accuracy within "
                       f"{ATTACK_CLEAN_DROP:g} of the same seed's benign classifier, on every seed", observed,
                       f"asr >= {floor:g} and benign - clean <= {ATTACK_CLEAN_DROP:g} everywhere (spec §7 A1)", ok)


def filtered_clean_accuracy_above_floor(metrics: dict, cfg: TrojanExperimentConfig) -> Claim:
    floor, runs = cfg.collapse_floor, metrics["runs"]
    observed = {f"{a}/{d}": {"held_out": [_value(r["attacks"][a][d], "held_out_filtered_accuracy") for r in runs],
                             "test": [_value(r["attacks"][a][d], "filtered_clean_accuracy") for r in runs],
                             "collapsed": [bool(r["attacks"][a][d]["collapsed"]) for r in runs]}
                for a in cfg.attacks for d in cfg.defenses}
    ok = all(not any(v["collapsed"]) and all(t >= floor for t in v["test"]) for v in observed.values())
    return Claim.check("filtered_clean_accuracy_above_floor",
                       f"every filter keeps clean accuracy >= {floor:g} on {metrics['dataset']}, on every seed (a "
                       "collapsed filter is reported, never scored)", observed,
                       f"not collapsed and test >= {floor:g} everywhere (collapse_floor: spec §7 A4)", ok)


def vif_claims(metrics: dict, cfg: TrojanExperimentConfig) -> list[Claim]:
    """VIF against IF on BadNet+ (the KL bottleneck is the only difference) and VIF's level there."""
    runs = metrics["runs"]
    blocks = [r["attacks"]["badnet_plus"] for r in runs]
    vif = [_value(b, "VIF", "asr_filtered", "mean") for b in blocks]
    plain = [_value(b, "IF", "asr_filtered", "mean") for b in blocks]
    signals = attack_signals(runs, "badnet_plus")
    extra = {"IF": plain, "VIF_per_trigger": [b["VIF"].get("asr_filtered", {}).get("per_trigger") for b in blocks],
             "VIF_clean_drop": [_value(b, "no_defense", "clean_accuracy") - _value(b, "VIF", "filtered_clean_accuracy")
                                for b in blocks]}
    share = f"{VIF_SHARE_OF_IF:g} x IF"
    return [compare("vif_cuts_badnet", f"on {metrics['dataset']} BadNet+, VIF leaves at most {VIF_SHARE_OF_IF:g} of "
                    "IF's attack success (same architecture: only the KL term and sampling differ)",
                    vif, [VIF_SHARE_OF_IF * p for p in plain], arms=("VIF", share), delta=0.0, better="lower",
                    source=f"0 on the difference; the factor {VIF_SHARE_OF_IF:g} is spec §7 A3", signals=signals,
                    extra=extra),
            reaches("vif_brings_badnet_asr_low", f"on {metrics['dataset']} BadNet+, VIF brings the attack success "
                    f"below {VIF_BADNET_ASR:g}", vif, threshold=VIF_BADNET_ASR, source="spec §7 A3",
                    metric="VIF ASR", better="lower", signals=signals)]


def aif_beats_if(metrics: dict, attack: str) -> Claim:
    runs = metrics["runs"]
    blocks = [r["attacks"][attack] for r in runs]
    aif = [_value(b, "AIF", "asr_filtered", "mean") for b in blocks]
    plain = [_value(b, "IF", "asr_filtered", "mean") for b in blocks]
    return compare(f"aif_beats_if_{attack}", f"on {metrics['dataset']} {attack}, AIF (filter trained against a "
                   "trigger generator) leaves a lower attack success than the plain filter IF (a collapsed filter "
                   "counts as missing on its seed)", aif, plain, arms=("AIF", "IF"), delta=0.0, better="lower",
                   source=NO_SIZE, signals=attack_signals(runs, attack),
                   extra={"VIF": [_value(b, "VIF", "asr_filtered", "mean") for b in blocks]})


def filtering_beats_mitigation_baselines(metrics: dict, cfg: TrojanExperimentConfig, attack: str) -> Claim:
    runs = metrics["runs"]
    blocks = [r["attacks"][attack] for r in runs]
    filters = [best_filter(b, cfg.defenses) for b in blocks]
    baselines = [best_baseline(b) for b in blocks]
    extra = {"best_filter": [f for f, _ in filters], "best_baseline": [b for b, _ in baselines],
             **{b: [_value(block, b, "asr", "mean") for block in blocks] for b in BASELINES},
             "neural_cleanse_flagged": [block["NeuralCleanse"]["flagged"] for block in blocks]}
    return compare(f"filtering_beats_mitigation_baselines_{attack}", f"on {metrics['dataset']} {attack}, the best "
                   "non-collapsed filter (IF / VIF / AIF) leaves a lower attack success than every mitigation "
                   "baseline (Neural Cleanse with unlearning, Fine-Pruning, Februus-like GradCAM + inpainting)",
                   [a for _, a in filters], [a for _, a in baselines], arms=("best filter", "best baseline"),
                   delta=0.0, better="lower", source=NO_SIZE, signals=attack_signals(runs, attack), extra=extra)


def wanet_strip_misses_filter_catches(metrics: dict, cfg: TrojanExperimentConfig) -> Claim:
    runs = metrics["runs"]
    blocks = [r["attacks"]["wanet"] for r in runs]
    ftc = [best_ftc(b, cfg.defenses) for b in blocks]
    ftc_fnr = [_value(rates, "fnr") for _, rates in ftc]
    ftc_fpr = [_value(rates, "fpr") for _, rates in ftc]
    detector = Signal("FtC detection rate (1 - FNR)", 1 - _mean(ftc_fnr), "FtC FPR (random flagging)", _mean(ftc_fpr))
    extra = {"best_filter": [d for d, _ in ftc], "FtC_fpr": ftc_fpr,
             "STRIP_fpr": [_value(b, "STRIP", "fpr") for b in blocks],
             "STRIP_fnr_on_hits": [_value(b, "STRIP", "fnr_on_hits") for b in blocks]}
    return compare("wanet_strip_misses_filter_catches", f"on {metrics['dataset']} WaNet, a filter with "
                   "Filtering-then-Contrasting misses fewer Trojan inputs than STRIP (lower FNR)", ftc_fnr,
                   [_value(b, "STRIP", "fnr") for b in blocks], arms=("FtC FNR", "STRIP FNR"), delta=0.0,
                   better="lower", source=NO_SIZE, signals=[*attack_signals(runs, "wanet"), detector], extra=extra)


def robust_to_small_defender_set(metrics: dict, cfg: TrojanExperimentConfig, attack: str) -> Claim:
    runs = metrics["runs"]
    sweeps = [r["attacks"][attack]["defender_sweep"] for r in runs]
    smallest = min(sweeps[0], key=int)
    best = [best_filter(s[smallest], cfg.defenses) for s in sweeps]
    return reaches(f"robust_to_small_defender_set_{attack}", f"on {metrics['dataset']} {attack}, the best "
                   f"non-collapsed filter trained on only {smallest} defender images leaves ASR below {FILTERED_ASR:g}",
                   [a for _, a in best], threshold=FILTERED_ASR, source="spec §7 A6", metric="best filter ASR",
                   better="lower", signals=attack_signals(runs, attack),
                   extra={"best_filter": [d for d, _ in best], "defender_size": int(smallest)})


def robust_to_large_norm_triggers(metrics: dict, cfg: TrojanExperimentConfig) -> Claim:
    runs = metrics["runs"]
    largest = max(runs[0]["norm_sweep"], key=float)
    blocks = [r["norm_sweep"][largest] for r in runs]
    best = [best_filter(b, cfg.defenses) for b in blocks]
    name = f"image_bi_plus (alpha {float(largest):g})"
    return reaches("robust_to_large_norm_triggers", f"on {metrics['dataset']} image-BI+ at the largest swept blend "
                   f"weight {float(largest):g}, the best non-collapsed filter leaves ASR below {FILTERED_ASR:g}",
                   [a for _, a in best], threshold=FILTERED_ASR, source="spec §7 A6", metric="best filter ASR",
                   better="lower", signals=[classifier_signal(blocks, runs, name), attack_signal(blocks, name)],
                   extra={"best_filter": [d for d, _ in best], "alpha": float(largest)})


def claims(metrics: dict, cfg: TrojanExperimentConfig) -> list[Claim]:
    """The claims that the run's attacks, defenses and sweeps allow (see the module docstring)."""
    attacks, defenses = cfg.attacks, set(cfg.defenses)
    result = [attacks_are_effective(metrics, cfg), filtered_clean_accuracy_above_floor(metrics, cfg)]
    if "badnet_plus" in attacks and {"IF", "VIF"} <= defenses:
        result += vif_claims(metrics, cfg)
    if {"IF", "AIF"} <= defenses:
        result += [aif_beats_if(metrics, a) for a in attacks]
    result += [filtering_beats_mitigation_baselines(metrics, cfg, a) for a in attacks]
    if "wanet" in attacks:
        result.append(wanet_strip_misses_filter_catches(metrics, cfg))
    return result + sweep_claims(metrics, cfg)


def sweep_claims(metrics: dict, cfg: TrojanExperimentConfig) -> list[Claim]:
    """The abstract's robustness claims, when the sweeps ran: small defender sets and large-norm triggers."""
    swept = [a for a in cfg.attacks if "defender_sweep" in metrics["runs"][0]["attacks"][a]]
    result = [robust_to_small_defender_set(metrics, cfg, a) for a in swept]
    if metrics["runs"][0].get("norm_sweep"):
        result.append(robust_to_large_norm_triggers(metrics, cfg))
    return result
