"""The claims of trojan_filter fed hand-made metrics in the experiment's format (`metrics["runs"]`, one record per
seed): every reproduction claim gives holds, fails, inconclusive and no_signal, and the checks hold or fail."""

import dataclasses

import pytest

from reprolab.methods.trojan_filter.claims import best_filter, claims
from reprolab.methods.trojan_filter.experiment import CONFIGS, PAPER

QUICK = CONFIGS["quick"]


def filter_record(asr, ftc_fnr=0.05, ftc_fpr=0.03, clean=0.95):
    """A filter's record; `asr=None`: the filter collapsed (not scored)."""
    if asr is None:
        return {"collapsed": True, "filtered_clean_accuracy": 0.085, "defender_size": 1800}
    return {"collapsed": False, "filtered_clean_accuracy": clean, "held_out_filtered_accuracy": clean,
            "defender_size": 1800, "asr_filtered": {"mean": asr, "per_trigger": [asr]},
            "ftc": {"fpr": ftc_fpr, "fnr": ftc_fnr, "fnr_on_hits": ftc_fnr}}


def block(asr=1.0, untriggered=0.01, clean=0.96, IF=0.3, VIF=0.02, AIF=0.1, filtered_clean=0.95, NeuralCleanse=0.9,
          FinePruning=0.5, Februus=0.4, strip_fnr=1.0, ftc_fnr=0.05, ftc_fpr=0.03, sweep=None):
    """One attack's record for one seed; `sweep`: every filter's ASR at the smallest swept defender set (200)."""
    record = {"no_defense": {"asr": {"mean": asr, "per_trigger": [asr]}, "clean_accuracy": clean,
                             "untriggered_target_rate": untriggered},
              "STRIP": {"fpr": 0.01, "fnr": strip_fnr, "fnr_on_hits": strip_fnr},
              **{d: filter_record(a, ftc_fnr, ftc_fpr, filtered_clean) for d, a in (("IF", IF), ("VIF", VIF),
                                                                                    ("AIF", AIF))},
              **{b: {"asr": {"mean": a}, "clean_accuracy": 0.95, "flagged": []}
                 for b, a in (("NeuralCleanse", NeuralCleanse), ("FinePruning", FinePruning), ("Februus", Februus))}}
    if sweep is not None:
        record["defender_sweep"] = {"1000": {d: filter_record(0.5) for d in ("IF", "VIF", "AIF")},
                                    "200": {"IF": filter_record(sweep + 0.2), "VIF": filter_record(sweep),
                                            "AIF": filter_record(None)}}
    return record


def vary(**lists):
    """Per-seed keyword arguments of `block` from per-seed lists: vary(IF=[a, b]) -> [{"IF": a}, {"IF": b}]."""
    n = len(next(iter(lists.values())))
    return [{k: v[i] for k, v in lists.items()} for i in range(n)]


def make_metrics(badnet_plus=None, wanet=None, norm=None, benign=0.96, majority=0.11, dataset="MNIST"):
    """Metrics of as many seeds as the per-seed lists have (3 when none is given); `norm`: the largest alpha's
    image-BI+ record per seed (a norm sweep at 0.3 and 0.4)."""
    n = len(next((x for x in (badnet_plus, wanet, norm) if x is not None), [{}] * 3))
    attacks = {"badnet_plus": badnet_plus or [{}] * n, "wanet": wanet or [{}] * n}
    runs = []
    for i in range(n):
        run = {"seed": i, "benign": {"clean_accuracy": benign, "majority_class_rate": majority, "epochs": 2},
               "attacks": {a: block(**kwargs[i]) for a, kwargs in attacks.items()}}
        if norm is not None:
            run["norm_sweep"] = {"0.3": block(), "0.4": block(**norm[i])}
        runs.append(run)
    return {"dataset": dataset, "seeds": list(range(n)), "runs": runs}


def by_name(metrics, cfg=QUICK):
    return {c.name: c for c in claims(metrics, cfg)}


IF_ASR = [0.3, 0.25, 0.35]
LOW = [0.02, 0.03, 0.025]
NO_ATTACK = [{"asr": 0.01, "untriggered": 0.02}] * 3           # the trigger does nothing the classifier does not
AT_MAJORITY = [{"clean": 0.1}] * 3                             # the classifier is no better than the majority class

