import dataclasses
import math

import pytest

from reprolab.methods.invalidator.claims import BASELINES, SETTINGS, claims
from reprolab.methods.invalidator.evaluate import FOLD_METRICS
from reprolab.methods.invalidator.experiment import CONFIGS

CFG = CONFIGS["quick"]
BASE = [0.50, 0.40, 0.60, 0.55, 0.45, 0.35]                 # a baseline's score in each of six folds
WOBBLE = [1, -1, 1, -1, 1, -1]
NAN = float("nan")
GRID = [f"invalidator@{setting}_{metric}_above_{baseline}"
        for setting in SETTINGS for baseline in BASELINES for metric in FOLD_METRICS]
GATED = [*GRID, "rules_beat_syntactic_precision"]


def method(per_fold: dict[str, list[float]]) -> dict:
    pooled = {metric: sum(v for v in values if not math.isnan(v)) / len(values) for metric, values in
              per_fold.items()}
    return {"all": {**pooled, "tp": 5, "fp": 1}, "per_fold": per_fold}


def metrics(gain: float = 0.2, noise: float = 0.01, rules_precision=(1.0, 1.0, 0.95, NAN, 1.0, 0.98),
            syntactic_precision=(0.6, 0.5, NAN, 0.7, 0.55, 0.6), classifier_accuracy: float = 0.7,
            converged: bool = True, n_functions: int = 20, n_patches: int = 100) -> dict:
    """The experiment's metrics, hand-made: every INVALIDATOR arm scores `gain` (+- `noise`) above every baseline
    arm in each fold; the majority class is 60 of 100 patches."""
    baseline = {metric: list(BASE) for metric in FOLD_METRICS}
    head = {metric: [b + gain + noise * w for b, w in zip(BASE, WOBBLE)] for metric in FOLD_METRICS}
    names = ["rules", "naive_invariant_diff", "all_overfitting", "syntactic_gt@0.5",
             *(arms[1] for arms in SETTINGS.values())]
    methods = {name: method(baseline) for name in names}
    methods.update({arms[0]: method(head) for arms in SETTINGS.values()})
    methods["rules"] = method({**baseline, "precision": list(rules_precision)})
    methods["syntactic_gt@0.5"] = method({**baseline, "precision": list(syntactic_precision)})
    methods["syntactic_gt@0.5"]["all"]["accuracy"] = classifier_accuracy
    classifier = {"solver": "newton-cg", "tol": 1e-10, "max_iter": 10_000, "converged": converged}
    return {"benchmark": {"n_functions": n_functions, "n_patches": n_patches, "n_overfitting": 40,
                          "n_correct": 60, "n_same_as_dev": 20},
            "evaluation": {"methods": methods, "classifier": classifier}}


def verdicts(m: dict, cfg=CFG) -> dict[str, str]:
    return {c.name: c.verdict for c in claims(m, cfg)}


def test_the_claims_and_their_kinds():
    made = claims(metrics(), CFG)
    assert [c.name for c in made] == ["benchmark_is_large_enough", "classifier_converged", "rules_high_precision",
                                      "rules_beat_syntactic_precision", *GRID]
    assert len(GRID) == 24 and len(set(GRID)) == 24
    assert {c.name for c in made if c.kind == "check"} == {"benchmark_is_large_enough", "classifier_converged"}


@pytest.mark.parametrize("gain, noise, verdict", [(0.2, 0.01, "holds"), (-0.2, 0.01, "fails"),
                                                  (0.02, 0.3, "inconclusive")])
def test_invalidator_against_each_baseline_is_decided_on_the_per_fold_differences(gain, noise, verdict):
    got = verdicts(metrics(gain=gain, noise=noise, rules_precision=BASE))
    assert {got[name] for name in GRID} == {verdict}


