"""AIM's claims on hand-made metrics in the experiment's format: each reproduction holds, fails, stays inconclusive
or has no signal exactly when its per-seed numbers say so; the checks fail when one seed fails."""

import dataclasses

import pytest

from reprolab.methods.aim.claims import claims
from reprolab.methods.aim.experiment import CONFIGS

CFG = CONFIGS["quick"]                                              # ks 1, 3, 5
LONG_CFG = dataclasses.replace(CFG, tasks=("rotten_tomatoes_long",), ks=(1, 5, 10))

FAITHFULNESS = {                                                    # (method, part): {K: per-seed values}
    ("aim", "full"): {1: [0.90, 0.92, 0.91], 3: [0.99, 1.0, 0.99], 5: [1.0, 1.0, 1.0]},
    ("aim", "pi_ranking"): {1: [0.60, 0.62, 0.61]},
    ("aim", "other_class"): {1: [0.30, 0.32, 0.31], 3: [0.10, 0.12, 0.11], 5: [0.10, 0.10, 0.10]},
    ("aim", "subset"): {1: [0.90, 0.92, 0.91]},
    ("random", "full"): {1: [0.60, 0.61, 0.62], 3: [0.62, 0.60, 0.61], 5: [0.63, 0.62, 0.64]},
    ("l2x_k1", "full"): {1: [0.70, 0.72, 0.69]},
    ("lime", "subset"): {1: [0.80, 0.83, 0.81]},
    ("kernel_shap", "subset"): {1: [0.82, 0.80, 0.81]},
}
SECONDS = {"aim": [1.6e-4, 1.7e-4, 1.5e-4], "random": [1e-6] * 3, "l2x_k1": [1e-4] * 3,
           "lime": [0.073, 0.071, 0.075], "kernel_shap": [0.044, 0.046, 0.043]}
LONG_FAITHFULNESS = {("aim", "full"): {1: [0.90, 0.92, 0.91], 5: [0.99, 1.0, 0.99], 10: [1.0, 1.0, 1.0]},
                     ("aim", "other_class"): {1: [0.30, 0.32, 0.31], 5: [0.1] * 3, 10: [0.1] * 3},
                     ("random", "full"): {1: [0.60, 0.61, 0.62], 5: [0.62, 0.60, 0.61], 10: [0.63, 0.62, 0.64]}}
REMOVAL = {("aim", "subset"): {5: [1.2, 1.3, 1.25], 10: [2.0, 2.1, 1.9]},
           ("lime", "subset"): {5: [1.0, 1.05, 1.02], 10: [1.7, 1.8, 1.75]},
           ("random", "full"): {5: [0.05, 0.06, 0.05], 10: [0.10, 0.11, 0.10]}}


def stats(values, seeds):
    values = list(values)[:seeds]
    return {"mean": sum(values) / len(values), "se": 0.0, "per_seed": values}


def metrics(faithfulness=None, removal=None, seconds=None, label_share=(600, 400), subset_label_share=(60, 40),
            pi_shift=(0.45, 0.46, 0.40), train=(30.0, 32.0, 31.0), task="rotten_tomatoes", seeds=3):
    """One task's grid summary as `experiment.summarize_task` writes it (only the fields the claims read)."""
    faithfulness = {**FAITHFULNESS, **(faithfulness or {})}
    removal = removal or {}
    methods = {}
    for (method, part), by_k in faithfulness.items():
        removal_by_k = removal.get((method, part), {})
        methods.setdefault(method, {})[part] = {
            str(k): {"faithfulness": stats(v, seeds), "removal": stats(removal_by_k.get(k, [0.0] * 3), seeds)}
            for k, v in by_k.items()}
    for method, block in methods.items():
        block["seconds_per_item"] = stats({**SECONDS, **(seconds or {})}[method], seeds)
        block["train_seconds"] = stats(train if method == "aim" else [0.0] * 3, seeds)
    methods["aim"]["pi_shift"] = stats(pi_shift, seeds)
    black_box = {s: {"label_share": list(label_share), "subset_label_share": list(subset_label_share)}
                 for s in range(seeds)}
    return {"tasks": {task: {"protocols": {"clean": {"methods": methods}}, "black_box": black_box}}}