CASES = [
    ("vif_cuts_badnet", "holds", {"badnet_plus": vary(IF=IF_ASR, VIF=LOW)}),
    ("vif_cuts_badnet", "fails", {"badnet_plus": vary(IF=IF_ASR, VIF=[0.3, 0.28, 0.33])}),
    ("vif_cuts_badnet", "inconclusive", {"badnet_plus": vary(IF=IF_ASR, VIF=[0.05, 0.2, 0.1])}),
    ("vif_cuts_badnet", "no_signal", {"badnet_plus": NO_ATTACK}),
    ("vif_brings_badnet_asr_low", "holds", {"badnet_plus": vary(VIF=LOW)}),
    ("vif_brings_badnet_asr_low", "fails", {"badnet_plus": vary(VIF=[0.2, 0.22, 0.21])}),
    ("vif_brings_badnet_asr_low", "inconclusive", {"badnet_plus": vary(VIF=[0.01, 0.09, 0.05])}),
    ("vif_brings_badnet_asr_low", "no_signal", {"badnet_plus": AT_MAJORITY}),
    ("aif_beats_if_badnet_plus", "holds", {"badnet_plus": vary(IF=IF_ASR, AIF=[0.1, 0.12, 0.08])}),
    ("aif_beats_if_badnet_plus", "fails", {"badnet_plus": vary(IF=IF_ASR, AIF=[0.5, 0.45, 0.55])}),
    ("aif_beats_if_badnet_plus", "inconclusive", {"badnet_plus": vary(IF=IF_ASR, AIF=[0.2, 0.4, 0.3])}),
    ("aif_beats_if_wanet", "no_signal", {"wanet": NO_ATTACK}),
    ("filtering_beats_mitigation_baselines_wanet", "holds", {"wanet": vary(VIF=LOW, NeuralCleanse=[0.4, 0.5, 0.45])}),
    ("filtering_beats_mitigation_baselines_wanet", "fails", {"wanet": vary(VIF=LOW, Februus=[0.001, 0.002, 0.001])}),
    ("filtering_beats_mitigation_baselines_wanet", "inconclusive",
     {"wanet": vary(VIF=LOW, FinePruning=[0.01, 0.05, 0.03])}),
    ("filtering_beats_mitigation_baselines_badnet_plus", "no_signal", {"badnet_plus": AT_MAJORITY}),
    ("wanet_strip_misses_filter_catches", "holds", {"wanet": vary(ftc_fnr=[0.05, 0.07, 0.06],
                                                                  strip_fnr=[1.0, 0.98, 0.99])}),
    ("wanet_strip_misses_filter_catches", "fails", {"wanet": vary(ftc_fnr=[0.9, 0.85, 0.88],
                                                                  strip_fnr=[0.1, 0.12, 0.11])}),
    ("wanet_strip_misses_filter_catches", "inconclusive", {"wanet": vary(ftc_fnr=[0.3, 0.6, 0.5],
                                                                         strip_fnr=[0.5, 0.4, 0.55])}),
    # FtC flags a tenth of the clean inputs but catches only 2 % of the Trojan ones: no better than random flagging
    ("wanet_strip_misses_filter_catches", "no_signal", {"wanet": vary(ftc_fnr=[0.98, 0.98, 0.98],
                                                                      ftc_fpr=[0.1, 0.1, 0.1])}),
    ("wanet_strip_misses_filter_catches", "no_signal", {"wanet": NO_ATTACK}),
    ("robust_to_small_defender_set_badnet_plus", "holds", {"badnet_plus": vary(sweep=[0.04, 0.05, 0.03])}),
    ("robust_to_small_defender_set_badnet_plus", "fails", {"badnet_plus": vary(sweep=[0.3, 0.35, 0.32])}),
    ("robust_to_small_defender_set_badnet_plus", "inconclusive", {"badnet_plus": vary(sweep=[0.05, 0.15, 0.1])}),
    ("robust_to_small_defender_set_badnet_plus", "no_signal",
     {"badnet_plus": [{**k, "sweep": 0.04} for k in NO_ATTACK]}),
    ("robust_to_large_norm_triggers", "holds", {"norm": vary(VIF=LOW)}),
    ("robust_to_large_norm_triggers", "fails", {"norm": vary(IF=IF_ASR, VIF=IF_ASR, AIF=IF_ASR)}),
    ("robust_to_large_norm_triggers", "inconclusive", {"norm": vary(VIF=[0.05, 0.15, 0.1])}),
    ("robust_to_large_norm_triggers", "no_signal", {"norm": [{**k, "VIF": 0.02} for k in NO_ATTACK]}),
]


@pytest.mark.parametrize("name, verdict, seeds", CASES, ids=[f"{n}-{v}" for n, v, _ in CASES])
def test_reproduction_claims_give_every_verdict(name, verdict, seeds):
    claim = by_name(make_metrics(**seeds))[name]
    assert claim.kind == "reproduction" and claim.verdict == verdict, claim.observed
    if verdict == "inconclusive":
        assert claim.observed["seeds_needed"] > 3
    if verdict == "no_signal":
        assert any(not s["beats_trivial"] for s in claim.observed["signal"])


def test_one_seed_never_decides():
    metrics = make_metrics(badnet_plus=vary(IF=[0.3], VIF=[0.001], sweep=[0.01]), wanet=vary(IF=[0.3]),
                           norm=vary(VIF=[0.001]))
    reproductions = [c for c in claims(metrics, QUICK) if c.kind == "reproduction"]
    assert len(reproductions) == 9 and {c.verdict for c in reproductions} == {"inconclusive"}


