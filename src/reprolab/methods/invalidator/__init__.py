"""INVALIDATOR (Le-Cong et al., TSE 2023) for Python: patch-correctness assessment by dynamic invariants and a
syntactic classifier, with a benchmark built from the standard library and CPython's own tests.

Public API: `Invalidator` (assess one patch: `assess(buggy, fixed, patch, function, passing, failing)`, `fit`);
`Tracer`, `invariant_map` (the Daikon-style front end); `semantic_verdict`, `correct_spec_violations`,
`maintained_errors`, `naive_diff`, `invalidator_decision` (the rules); `Sandbox`, `Limits` (isolated runs);
`SUBJECTS`, `build_subject`, `BenchmarkConfig` (the benchmark); `evaluate`, `EvalConfig` (scores).
"""

from reprolab.methods.invalidator.assess import Invalidator
from reprolab.methods.invalidator.benchmark import BenchmarkConfig, build_subject
from reprolab.methods.invalidator.evaluate import EvalConfig, evaluate
from reprolab.methods.invalidator.invariants import invariant_map
from reprolab.methods.invalidator.rules import (correct_spec_violations, invalidator_decision, maintained_errors,
                                                naive_diff, semantic_verdict)
from reprolab.methods.invalidator.sandbox import Limits, Sandbox
from reprolab.methods.invalidator.subjects import SUBJECTS
from reprolab.methods.invalidator.tracer import Tracer

__all__ = ["Invalidator", "BenchmarkConfig", "build_subject", "EvalConfig", "evaluate", "invariant_map",
           "correct_spec_violations", "invalidator_decision", "maintained_errors", "naive_diff", "semantic_verdict",
           "Limits", "Sandbox", "SUBJECTS", "Tracer"]
