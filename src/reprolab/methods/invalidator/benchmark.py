"""The patch benchmark built from the standard library, one subject at a time.

For a subject (a function of a stdlib module; its unmodified source is the developer fix D):
1. Input pool: the harvested developer-test inputs, then `drawn_pool` property-style inputs drawn from their
   argument types (drawn.py), then seeded generated ones; D's outcome on each (an input on which D executes more
   than `max_input_lines` Python lines is dropped: a deterministic cost).
2. Bugs: first-order mutants B of D, screened in a seeded order; B qualifies when it loads, differs from D on at
   least one input (a harvested one when there are any) and agrees with D on >= `min_agreement` of the pool.
3. Developer suite: T_P = `n_dev_pass` inputs with B == D (harvested first) and `n_dev_drawn` drawn ones with
   B == D (more of the others where fewer drawn ones qualify), T_F = `n_dev_fail` with B != D (harvested
   first); the oracle O = every other pool input.
4. Plausible patches (generate-and-validate): the first-order mutants of B (sampled up to `first_order_cap`), and
   up to `second_order` random mutants of each of up to `partial_fixes` partial fixes (pass T_F, fail some of
   T_P). Plausible = same outcome as D on all of T. Deduplicated by the docstring-stripped AST of the function;
   at most `plausible_cap` per bug (seeded); `same_as_dev` marks a patch identical to D.
5. Label: correct iff the patch matches D on every oracle input, else overfitting; each plausible patch also
   re-passes T in that fresh run (checked and counted).
6. Invariants of B, D and every patch over T_P and T_F (the tracer, in the sandbox). A version whose tracing
   times out or fails has no invariants (`trace_status`); it is reported, never given empty invariants.
Every program version runs in its own sandboxed process (sandbox.py). Deterministic given the seed.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
from typing import Annotated
import importlib
import json
import random

from reprolab.runtime.config import AT_LEAST_ONE, NON_NEGATIVE, PROBABILITY
from reprolab.methods.invalidator.drawn import drawn_inputs
from reprolab.methods.invalidator.mutation import function_key, mutants
from reprolab.methods.invalidator.outcomes import canonical
from reprolab.methods.invalidator.sandbox import Limits, Sandbox
from reprolab.methods.invalidator.subjects import Input, Program, Subject, generated_inputs

CHUNK = 25          # versions per sandbox job


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """How the patch benchmark is built from a subject: bugs per function (mutants of the developer fix D), the
    passing and failing tests (harvested, drawn, generated), the oracle that labels a plausible patch correct or
    overfitting, and the caps of the repair search. Defaults: the spec's N_DEV_P and NF, else benchmark design."""
    n_bugs: Annotated[int, AT_LEAST_ONE] = 2                   # quick: 2 bugs per subject (paper 5)
    n_dev_pass: Annotated[int, AT_LEAST_ONE] = 4               # N_DEV_P = 4 (spec): harvested passing tests
    # issue 38 item 2: property-style passing tests added to T_P (T_P = 10)
    n_dev_drawn: Annotated[int, NON_NEGATIVE] = 6
    # property-style inputs drawn per subject (those not in T join the oracle)
    drawn_pool: Annotated[int, NON_NEGATIVE] = 50
    n_dev_fail: Annotated[int, AT_LEAST_ONE] = 1               # NF = 1
    # generated inputs added to the pool (oracle >= 250 quick, 1000 paper)
    oracle_size: Annotated[int, NON_NEGATIVE] = 250
    harvest_cap: Annotated[int, AT_LEAST_ONE] = 300            # benchmark design
    min_agreement: Annotated[float, PROBABILITY] = 0.5        # benchmark design
    # pool inputs on which D executes more Python lines are dropped: a cost that
    max_input_lines: Annotated[int, AT_LEAST_ONE] = 50_000
                                      # does not depend on machine load (about 1-5 ms of CPython here, measured
                                      # 10-40 lines per microsecond; keeps the sandbox's 0.1 s call timeout far away)
    bug_screen_cap: Annotated[int, AT_LEAST_ONE] = 80          # mutants of D screened per subject
    first_order_cap: Annotated[int, AT_LEAST_ONE] = 150        # APR: first-order mutants of B validated
    partial_fixes: Annotated[int, NON_NEGATIVE] = 15           # benchmark design
    second_order: Annotated[int, NON_NEGATIVE] = 150           # benchmark design per partial fix
    plausible_cap: Annotated[int, AT_LEAST_ONE] = 40           # benchmark design per bug
    limits: Limits = Limits()