def claim(m, name, cfg=CFG):
    (found,) = [c for c in claims(m, cfg) if c.name == name]
    return found


def long_metrics(removal=None, seeds=3):
    return metrics({**LONG_FAITHFULNESS, **{("lime", "subset"): {1: [0.8] * 3, 5: [1.0] * 3, 10: [1.0] * 3},
                                            ("aim", "subset"): {1: [0.9] * 3, 5: [1.0] * 3, 10: [1.0] * 3}}},
                   {**REMOVAL, **(removal or {})}, task="rotten_tomatoes_long", seeds=seeds)


def test_every_claim_holds_on_consistent_seeds_and_the_adaptive_bound_is_no_claim():
    found = claims(metrics(), CFG)
    assert [(c.name, c.kind) for c in found] == [
        ("aim_beats_random", "reproduction"), ("aim_beats_l2x", "reproduction"),
        ("w_ranking_beats_pi_ranking", "reproduction"), ("other_class_below_random", "reproduction"),
        ("aim_beats_lime", "reproduction"), ("aim_beats_kernel_shap", "reproduction"),
        ("one_model_every_k", "check"), ("pi_moves", "check"), ("aim_under_5ms_per_item", "check"),
        ("aim_cheaper_per_item_than_lime", "reproduction"), ("aim_cheaper_per_item_than_kernel_shap", "reproduction")]
    assert all(c.verdict == "holds" for c in found), [(c.name, c.verdict) for c in found]


def test_deltas_name_their_source_and_the_gate_reports_the_majority_rate():
    random = claim(metrics(), "aim_beats_random")
    assert "above 0.2 (delta: spec §7 check 1)" in random.expected
    assert random.observed["random"] == [0.60, 0.61, 0.62]
    assert random.observed["signal"] == [{"aim_faithfulness@1": pytest.approx(0.91), "majority_class_rate": 0.6,
                                          "beats_trivial": True}]
    assert "above 0 (delta: the paper's abstract states no size)" in claim(metrics(), "aim_beats_lime").expected


@pytest.mark.parametrize("name, faithfulness, verdict", [
    ("aim_beats_random", {("random", "full"): {1: [0.85, 0.87, 0.86], 3: [0.6] * 3, 5: [0.6] * 3}}, "fails"),
    ("aim_beats_random", {("random", "full"): {1: [0.60, 0.80, 0.65], 3: [0.6] * 3, 5: [0.6] * 3}}, "inconclusive"),
    ("aim_beats_l2x", {("l2x_k1", "full"): {1: [0.95, 0.96, 0.95]}}, "fails"),
    ("aim_beats_l2x", {("l2x_k1", "full"): {1: [0.95, 0.80, 0.90]}}, "inconclusive"),
    ("w_ranking_beats_pi_ranking", {("aim", "pi_ranking"): {1: [0.85, 0.86, 0.86]}}, "fails"),
    ("w_ranking_beats_pi_ranking", {("aim", "pi_ranking"): {1: [0.60, 0.80, 0.65]}}, "inconclusive"),
    ("other_class_below_random", {("aim", "other_class"): {1: [0.55, 0.56, 0.57], 3: [0.1] * 3, 5: [0.1] * 3}},
     "fails"),
    ("other_class_below_random", {("aim", "other_class"): {1: [0.30, 0.50, 0.35], 3: [0.1] * 3, 5: [0.1] * 3}},
     "inconclusive"),
    ("aim_beats_lime", {("lime", "subset"): {1: [0.95, 0.96, 0.95]}}, "fails"),
    ("aim_beats_lime", {("lime", "subset"): {1: [0.95, 0.80, 0.90]}}, "inconclusive"),
    ("aim_beats_kernel_shap", {("kernel_shap", "subset"): {1: [0.95, 0.96, 0.95]}}, "fails"),
    ("aim_beats_kernel_shap", {("kernel_shap", "subset"): {1: [0.95, 0.80, 0.90]}}, "inconclusive"),
])
def test_faithfulness_claims_are_paired_per_seed(name, faithfulness, verdict):
    c = claim(metrics(faithfulness), name)
    assert (c.kind, c.verdict) == ("reproduction", verdict)


