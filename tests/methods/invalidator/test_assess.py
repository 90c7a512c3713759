import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reprolab.cli import app
from reprolab.methods.invalidator.assess import Invalidator

FIXED = '''
def clip_sum(xs, hi):
    total = 0
    for x in xs:
        total += min(x, hi)
    return total
'''
BUGGY = FIXED.replace("min(x, hi)", "x")
EQUIVALENT = FIXED.replace("min(x, hi)", "(x if x < hi else hi)")
# same outputs on every input, but the running total is kept negated: "total >= 0" at the loop header, true in
# both B and D on the passing tests, no longer holds (INVALIDATOR judges internal states, not just outputs)
NEGATED = FIXED.replace("total += min(x, hi)", "total -= min(x, hi)").replace("return total", "return -total")
PASSING = [([1, 2], 5), ([0, 3, 1], 4), ([2, 2, 2], 9), ([1], 3)]
FAILING = [([7, 1], 5)]


def test_a_patch_that_keeps_the_specification_is_not_flagged():
    verdict = Invalidator().assess(BUGGY, FIXED, EQUIVALENT, "clip_sum", PASSING, FAILING)
    assert verdict["overfitting"] is False and verdict["rule"] is None and verdict["p_syntactic"] is None
    assert verdict["decided_by"] == "no rule fired and no classifier was used"
    assert Invalidator().assess(BUGGY, FIXED, FIXED, "clip_sum", PASSING, FAILING)["overfitting"] is False


def test_a_violated_invariant_of_the_correct_specification_is_flagged():
    verdict = Invalidator().assess(BUGGY, FIXED, NEGATED, "clip_sum", PASSING, FAILING)
    assert verdict["overfitting"] and verdict["rule"] == "violates_correct_spec"
    assert "total >= 0" in verdict["violated"]["clip_sum:::LOOP0"]


def test_bad_inputs_are_rejected_or_reported():
    verdict = Invalidator().assess(BUGGY, FIXED, BUGGY, "clip_sum", PASSING, FAILING)
    assert verdict["overfitting"] and verdict["decided_by"].startswith("not plausible")
    with pytest.raises(ValueError, match="same outcome on the buggy and the fixed"):
        Invalidator().assess(BUGGY, FIXED, FIXED, "clip_sum", PASSING, [([1], 5)])
    with pytest.raises(ValueError, match=r"passing tests \[1\] give different outcomes on the buggy and the fixed"):
        Invalidator().assess(BUGGY, FIXED, FIXED, "clip_sum", [PASSING[0], ([9], 5)], FAILING)
    with pytest.raises(ValueError, match="passing and failing"):
        Invalidator().assess(BUGGY, FIXED, FIXED, "clip_sum", PASSING, [])
    with pytest.raises(ValueError, match="the patch: syntax error at line 1"):
        Invalidator().assess(BUGGY, FIXED, "def clip_sum(:", "clip_sum", PASSING, FAILING)
    with pytest.raises(ValueError, match=r"the buggy version has no top-level function 'clip_sum'; it defines \['f'\]"):
        Invalidator().assess("def f(x):\n    return x\n", FIXED, FIXED, "clip_sum", PASSING, FAILING)


def assess_args(folder, patch: str, *extra: str) -> list[str]:
    """`reprolab invalidator assess` on clip_sum with `patch`, the files written into `folder`."""
    for name, text in (("b.py", BUGGY), ("f.py", FIXED), ("p.py", patch)):
        (folder / name).write_text(text)
    (folder / "t.py").write_text(f"PASSING = {PASSING!r}\nFAILING = {FAILING!r}\n")
    return ["invalidator", "assess", "--buggy", str(folder / "b.py"), "--fixed", str(folder / "f.py"),
            "--patch", str(folder / "p.py"), "--tests", str(folder / "t.py"), "--function", "clip_sum", *extra]


def training_benchmark(folder) -> str:
    """A benchmark.json in the experiment's format for clip_sum: correct patches (D and its rewrites) and
    overfitting ones (a constant bound, a dropped term)."""
    correct = [FIXED, EQUIVALENT, FIXED.replace("min(x, hi)", "min(hi, x)"),
               FIXED.replace("min(x, hi)", "(hi if x > hi else x)")]
    overfitting = [FIXED.replace("min(x, hi)", "min(x, 5)"), FIXED.replace("min(x, hi)", "min(x, 4)"),
                   FIXED.replace("min(x, hi)", "(x if x < 5 else 5)"), FIXED.replace("min(x, hi)", "min(x, hi - 1)")]
    patches = [{"subject": "m.clip_sum", "module": "m", "bug": 0, "source": source, "correct": ok}
               for sources, ok in ((correct, True), (overfitting, False)) for source in sources]
    path = folder / "benchmark.json"
    path.write_text(json.dumps({"subjects": [{"subject": "m.clip_sum", "module": "m", "patches": patches,
                                              "bugs": [{"bug": 0, "buggy": BUGGY, "fixed": FIXED}]}]}))
    return str(path)