def _run(sandbox: Sandbox, subject: Subject, program: Program, funcs: list, inputs: list[Input],
         trace_groups=None, count_lines: bool = False) -> list[dict]:
    """Sandbox replies for function versions (None = D itself), CHUNK versions per job."""
    sources = [ast.unparse(f) if f is not None else None for f in funcs]
    replies = []
    for i in range(0, len(sources), CHUNK):
        replies += sandbox.run(subject.filename, subject.function, program.text, program.function_line,
                               sources[i:i + CHUNK], inputs, trace_groups, count_lines)
    return replies


def _outcomes(reply: dict) -> list | None:
    return reply["outcomes"] if reply.get("status") == "ok" else None


def stdlib_agreement(subject: Subject, inputs: list[Input], outcomes: list) -> float | None:
    """Acceptance check 6: the fraction of harvested inputs on which the compiled original D gives the same outcome
    as the function the interpreter actually runs (often C code). Trusted code, run in this process."""
    if not inputs:
        return None
    runtime = getattr(importlib.import_module(subject.module), subject.function, None)
    if runtime is None:                                      # deleted from the module at run time
        return None
    same = 0
    for (args, kwargs), expected in zip(inputs, outcomes):
        args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        try:
            got = ["ok", canonical(runtime(*args, **kwargs), 20_000)]
        except Exception as err:                            # noqa: BLE001  (the outcome is the exception type)
            got = ["raise", type(err).__name__]
        same += json.dumps(got) == json.dumps(expected[:2])
    return same / len(inputs)


def passing_tests(same: list[int], origin: list[str], cfg: BenchmarkConfig) -> list[int]:
    """T_P, in pool order, from the pool indices where B == D: the first `n_dev_drawn` drawn inputs and the first
    `n_dev_pass` others (harvested before generated), more of the others where fewer drawn ones qualify."""
    drawn = [i for i in same if origin[i] == "drawn"][: cfg.n_dev_drawn]
    others = [i for i in same if origin[i] != "drawn"][: cfg.n_dev_pass + cfg.n_dev_drawn - len(drawn)]
    return sorted(drawn + others)


def screen_bugs(sandbox, subject, program: Program, pool, d_out, origin: list[str], cfg: BenchmarkConfig,
                rng) -> list[dict]:
    """Up to n_bugs qualifying first-order mutants of D, each with its developer suite split. `origin[i]`: where
    pool input i comes from ("harvested", "drawn" or "generated")."""
    candidates = list(mutants(program.function, rng, cfg.bug_screen_cap))
    bugs = []
    d_key = function_key(program.function)
    for start in range(0, len(candidates), CHUNK):
        chunk = candidates[start:start + CHUNK]
        chunk = [(desc, m) for desc, m in chunk if function_key(m) != d_key]
        replies = _run(sandbox, subject, program, [m for _, m in chunk], pool)
        for (desc, mutant), reply in zip(chunk, replies):
            out = _outcomes(reply)
            if out is None:
                continue
            same = [json.dumps(a) == json.dumps(b) for a, b in zip(out, d_out)]
            differs = [i for i, s in enumerate(same) if not s]
            harvested_differs = [i for i in differs if origin[i] == "harvested"]
            if not differs or ("harvested" in origin and not harvested_differs) or \
                    sum(same) < cfg.min_agreement * len(same):
                continue
            passing = passing_tests([i for i, s in enumerate(same) if s], origin, cfg)
            failing = (harvested_differs + [i for i in differs if origin[i] != "harvested"])[: cfg.n_dev_fail]
            if len(passing) < cfg.n_dev_pass + cfg.n_dev_drawn or len(failing) < cfg.n_dev_fail:
                continue
            bugs.append({"mutation": desc, "func": mutant, "t_pass": passing, "t_fail": failing,
                         "agreement": sum(same) / len(same)})
            if len(bugs) == cfg.n_bugs:
                return bugs
    return bugs


def validate(sandbox, subject, program: Program, funcs: list, tests: list[Input], expected: list) -> list[list[bool]]:
    """Per candidate: for each test, whether its outcome equals D's (all False when the version does not load)."""
    replies = _run(sandbox, subject, program, funcs, tests)
    flags = []
    for reply in replies:
        out = _outcomes(reply)
        flags.append([False] * len(tests) if out is None else
                     [json.dumps(a) == json.dumps(b) for a, b in zip(out, expected)])
    return flags


def repair(sandbox, subject, program: Program, bug: dict, tests: list[Input], expected: list, cfg: BenchmarkConfig,
           rng) -> tuple[list, int]:
    """Plausible patches of one bug, [(description, tree)] deduplicated and at most plausible_cap, and the number
    of first-order candidates validated."""
    n_pass = len(bug["t_pass"])
    first = list(mutants(bug["func"], rng, cfg.first_order_cap))
    flags = validate(sandbox, subject, program, [t for _, t in first], tests, expected)
    plausible = [(d, t) for (d, t), f in zip(first, flags) if all(f)]
    partial = [(d, t) for (d, t), f in zip(first, flags) if all(f[n_pass:]) and not all(f[:n_pass])]
    for desc, tree in partial[: cfg.partial_fixes]:
        second = list(mutants(tree, rng, cfg.second_order))
        flags = validate(sandbox, subject, program, [t for _, t in second], tests, expected)
        plausible += [(f"{desc} + {d}", t) for (d, t), f in zip(second, flags) if all(f)]
    unique, seen = [], {function_key(bug["func"])}
    for desc, tree in plausible:
        key = function_key(tree)
        if key not in seen:
            seen.add(key)
            unique.append((desc, tree))
    rng.shuffle(unique)
    return unique[: cfg.plausible_cap], len(first)


