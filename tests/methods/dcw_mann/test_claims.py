"""Every claim of `claims.py` on hand-made metrics in the experiment's format: each verdict it can give."""

import numpy as np
import pytest

from reprolab.methods.dcw_mann.claims import claims
from reprolab.methods.dcw_mann.experiment import CONFIGS

CFG = CONFIGS["quick"]
NEUTRAL = [0.86, 0.87, 0.88]           # models a claim does not compare: above every threshold and lookup below


def _model(dl, accuracy=None, seeds=None):
    accuracy = dl if accuracy is None else accuracy
    return {"dl_similarity": {"mean": float(np.mean(dl)), "se": 0.0},
            "next_activity_accuracy": {"mean": float(np.mean(accuracy)), "se": 0.0},
            "seeds": list(range(len(dl))) if seeds is None else seeds,
            "per_seed_dl_similarity": dl, "per_seed_next_activity_accuracy": accuracy,
            "curve": {"iterations": [100, 200, 300], "measured_on": "test", "dl_similarity": [0.5, 0.7, 0.8],
                      "train_seconds": [1.0, 2.0, 3.0]}}


def _metrics(models, frequency=(0.809, 0.773), log="helpdesk"):
    """One log's block as `experiment.summarize` writes it."""
    return {"logs": {log: {"models": {name: _model(*m) if isinstance(m, tuple) else _model(m)
                                      for name, m in models.items()},
                           "frequency": {"test": {"dl_similarity": frequency[0],
                                                  "next_activity_accuracy": frequency[1]},
                                         "pairs": {"test": 3261}}}}, "runs": 0}


def _claim(metrics, name):
    found = {c.name: c for c in claims(metrics, CFG)}
    return found[name]


@pytest.mark.parametrize("frequency, verdict", [((0.8091, 0.7734), "holds"), ((0.815, 0.7734), "fails"),
                                                ((0.8091, 0.770), "fails")])
def test_frequency_baseline_reproduces_is_a_check(frequency, verdict):
    claim = _claim(_metrics({"lstm_seq2seq": NEUTRAL}, frequency), "frequency_baseline_reproduces")
    assert claim.kind == "check" and claim.verdict == verdict
    assert claim.observed["dl_similarity"] == frequency[0] and claim.observed["test_pairs"] == 3261


@pytest.mark.parametrize("dcw, frequency, verdict", [
    ([0.83, 0.831, 0.833], (0.70, 0.60), "holds"),
    ([0.73, 0.732, 0.731], (0.70, 0.60), "fails"),         # above the lookup, below 0.79 / 0.75
    ([0.76, 0.84, 0.80], (0.70, 0.60), "inconclusive"),
    ([0.83, 0.831, 0.833], (0.84, 0.84), "no_signal"),     # the lookup is better
])
@pytest.mark.parametrize("name", ["dcw_mann_helpdesk_dl_level", "dcw_mann_helpdesk_accuracy_level"])
def test_dcw_mann_helpdesk_level(name, dcw, frequency, verdict):
    claim = _claim(_metrics({"dcw_mann": (dcw, dcw)}, frequency), name)
    assert claim.kind == "reproduction" and claim.verdict == verdict
    assert claim.observed["threshold"] == (0.79 if "dl" in name else 0.75)
    assert f"after {CFG.train.iterations} iterations" in claim.statement


@pytest.mark.parametrize("lstm, verdict", [
    ([0.80, 0.802, 0.801], "holds"),
    ([0.70, 0.71, 0.705], "fails"),
    ([0.78, 0.80, 0.79], "inconclusive"),
])
def test_no_neural_model_far_below_frequency_uses_the_lowest_model_per_seed(lstm, verdict):
    claim = _claim(_metrics({"lstm_shared": lstm, "dcw_mann": NEUTRAL}), "no_neural_model_far_below_frequency")
    assert claim.verdict == verdict
    assert claim.observed["lowest_dl_similarity"] == lstm
    assert claim.observed["threshold"] == pytest.approx(0.809 - 0.02)


COMPARISONS = [("dcw_mann_beats_lstm_on_helpdesk", "dcw_mann", "lstm_seq2seq"),   # the official baseline
               ("write_protection_helps_on_helpdesk", "dcw_mann", "dc_mann"),
               ("second_controller_helps_on_helpdesk", "dc_mann", "dnc")]


@pytest.mark.parametrize("better_values, worse_values, frequency, verdict", [
    ([0.85, 0.87, 0.86], [0.82, 0.835, 0.83], 0.80, "holds"),
    ([0.82, 0.835, 0.83], [0.85, 0.87, 0.86], 0.80, "fails"),
    ([0.835, 0.84, 0.838], [0.84, 0.83, 0.835], 0.80, "inconclusive"),
    ([0.85, 0.87, 0.86], [0.82, 0.835, 0.83], 0.845, "no_signal"),     # `worse` is below the lookup
])
@pytest.mark.parametrize("name, better, worse", COMPARISONS)
def test_model_comparisons_are_paired_over_seeds(name, better, worse, better_values, worse_values, frequency,
                                                 verdict):
    models = {m: NEUTRAL for m in ("lstm_shared", "lstm_seq2seq", "dnc", "dc_mann", "dcw_mann")}
    metrics = _metrics({**models, better: better_values, worse: worse_values}, (frequency, 0.5))
    claim = _claim(metrics, name)
    assert claim.kind == "reproduction" and claim.verdict == verdict
    assert claim.observed[better] == better_values and claim.observed[worse] == worse_values
    assert "paper states no size" in claim.expected
    if verdict == "inconclusive":
        assert claim.observed["seeds_needed"] > 3


