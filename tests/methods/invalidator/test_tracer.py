import copy

from reprolab.methods.invalidator.invariants import (infer, pair_invariants, scalar_invariants,
                                                     sequence_invariants, string_invariants,
                                                     string_pair_invariants)
from reprolab.methods.invalidator.tracer import Tracer, loop_headers, variables

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


def _traced(calls):
    ns = {}
    exec(compile(SOURCE, "<subject:t>", "exec"), ns)
    tracer = Tracer("<subject:t>", SOURCE)
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
