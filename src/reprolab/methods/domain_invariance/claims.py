"""The paper's claims about the two representations, checked on the measured grid.

Comparisons are paired over seeds (the same seed gives every arm the same data, initialisation and batches) and
decided by `reprolab.runtime.claims`: a 95 % t interval against a minimum effect delta. A comparison gives
`no_signal` when a model it rests on does not beat what a constant predictor scores (`metrics["trivial"]`: the
target's majority class, the class with the largest mean share of the sources, the largest source's share of the
probe's samples). Each claim is built only when its task and algorithms were run.

Checks (sanity of the setting; thresholds are the spec's acceptance checks, levels a 2-core CPU prototype measured):
- erm_reference_rotated_digits: ERM on balanced RotatedDigits, mean source accuracy >= 0.90, target >= 0.75,
  domain probe >= 0.80 (spec acceptance check 1; the prototype measured 0.93, 0.79, 0.85).
- domain_probe_at_lambda_10: both representations' mean domain probe at lambda = 10 <= 0.60 (spec acceptance
  check 2; the prototype measured 0.31-0.34).
Reproductions (balanced RotatedDigits):
- invariance_rises_with_lambda_{general,compressed}: domain probe at lambda = 10 below the probe at the smallest
  lambda, delta 0 (the paper states no size); no_signal when the probe at the smallest lambda does not beat the
  largest source's share or the source accuracy at lambda = 10 does not beat the majority class (invariance by
  collapse).
- source_accuracy_holds_{general,compressed}: per seed, the lowest source accuracy over lambda <= 10 minus ERM's
  is above delta = -0.06 (spec acceptance check 2, design; the prototype lost 0.04-0.05); no_signal when ERM's
  source accuracy does not beat the majority class.
- collapse_at_large_lambda_{general,compressed}: source accuracy at lambda = 100 below 0.2 (t interval over
  seeds; 0.2 is the collapse flag of `training.py`, spec acceptance check 3, design; chance is 0.1). That every
  such run is flagged and kept holds by construction: a unit test, not a claim.
Reproductions (label-shifted task), delta 0 (the paper states no size), lambda among `claim_lambdas` chosen per
seed by training-domain validation at the final checkpoint; the oracle (lambda chosen on the target, or with
`target_split="domainbed"` per seed on its "out" split) and DomainBed's selection (each run's best-validation
checkpoint) are reported beside and never decide; no_signal when an arm's target accuracy does not beat the
target's majority class:
- compressed_vs_general_under_label_shift (the paper: compressed helps at least as much as general),
  compressed_vs_erm_under_label_shift, general_vs_erm_under_label_shift (the prototype's ordering; the paper's bound
  says aligning the marginals under label shift costs source accuracy).
Reproductions (paper scale; ERM at each run's best-validation checkpoint, as DomainBed reports it):
- erm_reaches_published_rotated_mnist_{0,75}: ERM's target accuracy above DomainBed's published per-domain ERM
  result (training-domain validation: 95.9 at 0 degrees, 96.4 at 75 degrees) minus 1 point (design, see
  PUBLISHED_TOLERANCE); no_signal when ERM does not beat the target's majority class.
- erm_learns_colour_on_colored_mnist: ERM's accuracy on the "-90%" domain below 0.30 (spec acceptance check 5,
  design: between a colour-only classifier's 0.10 and chance 0.5; DomainBed publishes 10.0); no_signal when ERM's
  source accuracy does not beat the majority class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reprolab.methods.domain_invariance.training import COLLAPSE_ACCURACY
from reprolab.runtime.claims import Claim, Signal, compare, reaches

ERM_SOURCE_MIN, ERM_TARGET_MIN, ERM_PROBE_MIN = 0.90, 0.75, 0.80     # RotatedDigits, 300 steps
ERM_REFERENCE_SOURCE = "spec acceptance check 1 (design: the 2-core CPU prototype measured 0.93, 0.79, 0.85)"
PROBE_MAX_AT_HIGH = 0.60
PROBE_SOURCE = "spec acceptance check 2 (design: the 2-core CPU prototype measured 0.31-0.34 at lambda 10)"
SOURCE_DROP_MAX = 0.06
SOURCE_DROP_SOURCE = "spec acceptance check 2 (design: the 2-core CPU prototype lost 0.04-0.05 at lambda 10)"
COLLAPSE_SOURCE = "the collapse flag of training.py, spec acceptance check 3 (design; chance is 0.1)"
NO_SIZE = "the paper states no size"
# DomainBed (Gulrajani and Lopez-Paz, ICLR 2021), full results, RotatedMNIST, ERM, training-domain validation:
# 95.9 +- 0.1 on the 0-degree domain, 96.4 +- 0.0 on the 75-degree one (the 98.0 average is over six domains).
DOMAINBED_ERM_ROTATED_MNIST = {"rotated_mnist_0": 0.959, "rotated_mnist_75": 0.964}
# Design: 1 point. The published standard errors (0.0-0.1) are over trials of a 20-draw hyperparameter sweep that
# this run does not do (DomainBed's defaults only); 1 point is the spread of DomainBed's own algorithms on these
# two domains in the same table (0 degrees: 94.8-96.7).
PUBLISHED_TOLERANCE = 0.01
PUBLISHED_SOURCE = ("DomainBed's published ERM result on this domain (training-domain validation) minus 1 point "
                    "(design: no hyperparameter sweep here)")
COLORED_MNIST_ERM_MAX = 0.30
COLORED_MNIST_SOURCE = ("spec acceptance check 5 (design: between a colour-only classifier's 0.10 and chance 0.5; "
                        "DomainBed publishes 10.0)")
HIGH, COLLAPSE = 10.0, 100.0
PENALISED = ("general", "compressed")
ORACLE_NOTES = {"all": "oracle: lambda chosen on the mean target accuracy, not a method's result",
                "domainbed": "oracle (DomainBed's): lambda chosen per seed on the target's \"out\" split at the final "
                             "checkpoint, not a method's result"}
LABEL_SHIFT_PAIRS = {   # (a, b): what the comparison reproduces
    ("compressed", "general"): "the paper: compressed invariance helps the target at least as much as general "
                               "invariance under label shift, so compressed below general contradicts it",
    ("compressed", "erm"): "the paper: compressed invariance is robust to label shift",
    ("general", "erm"): "the 2-core prototype's ordering; the paper's bound says aligning the feature marginals "
                        "under label shift costs source accuracy",
}


def _key(lam: float) -> str:
    return f"{lam:g}"


def _runs(block: dict, algorithm: str, lam: float | None = None) -> dict:
    return block[algorithm]["by_lambda"]["-" if lam is None else _key(lam)]


def _penalised(block: dict) -> list[str]:
    return [n for n in PENALISED if n in block]


def _mean(values: list[float]) -> float:
    return float(np.mean(values))


def erm_reference(tasks: dict) -> list[Claim]:
    if "rotated_digits" not in tasks or "erm" not in tasks["rotated_digits"]:
        return []
    erm = _runs(tasks["rotated_digits"], "erm")
    obs = {"source": erm["source_val_mean"]["mean"], "target": erm["target"]["mean"], "probe": erm["probe"]["mean"]}
    ok = obs["source"] >= ERM_SOURCE_MIN and obs["target"] >= ERM_TARGET_MIN and obs["probe"] >= ERM_PROBE_MIN
    return [Claim.check("erm_reference_rotated_digits",
                        f"ERM on balanced RotatedDigits trains as the prototype did: mean source accuracy >= "
                        f"{ERM_SOURCE_MIN}, target (75 degrees) >= {ERM_TARGET_MIN}, and its features reveal the "
                        f"source domain to a fresh probe (>= {ERM_PROBE_MIN})", obs,
                        f"source >= {ERM_SOURCE_MIN}, target >= {ERM_TARGET_MIN}, probe >= {ERM_PROBE_MIN} "
                        f"(levels: {ERM_REFERENCE_SOURCE})", ok)]


def probe_at_high_lambda(tasks: dict, lambdas: tuple[float, ...]) -> list[Claim]:
    if "rotated_digits" not in tasks or HIGH not in lambdas:
        return []
    block = tasks["rotated_digits"]
    obs = {name: _runs(block, name, HIGH)["probe"]["mean"] for name in _penalised(block)}
    if not obs:
        return []
    return [Claim.check("domain_probe_at_lambda_10",
                        f"at lambda = {HIGH:g} both penalties make the features nearly domain-invariant: a fresh "
                        f"domain probe's mean accuracy is <= {PROBE_MAX_AT_HIGH}", obs,
                        f"mean probe <= {PROBE_MAX_AT_HIGH} for each (threshold: {PROBE_SOURCE})",
                        all(v <= PROBE_MAX_AT_HIGH for v in obs.values()))]


def invariance_rises(tasks: dict, lambdas: tuple[float, ...], trivial: dict) -> list[Claim]:
    low = min(lambdas)
    if "rotated_digits" not in tasks or HIGH not in lambdas or low >= HIGH:
        return []
    block, levels = tasks["rotated_digits"], trivial["rotated_digits"]
    out = []
    for name in _penalised(block):
        at_low, at_high = _runs(block, name, low), _runs(block, name, HIGH)
        signals = [Signal(f"{name} probe at lambda {low:g}", at_low["probe"]["mean"], "largest source share",
                          levels["probe"]),
                   Signal(f"{name} source accuracy at lambda {HIGH:g}", at_high["source_val_mean"]["mean"],
                          "majority class", levels["source_val_mean"])]
        out.append(compare(f"invariance_rises_with_lambda_{name}",
                           f"on balanced RotatedDigits, raising lambda from {low:g} to {HIGH:g} makes the {name} "
                           f"representation more domain-invariant: a fresh domain probe's accuracy falls",
                           at_high["per_seed_probe"], at_low["per_seed_probe"],
                           arms=(f"probe at lambda {HIGH:g}", f"probe at lambda {low:g}"), source=NO_SIZE,
                           better="lower", signals=signals))
    return out


def source_accuracy_holds(tasks: dict, lambdas: tuple[float, ...], trivial: dict) -> list[Claim]:
    moderate = [lam for lam in lambdas if lam <= HIGH]
    if "rotated_digits" not in tasks or "erm" not in tasks["rotated_digits"] or not moderate:
        return []
    block = tasks["rotated_digits"]
    erm = _runs(block, "erm")
    signal = Signal("erm source accuracy", erm["source_val_mean"]["mean"], "majority class",
                    trivial["rotated_digits"]["source_val_mean"])
    out = []
    for name in _penalised(block):
        per_lambda = {_key(lam): _runs(block, name, lam)["per_seed_source"] for lam in moderate}
        lowest = np.min(list(per_lambda.values()), axis=0).tolist()
        out.append(compare(f"source_accuracy_holds_{name}",
                           f"on balanced RotatedDigits, the {name} representation keeps its source validation "
                           f"accuracy within {SOURCE_DROP_MAX} of ERM's for every lambda <= {HIGH:g} (the "
                           f"invariance is nearly free before the collapse): per seed, its lowest source accuracy "
                           f"over lambda in {{{', '.join(per_lambda)}}} minus ERM's", lowest, erm["per_seed_source"],
                           arms=(f"{name} lowest", "erm"), delta=-SOURCE_DROP_MAX, source=SOURCE_DROP_SOURCE,
                           signals=[signal], extra={"mean_source_by_lambda": {k: _mean(v)
                                                                              for k, v in per_lambda.items()}}))
    return out


def collapse_at_large_lambda(tasks: dict, lambdas: tuple[float, ...]) -> list[Claim]:
    if "rotated_digits" not in tasks or COLLAPSE not in lambdas:
        return []
    block = tasks["rotated_digits"]
    return [reaches(f"collapse_at_large_lambda_{name}",
                    f"on balanced RotatedDigits, at lambda = {COLLAPSE:g} the {name} penalty compresses away the "
                    f"classes: source accuracy falls below {COLLAPSE_ACCURACY}",
                    _runs(block, name, COLLAPSE)["per_seed_source"], threshold=COLLAPSE_ACCURACY,
                    source=COLLAPSE_SOURCE, metric=f"{name} source accuracy at lambda {COLLAPSE:g}", better="lower")
            for name in _penalised(block)]


def oracle_lambda(oracle: dict) -> str | list[str]:
    """The oracle's lambda: one for every seed (the best mean target accuracy), or DomainBed's, one per seed."""
    return oracle["chosen"] if "chosen" in oracle else oracle["chosen_per_seed"]


def _label_shift_arms(block: dict) -> dict[str, dict[str, Any]]:
    """Per arm: per-seed target accuracy under each selection (training-domain validation at the final checkpoint
    decides; DomainBed's best-validation checkpoint and, for the penalised arms, the oracle are reported) and the
    lambda chosen."""
    arms = {}
    for name in _penalised(block):
        sel = block[name]["selection_claim_lambdas"]
        arms[name] = {"decides": sel["training_domain"]["per_seed"],
                      "lambda_per_seed": sel["training_domain"]["chosen_per_seed"],
                      "domainbed_best_step": sel["training_domain_best_step"]["per_seed"],
                      "oracle": sel["oracle"]["per_seed"], "oracle_lambda": oracle_lambda(sel["oracle"])}
    if "erm" in block:
        erm = _runs(block, "erm")
        arms["erm"] = {"decides": erm["per_seed_target"], "domainbed_best_step": erm["per_seed_target_best_step"]}
    return arms


def label_shift(tasks: dict, cfg, trivial: dict) -> list[Claim]:
    task = next((t for t in ("rotated_digits_shift", "rotated_mnist_shift") if t in tasks), None)
    if task is None:
        return []
    arms = _label_shift_arms(tasks[task])
    lams = ", ".join(_key(v) for v in cfg.claim_lambdas)
    out = []
    for (a, b), reference in LABEL_SHIFT_PAIRS.items():
        if a not in arms or b not in arms:
            continue
        signals = [Signal(f"{n} target accuracy", _mean(arms[n]["decides"]), "target majority class",
                          trivial[task]["target"]) for n in (a, b)]
        extra = {"selection": "training-domain validation at the final checkpoint (decides)",
                 "reported_beside": {n: {k: v for k, v in arms[n].items() if k != "decides"} for n in (a, b)},
                 "oracle_note": ORACLE_NOTES[cfg.target_split]}
        out.append(compare(f"{a}_vs_{b}_under_label_shift",
                           f"with label-shifted sources ({task}: source i keeps classes {{2i, 2i+1}} and each other "
                           f"class with probability {1 - cfg.label_shift:g}), the {a} arm's target accuracy is above "
                           f"the {b} arm's (lambda in {{{lams}}} chosen per seed by training-domain validation; "
                           f"{reference})",
                           arms[a]["decides"], arms[b]["decides"], arms=(a, b), source=NO_SIZE, signals=signals,
                           extra=extra))
    return out


def published_rotated_mnist(tasks: dict, trivial: dict) -> list[Claim]:
    out = []
    for task, published in DOMAINBED_ERM_ROTATED_MNIST.items():
        if task not in tasks or "erm" not in tasks[task]:
            continue
        erm = _runs(tasks[task], "erm")
        values = erm["per_seed_target_best_step"]
        out.append(reaches(f"erm_reaches_published_{task}",
                           f"ERM with DomainBed's MNIST_CNN reaches DomainBed's published ERM accuracy on the "
                           f"{task.rsplit('_', 1)[1]}-degree RotatedMNIST domain ({published:.3f}) within "
                           f"{PUBLISHED_TOLERANCE:g}, at each run's best training-domain validation checkpoint",
                           values, threshold=round(published - PUBLISHED_TOLERANCE, 6), source=PUBLISHED_SOURCE,
                           metric="erm target accuracy (best-validation checkpoint)",
                           signals=[Signal("erm target accuracy", _mean(values), "target majority class",
                                           trivial[task]["target"])],
                           extra={"final_checkpoint": erm["per_seed_target"]}))
    return out


def learns_colour(tasks: dict, trivial: dict) -> list[Claim]:
    if "colored_mnist" not in tasks or "erm" not in tasks["colored_mnist"]:
        return []
    erm = _runs(tasks["colored_mnist"], "erm")
    signal = Signal("erm source accuracy", _mean(erm["per_seed_source_best_step"]), "majority class",
                    trivial["colored_mnist"]["source_val_mean"])
    return [reaches("erm_learns_colour_on_colored_mnist",
                    f"ERM on ColoredMNIST learns the colour: at each run's best training-domain validation "
                    f"checkpoint its accuracy on the '-90%' domain is below {COLORED_MNIST_ERM_MAX}",
                    erm["per_seed_target_best_step"], threshold=COLORED_MNIST_ERM_MAX, source=COLORED_MNIST_SOURCE,
                    metric="erm '-90%' accuracy (best-validation checkpoint)", better="lower", signals=[signal],
                    extra={"final_checkpoint": erm["per_seed_target"]})]


def claims(metrics: dict[str, Any], cfg) -> list[Claim]:
    tasks, trivial = metrics["tasks"], metrics["trivial"]
    return (erm_reference(tasks) + probe_at_high_lambda(tasks, cfg.lambdas)
            + invariance_rises(tasks, cfg.lambdas, trivial) + source_accuracy_holds(tasks, cfg.lambdas, trivial)
            + collapse_at_large_lambda(tasks, cfg.lambdas) + label_shift(tasks, cfg, trivial)
            + published_rotated_mnist(tasks, trivial) + learns_colour(tasks, trivial))