def test_the_other_class_claim_takes_the_worst_k_of_each_seed():
    """Seed 1 is >= 0.29 below random at K = 1 and 3 but only 0.05 at K = 5: its gap is 0.05, which leaves the
    claim inconclusive (the means over seeds per K are all > 0.2 below random)."""
    other = {1: [0.30, 0.32, 0.31], 3: [0.10, 0.12, 0.11], 5: [0.10, 0.57, 0.10]}
    near = claim(metrics({("aim", "other_class"): other}), "other_class_below_random")
    assert near.observed["smallest gap over K of random - other_class"] == pytest.approx([0.30, 0.05, 0.31])
    assert near.verdict == "inconclusive"
    failing = {k: [0.62] * 3 for k in (1, 3, 5)}                                     # random's level
    assert claim(metrics({("aim", "other_class"): failing}), "other_class_below_random").verdict == "fails"


@pytest.mark.parametrize("name", ["aim_beats_random", "aim_beats_l2x", "w_ranking_beats_pi_ranking",
                                  "other_class_below_random"])
def test_full_item_faithfulness_claims_have_no_signal_when_aim_does_not_beat_the_majority_rate(name):
    """The black box gives 95 % of the items one class: a kept word that gives it is faithful 95 % of the time."""
    gated = claim(metrics(label_share=(950, 50)), name)
    assert gated.verdict == "no_signal"
    assert gated.observed["signal"][0]["majority_class_rate"] == pytest.approx(0.95)
    assert claim(metrics(label_share=(950, 50)), "aim_beats_lime").verdict == "holds"       # its items: 60 %


@pytest.mark.parametrize("name", ["aim_beats_lime", "aim_beats_kernel_shap"])
def test_subset_claims_are_gated_on_the_subset_majority_rate(name):
    assert claim(metrics(subset_label_share=(95, 5)), name).verdict == "no_signal"
    assert claim(metrics(subset_label_share=(95, 5)), "aim_beats_random").verdict == "holds"


def test_one_seed_leaves_every_reproduction_inconclusive_and_the_checks_decided():
    found = claims(metrics(seeds=1), CFG)
    assert {c.verdict for c in found if c.kind == "reproduction"} == {"inconclusive"}
    assert {c.verdict for c in found if c.kind == "check"} == {"holds"}
    assert claim(metrics(seeds=1), "aim_beats_random").observed["n_seeds"] == 1


@pytest.mark.parametrize("baseline", ["lime", "kernel_shap"])
@pytest.mark.parametrize("aim_seconds, verdict", [
    ([0.15, 0.16, 0.155], "fails"),
    ([0.02, 0.09, 0.03], "inconclusive"),
])
def test_cost_claims_compare_seconds_per_item_per_seed(baseline, aim_seconds, verdict):
    c = claim(metrics(seconds={"aim": aim_seconds}), f"aim_cheaper_per_item_than_{baseline}")
    assert (c.kind, c.verdict) == ("reproduction", verdict)


def test_cost_claim_reports_training_and_the_break_even_number_of_items():
    c = claim(metrics(), "aim_cheaper_per_item_than_lime")
    assert c.observed["aim_train_seconds"] == [30.0, 32.0, 31.0]
    assert c.observed["break_even_items"] == pytest.approx([30 / (0.073 - 1.6e-4), 32 / (0.071 - 1.7e-4),
                                                            31 / (0.075 - 1.5e-4)])
    slower = claim(metrics(seconds={"aim": [0.08, 0.01, 0.01]}), "aim_cheaper_per_item_than_lime")
    assert slower.observed["break_even_items"][0] == "never"


