import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reprolab.methods.invalidator.sandbox import SCRUBBED_ENV, WORKER, Limits, Sandbox

UNTRUSTED = '''
import os

def f(kind, arg=None):
    if kind == "loop":
        while True:
            pass
    if kind == "memory":
        return len(bytearray(8 * 2 ** 30))
    if kind == "write":
        with open(arg, "w") as fh:
            fh.write("escaped")
        return "written"
    if kind == "local":
        with open("scratch.txt", "w") as fh:
            fh.write("ok")
        return open("scratch.txt").read()
    if kind == "secret":
        return os.environ.get("REPROLAB_TEST_SECRET")
    if kind == "proc":
        return open("/proc/%d/environ" % os.getppid(), "rb").read()
    if kind == "spawn":
        return os.system("true")
    return kind * 2
'''


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(Limits(call_timeout_s=0.5, version_timeout_s=20, memory_mb=512)) as box:
        yield box


def _run(sandbox, *inputs, source=UNTRUSTED):
    return sandbox.run("<subject:untrusted>", "f", None, 1, [source], [(i, {}) for i in inputs])[0]


def test_an_infinite_loop_is_timed_out_and_reported(sandbox):
    reply = _run(sandbox, ("loop",), (3,))
    assert reply["status"] == "ok" and reply["outcomes"][0] == ["timeout"]
    assert reply["outcomes"][1] == ["not_run"]                 # max_timeouts = 1: the rest is skipped


def test_a_runaway_version_is_killed_by_the_wall_clock(tmp_path):
    never_returns = "def f(x):\n    return sum(range(10 ** 15))\n"        # C code: the per-call timer cannot stop it
    with Sandbox(Limits(call_timeout_s=0.2, version_timeout_s=2)) as box:
        reply = box.run("<subject:u>", "f", None, 1, [never_returns], [((1,), {})])[0]
    assert reply["status"] == "timeout" and reply["seconds"] < 10


def test_a_memory_bomb_hits_the_address_space_limit(sandbox):
    assert _run(sandbox, ("memory",))["outcomes"][0] == ["raise", "MemoryError"]


def test_writing_outside_the_temp_dir_is_blocked_and_reported(sandbox, tmp_path):
    target = tmp_path / "escape.txt"
    reply = _run(sandbox, ("write", str(target)), ("local",))
    assert reply["outcomes"][0] == ["raise", "PermissionError"] and not target.exists()
    assert any(str(target) in v for v in reply["violations"])
    assert reply["outcomes"][1][:2] == ["ok", ["str", "ok"]]    # its own temporary directory is writable


def test_environment_secrets_do_not_reach_the_version(sandbox, monkeypatch):
    monkeypatch.setenv("REPROLAB_TEST_SECRET", "hunter2")
    with Sandbox() as fresh:                                     # started after the secret was set
        reply = fresh.run("<subject:untrusted>", "f", None, 1, [UNTRUSTED], [(("secret",), {}), (("proc",), {}),
                                                                               (("spawn",), {})])[0]
    assert reply["outcomes"][0][:2] == ["ok", ["None"]]
    assert reply["outcomes"][1] == ["raise", "PermissionError"]      # /proc/<parent>/environ is not readable
    assert reply["outcomes"][2] == ["raise", "PermissionError"]      # no process creation
    assert len(reply["violations"]) == 2


def test_load_errors_and_results_are_reported(sandbox):
    assert _run(sandbox, (2,), source="def f(:\n")["status"] == "load_error"
    ok = _run(sandbox, (21,))
    assert ok["outcomes"][0] == ["ok", ["int", "42"], ["list", [["tuple", [["int", "21"]]], ["dict", []]]]]
    assert Path(os.getcwd()).exists()


COUNTED = '''
def helper(x):
    return x + 1

def total(n):
    t = 0
    for i in range(n):
        t += helper(i)
    return t
'''


def test_the_cost_of_a_call_is_the_python_lines_it_executes_callees_included(sandbox):
    inputs = [((0,), {}), ((3,), {}), ((3,), {})]
    reply = sandbox.run("<counted>", "total", None, 1, [COUNTED], inputs, count_lines=True)[0]
    # n = 3: "t = 0", the loop header 4 times, the body 3 times, helper's line 3 times, "return t"
    assert reply["status"] == "ok" and reply["lines"] == [3, 12, 12]
    assert "lines" not in sandbox.run("<counted>", "total", None, 1, [COUNTED], inputs)[0]