def test_vif_is_paired_against_half_of_if_by_seed():
    claim = by_name(make_metrics(badnet_plus=vary(IF=IF_ASR, VIF=LOW)))["vif_cuts_badnet"]
    assert claim.observed["0.5 x IF"] == pytest.approx([0.15, 0.125, 0.175])
    assert claim.observed["mean_difference"] == pytest.approx(0.125) and "spec §7 A3" in claim.expected


def test_a_collapsed_filter_counts_as_missing_on_its_seed():
    claim = by_name(make_metrics(badnet_plus=vary(IF=IF_ASR + [0.3], AIF=[0.1, 0.12, None, 0.08])))[
        "aif_beats_if_badnet_plus"]
    assert claim.observed["n_seeds"] == 3 and claim.verdict == "holds"


def test_the_best_filter_and_baseline_are_chosen_per_seed():
    metrics = make_metrics(wanet=vary(IF=[0.01, 0.3], VIF=[None, 0.02], FinePruning=[0.2, 0.05]))
    claim = by_name(metrics)["filtering_beats_mitigation_baselines_wanet"]
    assert claim.observed["best_filter"] == ["IF", "VIF"] and claim.observed["best_baseline"] == ["FinePruning"] * 2
    assert claim.observed["best filter"] == [0.01, 0.02] and claim.observed["best baseline"] == [0.2, 0.05]


def test_sweep_claims_use_the_smallest_defender_set_and_the_largest_alpha():
    metrics = make_metrics(badnet_plus=vary(sweep=[0.04, 0.05, 0.03]), norm=vary(VIF=LOW))
    small = by_name(metrics)["robust_to_small_defender_set_badnet_plus"]
    assert small.observed["defender_size"] == 200 and small.observed["best_filter"] == ["VIF"] * 3
    assert "only 200 defender images" in small.statement
    large = by_name(metrics)["robust_to_large_norm_triggers"]
    assert large.observed["alpha"] == 0.4 and large.observed["best filter ASR"] == LOW
    assert best_filter({"IF": filter_record(0.5), "VIF": filter_record(None)}, ("IF", "VIF")) == ("IF", 0.5)
    assert best_filter({"IF": filter_record(None)}, ("IF",))[0] is None


def test_attacks_are_effective_is_a_check_on_every_seed():
    claim = by_name(make_metrics())["attacks_are_effective"]
    assert claim.kind == "check" and claim.holds
    weak = by_name(make_metrics(wanet=vary(asr=[1.0, 0.85, 1.0])))["attacks_are_effective"]
    assert weak.verdict == "fails" and weak.observed["wanet"]["asr"] == [1.0, 0.85, 1.0]
    costly = by_name(make_metrics(badnet_plus=vary(clean=[0.96, 0.96, 0.93])))["attacks_are_effective"]
    assert costly.verdict == "fails"
    cifar = dataclasses.replace(PAPER, attacks=("badnet_plus", "wanet"))
    strict = by_name(make_metrics(wanet=vary(asr=[0.95] * 3), dataset="CIFAR-10 (JPEG copy)"), cifar)
    assert strict["attacks_are_effective"].verdict == "fails"
    assert "on CIFAR-10 (JPEG copy)" in strict["attacks_are_effective"].statement and "0.97" in strict[
        "attacks_are_effective"].statement
    assert by_name(make_metrics(wanet=vary(asr=[0.95] * 3)))["attacks_are_effective"].holds


def test_filtered_clean_accuracy_is_a_check_against_the_configured_floor():
    claim = by_name(make_metrics())["filtered_clean_accuracy_above_floor"]
    assert claim.kind == "check" and claim.holds and ">= 0.9 on MNIST" in claim.statement
    collapsed = by_name(make_metrics(wanet=vary(VIF=[0.02, None, 0.02])))["filtered_clean_accuracy_above_floor"]
    assert collapsed.verdict == "fails" and collapsed.observed["wanet/VIF"]["collapsed"] == [False, True, False]
    low = make_metrics(badnet_plus=vary(filtered_clean=[0.95, 0.88, 0.95]))
    assert by_name(low)["filtered_clean_accuracy_above_floor"].verdict == "fails"
    lenient = by_name(low, dataclasses.replace(QUICK, collapse_floor=0.85))["filtered_clean_accuracy_above_floor"]
    assert lenient.holds and ">= 0.85" in lenient.statement


def test_claims_follow_the_configured_attacks_and_defenses():
    cfg = dataclasses.replace(QUICK, attacks=("wanet",), defenses=("IF", "VIF"))
    metrics = make_metrics()
    names = [c.name for c in claims(metrics, cfg)]
    assert names == ["attacks_are_effective", "filtered_clean_accuracy_above_floor",
                     "filtering_beats_mitigation_baselines_wanet", "wanet_strip_misses_filter_catches"]