def build_subject(subject: Subject, harvested: list[Input], harvest_source: str, cfg: BenchmarkConfig,
                  seed: int) -> dict:
    """The bugs and labelled plausible patches of one subject (JSON-ready: a resumable stage)."""
    rng = random.Random(f"{subject.name}:{seed}")
    program = Program.load(subject)
    drawn = drawn_inputs(harvested, cfg.drawn_pool, f"{subject.name}:{seed}")
    generated = generated_inputs(subject, cfg.oracle_size, seed)
    pool = list(harvested) + drawn + generated
    origin = ["harvested"] * len(harvested) + ["drawn"] * len(drawn) + ["generated"] * len(generated)
    info = {"subject": subject.name, "module": subject.module, "dev_inputs_source": harvest_source,
            "n_harvested": len(harvested), "n_drawn": len(drawn), "bugs": [], "patches": []}
    with Sandbox(cfg.limits) as sandbox:
        d_reply = _run(sandbox, subject, program, [None], pool, count_lines=True)[0]
        if d_reply.get("status") != "ok":
            info["skipped"] = f"D did not run: {d_reply.get('status')} {d_reply.get('error', '')}"
            return info
        keep = [i for i, (o, n) in enumerate(zip(d_reply["outcomes"], d_reply["lines"]))
                if o[0] in ("ok", "raise") and n <= cfg.max_input_lines]
        pool, d_out, origin = [pool[i] for i in keep], [d_reply["outcomes"][i] for i in keep], [origin[i] for i in keep]
        n_harvested = origin.count("harvested")
        info["pool_size"] = len(pool)
        info["stdlib_agreement"] = stdlib_agreement(subject, pool[:n_harvested], d_out[:n_harvested])
        d_func, d_key = ast.unparse(program.function), function_key(program.function)
        for b_id, bug in enumerate(screen_bugs(sandbox, subject, program, pool, d_out, origin, cfg, rng)):
            t_idx = bug["t_pass"] + bug["t_fail"]
            tests, expected = [pool[i] for i in t_idx], [d_out[i] for i in t_idx]
            in_tests = set(t_idx)
            oracle_idx = [i for i in range(len(pool)) if i not in in_tests]
            oracle, oracle_expected = [pool[i] for i in oracle_idx], [d_out[i] for i in oracle_idx]
            patches, n_candidates = repair(sandbox, subject, program, bug, tests, expected, cfg, rng)
            # labels: the oracle, plus T again in the same fresh run (every plausible patch must re-pass it)
            flags = validate(sandbox, subject, program, [f for _, f in patches], tests + oracle,
                             expected + oracle_expected)
            groups = {"P": list(range(len(bug["t_pass"]))), "F": list(range(len(bug["t_pass"]), len(t_idx)))}
            versions = [bug["func"], program.function] + [f for _, f in patches]
            traces = _run(sandbox, subject, program, versions, tests, groups)
            invariants = [r.get("invariants") if r.get("status") == "ok" else None for r in traces]
            info["bugs"].append({"bug": b_id, "mutation": bug["mutation"], "agreement": bug["agreement"],
                                 "buggy": ast.unparse(bug["func"]), "fixed": d_func,
                                 "t_pass": len(bug["t_pass"]), "t_fail": len(bug["t_fail"]),
                                 "t_pass_drawn": sum(origin[i] == "drawn" for i in bug["t_pass"]),
                                 "oracle_size": len(oracle), "apr_candidates": n_candidates,
                                 "invariants_buggy": invariants[0], "invariants_fixed": invariants[1],
                                 "trace_status": [r.get("status") for r in traces[:2]]})
            for k, ((desc, func), f) in enumerate(zip(patches, flags)):
                info["patches"].append({
                    "subject": subject.name, "module": subject.module, "bug": b_id, "patch": k, "mutation": desc,
                    "repasses_tests": all(f[: len(tests)]), "correct": all(f[len(tests):]),
                    "same_as_dev": function_key(func) == d_key, "source": ast.unparse(func),
                    "invariants": invariants[2 + k], "trace_status": traces[2 + k].get("status"),
                    "violations": traces[2 + k].get("violations", [])})
    return info
