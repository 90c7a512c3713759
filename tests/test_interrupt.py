import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import default_sigint

REPO = Path(__file__).resolve().parents[1]
TINY = ["--set", "tasks=rotated_digits", "--set", "algorithms=erm,general", "--set", "lambdas=0.1,10,100",
        "--set", "claim_lambdas=0.1,10", "--set", "shift_lambdas=0.1,10", "--set", "seeds=2",
        "--set", "train.steps=60", "--set", "train.eval_every=30", "--set", "train.quick_cnn_width=8",
        "--set", "workers=2"]


def _reprolab(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reprolab.cli", "run", "domain_invariance", "--out", str(out),
                             *TINY, *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=default_sigint)


@pytest.mark.slow               # a real CLI run interrupted and resumed (20-26 s on 2 cores)
def test_ctrl_c_stops_the_workers_promptly_keeps_finished_stages_and_resumes_to_the_same_numbers(tmp_path):
    out = tmp_path / "run"
    run = _reprolab(out)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "stages").glob("*.json"))) < 2:
        assert run.poll() is None, run.stderr.read()
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGINT)                                     # Ctrl-C reaches the whole process group
    interrupted_at = time.time()
    _, err = run.communicate(timeout=60)
    assert time.time() - interrupted_at < 10 and run.returncode == 130
    assert "Traceback" not in err and "--resume" in err and "finished stages are kept" in err
    kept = len(list((out / "stages").glob("*.json")))
    assert 2 <= kept < 8
    resumed = _reprolab(out, "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert err.count("finished earlier, read from") == kept
    fresh = _reprolab(tmp_path / "fresh")
    _, err = fresh.communicate(timeout=300)
    assert fresh.returncode == 0, err
    metrics = [json.loads((d / "result.json").read_text())["metrics"] for d in (out, tmp_path / "fresh")]
    assert metrics[0] == metrics[1]
