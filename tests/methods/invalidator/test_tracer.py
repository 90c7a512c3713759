import ast
import copy
import json

import pytest

from reprolab.methods.invalidator.invariants import (infer, invariant_map, pair_invariants, scalar_invariants,
                                                     sequence_invariants, string_invariants,
                                                     string_pair_invariants)
from reprolab.methods.invalidator.outcomes import canonical
from reprolab.methods.invalidator.subjects import Program, generated_inputs, subjects
from reprolab.methods.invalidator.tracer import (CALL_SITE, Tracer, call_points, instrument_calls, loop_headers,
                                                 untraced_call, variables)

SOURCE = '''
def total(xs):
    s = 0
    for x in xs:
        s += x
    return s


def clamp_all(xs, hi):
    out = []
    i = 0
    while i < len(xs):
        out.append(min(xs[i], hi))
        i += 1
    xs.sort()
    return total(out)


def boom(n):
    raise ValueError(n)
'''


def _traced(calls, tracer=None):
    ns = {}
    exec(compile(SOURCE, "<subject:t>", "exec"), ns)
    tracer = tracer or Tracer("<subject:t>", SOURCE)
    with tracer:
        for name, args in calls:
            try:
                ns[name](*copy.deepcopy(args))
            except ValueError:
                pass
    return {p: infer(rows) for p, rows in tracer.samples.items()}, tracer.samples


def test_loop_headers_are_numbered_in_source_order_per_function():
    headers = loop_headers(SOURCE)
    assert headers[("total", 2)] == {4: 0} and headers[("clamp_all", 9)] == {12: 0}


def test_tracers_given_the_loop_headers_share_them_and_sample_what_a_parsing_tracer_does():
    calls = [("clamp_all", ([3, 1, 2], 2)), ("total", ([1, 2],))]
    headers = loop_headers(SOURCE)
    first, second = (Tracer("<subject:t>", None, headers=headers) for _ in range(2))
    assert first.headers is second.headers is headers                     # parsed once for a worker's groups
    assert _traced(calls, first)[1] == _traced(calls, second)[1] == _traced(calls)[1]
    assert len(first.samples["clamp_all:::LOOP0"]) == 3 + 1                  # every arrival at the header


def test_variables_of_scalars_sizes_and_sequences():
    assert variables("b", True) == {"b": 1} and variables("f", float("nan")) == {}
    assert variables("s", "abc") == {"size(s)": 3, "s": "abc"} and variables("b", b"ab") == {"size(b)": 2, "b": b"ab"}
    assert variables("long", "x" * 65) == {"size(long)": 65}
    assert variables("xs", [3, 1.5]) == {"size(xs)": 2, "xs": (3, 1.5)}
    assert variables("d", {"a": [1]}) == {"size(d)": 1}


def test_tracer_finds_known_invariants_at_enter_exit_loop_and_helpers():
    inv, samples = _traced([("clamp_all", ([3, 1, 2], 2)), ("clamp_all", ([5, 4], 9)),
                            ("clamp_all", ([7, 0, 1, 2], 1)), ("boom", (1,))])
    assert "hi > 0" in inv["clamp_all:::ENTER"]
    exit_ = inv["clamp_all:::EXIT"]
    assert "xs sorted" in exit_ and "orig(xs) permutation of xs" in exit_         # post-state vs entry
    assert "return > 0" in exit_ and "hi == orig(hi)" in exit_                  # returns 5, 9, 3
    assert "i >= 0" in inv["clamp_all:::LOOP0"] and "i <= size(xs)" in inv["clamp_all:::LOOP0"]
    assert "s >= 0" in inv["total:::LOOP0"]                                     # the helper is traced too
    assert "total:::EXIT" in inv and len(samples["total:::ENTER"]) == 3
    assert "boom:::ENTER" in samples and "boom:::EXIT" not in samples          # an exception leaves no EXIT
    assert len(samples["clamp_all:::LOOP0"]) == 3 + 1 + 2 + 1 + 4 + 1            # every arrival at the header


def test_templates_on_hand_made_samples():
    assert scalar_invariants("x", [2, 2, 2]) == ["x == 2"]
    assert scalar_invariants("x", [1, 2, 1, 2]) == ["x one of {1, 2}", "x > 0"]
    assert scalar_invariants("x", [-1, 3, 5]) == ["x != 0"]
    assert scalar_invariants("x", [1, 2]) == []                                  # fewer than 3 samples
    assert pair_invariants("a", "b", [1, 2, 3], [3, 5, 7]) == ["a < b", "b == 2*a + 1"]
    assert pair_invariants("a", "b", [1, 2, 3], [1, 2, 3]) == ["a == b"]
    assert sequence_invariants("s", [(1, 2), (0, 5, 9), (3,)]) == ["s sorted", "s no duplicates",
                                                                    "s elements >= 0"]
    # a variable missing from a sample is not evaluated there
    assert "y == 1" in infer([{"x": 1, "y": 1}, {"x": 2}, {"x": 3, "y": 1}, {"x": 4, "y": 1}])


def test_string_invariants_of_daikon():
    """Equality to a constant, one-of, and prefix / suffix / containment between string variables of one type."""
    assert string_invariants("s", ["ab"] * 3) == ["s == 'ab'"]
    assert string_invariants("s", ["a", "b", "a", "b"]) == ["s one of {'a', 'b'}"]
    assert string_pair_invariants("p", "w", ["he", "x", "fo"], ["hello", "x-ray", "foo"]) == ["p prefix of w"]
    assert string_pair_invariants("p", "w", ["lo", "ay", "o"], ["hello", "x-ray", "foo"]) == ["p suffix of w"]
    assert string_pair_invariants("p", "w", ["ll", "-", "o"], ["hello", "x-ray", "foo"]) == ["p substring of w"]
    assert string_pair_invariants("p", "w", ["", "", ""], ["a", "b", "c"]) == []          # empty: trivially in
    rows = [{"s": "ab", "t": "abc", "n": b"ab"}, {"s": "x", "t": "xy", "n": b"x"}, {"s": "q", "t": "qq", "n": b"q"}]
    assert "s prefix of t" in infer(rows) and not any("n" in i and "s" in i.split() for i in infer(rows))


