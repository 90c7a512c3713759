"""INVALIDATOR (Le-Cong et al., TSE 2023) for Python: patch-correctness assessment by dynamic invariants and a
syntactic classifier, with a benchmark built from the standard library and CPython's own tests.

Public API: `Invalidator` (assess one patch: `assess(buggy, fixed, patch, function, passing, failing)`, `fit`);
`Tracer`, `invariant_map` (the Daikon-style front end); `semantic_verdict`, `correct_spec_violations`,
`maintained_errors`, `invalidator_decision` (the rules); `naive_diff` (a baseline); `Sandbox`, `Limits` (isolated runs);
`SUBJECTS`, `build_subject`, `BenchmarkConfig` (the benchmark); `evaluate_benchmark`, `EvalConfig` (scores).
"""

from reprolab.registry import MethodEntry, lazy_api

ENTRY = MethodEntry("invalidator",
                    "Le-Cong et al., Invalidator: automated patch correctness assessment via semantic and "
                    "syntactic reasoning, TSE 2023",
                    "reprolab.methods.invalidator.experiment",
                    commands="reprolab.methods.invalidator.commands:app")

_API = {
    "Invalidator": "reprolab.methods.invalidator.assess:Invalidator",
    "BenchmarkConfig": "reprolab.methods.invalidator.benchmark:BenchmarkConfig",
    "build_subject": "reprolab.methods.invalidator.benchmark:build_subject",
    "EvalConfig": "reprolab.methods.invalidator.evaluate:EvalConfig",
    "evaluate_benchmark": "reprolab.methods.invalidator.evaluate:evaluate",
    "invariant_map": "reprolab.methods.invalidator.invariants:invariant_map",
    "correct_spec_violations": "reprolab.methods.invalidator.rules:correct_spec_violations",
    "invalidator_decision": "reprolab.methods.invalidator.rules:invalidator_decision",
    "maintained_errors": "reprolab.methods.invalidator.rules:maintained_errors",
    "naive_diff": "reprolab.methods.invalidator.baselines:naive_diff",
    "semantic_verdict": "reprolab.methods.invalidator.rules:semantic_verdict",
    "Limits": "reprolab.methods.invalidator.sandbox:Limits",
    "Sandbox": "reprolab.methods.invalidator.sandbox:Sandbox",
    "SUBJECTS": "reprolab.methods.invalidator.subjects:SUBJECTS",
    "Tracer": "reprolab.methods.invalidator.tracer:Tracer",
}
__getattr__, __dir__ = lazy_api(__name__, _API)
__all__ = list(_API)
