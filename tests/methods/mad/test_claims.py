"""MAD's claims on hand-made metrics in the experiment's format: each reproduction holds, fails, stays
inconclusive or has no signal exactly when its numbers say so."""

import dataclasses

import pytest

from reprolab.methods.mad.claims import claims
from reprolab.methods.mad.experiment import CONFIGS

CFG = CONFIGS["quick"]
GOOD, CHANCE_LEVEL = [0.90, 0.92, 0.91], [0.08, 0.09, 0.10]      # digits: 10 classes, chance 0.1


def stats(values):
    return {"mean": sum(values) / len(values), "per_seed": list(values)}


def arm(accuracy=GOOD, drop=(0.0, 0.0, 0.0), js_g=(0.004, 0.005, 0.004), js_ema=(0.001, 0.001, 0.002),
        seconds=0.1):
    return {"last_k_accuracy": stats(accuracy), "forgetting_drop": stats(drop), "js_step_G": stats(js_g),
            "js_step_G_ema": stats(js_ema), "js_ratio": stats([g / e for g, e in zip(js_g, js_ema)]),
            "seconds_per_iteration": stats([seconds] * 3)}


def metrics(mad=None, base=None, teacher_accuracy=0.99):
    return {"teachers": {"digits": {"name": "digits_cnn16", "test_accuracy": teacher_accuracy}},
            "cases": {"digits": {"mad": mad or arm(), "base": base or arm()}}}


def claim(m, name, cfg=CFG):
    (found,) = [c for c in claims(m, cfg) if c.name == name]
    return found


@pytest.mark.parametrize("mad, base, verdict", [
    ([0.90, 0.92, 0.91], [0.85, 0.86, 0.86], "holds"),
    ([0.80, 0.81, 0.80], [0.85, 0.86, 0.86], "fails"),
    ([0.90, 0.84, 0.87], [0.86, 0.87, 0.86], "inconclusive"),
    ([0.06, 0.08, 0.07], [0.01, 0.02, 0.01], "no_signal"),          # both students at or below chance
])
def test_accuracy_claim_is_paired_per_seed(mad, base, verdict):
    c = claim(metrics(arm(accuracy=mad), arm(accuracy=base)), "mad_accuracy_ge_base")
    assert (c.kind, c.verdict) == ("reproduction", verdict)
    assert c.observed["MAD"] == mad and c.observed["DFAD"] == base


def test_one_seed_never_decides_the_accuracy_claim():
    single = metrics(arm(accuracy=[0.95]), arm(accuracy=[0.50]))
    assert claim(single, "mad_accuracy_ge_base").verdict == "inconclusive"


@pytest.mark.parametrize("mad_drop, base_drop, accuracy, verdict", [
    ([-0.02, -0.03, -0.02], [0.03, 0.02, 0.04], GOOD, "holds"),
    ([0.03, 0.02, 0.04], [-0.02, -0.03, -0.02], GOOD, "fails"),
    ([0.01, -0.03, 0.02], [0.00, 0.00, 0.01], GOOD, "inconclusive"),
    ([-0.02, -0.03, -0.02], [0.03, 0.02, 0.04], CHANCE_LEVEL, "no_signal"),
])
def test_forgetting_claim_is_paired_per_seed(mad_drop, base_drop, accuracy, verdict):
    c = claim(metrics(arm(accuracy=accuracy, drop=mad_drop), arm(drop=base_drop)), "mad_forgets_less")
    assert (c.kind, c.verdict) == ("reproduction", verdict)


@pytest.mark.parametrize("js_g, js_ema, verdict", [
    ([0.004, 0.005, 0.004], [0.001, 0.001, 0.002], "holds"),
    ([0.001, 0.001, 0.002], [0.004, 0.005, 0.004], "fails"),
    ([0.004, 0.001, 0.003], [0.001, 0.003, 0.003], "inconclusive"),
])
def test_drift_claim_compares_the_two_generators_of_the_mad_runs(js_g, js_ema, verdict):
    mad = arm(accuracy=CHANCE_LEVEL, js_g=js_g, js_ema=js_ema)     # no student gate: the probe uses the teacher
    c = claim(metrics(mad, arm(js_g=js_ema, js_ema=js_g)), "ema_generator_drifts_less")
    assert (c.kind, c.verdict) == ("reproduction", verdict)
    assert c.observed["G"] == js_g and c.observed["G~"] == js_ema


def test_teacher_and_cost_are_checks_against_the_spec():
    assert claim(metrics(), "teachers_reach_reference_accuracy").verdict == "holds"
    low = claim(metrics(teacher_accuracy=0.97), "teachers_reach_reference_accuracy")
    assert (low.kind, low.verdict) == ("check", "fails")
    cifar = metrics()
    cifar["teachers"]["cifar10"] = {"name": "cifar10_resnet34", "test_accuracy": 0.5}   # no sourced minimum
    assert claim(cifar, "teachers_reach_reference_accuracy").holds
    assert claim(metrics(arm(seconds=0.24), arm(seconds=0.1)), "mad_cost_within_2_5x").verdict == "holds"
    slow = claim(metrics(arm(seconds=0.26), arm(seconds=0.1)), "mad_cost_within_2_5x")
    assert (slow.kind, slow.verdict) == ("check", "fails")


def test_statements_come_from_the_config():
    case = dataclasses.replace(CFG.digits, last_k=7, forgetting_lag=40,
                               distill=dataclasses.replace(CFG.digits.distill, alpha=0.9))
    cfg = dataclasses.replace(CFG, digits=case)
    assert "alpha = 0.9)" in claim(metrics(), "ema_generator_drifts_less", cfg).statement
    assert "last 7 evaluations" in claim(metrics(), "mad_accuracy_ge_base", cfg).statement
    assert "40 iterations earlier" in claim(metrics(), "mad_forgets_less", cfg).statement


def test_the_accuracy_claim_reads_the_best_accuracy_under_best_selection():
    """With `<case>.selection=best` the accuracy claim and its chance gate compare each student's best evaluation
    (`best_accuracy`); the statement says so."""
    cfg = dataclasses.replace(CFG, digits=dataclasses.replace(CFG.digits, selection="best"))
    m = metrics(arm(accuracy=CHANCE_LEVEL), arm(accuracy=CHANCE_LEVEL))     # last-k at chance ...
    for block, best in ((m["cases"]["digits"]["mad"], [0.90, 0.92, 0.91]), (m["cases"]["digits"]["base"],
                                                                             [0.85, 0.86, 0.86])):
        block["best_accuracy"] = stats(best)                              # ... the best evaluations well above
    c = claim(m, "mad_accuracy_ge_base", cfg)
    assert c.verdict == "holds" and c.observed["MAD"] == [0.90, 0.92, 0.91]
    assert "the best of its evaluations" in c.statement
    assert claim(m, "mad_accuracy_ge_base").verdict == "no_signal"        # the default reads last_k_accuracy
