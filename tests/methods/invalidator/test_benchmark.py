import ast
import random
import subprocess
import sys

import pytest

from reprolab.methods.invalidator.benchmark import BenchmarkConfig, build_subject, passing_tests
from reprolab.methods.invalidator.drawn import drawn_inputs
from reprolab.methods.invalidator.harvest import _run_test_module, harvest_inputs
from reprolab.methods.invalidator.mutation import function_key, interleaved, mutants, mutations
from reprolab.methods.invalidator.outcomes import canonical
from reprolab.methods.invalidator.subjects import Program, subject_module, subjects


def _func(src: str) -> ast.FunctionDef:
    return ast.parse(src).body[0]


def test_mutation_operators_on_a_tiny_function():
    func = _func("def f(a, b):\n    if a < b:\n        a += 1\n        b = g(a, b)\n    return a and b\n")
    kinds = {site[1] for site in mutations(func)}
    assert kinds == {"compare", "binop", "boolop", "negate", "constant", "name", "swap_args", "arg", "delete"}
    texts = {ast.unparse(m) for _, m in mutants(func)}
    assert "def f(a, b):\n    if a <= b:\n        a += 1\n        b = g(a, b)\n    return a and b" in texts
    assert any("a -= 1" in t for t in texts) and any("return a or b" in t for t in texts)
    assert any("if not a < b" in t for t in texts) and any("g(b, a)" in t for t in texts)
    assert any("a += 2" in t for t in texts) and any("g(a + 1, b)" in t for t in texts)
    assert ast.unparse(func).count("a += 1") == 1                  # the original is untouched
    assert function_key(_func('def f(a, b):\n    """doc"""\n    return a\n')) == function_key(
        _func("def f(a, b):\n    return a\n"))


def test_sampled_mutants_interleave_the_operators_and_are_seeded():
    func = _func("def f(a, b, c, d, e):\n    return a + b\n")
    first_kinds = [s[1] for s in interleaved(mutations(func), random.Random(0))[:3]]
    assert len(set(first_kinds)) == 3                               # names do not crowd the others out
    a = [ast.unparse(m) for _, m in mutants(func, random.Random(1), 5)]
    assert a == [ast.unparse(m) for _, m in mutants(func, random.Random(1), 5)] and len(a) == 5


def test_subject_sources_drop_the_c_accelerator_and_match_the_runtime():
    tree = subject_module("heapq")
    assert not any(isinstance(n, ast.ImportFrom) and n.module == "_heapq" for n in ast.walk(tree))
    program = Program.load(subjects(("bisect.bisect_left",))[0])
    assert program.lines[program.start].startswith("def bisect_left")
    ns = {}
    exec(compile(program.text, "<subject:bisect>", "exec"), ns)
    import bisect
    for a, x in (([1, 2, 2, 5], 2), ([], 3), ([0, 4], 9)):
        assert ns["bisect_left"](a, x) == bisect.bisect_left(a, x)


def test_canonical_outcomes_are_exact_and_nan_aware():
    assert canonical(float("nan"), 10) == canonical(float("nan"), 10)
    assert canonical(1, 10) != canonical(1.0, 10) != canonical(True, 10)
    assert canonical((x for x in range(3)), 10) == ["iter", [["int", "0"], ["int", "1"], ["int", "2"]]]
    assert canonical({2, 1}, 10) == canonical({1, 2}, 10)


def test_two_harvests_of_a_randomised_test_module_record_the_same_inputs():
    # CPython's test_heapq draws its heaps from the unseeded global random generator; the harvest seeds it, so a
    # fresh cache (or another machine with the same CPython) builds the same benchmark
    first, second = (_run_test_module("heapq", "test.test_heapq", ["heappush"], 120.0) for _ in range(2))
    assert len(first["heappush"]) > 100 and repr(first) == repr(second)


HARVESTED = [(([1, 5, 9], 3, "ab"), {"flag": True}), (([0, 2], -4, "b c"), {"flag": False}), (([], 7, None), {}),
             ((frozenset({1}), 0, ""), {})]


