"""Event-log input, pairs, the case split, the metrics (check 7) and the frequency and Tax baselines."""

import itertools
import random

import numpy as np
import pandas as pd
import pytest

from reprolab.methods.dcw_mann.baselines import (MostFrequentSuffix, elapsed_times, prefix_features,
                                                 time_features)
from reprolab.methods.dcw_mann.log import from_columns, from_dataframe, load_log, make_pairs, read_csv, split_cases
from reprolab.methods.dcw_mann.metrics import score, suffix_distance, suffix_similarity
from reprolab.methods.dcw_mann.predictor import as_event_log


def _reference_distances(a, b):
    """Textbook dynamic programmes: unrestricted Damerau-Levenshtein (Lowrance-Wagner) and optimal string
    alignment."""
    n, m = len(a), len(b)
    osa = [[max(i, j) if min(i, j) == 0 else 0 for j in range(m + 1)] for i in range(n + 1)]
    for i, j in itertools.product(range(1, n + 1), range(1, m + 1)):
        osa[i][j] = min(osa[i - 1][j] + 1, osa[i][j - 1] + 1, osa[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
        if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
            osa[i][j] = min(osa[i][j], osa[i - 2][j - 2] + 1)
    big = n + m
    d = [[big] * (m + 2)] + [[big] + [0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i + 1][1] = i
    for j in range(m + 1):
        d[1][j + 1] = j
    last_row = {}
    for i in range(1, n + 1):
        last_col = 0
        for j in range(1, m + 1):
            k, cost = last_row.get(b[j - 1], 0), int(a[i - 1] != b[j - 1])
            d[i + 1][j + 1] = min(d[i][j] + cost, d[i + 1][j] + 1, d[i][j + 1] + 1,
                                  d[k][last_col] + (i - k - 1) + 1 + (j - last_col - 1))
            if cost == 0:
                last_col = j
        last_row[a[i - 1]] = i
    return d[n + 1][m + 1], osa[n][m]


def test_distances_match_the_textbook_definitions_on_random_sequences():
    """Check 7: DL (default) and OSA against reference dynamic programmes; "CA" vs "ABC": DL 2, OSA 3."""
    assert suffix_distance([3, 1], [1, 2, 3]) == 2 and suffix_distance([3, 1], [1, 2, 3], "osa") == 3
    rng = random.Random(0)
    for _ in range(300):
        a = [rng.randint(1, 4) for _ in range(rng.randint(0, 8))]
        b = [rng.randint(1, 4) for _ in range(rng.randint(0, 8))]
        dl, osa = _reference_distances(a, b)
        assert suffix_distance(a, b) == dl and suffix_distance(a, b, "osa") == osa
        longest = max(len(a), len(b))
        assert suffix_similarity(a, b) == (1.0 if longest == 0 else 1 - dl / longest)


def test_similarity_edge_cases_and_the_official_metric():
    assert suffix_similarity([], []) == 1.0 and suffix_similarity([1], []) == 0.0
    assert suffix_similarity([2, 1], [1, 2], "osa") == 0.5
    assert suffix_similarity([2, 0, 1], [2, 1], "official_levenshtein") == 1.0      # ids < 1 are dropped
    assert score([[1, 2], []], [[1, 3], [4]]) == {"dl_similarity": 0.25, "next_activity_accuracy": 0.5}
    with pytest.raises(ValueError, match="metric"):
        suffix_distance([1], [1], "hamming")
    with pytest.raises(ValueError, match="as many predictions"):
        score([[1]], [])


def _frame(rows):
    return pd.DataFrame(rows, columns=["CaseID", "ActivityID", "CompleteTimestamp"])


def test_csv_errors_name_the_problem(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"case": [1], "ActivityID": [1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['CaseID', 'CompleteTimestamp'\]"):
        read_csv(path)
    _frame([(1, 0, "2020-01-01"), (1, 2, "2020-01-02")]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="activity id 0 is below 1"):                       # check 6
        read_csv(path)
    log = read_csv(path, remap_ids=True)
    assert log.traces == ((1, 2),) and log.activities == (0, 2)
    _frame([(1, 1, "2020-01-02"), (1, 2, "2020-01-01")]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="timestamps of case 1 decrease"):
        read_csv(path)
    assert read_csv(path, sort_events=True).traces == ((2, 1),)
    _frame([(1, "a", "2020-01-01")]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="integer ids"):
        read_csv(path)


def test_event_times_are_seconds_from_every_input_path(tmp_path):
    """Issue 33: pandas parses the CSV's timestamp strings to datetime64[us] while a DataFrame can hold
    datetime64[ns]; both give the same seconds since 1970-01-01 UTC."""
    rows = [(1, 1, "2012-04-03 16:55:38"), (1, 2, "2012-04-03 16:55:53"), (2, 1, "2012-04-05 17:15:52")]
    path = tmp_path / "log.csv"
    _frame(rows).to_csv(path, index=False)
    from_csv = read_csv(path)
    frame = pd.DataFrame({"case:concept:name": [r[0] for r in rows], "concept:name": [r[1] for r in rows],
                          "time:timestamp": pd.to_datetime([r[2] for r in rows]).astype("datetime64[ns]")})
    from_frame = from_dataframe(frame)
    assert frame["time:timestamp"].dtype == "datetime64[ns]"
    assert [t.tolist() for t in from_csv.times] == [t.tolist() for t in from_frame.times]
    assert from_csv.times[0].tolist() == [1333472138.0, 1333472153.0]        # 2012-04-03 16:55:38 UTC
    first = pd.Timestamp(load_log("helpdesk").times[0][0], unit="s")
    assert 2010 <= first.year <= 2014


def test_single_event_cases_give_no_pair_and_are_counted():
    log = from_columns([1, 1, 1, 2, 3, 3], [1, 2, 3, 2, 3, 1], ["2020-01-01"] * 6, "toy", integer_ids=True)
    assert log.single_event_cases == 1 and log.stats()["single_event_cases"] == 1
    pairs = make_pairs(log, range(3))
    assert pairs.prefixes == ((1,), (1, 2), (3,)) and pairs.suffixes == ((2, 3), (3,), (1,))
    assert pairs.cases == (0, 0, 2)
    assert make_pairs(log, [0], min_prefix_len=2).prefixes == ((1, 2),)
    assert make_pairs(log, [0], max_case_len=2).suffixes == ((2,),)


def test_dataframe_with_xes_columns_as_pm4py_returns_it():
    frame = pd.DataFrame({"case:concept:name": ["c1", "c1", "c2", "c1", "c2"],
                          "concept:name": ["Register", "Check", "Register", "Pay", "Pay"],
                          "time:timestamp": pd.to_datetime(["2020-01-01 10:00", "2020-01-01 11:00", "2020-01-02 00:00",
                                                            "2020-01-01 09:00", "2020-01-03 00:00"], utc=True)})
    log = as_event_log(frame)
    assert log.activities == ("Check", "Pay", "Register")
    assert log.labels_of(log.traces[0]) == ["Pay", "Register", "Check"]      # sorted by time within the case
    assert log.ids_of(["Pay"]) == (2,)
    with pytest.raises(ValueError, match="activity 'Ship' does not occur"):
        log.ids_of(["Ship"])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['time:timestamp'\]"):
        from_dataframe(frame.drop(columns="time:timestamp"))
    with pytest.raises(TypeError, match="EventLog, a pandas DataFrame"):
        as_event_log(42)


def test_helpdesk_split_is_by_case_without_leakage():
    """Spec 5: 3,804 cases, 9 activities; the 2/3 split in file order gives 6,645 training (+ validation) and
    3,261 test pairs."""
    log = load_log("helpdesk")
    assert log.stats()["cases"] == 3804 and log.num_activities == 9 and log.stats()["events"] == 13710
    split = split_cases(log)
    assert not set(split.train) & set(split.test) and not set(split.val) & set(split.train + split.test)
    assert sorted(split.train + split.val + split.test) == list(range(3804))
    train, val, test = (make_pairs(log, cases) for cases in (split.train, split.val, split.test))
    assert (len(train), len(val), len(test)) == (5989, 656, 3261)
    by_time = split_cases(log, order="time")
    assert max(log.times[c][0] for c in by_time.train) <= min(log.times[c][0] for c in by_time.test)
    with pytest.raises(ValueError, match="order must be"):
        split_cases(log, order="random")


def test_most_frequent_suffix_known_answer():
    log = from_columns([1, 1, 2, 2, 3, 3, 3], [1, 2, 1, 2, 1, 3, 2], ["2020-01-01"] * 7, "toy", integer_ids=True)
    baseline = MostFrequentSuffix().fit(make_pairs(log, range(3)))
    # (1,) -> (2,) twice and (3, 2) once; (1, 3) -> (2,); the unseen (3,) falls back to the suffix after a prefix
    # ending in 3; no training prefix ends in 2 or 4: the empty suffix
    assert baseline.predict([(1,), (1, 3), (3,), (2, 2), (4,)]) == [(2,), (2,), (2,), (), ()]
    assert baseline.exact_hit_rate([(1,), (4,)]) == 0.5


def test_tax_features_known_answer():
    """|A| + 5 features: one-hot, 1-based position, time since previous / mean, since start / mean, time of day,
    weekday (1970-01-05 was a Monday)."""
    day = 86400.0
    times = np.array([4 * day + 6 * 3600, 4 * day + 12 * 3600])            # Monday 06:00, then 12:00
    assert time_features(times, (3600.0, 7200.0)).tolist() == [[0, 0, 0.25, 0], [6, 3, 0.5, 0]]
    assert [e.tolist() for e in elapsed_times(np.array([5.0, 7.0, 12.0]))] == [[0, 2, 5], [0, 2, 7]]
    features = prefix_features((2, 1), times, 3, (3600.0, 7200.0))
    assert features.shape == (2, 8) and features[:, :3].tolist() == [[0, 1, 0], [1, 0, 0]]
    assert features[:, 3].tolist() == [1, 2]


def _named_frame(log, cases):
    """Cases of a log as an analyst's DataFrame: own column names, string case ids and activities."""
    return pd.DataFrame([(f"case {c}", f"step {a}", pd.Timestamp(t, unit="s")) for c in cases
                         for a, t in zip(log.traces[c], log.times[c])], columns=["ticket", "step", "time"])


def test_dataframe_cases_are_ordered_by_first_timestamp_then_case_id():
    """Issue 33: a DataFrame's case order (and so the split) does not depend on the order of its rows."""
    frame = pd.DataFrame({"case": ["b", "a", "c", "b", "a"], "act": ["x", "y", "x", "y", "x"],
                          "time": ["2020-01-02", "2020-01-02", "2020-01-01", "2020-01-03", "2020-01-04"]})
    log = from_dataframe(frame, case_key="case", activity_key="act", timestamp_key="time")
    assert log.case_ids == ("c", "a", "b")
    assert [log.labels_of(t) for t in log.traces] == [["x"], ["y", "x"], ["x", "y"]]


def test_shuffled_rows_give_the_same_log():
    helpdesk = load_log("helpdesk")
    frame = _named_frame(helpdesk, range(400))
    shuffled = frame.sample(frac=1.0, random_state=0)
    keys = dict(case_key="ticket", activity_key="step", timestamp_key="time")
    ties = {f"case {c}" for c in range(400) if np.any(np.diff(helpdesk.times[c]) == 0)}
    assert ties                                                  # equal timestamps within a case occur in Helpdesk
    by_activity = [from_dataframe(f, equal_times="activity", **keys) for f in (frame, shuffled)]
    assert by_activity[0].traces == by_activity[1].traces and by_activity[0].case_ids == by_activity[1].case_ids
    assert [t.tolist() for t in by_activity[0].times] == [t.tolist() for t in by_activity[1].times]
    by_row = [from_dataframe(f, **keys) for f in (frame, shuffled)]         # ties keep their row order
    assert by_row[0].case_ids == by_row[1].case_ids and by_row[0].activities == by_row[1].activities
    same = [a == b for a, b, case in zip(by_row[0].traces, by_row[1].traces, by_row[0].case_ids) if case not in ties]
    assert all(same) and len(same) == 400 - len(ties)
    from_csv = {f"case {c}": [f"step {a}" for a in helpdesk.traces[c]] for c in range(400)}
    assert {case: by_row[0].labels_of(t) for case, t in zip(by_row[0].case_ids, by_row[0].traces)} == from_csv


def test_equal_timestamps_keep_their_row_order_or_follow_the_activity():
    frame = pd.DataFrame({"case:concept:name": ["c1"] * 3, "concept:name": ["Pay", "Check", "Open"],
                          "time:timestamp": ["2020-01-02", "2020-01-02", "2020-01-01"]})
    assert from_dataframe(frame).labels_of(from_dataframe(frame).traces[0]) == ["Open", "Pay", "Check"]
    by_activity = from_dataframe(frame, equal_times="activity")
    assert by_activity.labels_of(by_activity.traces[0]) == ["Open", "Check", "Pay"]


def test_bad_columns_give_errors_that_name_the_column_and_count():
    keys = dict(case_key="ticket", activity_key="step", timestamp_key="time")
    frame = pd.DataFrame({"ticket": ["a", "a", "b"], "step": ["x", "y", "x"],
                          "time": ["2020-01-01 10:00", "yesterday", "2020-01-02 11:00"]})
    with pytest.raises(ValueError, match=r"column 'time': 1 of 3 timestamp\(s\) cannot be parsed \(first: 'yesterday'"):
        from_dataframe(frame, **keys)
    with pytest.raises(ValueError, match=r"column 'step' has 1 empty value\(s\) of 3"):
        from_dataframe(frame.assign(step=["x", None, "x"], time="2020-01-01"), **keys)
    with pytest.raises(ValueError, match=r"column 'ticket' mixes case ids"):
        from_dataframe(frame.assign(ticket=["a", "a", 3], time="2020-01-01"), **keys)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['step'\].*found \['ticket', 'activity', 'time'\]"):
        from_dataframe(frame.rename(columns={"step": "activity"}), **keys)