def test_comparisons_pair_values_by_seed_not_by_position():
    """The same seed means the same data and initialisation: lists in another seed order are paired by seed."""
    metrics = _metrics({"dcw_mann": ([0.85, 0.86, 0.87], None, [2, 0, 1]), "lstm_seq2seq": [0.84, 0.85, 0.86]},
                       (0.5, 0.5))
    claim = _claim(metrics, "dcw_mann_beats_lstm_on_helpdesk")
    assert claim.observed["dcw_mann"] == [0.86, 0.87, 0.85]              # seeds 0, 1, 2
    assert claim.observed["mean_difference"] == pytest.approx(0.01)


def test_helpdesk_comparison_reports_the_early_gaps_of_check_10():
    metrics = _metrics({"dcw_mann": NEUTRAL, "lstm_seq2seq": [0.85, 0.86, 0.87]}, (0.5, 0.5))
    lstm_curve = metrics["logs"]["helpdesk"]["models"]["lstm_seq2seq"]["curve"]
    lstm_curve.update(dl_similarity=[0.4, 0.6, 0.75], train_seconds=[0.5, 1.0, 1.5])
    observed = _claim(metrics, "dcw_mann_beats_lstm_on_helpdesk").observed
    assert observed["early_gap_at_200_iterations"] == pytest.approx(0.7 - 0.6)
    assert observed["dcw_seconds_to_early_iteration"] == 2.0
    assert observed["early_gap_at_equal_seconds"] == pytest.approx(0.7 - 0.75)     # the LSTM's 1.5 s point


def test_a_second_log_gets_its_own_comparison_and_two_seeds_never_decide_a_close_gap():
    metrics = _metrics({"dcw_mann": [0.31, 0.32], "lstm_seq2seq": [0.29, 0.31]}, (0.28, 0.65), log="bpi_12_w")
    found = {c.name: c for c in claims(metrics, CFG)}
    assert set(found) == {"dcw_mann_beats_lstm_on_bpi_12_w"}              # the Helpdesk claims need Helpdesk
    assert found["dcw_mann_beats_lstm_on_bpi_12_w"].verdict == "inconclusive"
    assert "early_gap_at_200_iterations" not in found["dcw_mann_beats_lstm_on_bpi_12_w"].observed


def test_dcw_mann_is_compared_with_the_official_seq2seq_not_the_shared_cell_lstm():
    """Issue 33: the LSTM arm is the official baseline (`lstm_seq2seq`); the prototype's shared-cell LSTM decides no
    comparison, and without the seq2seq baseline there is no LSTM claim."""
    metrics = _metrics({"dcw_mann": [0.85, 0.86, 0.87], "lstm_shared": [0.95, 0.96, 0.97],
                        "lstm_seq2seq": [0.80, 0.81, 0.815]}, (0.5, 0.5))
    claim = _claim(metrics, "dcw_mann_beats_lstm_on_helpdesk")
    assert claim.verdict == "holds" and claim.observed["lstm_seq2seq"] == [0.80, 0.81, 0.815]
    assert "lstm_shared" not in claim.observed and "official LSTM seq2seq" in claim.statement
    del metrics["logs"]["helpdesk"]["models"]["lstm_seq2seq"]
    assert "dcw_mann_beats_lstm_on_helpdesk" not in {c.name for c in claims(metrics, CFG)}


@pytest.mark.parametrize("at_budget, verdict", [
    ([0.85, 0.851, 0.852], "holds"),
    ([0.78, 0.781, 0.782], "fails"),
    ([0.71, 0.705, 0.708], "no_signal"),                # DCw-MANN at its budget below the lookup's 0.72
])
def test_dcw_mann_beats_lstm_at_equal_seconds_pairs_the_budget_scores(at_budget, verdict):
    """The equal-seconds claim pairs DCw-MANN's scores at its budget (not its equal-iteration scores) with the LSTM
    seq2seq's, and gates DCw-MANN by its budget mean."""
    metrics = _metrics({"dcw_mann": [0.90, 0.90, 0.90], "lstm_seq2seq": [0.80, 0.801, 0.802]}, (0.72, 0.6),
                       log="bpi_12_w")
    metrics["logs"]["bpi_12_w"]["models"]["dcw_mann"].update(
        per_seed_budget_dl_similarity=at_budget, budget_iterations=533, budget_selected_iteration=[500] * 3,
        budget_dl_similarity={"mean": float(np.mean(at_budget)), "se": 0.0})
    claim = _claim(metrics, "dcw_mann_beats_lstm_at_equal_seconds_on_bpi_12_w")
    assert claim.verdict == verdict and claim.observed["dcw_mann"] == at_budget
    assert claim.observed["dcw_mann_iterations"] == 533 and claim.observed["lstm_seq2seq_iterations"] == 800
    assert _claim(metrics, "dcw_mann_beats_lstm_on_bpi_12_w").verdict == "holds"     # equal iterations: 0.90


def test_no_equal_seconds_claim_without_budget_scores():
    names = [c.name for c in claims(_metrics({"dcw_mann": NEUTRAL, "lstm_seq2seq": NEUTRAL}), CFG)]
    assert "dcw_mann_beats_lstm_on_helpdesk" in names
    assert not any("equal_seconds" in n for n in names)
