import re

from reprolab.runtime.progress import Progress, set_progress
from reprolab.runtime.results import RunContext
from reprolab.runtime.train import run_loop


def _count_steps(total: int) -> dict:
    with Progress(total, "count") as progress:
        for step in range(total):
            progress.update(loss=1.0 / (step + 1))
    return {"done": progress.done}


def test_plain_lines_carry_step_loss_and_time_left_when_not_a_terminal(capfd, monkeypatch):
    monkeypatch.setenv("REPROLAB_PROGRESS_EVERY", "0")
    set_progress(True)
    _count_steps(4)
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 4
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] count: step 1/4 \(25 %\), loss=1, about \d+ s left", lines[0])
    assert lines[-1].endswith("count: step 4/4 (100 %), loss=0.25")            # no estimate once finished


def test_lines_come_at_the_configured_rate_and_quiet_turns_them_off(capfd, monkeypatch):
    monkeypatch.setenv("REPROLAB_PROGRESS_EVERY", "3600")
    set_progress(True)
    _count_steps(50)
    assert capfd.readouterr().err == ""                                       # nothing due within an hour
    monkeypatch.setenv("REPROLAB_PROGRESS_EVERY", "0")
    set_progress(False)
    try:
        run_loop(5, lambda step: 0.5, desc="quiet")
        assert capfd.readouterr().err == ""
    finally:
        set_progress(True)


def test_worker_processes_of_a_run_report_their_progress(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("REPROLAB_PROGRESS_EVERY", "0")
    set_progress(True)
    ctx = RunContext(tmp_path, progress=True)
    results = ctx.stages({"a": (_count_steps, (3,)), "b": (_count_steps, (2,))}, workers=2)
    assert results == {"a": {"done": 3}, "b": {"done": 2}}
    err = capfd.readouterr().err
    assert "count: step 3/3 (100 %)" in err and "count: step 2/2 (100 %)" in err


def test_a_stage_of_many_short_loops_still_reports_once_per_interval(capfd, monkeypatch):
    from types import SimpleNamespace

    from reprolab.runtime import progress as module

    now = [0.0]
    monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    monkeypatch.setattr(module, "_last_line", [])
    monkeypatch.setenv("REPROLAB_PROGRESS_EVERY", "30")
    set_progress(True)
    for loop in range(4):                                       # four 20-second loops of 10 steps of 2 s
        with Progress(10, f"loop{loop}") as progress:
            for _ in range(10):
                now[0] += 2.0
                progress.update()
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 2                                       # at t = 30 s and 60 s of the 80
    assert lines[0].endswith("loop1: step 5/10 (50 %), about 10 s left")
    assert lines[1].endswith("loop2: step 10/10 (100 %)")