def test_traced_versions_have_call_site_points_and_must_be_given_as_source(sandbox):
    """The traced function's call sites are program points in both modes: a whole module, and a function source
    placed in the trusted base module (whose own helper is traced at ENTER / EXIT but not instrumented)."""
    inputs = [(([1, 5, 2],), {}), (([4],), {}), (([0, 9, 9],), {}), (([7, 3],), {})]
    groups = {"P": [0, 1, 2, 3]}
    whole = sandbox.run("<subject:t>", "total", None, 1, ["def total(xs):\n    return max(xs) + len(xs)\n"],
                        inputs, groups)[0]
    assert "return in arg0" in whole["invariants"]["P"]["total:::CALL max#0"]
    assert "return == size(arg0)" in whole["invariants"]["P"]["total:::CALL len#0"]
    base = "def helper(x):\n    return abs(x)\n\ndef total(xs):\n    return helper(max(xs))\n"
    version = "def total(xs):\n    return helper(min(xs))\n"
    placed = sandbox.run("<subject:t>", "total", base, 4, [version], inputs, groups)[0]
    points = placed["invariants"]["P"]
    assert "return in arg0" in points["total:::CALL min#0"] and "total:::CALL max#0" not in points
    assert "total:::CALL helper#0" in points and "helper:::EXIT" in points
    assert not any(p.startswith("helper:::CALL") for p in points)     # the base module is not instrumented
    assert placed["outcomes"] == sandbox.run("<subject:t>", "total", base, 4, [version], inputs)[0]["outcomes"]
    with pytest.raises(ValueError, match="given as source"):
        sandbox.run("<subject:t>", "total", base, 4, [None], inputs, groups)


LOOPING_BASE = "def helper(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n\ndef total(xs):\n" \
               "    return helper(xs)\n"
# the fork server (worker.py, standard library only) with `loop_headers` counted in the server and refused for
# the base module in a child; two traced jobs of three versions each on one base module
PARSES = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
import worker
base, server, parsed, own = sys.argv[2], os.getpid(), [], worker.loop_headers

def counted(source):
    if os.getpid() == server:
        parsed.append(source == base)
    elif source == base:
        raise RuntimeError("a child parsed the base module")
    return own(source)

worker.loop_headers = counted
job = {"filename": "<subject:t>", "function": "total", "base_source": base, "function_line": 7,
       "inputs": [[([1, 2],), {}], [([3],), {}]], "trace_groups": {"P": [0, 1]}, "count_lines": False,
       "call_timeout_s": 1.0, "trace_call_timeout_s": 5.0, "max_timeouts": 1, "version_timeout_s": 30.0,
       "memory_mb": 1024, "cpu_s": 60, "max_items": 1000}
versions = ["def total(xs):\\n    return helper(xs)\\n", "def total(xs):\\n    return helper(xs) + 1\\n",
            "def total(xs):\\n    for x in xs:\\n        pass\\n    return helper(xs)\\n"]
replies = [worker.run_version(job, v) for _ in range(2) for v in versions]
print(json.dumps({"base_parses": parsed.count(True), "replies": replies}))
"""


def test_the_server_parses_the_base_modules_loop_headers_once_and_children_inherit_them():
    """Two traced jobs of three versions each on one base module: its loop headers are parsed once, in the fork
    server, never in a child; the children still sample the base helper's loop and the version's own."""
    out = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", PARSES, str(WORKER.parent), LOOPING_BASE],
                         capture_output=True, text=True, env=SCRUBBED_ENV, check=True, timeout=120).stdout
    result = json.loads(out)
    assert [r["status"] for r in result["replies"]] == ["ok"] * 6
    assert result["base_parses"] == 1
    points = [set(r["invariants"]["P"]) for r in result["replies"]]
    assert all("helper:::LOOP0" in p for p in points)
    assert ["total:::LOOP0" in p for p in points] == [False, False, True] * 2
    assert "t >= x" in result["replies"][0]["invariants"]["P"]["helper:::LOOP0"]
