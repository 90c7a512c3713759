"""The claims on hand-made metrics in the experiment's format: each reproduction holds, fails, is inconclusive and
has no signal where its numbers say so; each check holds and fails."""

import dataclasses

import pytest

from reprolab.methods.safl.claims import claims
from reprolab.methods.safl.experiment import CONFIGS

CFG = dataclasses.replace(CONFIGS["quick"], seeds=3)
PARTS = ("train", "test_uniform", "test_rare", "test_curved")
GOOD_NED = [0.6, 0.62, 0.61]


def scores(word: list[float], ned: list[float]) -> dict:
    return {"word_accuracy": {"mean": sum(word) / len(word), "per_seed": word},
            "one_minus_ned": {"mean": sum(ned) / len(ned), "per_seed": ned}}


def metrics(arms: dict[str, tuple[list[float], list[float]]], constant_word: float = 0.0, constant_ned: float = 0.25,
            first5=(20.0, 21.0, 19.0), last100=(5.0, 6.0, 5.5), grad=(1.3, 0.9, 1.1)) -> dict:
    """Every run scores (word accuracy, 1-NED) per seed on every set; the best constant answer scores
    (constant_word, constant_ned) on every test set."""
    per_seed = {"loss_first5": first5, "loss_last100": last100, "rectifier_grad_norm": grad}
    runs = {run: {**{part: scores(*values) for part in PARTS},
                  **{key: {"per_seed": list(v)} for key, v in per_seed.items()}} for run, values in arms.items()}
    best = {"word_accuracy": {"answer": "444", "score": constant_word},
            "one_minus_ned": {"answer": "4444", "score": constant_ned}}
    return {"data": {part: {"best_constant": best} for part in PARTS if part.startswith("test_")}, "runs": runs}


def claim(record: dict, name: str):
    return next(c for c in claims(record, CFG) if c.name == name)


COMPARISONS = [("focal_beats_nll_on_rare_characters", "focal", "nll"),
               ("rectifier_helps_on_curved_text", "nll", "nll_no_stn"),
               ("safl_beats_crnn_ctc", "nll", "crnn_ctc")]


@pytest.mark.parametrize("name, a, b", COMPARISONS)
def test_each_comparison_is_decided_on_paired_word_accuracy(name, a, b):
    higher, lower = [0.30, 0.34, 0.31], [0.10, 0.12, 0.13]
    assert claim(metrics({a: (higher, GOOD_NED), b: (lower, [0.9, 0.9, 0.9])}), name).verdict == "holds"
    assert claim(metrics({a: (lower, GOOD_NED), b: (higher, GOOD_NED)}), name).verdict == "fails"
    noisy = [0.40, 0.05, 0.30]
    assert claim(metrics({a: (noisy, GOOD_NED), b: (lower, GOOD_NED)}), name).verdict == "inconclusive"
    one_seed = claim(metrics({a: ([0.5], [0.7]), b: ([0.1], [0.6])}), name)
    assert one_seed.verdict == "inconclusive" and one_seed.kind == "reproduction"
    observed = claim(metrics({a: (higher, GOOD_NED), b: (lower, GOOD_NED)}), name).observed
    assert observed[a] == higher and observed["one_minus_ned"][b] == GOOD_NED and observed["n_seeds"] == 3


@pytest.mark.parametrize("name, a, b", COMPARISONS)
def test_a_model_that_does_not_beat_the_best_constant_gives_no_signal(name, a, b):
    higher, lower = [0.30, 0.34, 0.31], [0.10, 0.12, 0.13]
    below_constant_ned = metrics({a: (higher, GOOD_NED), b: (lower, [0.2, 0.3, 0.2])}, constant_ned=0.25)
    assert claim(below_constant_ned, name).verdict == "no_signal"
    assert claim(metrics({a: (higher, GOOD_NED), b: (lower, GOOD_NED)}, constant_ned=0.7), name).verdict == "no_signal"
    below_constant_words = metrics({a: (higher, GOOD_NED), b: (lower, GOOD_NED)}, constant_word=0.2)
    gated = claim(below_constant_words, name)
    assert gated.verdict == "no_signal"
    assert {f"{b} word_accuracy": pytest.approx(0.1167, abs=1e-4), "constant '444' word_accuracy": 0.2,
            "beats_trivial": False} in gated.observed["signal"]


def test_checks_hold_and_fail_on_every_seed():
    runs = {"memorise": ([1.0, 0.9, 0.85], GOOD_NED), "nll": ([0.1, 0.1, 0.1], GOOD_NED)}
    held = claims(metrics(runs), CFG)
    assert [(c.name, c.kind, c.verdict) for c in held] == [
        ("memorises_small_set", "check", "holds"), ("random_string_loss_falls", "check", "holds"),
        ("rectifier_gets_gradient", "check", "holds")]
    failed = claims(metrics({**runs, "memorise": ([1.0, 0.7, 0.9], GOOD_NED)}, last100=(5.0, 9.0, 5.0),
                            grad=(1.0, 0.0, 1.0)), CFG)
    assert [c.verdict for c in failed] == ["fails"] * 3
    assert failed[1].observed["ratio"] == pytest.approx([0.25, 9 / 21, 5 / 19])