def test_the_comparisons_pair_the_right_arms_per_fold():
    made = {c.name: c for c in claims(metrics(gain=0.2, noise=0.0, rules_precision=BASE), CFG)}
    official = made["invalidator@official_f1_above_syntactic"].observed
    assert official["n_folds"] == 6 and official["mean_difference"] == pytest.approx(0.2)
    assert {"invalidator_gt@0.975", "syntactic_gt@0.975"} <= set(official)
    chosen = made["invalidator@chosen_recall_above_naive_diff"].observed
    assert {"invalidator_gt@chosen", "naive_invariant_diff"} <= set(chosen)
    assert "all_overfitting" in chosen["pooled (all_overfitting: reference)"]


def test_a_classifier_no_better_than_the_majority_class_gives_no_signal():
    got = verdicts(metrics(classifier_accuracy=0.6))          # majority: 60 correct of 100
    assert {got[name] for name in GATED} == {"no_signal"}
    assert got["rules_high_precision"] == "holds"                # the rules need no classifier
    assert verdicts(metrics(classifier_accuracy=0.61))["invalidator@official_f1_above_rules"] == "holds"


@pytest.mark.parametrize("precision, verdict", [((1.0, 1.0, 0.95, NAN, 1.0, 0.98), "holds"),
                                                ((0.5, 0.6, 0.55, 0.5, NAN, 0.6), "fails"),
                                                ((1.0, 0.6, 1.0, 0.8, 1.0, NAN), "inconclusive"),
                                                ((1.0, NAN, NAN, NAN, NAN, NAN), "inconclusive")])
def test_rules_high_precision_over_the_folds_where_they_flag_something(precision, verdict):
    assert verdicts(metrics(rules_precision=precision))["rules_high_precision"] == verdict


@pytest.mark.parametrize("rules, syntactic, verdict", [
    ((1.0, 1.0, 0.95, NAN, 1.0, 0.98), (0.6, 0.5, NAN, 0.7, 0.55, 0.6), "holds"),
    ((0.5, 0.6, 0.55, 0.5, 0.6, 0.5), (0.9, 0.8, 0.9, 0.85, 0.95, 0.9), "fails"),
    ((1.0, 0.5, 1.0, 0.5, 1.0, 0.5), (0.7, 0.8, 0.7, 0.8, 0.7, 0.8), "inconclusive")])
def test_rules_beat_syntactic_precision(rules, syntactic, verdict):
    got = verdicts(metrics(rules_precision=rules, syntactic_precision=syntactic))
    assert got["rules_beat_syntactic_precision"] == verdict


def test_the_checks_hold_or_fail():
    assert verdicts(metrics())["benchmark_is_large_enough"] == "holds"
    assert verdicts(metrics(n_functions=CFG.min_functions - 1))["benchmark_is_large_enough"] == "fails"
    assert verdicts(metrics(n_patches=CFG.min_patches - 1))["benchmark_is_large_enough"] == "fails"
    assert verdicts(metrics())["classifier_converged"] == "holds"
    assert verdicts(metrics(converged=False))["classifier_converged"] == "fails"


def test_statements_follow_the_config():
    cfg = dataclasses.replace(CFG, min_functions=7, evaluation=dataclasses.replace(CFG.evaluation,
                                                                                    group_by="subject"))
    made = {c.name: c for c in claims(metrics(), cfg)}
    assert ">= 7 functions" in made["benchmark_is_large_enough"].statement
    assert "leave-one-subject-out" in made["invalidator@chosen_f1_above_rules"].statement


def test_the_convergence_check_states_the_stopping_rules_of_the_solver_that_ran():
    """Newton-CG stops only on its gradient; the official lbfgs (`evaluation.official_solver`) also on a relative
    decrease of the loss, so its statement names both."""
    from reprolab.methods.invalidator.claims import classifier_converged
    from reprolab.methods.invalidator.evaluate import convergence

    newton = classifier_converged(convergence({})).statement
    lbfgs = classifier_converged(convergence({}, official_solver=True)).statement
    assert newton == "every newton-cg fit of the syntactic classifier reached max |gradient| <= 1e-10 within 10000 " \
                     "iterations"
    assert lbfgs.startswith("every lbfgs fit of the syntactic classifier stopped at max |projected gradient| <= 0.0001 "
                            "or a relative decrease of the loss below 64 machine epsilons")
