"""Issue 33 item 6: the analyst's API on an own log (own column names, string activities, running cases)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from reprolab.methods.dcw_mann.log import load_log
from reprolab.methods.dcw_mann.predictor import SAVE_VERSION, SuffixPredictor
from reprolab.methods.dcw_mann.seq2seq import Seq2SeqConfig
from reprolab.methods.dcw_mann.training import TrainConfig

COLUMNS = dict(case="ticket", activity="step", timestamp="time")
SHORT = TrainConfig(iterations=40, eval_every=20)
CASES, RUNNING = 240, 12


def _own_log():
    """Helpdesk's first cases with renamed columns and activities; the last RUNNING cases lose their last event
    (every Helpdesk case ends with activity 6), so they are still running."""
    log = load_log("helpdesk")
    rows = []
    for c in range(CASES):
        events = list(zip(log.traces[c], log.times[c]))
        rows += [(f"T{c}", f"step {a}", str(pd.Timestamp(t, unit="s"))) for a, t in
                 (events[:-1] if c >= CASES - RUNNING else events)]
    return pd.DataFrame(rows, columns=["ticket", "step", "time"])


@pytest.fixture(scope="module")
def fitted():
    frame = _own_log()
    return frame, SuffixPredictor(training=SHORT, seed=1).fit(frame, end_activities=["step 6"], **COLUMNS)


def test_running_cases_are_left_out_of_training_and_kept_for_prediction(fitted):
    frame, predictor = fitted
    last = frame.groupby("ticket").step.last()                  # rows are in time order
    running = set(last[last != "step 6"].index)
    assert running <= {f"T{c}" for c in range(CASES - RUNNING, CASES)} and len(running) >= RUNNING - 2
    assert set(predictor.running) == running                   # T232, T237 end with "step 6" twice
    assert predictor.running["T239"] == frame[frame.ticket == "T239"].step.tolist()
    summary = predictor.summary
    assert summary["cases"] == CASES and summary["running_cases"] == len(running)
    assert not summary["training_includes_running"] and summary["iterations"] == 40
    assert summary["epochs"] == pytest.approx(40 * 32 / summary["training_pairs"])
    assert summary["max_decode"] == 20 and summary["suffixes_longer_than_max_decode"] == 0
    included = SuffixPredictor(training=TrainConfig(iterations=1), seed=1).fit(
        frame, end_activities=["step 6"], train_on_running=True, **COLUMNS)
    assert included.summary["training_pairs"] + included.summary["validation_pairs"] > \
        summary["training_pairs"] + summary["validation_pairs"]


def test_predict_and_predict_proba_for_running_cases(fitted):
    _, predictor = fitted
    prefixes = list(predictor.running.values())[:3]
    suffixes = predictor.predict(prefixes)
    assert len(suffixes) == 3 and all(a in predictor.activities for s in suffixes for a in s)
    assert predictor.next_activity(prefixes) == [s[0] if s else None for s in suffixes]
    proba = predictor.predict_proba(prefixes)
    assert proba.shape == (3, len(predictor.activities) + 1) and predictor.classes_[-1] is None
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert [predictor.classes_[i] for i in proba.argmax(axis=1)] == predictor.next_activity(prefixes)


def test_save_and_load_give_the_same_predictions(fitted, tmp_path):
    _, predictor = fitted
    path = predictor.save(tmp_path / "model.pt")
    loaded = SuffixPredictor.load(path)
    prefixes = list(predictor.running.values())
    assert loaded.predict(prefixes) == predictor.predict(prefixes)
    assert np.array_equal(loaded.predict_proba(prefixes), predictor.predict_proba(prefixes))
    assert loaded.activities == predictor.activities and loaded.summary == predictor.summary
    payload = torch.load(path, weights_only=True)
    payload["version"] = SAVE_VERSION + 1
    torch.save(payload, tmp_path / "newer.pt")
    with pytest.raises(ValueError, match=f"format version {SAVE_VERSION + 1}"):
        SuffixPredictor.load(tmp_path / "newer.pt")
    (tmp_path / "junk.pt").write_text("not a model")
    with pytest.raises(ValueError, match="not a saved SuffixPredictor"):
        SuffixPredictor.load(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        SuffixPredictor.load(tmp_path / "missing.pt")


def test_the_seq2seq_baseline_fits_saves_and_loads(tmp_path):
    frame = _own_log()
    predictor = SuffixPredictor("lstm_seq2seq", Seq2SeqConfig(hidden=8), training=TrainConfig(iterations=20,
                                                                                              eval_every=20))
    predictor.fit(frame, **COLUMNS)
    assert (predictor.train_cfg.lr, predictor.train_cfg.clip_value) == (0.001, 0.0)
    loaded = SuffixPredictor.load(predictor.save(tmp_path / "s2s.pt"))
    prefixes = [["step 1"], ["step 1", "step 8"]]
    assert loaded.predict(prefixes) == predictor.predict(prefixes) and loaded.decode_steps == 20


def test_budget_in_epochs_and_the_cut_at_max_decode_are_stated():
    frame = _own_log()
    with pytest.warns(UserWarning, match=r"longer than max_decode = 1; predictions stop after 1 activities"):
        predictor = SuffixPredictor(training=TrainConfig(max_decode=1, eval_every=100), epochs=2, seed=1).fit(
            frame, **COLUMNS)
    summary = predictor.summary
    assert summary["iterations"] == math.ceil(2 * summary["training_pairs"] / 32)
    assert summary["epochs"] == pytest.approx(2, abs=32 / summary["training_pairs"])
    assert summary["suffixes_longer_than_max_decode"] > 0 and summary["longest_suffix"] > 1
    with pytest.warns(UserWarning, match="reached max_decode = 1 activities"):
        suffixes = predictor.predict([["step 1"], ["step 1", "step 8"]])
    assert predictor.cut_predictions == sum(len(s) == 1 for s in suffixes) > 0


def test_bad_input_gets_a_clear_error(tmp_path):
    frame = _own_log()
    with pytest.raises(ValueError, match=r"missing column\(s\) \['activity'\]"):
        SuffixPredictor().fit(frame, case="ticket", activity="activity", timestamp="time")
    with pytest.raises(ValueError, match="activity 'Closed' does not occur"):
        SuffixPredictor().fit(frame, end_activities=["Closed"], **COLUMNS)
    one_event = frame.drop_duplicates("ticket")
    with pytest.raises(ValueError, match=rf"{CASES} training case\(s\) .*{CASES} with one event.* 0 training"):
        SuffixPredictor().fit(one_event, **COLUMNS)
    path = tmp_path / "log.csv"
    frame.assign(time=frame.time.where(frame.index != 5, "soon")).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"column 'time': 1 of \d+ timestamp\(s\) cannot be parsed"):
        SuffixPredictor().fit(path, **COLUMNS)
    with pytest.raises(ValueError, match="SuffixPredictor.fit\\(path, case=..."):
        SuffixPredictor().fit(path)
    with pytest.raises(ValueError, match="takes a Seq2SeqConfig"):
        SuffixPredictor("lstm_seq2seq", model=SuffixPredictor().model_cfg)
    with pytest.raises(ValueError, match="variant must be one of"):
        SuffixPredictor("lstm")
