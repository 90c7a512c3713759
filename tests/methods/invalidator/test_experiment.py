import json

import pytest

from reprolab.methods.invalidator.assess import Invalidator
from reprolab.methods.invalidator.evaluate import bugs_by_key, patches_of
from reprolab.methods.invalidator import experiment
from reprolab.methods.invalidator.experiment import CONFIGS, build_cache_path, build_stage, merge
from reprolab.runtime.config import apply_overrides
from tests.conftest import read_record, tiny_quick_run

# with these caps, calendar.leapdays and textwrap.dedent give one overfitting patch each (two modules: the cap of
# half the overfitting patches keeps both), difflib and shlex correct ones
TINY = ("subjects=calendar.leapdays,textwrap.dedent,difflib._format_range_unified,shlex.quote",
        "benchmark.n_bugs=1", "benchmark.first_order_cap=60", "benchmark.partial_fixes=3",
        "benchmark.second_order=20", "evaluation.encoder=tfidf-svd", "min_functions=2", "min_patches=3",
        "max_module_share=0.5", "workers=1", "cache=false")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return tiny_quick_run(tmp_path_factory, "invalidator", TINY)


def test_smoke_run_writes_the_benchmark_scores_and_claims(tiny_run):
    out, _ = tiny_run
    record = read_record(out)
    names = [c["name"] for c in record["claims"]]
    assert names[:4] == ["benchmark_is_large_enough", "classifier_converged", "rules_high_precision",
                         "rules_beat_syntactic_precision"] and len(names) == 4 + 24
    assert {c["name"]: c["verdict"] for c in record["claims"]}["classifier_converged"] == "holds"
    bench = record["metrics"]["benchmark"]
    assert bench["n_patches"] == bench["n_overfitting"] + bench["n_correct"] > 0
    assert bench["n_functions"] >= 1 and bench["all_plausible_repass_tests"]
    evaluation = record["metrics"]["evaluation"]
    methods = evaluation["methods"]
    assert {"rules", "naive_invariant_diff", "all_overfitting", "syntactic_gt@0.5", "syntactic_gt@0.975",
            "syntactic_gt@chosen", "invalidator_gt@0.975", "invalidator_gt@chosen", "invalidator_no_gt@0.93"} <= set(
        methods)
    assert methods["all_overfitting"]["all"]["recall"] == 1.0
    folds = evaluation["folds"]
    subjects = json.loads((out / "benchmark.json").read_text())["subjects"]
    assert folds == sorted({p["module"] for s in subjects for p in s["patches"]})
    assert all(len(methods[name]["per_fold"][m]) == len(folds) for name in methods
               for m in ("accuracy", "precision", "recall", "f1"))
    assert evaluation["classifier"]["converged"] and len(evaluation["embedding_sha256"]) == 64
    assert record["metrics"]["environment"]["cpu_model"]
    assert record["metrics"]["developer_fix_as_patch"]["flagged"] == []
    per_module = bench["per_module"]
    assert max(m["overfitting"] for m in per_module.values()) <= 0.5 * bench["n_overfitting"]
    assert sum(m["patches"] for m in per_module.values()) == bench["n_patches"]
    # the share indistinguishable by invariants, against the evaluation's own naive-diff column
    labels, naive, traced = (evaluation[k] for k in ("labels", "naive", "traced"))
    equal = bench["overfitting_invariants_equal_dev"]
    assert equal["of"] == sum(y and t for y, t in zip(labels, traced))
    assert equal["n"] == sum(y and t and not d for y, t, d in zip(labels, traced, naive))
    assert bench["t_pass"] == 10 * bench["n_bugs"] and 0 < bench["t_pass_drawn"] <= 6 * bench["n_bugs"]
    for artifact in record["artifacts"]:
        assert (out / artifact).stat().st_size > 1000