def test_drawn_inputs_keep_each_positions_types_and_ranges():
    drawn = drawn_inputs(HARVESTED, 40, "m.f:0")
    assert len(drawn) == 40 and len({repr(d) for d in drawn} | {repr(h) for h in HARVESTED}) == 44
    shapes = {(type(args[0]), type(args[2]), tuple(kwargs)) for args, kwargs in drawn}
    assert shapes == {(list, str, ("flag",)), (list, type(None), ()), (frozenset, str, ())}
    for args, kwargs in drawn:
        items, number, text = args
        assert items == frozenset({1}) or (len(items) <= 3 and all(type(v) is int and -2 <= v <= 15 for v in items))
        assert type(number) is int and -7 <= number <= 9                    # observed -4..7: +-2, or 3 bits
        assert text is None or (len(text) <= 3 and set(text) <= set("ab c"))
        assert type(kwargs.get("flag", False)) is bool
    new_numbers = {args[1] for args, _ in drawn} - {3, -4, 7, 0}
    assert len(new_numbers) >= 5                                           # drawn, not only replayed


def test_drawn_inputs_are_seeded():
    first = drawn_inputs(HARVESTED, 20, "m.f:0")
    assert repr(first) == repr(drawn_inputs(HARVESTED, 20, "m.f:0")) != repr(drawn_inputs(HARVESTED, 20, "m.f:1"))
    assert drawn_inputs([], 20, "m.f:0") == []


def test_the_passing_tests_take_drawn_inputs_and_fill_up_from_the_others():
    origin = ["harvested"] * 3 + ["drawn"] * 4 + ["generated"] * 5
    same = [0, 2, 3, 4, 6, 8, 9, 10]                                       # pool indices where B == D
    assert passing_tests(same, origin, BenchmarkConfig(n_dev_pass=2, n_dev_drawn=2)) == [0, 2, 3, 4]
    # three drawn inputs qualify: the first generated one makes up the sixth test
    assert passing_tests(same, origin, BenchmarkConfig(n_dev_pass=2, n_dev_drawn=4)) == [0, 2, 3, 4, 6, 8]


@pytest.fixture(scope="module")
def built():
    subject = subjects(("calendar.isleap",))[0]
    inputs, source = harvest_inputs([subject])[subject.name]
    cfg = BenchmarkConfig(first_order_cap=60, partial_fixes=3, second_order=20)
    return subject, inputs, source, cfg, build_subject(subject, inputs, source, cfg, seed=0)


def test_a_subject_builds_labelled_plausible_patches(built):
    subject, inputs, source, cfg, info = built
    assert source == "cpython-tests" and info["n_harvested"] == len(inputs) > 0
    assert info["stdlib_agreement"] == 1.0                          # acceptance check 6
    assert 1 <= len(info["bugs"]) <= cfg.n_bugs and info["patches"]
    assert info["n_drawn"] == cfg.drawn_pool
    for bug in info["bugs"]:
        assert bug["t_pass"] == cfg.n_dev_pass + cfg.n_dev_drawn == 10 and bug["t_fail"] == 1
        assert bug["t_pass_drawn"] == cfg.n_dev_drawn and bug["oracle_size"] >= 250
        assert bug["trace_status"] == ["ok", "ok"] and bug["invariants_fixed"]["P"]
    for patch in info["patches"]:
        assert patch["repasses_tests"] and patch["trace_status"] == "ok"
        assert not patch["same_as_dev"] or patch["correct"]         # identical to D: correct by definition


def test_the_benchmark_is_deterministic_given_the_seed_also_on_a_busy_cpu(built):
    subject, inputs, source, cfg, info = built
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]   # 2 cores, 4 spinners
    try:
        again = build_subject(subject, inputs, source, cfg, seed=0)
    finally:
        for process in busy:
            process.kill()
    assert again["pool_size"] == info["pool_size"]
    assert [p["source"] for p in again["patches"]] == [p["source"] for p in info["patches"]]
    assert [p["invariants"] for p in again["patches"]] == [p["invariants"] for p in info["patches"]]
    assert [p["correct"] for p in again["patches"]] == [p["correct"] for p in info["patches"]]
