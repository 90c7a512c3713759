import json
import math

import pytest

from reprolab.runtime.claims import Claim, claims_table
from reprolab.runtime.io import write_json
from reprolab.runtime.results import RunContext, RunResult, cpu_model


def _result():
    return RunResult(method="m", scale="quick", seeds=[0, 1], device="cpu", config={"a": 1, "b": [1, 2]},
                     metrics={"loss": 0.5, "curve": [1.0, 0.5]},
                     claims=[Claim.check("c1", "x < y", {"x": 1.0, "y": 2.0}, "x < y", True),
                             Claim("c2", "z finite", math.nan, "finite", "reproduction", "inconclusive")],
                     timings={"total_s": 1.5}, artifacts=["plot.png"])


def test_result_round_trips(tmp_path):
    result = _result()
    path = result.save(tmp_path)
    data = json.loads(path.read_text())
    assert data["claims"][1]["observed"] == "nan"  # NaN is written as a string, JSON stays valid
    back = RunResult.load(tmp_path)
    assert back.metrics == result.metrics and back.config == result.config
    assert [c.name for c in back.claims] == ["c1", "c2"] and back.claims[0].holds and not back.claims[1].holds
    assert [(c.kind, c.verdict) for c in back.claims] == [("check", "holds"), ("reproduction", "inconclusive")]
    assert data["claims"][1]["holds"] is False          # readers of older files keep their boolean


def test_a_record_from_before_claim_kinds_reads_as_reproductions(tmp_path):
    data = _result().to_dict()
    for claim in data["claims"]:
        del claim["kind"], claim["verdict"]
    data["claims"][1]["holds"] = False
    write_json(tmp_path / "result.json", data)
    back = RunResult.load(tmp_path)
    assert [(c.kind, c.verdict) for c in back.claims] == [("reproduction", "holds"), ("reproduction", "fails")]


def test_non_finite_numbers_are_written_as_strings(tmp_path):
    path = write_json(tmp_path / "r.json", {"a": [math.inf, -math.inf, 1.5], "b": (math.nan,)})
    assert json.loads(path.read_text()) == {"a": ["inf", "-inf", 1.5], "b": ["nan"]}


def test_incomplete_record_is_rejected(tmp_path):
    (tmp_path / "result.json").write_text('{"method": "m"}')
    with pytest.raises(ValueError, match="lacks keys"):
        RunResult.load(tmp_path)


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = write_json(tmp_path / "r.json", {"ok": 1})
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": 1}
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_claims_table_shows_failures():
    text = claims_table(_result().claims)
    lines = text.splitlines()
    assert lines[0].startswith("  [check        holds       ] c1")
    assert lines[2].startswith("  [reproduction inconclusive] c2")


def test_claims_table_keeps_every_deciding_number_one_line_per_record():
    observed = {f"case{i}": {"mad_accuracy": 0.123456 + i, "base_accuracy": 0.654321 + i, "gap": -0.5}
                for i in range(6)}
    text = claims_table([Claim("mad_accuracy_ge_base", "s", observed, "mad >= base", "reproduction", "fails")],
                        width=60)
    lines = text.splitlines()
    assert lines[0] == "  [reproduction FAILS       ] mad_accuracy_ge_base"
    assert lines[1] == "      (expected mad >= base)"
    for i in range(6):
        assert f"case{i}: mad_accuracy={0.123456 + i:.4g}, base_accuracy={0.654321 + i:.4g}, gap=-0.5" in \
            " ".join(line.strip() for line in lines)
    assert all(len(line) <= 60 for line in lines) and "..." not in text


def test_stage_results_survive_and_are_reused_on_resume(tmp_path):
    calls = []
    ctx = RunContext(tmp_path, progress=False)
    assert ctx.stage("s", lambda: calls.append(1) or {"v": 2}) == {"v": 2}
    resumed = RunContext(tmp_path, resume=True, progress=False)
    assert resumed.stage("s", lambda: calls.append(1) or {"v": 3}) == {"v": 2}
    assert calls == [1] and "s" in resumed.timings


def test_fresh_and_resumed_stages_return_the_same_json_values(tmp_path):
    ctx = RunContext(tmp_path, progress=False)
    fresh = ctx.stages({"a": (dict, ()), "b": (lambda: {"t": (1, 2), "x": math.nan}, ())})
    resumed = RunContext(tmp_path, resume=True, progress=False).stages({"a": (dict, ()), "b": (None, ())})
    assert fresh == resumed == {"a": {}, "b": {"t": [1, 2], "x": "nan"}}
    assert list(fresh) == ["a", "b"]


def test_the_time_table_lists_every_run_and_the_total():
    from reprolab.launch import time_table

    runs = [RunResult(method=m, scale="quick", seeds=[0], device="cpu", config={}, timings={"total_s": t},
                      claims=[Claim("c", "s", 1.0, "e", kind, verdict) for kind, verdict in claims])
            for m, t, claims in (("mad", 61.2, (("reproduction", "holds"), ("reproduction", "no_signal"),
                                                ("check", "fails"))),
                                 ("mbec", 120.0, (("reproduction", "inconclusive"), ("check", "holds"))))]
    lines = time_table(runs).splitlines()
    assert lines[0].split() == ["method", "hold", "fail", "inconcl.", "no", "signal", "checks", "wall", "time"]
    assert lines[1].split() == ["mad", "1", "0", "0", "1", "0/1", "61", "s"]
    assert lines[2].split() == ["mbec", "0", "0", "1", "0", "1/1", "120", "s"]
    assert lines[3].split() == ["total", "1", "0", "1", "1", "1/2", "181", "s"]


def test_context_builds_the_record_from_its_scale_and_the_config_dataclass(tmp_path):
    import dataclasses

    @dataclasses.dataclass
    class Cfg:
        steps: int = 3
        modes: tuple[str, ...] = ("a", "b")

    ctx = RunContext(out_dir=tmp_path, scale="paper", progress=False)
    claim = Claim.check("c", "x < y", {"x": 1.0, "y": 2.0}, "x < y", True)
    result = ctx.result("m", Cfg(), (2, 0), {"loss": 0.1}, [claim], ["plot.png"])
    assert (result.method, result.scale, result.seeds) == ("m", "paper", [2, 0])
    assert result.config == {"steps": 3, "modes": ["a", "b"]} and result.claims == [claim]
    assert result.artifacts == ["plot.png"] and result.timings == {}   # the runtime adds the timings


def test_timed_block_records_its_seconds_and_a_failed_block_records_none(tmp_path):
    ctx = RunContext(out_dir=tmp_path, progress=False)
    with ctx.timed("plots"):
        sum(range(1000))
    assert set(ctx.timings) == {"plots"} and ctx.timings["plots"] >= 0.0
    with pytest.raises(ZeroDivisionError), ctx.timed("broken"):
        1 / 0
    assert "broken" not in ctx.timings


def test_cpu_model_names_the_family_and_model_of_the_first_processor(tmp_path):
    info = tmp_path / "cpuinfo"
    first = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n"
    info.write_text(first + "\nprocessor\t: 1\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n")
    assert cpu_model(info) == "AMD EPYC (family 26, model 2)"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\n")
    assert cpu_model(info) == "Some CPU"
    assert cpu_model(tmp_path / "missing")          # what platform knows