def test_the_benchmark_trains_the_classifier_of_the_api(tiny_run):
    """The API's classifier, trained on a run's benchmark.json, scores that benchmark's own patches from their
    sources (the API's path: whole-program diffs, encoder, features) as it was trained on them: every overfitting
    patch above every correct one (the tiny benchmark is separable in sample). Swapped labels, sides built otherwise
    than in training, or the probability of the other class would break it."""
    out, _ = tiny_run
    inv = Invalidator.from_benchmark_file(out / "benchmark.json", encoder="tfidf-svd")
    benchmark = json.loads((out / "benchmark.json").read_text())["subjects"]
    bugs = bugs_by_key(benchmark)
    score = {True: [], False: []}
    for patch in patches_of(benchmark):
        bug = bugs[(patch["subject"], patch["bug"])]
        score[patch["correct"]].append(inv.probability(bug["buggy"], bug["fixed"], patch["source"]))
    assert score[False] and score[True]
    assert min(score[False]) > 0.5 > max(score[True])


def test_the_syntactic_sides_cover_a_fix_in_a_helper():
    """A patch that changes only a helper of the assessed function still has a diff on every side, so a correct
    and an overfitting patch are told apart (diffing only the named function gave empty sides)."""
    from reprolab.methods.invalidator.assess import patch_texts

    buggy = "def helper(x):\n    return x\n\ndef f(x):\n    return helper(x)\n"
    fixed = buggy.replace("return x\n\n", "return x + 1\n\n")
    overfit = buggy.replace("return x\n\n", "return 1 if x == 0 else x\n\n")
    b, p_fixed, g = patch_texts(buggy, fixed, fixed)
    assert b and p_fixed == g and "1" in g
    _, p_overfit, _ = patch_texts(buggy, fixed, overfit)
    assert p_overfit != p_fixed and "if" in p_overfit


def test_a_subjects_benchmark_is_built_once_then_read_from_the_data_cache(tmp_path, monkeypatch):
    """The first build stores its record; a later one with the same key reads it back without building, a damaged
    entry is built anew, and any benchmark setting, the seed or `cache=false` builds it again."""
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path))
    cfg = apply_overrides(CONFIGS["quick"], [*TINY[1:-1], "cache=true"])
    built = build_stage("shlex.quote", 0, cfg)
    path = build_cache_path("shlex.quote", 0, cfg, built["dev_inputs_source"])
    assert path.exists() and built["patches"]

    def no_build(*args):
        raise AssertionError("built again")

    with monkeypatch.context() as patch:
        patch.setattr(experiment, "build_subject", no_build)
        assert build_stage("shlex.quote", 0, cfg) == built
        with pytest.raises(AssertionError, match="built again"):
            build_stage("shlex.quote", 0, apply_overrides(cfg, ["cache=false"]))
    path.write_text("{not json")
    assert build_stage("shlex.quote", 0, cfg) == built                  # rebuilt: the same record
    source = built["dev_inputs_source"]
    assert len({path, build_cache_path("shlex.quote", 1, cfg, source),
                build_cache_path("shlex.quote", 0, apply_overrides(cfg, ["benchmark.second_order=10"]), source),
                build_cache_path("textwrap.dedent", 0, cfg, source)}) == 4


def test_merge_drops_duplicate_patches_across_seeds():
    stage = {"subject": "m.f", "module": "m", "bugs": [{"bug": 0, "buggy": "B"}],
             "patches": [{"bug": 0, "source": "A", "subject": "m.f"}]}
    other = {"subject": "m.f", "module": "m", "bugs": [{"bug": 0, "buggy": "B2"}, {"bug": 1, "buggy": "B"}],
             "patches": [{"bug": 1, "source": "A", "subject": "m.f"}, {"bug": 0, "source": "A", "subject": "m.f"}]}
    merged = merge([stage, other])[0]
    assert [b["buggy"] for b in merged["bugs"]] == ["B", "B2"]
    assert [(p["bug"], p["source"]) for p in merged["patches"]] == [(0, "A"), (1, "A")]


@pytest.mark.slow
def test_quick_reproduction_runs_end_to_end(tmp_path):
    from reprolab.launch import run_method

    result = run_method("invalidator", "quick", out=tmp_path, device="cpu", progress=False)
    assert result.metrics["benchmark"]["n_functions"] >= 15 and result.metrics["benchmark"]["n_patches"] >= 50
