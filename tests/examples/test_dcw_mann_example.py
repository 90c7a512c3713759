"""examples/dcw_mann_own_log.py end to end on tiny logs: the demo CSV (renamed Helpdesk columns and activities), a
user CSV with other column names, and a CSV with a missing column (a one-line error, no traceback)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from reprolab.methods.dcw_mann import load_log

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dcw_mann_own_log.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _run(*args):
    return subprocess.run([sys.executable, str(EXAMPLE), *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=120)


def test_the_demo_trains_saves_loads_and_predicts_three_running_cases(tmp_path):
    done = _run("--cases", 100, "--iterations", 20, "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("log helpdesk_renamed.csv: ") and "end activities ['Activity F']" in lines[0]
    # of the 20 cases cut short, one ends with Activity F twice, so it still ends with an end activity
    assert "19 running case(s) left out" in lines[1] and "20 iterations of batch 32" in lines[1]
    assert lines[2] == "saved and loaded dcw_mann_predictor.pt"
    predictions = lines[3:]
    assert len(predictions) == 3 and all(re.match(r"ticket-\d+: Activity [A-I]", line) for line in predictions)
    assert all(" => " in line and "[next: " in line for line in predictions)
    frame = pd.read_csv(tmp_path / "helpdesk_renamed.csv")
    assert list(frame.columns) == ["ticket", "step", "logged_at"] and frame.ticket.nunique() == 100
    saved = torch.load(tmp_path / "dcw_mann_predictor.pt", weights_only=True)
    assert saved["version"] == 1 and saved["activities"] == sorted(set(frame.step))       # the vocabulary, saved


def _user_csv(path, cases=80, cut=16):
    """Helpdesk cases as a user's CSV: columns Case / Task / When, activities "Task 1" ... ; the last `cut` cases
    lose their last event."""
    log = load_log("helpdesk")
    rows = [(f"C{c}", f"Task {a}", str(pd.Timestamp(t, unit="s"))) for c in range(cases)
            for a, t in list(zip(log.traces[c], log.times[c]))[:-1 if c >= cases - cut else None]]
    frame = pd.DataFrame(rows, columns=["Case", "Task", "When"])
    frame.to_csv(path, index=False)
    return frame


def test_a_user_csv_with_its_own_columns_and_a_bad_one(tmp_path):
    path = tmp_path / "mine.csv"
    frame = _user_csv(path)
    last = frame.groupby("Case").Task.last()                     # rows are in time order
    done = _run(path, "--case", "Case", "--activity", "Task", "--timestamp", "When", "--end", "Task 6",
                "--iterations", 10, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert f"{(last != 'Task 6').sum()} running case(s) left out" in done.stdout
    assert len(done.stdout.splitlines()) == 6 and done.stdout.splitlines()[3].startswith("C")
    bad = _run(path, "--out", tmp_path / "out")                  # the demo's column names are not in this CSV
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: ") and "missing column(s) ['ticket', 'step', 'logged_at']" in bad.stderr
