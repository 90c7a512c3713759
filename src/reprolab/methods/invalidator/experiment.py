"""`reprolab run invalidator`: build the standard-library patch benchmark and score INVALIDATOR against its
baselines.

Stages (each resumable): the harvest of CPython's tests (cached per Python version), one benchmark stage per
(subject, seed) run in parallel processes, each program version in its own sandboxed process (with `cache`, a
subject's benchmark built by an earlier run under the same key is read from the data cache instead); then the
evaluation (rules, naive invariant diff, syntactic classifier with and without GT by leave-one-program-out,
INVALIDATOR at the official, fixed and fold-chosen thresholds, all-overfitting). Patches are deduplicated across
seeds by (subject, buggy function, patched function).
Quick (CPU, minutes): the 26 subjects with fast test modules, 1 seed, 2 bugs each, T_P = 4 harvested + 6
property-style drawn inputs, NF = 1, oracle >= 250 generated inputs, capped mutation search (300 first-order
candidates, 10 partial fixes x 60 second-order), no module supplying more than a quarter of the overfitting patches
(composition.py).
Paper: every subject, 10 seeds, 5 bugs each, oracle >= 1000, the design caps and inputs of up to 500,000 executed
lines (CPU-bound: many cores help; a GPU speeds only the encoder).
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import Annotated

import numpy as np

from reprolab.methods.invalidator.claims import claims
from reprolab.methods.invalidator.benchmark import BenchmarkConfig, build_subject
from reprolab.methods.invalidator.composition import cap_overfitting_per_module, invariants_equal_dev
from reprolab.methods.invalidator.evaluate import EvalConfig, evaluate
from reprolab.methods.invalidator.plots import plot_scores
from reprolab.methods.invalidator.harvest import HARVEST_FORMAT, harvest_inputs
from reprolab.methods.invalidator.rules import semantic_verdict
from reprolab.methods.invalidator.subjects import subjects
from reprolab.runtime.config import AT_LEAST_ONE, NON_NEGATIVE, PROBABILITY, config_to_dict, validate_config
from reprolab.runtime.cache import entry_path
from reprolab.runtime.io import read_json, write_json
from reprolab.runtime.results import RunContext, RunResult, cpu_model

NEEDS_EXTRA_DATA = False
DEVICES = ("cpu",)          # tracing, sandboxed runs and the classifier run on the CPU
BUILD_FORMAT = 1            # raised when `build_subject`'s record changes: older cached benchmarks are not read


@dataclasses.dataclass(frozen=True)
class InvalidatorConfig:
    subjects: tuple[str, ...] = ()             # module.function names; empty: all (quick: the fast ones)
    quick_only: bool = True                    # only subjects whose CPython test module is fast (quick)
    n_seeds: Annotated[int, AT_LEAST_ONE] = 1  # 1 (quick, seed 0: it fits the 3-minute budget), 10 (paper)
    benchmark: BenchmarkConfig = BenchmarkConfig(first_order_cap=300, partial_fixes=10, second_order=60)
    require_cpython_tests: bool = False        # True: a missing `test` package is an error, not a fallback
    evaluation: EvalConfig = EvalConfig()
    min_functions: Annotated[int, NON_NEGATIVE] = 15  # issue: the quick benchmark has >= 15 functions, >= 50 patches
    min_patches: Annotated[int, NON_NEGATIVE] = 50
    # issue 38 item 2: no module supplies more than a quarter of the
    max_module_share: Annotated[float, PROBABILITY] = 0.25
                                               # overfitting patches (composition.py)
    workers: Annotated[int, AT_LEAST_ONE] = 2
    # keep each subject's built benchmark in the data cache, keyed by what it is built from (`build_cache_path`)
    cache: bool = True

    def __post_init__(self) -> None:
        validate_config(self)            # options and the declared bounds of every field, nested configs included


CONFIGS = {
    "quick": InvalidatorConfig(),
    "paper": InvalidatorConfig(quick_only=False, n_seeds=10,
                               benchmark=BenchmarkConfig(n_bugs=5, oracle_size=1000, max_input_lines=500_000,
                                                         bug_screen_cap=400, first_order_cap=1500),
                               min_patches=500, workers=8),
}


def build_cache_path(name: str, seed: int, cfg: InvalidatorConfig, harvest_source: str) -> Path:
    """The data cache's file of one subject's benchmark (`build_subject`'s JSON record), keyed by what it is built
    from: the subject, the seed, the benchmark settings, the harvest it starts from (`HARVEST_FORMAT`, its source,
    whether CPython's tests were required) and the Python version (the subject's source and the harvested inputs),
    and `BUILD_FORMAT`."""
    key = [BUILD_FORMAT, HARVEST_FORMAT, name, seed, config_to_dict(cfg.benchmark), cfg.require_cpython_tests,
           harvest_source, platform.python_version()]
    return entry_path("invalidator", f"build-{name}-s{seed}", key).with_suffix(".json")


def build_stage(name: str, seed: int, cfg: InvalidatorConfig) -> dict:
    """One subject's bugs and labelled patches for `seed` (`build_subject`), or with `cfg.cache` the record an earlier
    run built under the same key (`build_cache_path`), read as written."""
    chosen = subjects((name,))
    inputs, source = harvest_inputs(chosen, cfg.benchmark.harvest_cap, seed,
                                    require_cpython_tests=cfg.require_cpython_tests)[name]
    path = build_cache_path(name, seed, cfg, source) if cfg.cache else None
    if path is not None and path.exists():
        try:
            return read_json(path)
        except ValueError:                                   # a damaged entry is built anew, never trusted
            path.unlink(missing_ok=True)
    built = build_subject(chosen[0], inputs, source, cfg.benchmark, seed)
    if path is not None:
        write_json(path, built)
    return built


def merge(stages: list[dict]) -> list[dict]:
    """One entry per subject: its bugs and patches over all seeds, duplicates (same buggy and patched function)
    dropped; bug ids renumbered per subject."""
    merged: dict[str, dict] = {}
    for stage in stages:
        entry = merged.setdefault(stage["subject"], {k: v for k, v in stage.items() if k not in ("bugs", "patches")}
                                  | {"bugs": [], "patches": [], "seen": set(), "bug_ids": {}})
        for bug in stage["bugs"]:
            key = bug["buggy"]
            if key not in entry["bug_ids"]:
                entry["bug_ids"][key] = len(entry["bugs"])
                entry["bugs"].append({**bug, "bug": entry["bug_ids"][key]})
        old_to_new = {b["bug"]: entry["bug_ids"][b["buggy"]] for b in stage["bugs"]}
        for patch in stage["patches"]:
            new_bug = old_to_new[patch["bug"]]
            key = (new_bug, patch["source"])
            if key not in entry["seen"]:
                entry["seen"].add(key)
                entry["patches"].append({**patch, "bug": new_bug})
    for entry in merged.values():
        del entry["seen"], entry["bug_ids"]
    return list(merged.values())


def benchmark_metrics(benchmark: list[dict], stages: list[dict]) -> dict:
    patches = [p for s in benchmark for p in s["patches"]]
    bugs = [b for s in benchmark for b in s["bugs"]]
    agreement = [s["stdlib_agreement"] for s in stages if s.get("stdlib_agreement") is not None]
    return {"n_functions": sum(bool(s["patches"]) for s in benchmark), "n_subjects": len(benchmark),
            "n_bugs": len(bugs), "n_patches": len(patches),
            "n_overfitting": sum(not p["correct"] for p in patches), "n_correct": sum(p["correct"] for p in patches),
            "n_same_as_dev": sum(p["same_as_dev"] for p in patches),
            "overfitting_invariants_equal_dev": invariants_equal_dev(benchmark),
            "t_pass_drawn": sum(b["t_pass_drawn"] for b in bugs), "t_pass": sum(b["t_pass"] for b in bugs),
            "all_plausible_repass_tests": all(p["repasses_tests"] for p in patches),
            "oracle_size_min": min((b["oracle_size"] for b in bugs), default=0),
            "oracle_size_median": float(np.median([b["oracle_size"] for b in bugs])) if bugs else 0.0,
            "apr_candidates_validated": sum(b["apr_candidates"] for b in bugs),
            "stdlib_agreement_min": min(agreement, default=None),
            "dev_inputs_source": {s["subject"]: s["dev_inputs_source"] for s in benchmark},
            "skipped_subjects": {s["subject"]: s["skipped"] for s in stages if "skipped" in s},
            "trace_failures": sum(p["trace_status"] != "ok" for p in patches),
            "sandbox_violations": sum(bool(p["violations"]) for p in patches),
            "per_subject": {s["subject"]: {"bugs": len(s["bugs"]), "patches": len(s["patches"]),
                                           "overfitting": sum(not p["correct"] for p in s["patches"])}
                            for s in benchmark},
            "per_module": per_module(benchmark)}


def per_module(benchmark: list[dict]) -> dict[str, dict[str, int]]:
    """module -> its patches and overfitting patches (after the cap) and the overfitting patches the cap removed."""
    out: dict[str, dict[str, int]] = {}
    for s in benchmark:
        counts = out.setdefault(s["module"], {"patches": 0, "overfitting": 0, "overfitting_capped": 0})
        counts["patches"] += len(s["patches"])
        counts["overfitting"] += sum(not p["correct"] for p in s["patches"])
        counts["overfitting_capped"] += len(s.get("capped_patches", []))
    return dict(sorted(out.items()))


def run(cfg: InvalidatorConfig, ctx: RunContext) -> RunResult:
    chosen = subjects(cfg.subjects, quick_only=cfg.quick_only and not cfg.subjects)
    seeds = [ctx.seed + k for k in range(cfg.n_seeds)]
    sources = ctx.stage("harvest", lambda: {n: (len(i), s) for n, (i, s) in harvest_inputs(
        chosen, cfg.benchmark.harvest_cap, ctx.seed, require_cpython_tests=cfg.require_cpython_tests).items()})
    jobs = {f"build_{s.name}@{seed}": (build_stage, (s.name, seed, cfg)) for seed in seeds for s in chosen}
    stages = list(ctx.stages(jobs, workers=cfg.workers).values())
    benchmark, module_cap = cap_overfitting_per_module(merge(stages), cfg.max_module_share, ctx.seed)
    write_json(ctx.out_dir / "benchmark.json", {"subjects": benchmark, "config": config_to_dict(cfg)})
    metrics = {"benchmark": benchmark_metrics(benchmark, stages) | {"module_cap": module_cap}, "harvest": sources,
               "environment": {"cpu_model": cpu_model()}}
    with ctx.timed("evaluation"):
        metrics["evaluation"] = evaluate(benchmark, cfg.evaluation, ctx.seed)
    metrics["developer_fix_as_patch"] = developer_fix_check(benchmark)
    with ctx.timed("plots"):
        artifacts = ["benchmark.json", plot_scores(metrics, ctx.out_dir / "plot_scores.png").name]
    return ctx.result("invalidator", cfg, seeds, metrics, claims(metrics, cfg), artifacts)


def developer_fix_check(benchmark: list[dict]) -> dict:
    """Acceptance check 2: the developer fix D judged as a patch of its own bug (I(A) = I(D))."""
    flagged, checked = [], 0
    for s in benchmark:
        for bug in s["bugs"]:
            if bug["invariants_buggy"] is None or bug["invariants_fixed"] is None:
                continue
            checked += 1
            if semantic_verdict(bug["invariants_buggy"], bug["invariants_fixed"], bug["invariants_fixed"])[
                    "overfitting"]:
                flagged.append(f"{s['subject']}#{bug['bug']}")
    return {"checked": checked, "flagged": flagged}