def test_cli_assess_prints_the_verdict_and_the_rule(tmp_path):
    args = assess_args(tmp_path, NEGATED)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "OVERFITTING: rule violates_correct_spec fired"
    assert lines[1].startswith("  violated at clip_sum:::LOOP0: ") and "total >= 0" in lines[1]
    (tmp_path / "t.py").write_text("PASSING = []\n")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "must define PASSING and FAILING" in result.output


def test_cli_assess_without_a_classifier_does_not_call_an_unflagged_patch_correct(tmp_path):
    result = CliRunner().invoke(app, assess_args(tmp_path, EQUIVALENT))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "NOT FLAGGED: no rule fired and no classifier was used",
        "  the rules can only flag a patch as overfitting; --train-on BENCHMARK.json adds the classifier"]


def test_cli_assess_with_a_classifier_prints_its_score_and_the_threshold(tmp_path):
    benchmark = training_benchmark(tmp_path)
    p = Invalidator.from_benchmark_file(Path(benchmark), encoder="tfidf-svd").probability(BUGGY, FIXED, EQUIVALENT)
    assert 0.0 < p < 0.975
    for threshold, label, relation in (("0.975", "CORRECT", "<="), ("0.0", "OVERFITTING", ">")):
        result = CliRunner().invoke(app, assess_args(tmp_path, EQUIVALENT, "--train-on", benchmark, "--encoder",
                                                     "tfidf-svd", "--threshold", threshold))
        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == [
            f"{label}: no rule fired; the classifier's p(overfitting) = {p:.3f} {relation} T = {float(threshold)}"]
    result = CliRunner().invoke(app, assess_args(tmp_path, NEGATED, "--train-on", benchmark, "--encoder",
                                                 "tfidf-svd"))
    assert result.output.splitlines()[0] == "OVERFITTING: rule violates_correct_spec fired"   # the rule first


def test_cli_assess_with_the_sentence_encoder_prints_no_progress_bar(tmp_path):
    """Loading the MiniLM weights draws transformers' "Loading weights" bar on stderr unless it is switched off;
    the switch is restored afterwards."""
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    result = CliRunner().invoke(app, assess_args(tmp_path, EQUIVALENT, "--train-on", training_benchmark(tmp_path)))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(("CORRECT: no rule fired; the classifier's p(overfitting) = ",
                                                    "OVERFITTING: no rule fired; the classifier's")), lines
    assert hf_logging.is_progress_bar_enabled()


@pytest.mark.parametrize("file, text, function, message", [
    ("t.py", "PASSING = [(1,)\n", "clip_sum", "t.py: syntax error at line 1: '[' was never closed"),
    ("t.py", "PASSING = 5\nFAILING = []\n", "clip_sum", "t.py: PASSING must be a list of argument tuples, got int 5"),
    ("t.py", "PASSING = [[1, 2]]\nFAILING = []\n", "clip_sum", "t.py: PASSING: a test is a tuple of arguments"),
    ("t.py", "import nosuchmodule\n", "clip_sum", "t.py raised ModuleNotFoundError"),
    ("p.py", "def clip_sum(xs, hi:\n", "clip_sum", "p.py: syntax error at line 1: '(' was never closed"),
    ("b.py", "x = (\n", "clip_sum", "b.py: syntax error at line 1: '(' was never closed"),
    ("f.py", FIXED, "nosuchfn", "b.py has no top-level function 'nosuchfn'; it defines ['clip_sum']"),
])
def test_cli_assess_names_the_bad_input_file_without_a_traceback(tmp_path, file, text, function, message):
    files = {"b.py": BUGGY, "f.py": FIXED, "p.py": FIXED, "t.py": f"PASSING = {PASSING!r}\nFAILING = {FAILING!r}\n"}
    files[file] = text
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    args = ["invalidator", "assess", "--buggy", str(tmp_path / "b.py"), "--fixed", str(tmp_path / "f.py"),
            "--patch", str(tmp_path / "p.py"), "--tests", str(tmp_path / "t.py"), "--function", function]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1
