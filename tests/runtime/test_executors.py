import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reprolab.runtime.executors import Executor
from reprolab.runtime.grid import product
from tests.conftest import default_sigint
from reprolab.runtime.results import RunContext

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys
from pathlib import Path
from reprolab.runtime.grid import product
from reprolab.runtime.results import RunContext
from tests.runtime.test_executors import slow_square
ctx = RunContext(Path(sys.argv[1]), executor=sys.argv[2], resume=sys.argv[3] == "1", progress=False)
grid = ctx.grid("g", product(x=list(range(6))), slow_square, float(sys.argv[4]), workers=2)
print(json.dumps(grid.values()))
"""


def slow_square(cell: dict, seconds: float) -> dict:
    time.sleep(seconds)
    return {"x": cell["x"], "square": cell["x"] ** 2, "pid": os.getpid() > 0}


def _run(out: Path, executor: str, resume: bool, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out), executor, "1" if resume else "0", str(seconds)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"},
                            preexec_fn=default_sigint)



def test_executor_settings_are_checked():
    with pytest.raises(ValueError, match="executor must be one of"):
        Executor("slurm")
    with pytest.raises(ValueError, match="need --executor ray"):
        Executor("local", ray_address="10.0.0.1:6379")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        RunContext(Path("/tmp/unused"), executor="local").executor_for(0)


def test_local_pool_and_in_process_give_the_same_results(tmp_path):
    cells = product(x=[1, 2, 3])
    seq = RunContext(tmp_path / "a", progress=False).grid("g", cells, slow_square, 0.0, workers=1)
    pool = RunContext(tmp_path / "b", progress=False).grid("g", cells, slow_square, 0.0, workers=2)
    assert seq.values() == pool.values()


@pytest.mark.slow               # starts a local Ray instance (about 25 s on 2 cores)
def test_ray_grid_interrupted_then_resumed_equals_the_local_executor(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    first = _run(out, "ray", resume=False, seconds=3.0)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "stages").glob("*.json"))) < 2:
        assert first.poll() is None, first.stderr.read()
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)                                         # Ctrl-C mid-way
    first.wait(timeout=60)
    finished = len(list((out / "stages").glob("*.json")))
    assert 2 <= finished < 6
    resumed = _run(out, "ray", resume=True, seconds=0.0)
    ray_values, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    local = RunContext(tmp_path / "local", progress=False).grid("g", product(x=list(range(6))), slow_square, 0.0,
                                                                  workers=2)
    assert json.loads(ray_values) == local.values()


@pytest.mark.slow
def test_a_node_that_cannot_read_the_run_folder_is_reported(tmp_path):
    ray = pytest.importorskip("ray")
    from reprolab.runtime.executors import check_shared_folder, token_visible

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        check_shared_folder(ray, tmp_path / "out")            # one node, same disk: visible, token removed after
        assert list((tmp_path / "out").iterdir()) == []
        (tmp_path / "other").write_text("another token")
        address, seen = ray.get(ray.remote(token_visible).remote(str(tmp_path / "other"), "the token"))
        assert not seen and address
        assert not ray.get(ray.remote(token_visible).remote(str(tmp_path / "missing"), "the token"))[1]
    finally:
        ray.shutdown()