def test_tracing_is_deterministic():
    calls = [("clamp_all", ([3, 1, 2], 2)), ("clamp_all", ([5, 4], 9)), ("clamp_all", ([7, 0], 1))]
    assert _traced(calls)[0] == _traced(calls)[0]


CALLS = '''
def spread(xs, k):
    top = max(xs)
    low = min(xs, default=0)
    return (top - low) * k + len(xs)


def ticks(n):
    out = []
    for i in range(n):
        out.append(i * i)
    return out


def gen(n):
    yield len(str(n))


class Box:
    def size(self):
        return super().__repr__() and len(vars(self))
'''


def _traced_calls(source, calls):
    """Invariant maps of `calls` on `source` compiled with its call sites instrumented, and the raw samples."""
    ns = {}
    exec(compile(instrument_calls(source), "<subject:c>", "exec"), ns)
    tracer = Tracer("<subject:c>", source)
    ns[CALL_SITE] = tracer.call_site
    with tracer:
        results = [ns[name](*copy.deepcopy(args)) for name, args in calls]
    return invariant_map(tracer.samples), tracer.samples, results


def test_call_sites_are_numbered_per_callee_and_skip_generators_and_frame_builtins():
    points = sorted(call_points(ast.parse(CALLS)).values())
    assert points == ["size:::CALL len#0", "size:::CALL super().__repr__#0", "spread:::CALL len#0",
                      "spread:::CALL max#0", "spread:::CALL min#0", "ticks:::CALL out.append#0",
                      "ticks:::CALL range#0"]
    text = ast.unparse(instrument_calls(CALLS))
    assert "yield len(str(n))" in text and f"{CALL_SITE}('size:::CALL len#0', len, vars(self))" in text
    assert f"{CALL_SITE}('size:::CALL super().__repr__#0', super().__repr__)" in text
    # D and a patch that drops another call keep `max#0` aligned (numbering by callee, not by position)
    patched = CALLS.replace("low = min(xs, default=0)", "low = 0")
    assert "spread:::CALL max#0" in call_points(ast.parse(patched)).values()


def test_call_site_invariants_of_a_known_function():
    """max(xs) is in xs, len(xs) is its size, min's keyword argument is a constant 0, and the loop header of
    ticks sees i in [0, n)."""
    inv, samples, results = _traced_calls(CALLS, [("spread", ([3, 1, 2], 2)), ("spread", ([5, 4], 1)),
                                                  ("spread", ([7, 0, 1, 2], 3)), ("ticks", (4,)), ("ticks", (2,))])
    assert results == [7, 3, 25, [0, 1, 4, 9], [0, 1]]             # instrumented code computes the same
    assert {"return in arg0", "size(arg0) > 0"} <= set(inv["spread:::CALL max#0"])
    assert {"return in arg0", "default == 0"} <= set(inv["spread:::CALL min#0"])
    assert "return == size(arg0)" in inv["spread:::CALL len#0"]
    assert inv["ticks:::CALL out.append#0"] == ["arg0 >= 0"]           # 0, 1, 4, 9, 0, 1; None returned
    assert {"i >= 0", "i < n"} <= set(inv["ticks:::LOOP0"])       # the loop-head invariant of the known function
    assert len(samples["ticks:::CALL out.append#0"]) == 4 + 2 and len(samples["ticks:::CALL range#0"]) == 2


def test_a_call_that_raises_records_no_call_site_sample():
    inv, samples, _ = _traced_calls("def f(x):\n    try:\n        return int(x)\n    except ValueError:\n"
                                    "        return -1\n", [("f", ("7",)), ("f", ("a",)), ("f", ("12",))])
    assert [row["return"] for row in samples["f:::CALL int#0"]] == [7, 12]


@pytest.mark.parametrize("subject", subjects(quick_only=True), ids=lambda s: s.name)
def test_instrumented_subjects_compute_what_the_originals_do(subject):
    """Every quick subject, its call sites instrumented, gives D's outcome and argument state on 40 generated
    inputs, and its ENTER / EXIT / LOOP samples are the uninstrumented program's (call sites only add points)."""
    program = Program.load(subject)
    inputs = generated_inputs(subject, 40, 0)
    runs = []
    for code in (program.text, instrument_calls(program.text)):
        ns = {"__name__": "subject", CALL_SITE: untraced_call}            # as in the worker: loading records nothing
        exec(compile(code, subject.filename, "exec"), ns)
        tracer = Tracer(subject.filename, program.text)
        ns[CALL_SITE] = tracer.call_site
        outcomes = []
        with tracer:
            for args, kwargs in copy.deepcopy(inputs):
                try:
                    outcomes.append(["ok", canonical(ns[subject.function](*args, **kwargs), 20_000),
                                     canonical([args, kwargs], 20_000)])
                except Exception as err:                       # noqa: BLE001  (the outcome is the exception type)
                    outcomes.append(["raise", type(err).__name__])
        runs.append((json.dumps(outcomes), dict(tracer.samples)))
    (plain_out, plain), (inst_out, inst) = runs
    assert inst_out == plain_out
    assert {p: rows for p, rows in inst.items() if ":::CALL " not in p} == plain