@pytest.mark.parametrize("removal, lime_verdict, random_verdict", [
    ({}, "holds", "holds"),
    ({("lime", "subset"): {5: [1.0, 1.05, 1.02], 10: [2.2, 2.3, 2.1]}}, "fails", "holds"),
    ({("lime", "subset"): {5: [1.0, 1.05, 1.02], 10: [1.7, 2.2, 1.75]}}, "inconclusive", "holds"),
    ({("random", "full"): {5: [0.20, 0.21, 0.20], 10: [0.10, 0.11, 0.10]}}, "holds", "fails"),
    ({("random", "full"): {5: [0.05, 0.20, 0.06], 10: [0.10, 0.11, 0.10]}}, "holds", "inconclusive"),
])
def test_long_document_removal_claims_take_the_worst_of_k_5_and_10(removal, lime_verdict, random_verdict):
    m = long_metrics(removal)
    assert claim(m, "aim_removal_beats_lime", LONG_CFG).verdict == lime_verdict
    assert claim(m, "aim_removal_10x_random", LONG_CFG).verdict == random_verdict


def test_removal_claims_only_on_long_documents_and_with_one_seed_inconclusive():
    assert not [c for c in claims(metrics(), CFG) if "removal" in c.name]
    single = long_metrics(seeds=1)
    assert claim(single, "aim_removal_beats_lime", LONG_CFG).verdict == "inconclusive"


@pytest.mark.parametrize("name, override, ok", [
    ("one_model_every_k", {"faithfulness": {("aim", "full"): {1: [0.90, 0.92, 0.91], 3: [0.99, 0.91, 0.99],
                                                               5: [1.0, 1.0, 1.0]}}}, True),     # within 0.02
    ("one_model_every_k", {"faithfulness": {("aim", "full"): {1: [0.90, 0.92, 0.91], 3: [0.99, 0.85, 0.99],
                                                               5: [1.0, 1.0, 1.0]}}}, False),    # seed 1 drops
    ("pi_moves", {"pi_shift": (0.45, -0.30, 0.40)}, True),
    ("pi_moves", {"pi_shift": (0.45, 0.01, 0.40)}, False),
    ("aim_under_5ms_per_item", {"seconds": {"aim": [1.6e-4, 0.006, 1.5e-4]}}, False),
])
def test_checks_fail_when_one_seed_fails(name, override, ok):
    c = claim(metrics(**override), name)
    assert (c.kind, c.holds) == ("check", ok)


def test_claims_are_decided_under_the_clean_protocol_and_name_it():
    """The official protocol's numbers sit beside the clean ones; the claims read the clean protocol, or the
    official one when the run has no other, and their statements say which."""
    m = metrics()
    block = m["tasks"]["rotten_tomatoes"]
    worse = metrics({("aim", "full"): {1: [0.60, 0.61, 0.62], 3: [1.0] * 3, 5: [1.0] * 3}})
    block["protocols"]["official"] = worse["tasks"]["rotten_tomatoes"]["protocols"]["clean"]
    clean = claim(m, "aim_beats_random")
    assert clean.verdict == "holds" and clean.statement.startswith("rotten_tomatoes, clean protocol: ")
    official_only = dataclasses.replace(CFG, protocols=("official",))
    official = claim(m, "aim_beats_random", official_only)
    assert official.verdict == "fails" and official.statement.startswith("rotten_tomatoes, official protocol: ")


def test_claims_of_later_tasks_carry_the_task_name():
    m = metrics()
    m["tasks"]["debates"] = m["tasks"]["rotten_tomatoes"]
    names = [c.name for c in claims(m, CFG)]
    assert names.count("aim_beats_random") == 1 and "aim_beats_random__debates" in names
