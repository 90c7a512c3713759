import random

from reprolab.methods.invalidator.baselines import naive_diff
from reprolab.methods.invalidator.rules import (correct_spec_violations, invalidator_decision, maintained_errors,
                                                semantic_verdict)

B_P = {"f:::EXIT": {"x >= 0", "return > 0"}, "f:::LOOP0": {"i >= 0"}, "g:::ENTER": {"n == 1"}}
D_P = {"f:::EXIT": {"x >= 0", "return >= 0"}, "f:::LOOP0": {"i >= 0", "i < n"}, "h:::ENTER": {"n == 1"}}


def test_correct_spec_is_the_intersection_over_passing_runs_at_shared_points():
    a_ok = {"f:::EXIT": {"x >= 0"}, "f:::LOOP0": {"i >= 0"}}
    assert correct_spec_violations(B_P, D_P, a_ok) == {}
    a_bad = {"f:::EXIT": {"return >= 0"}, "f:::LOOP0": {"i >= 0"}}          # lost "x >= 0" (in B and D)
    assert correct_spec_violations(B_P, D_P, a_bad) == {"f:::EXIT": ["x >= 0"]}
    # "i < n" is only D's, "return > 0" only B's: neither is in the correct spec
    assert correct_spec_violations(B_P, D_P, {"f:::EXIT": {"x >= 0"}, "f:::LOOP0": set()}) == {
        "f:::LOOP0": ["i >= 0"]}
    # g / h exist in one version only: never compared
    assert correct_spec_violations(B_P, D_P, {"g:::ENTER": set(), "h:::ENTER": set()}) == {}


def test_error_behaviour_is_the_difference_over_failing_runs():
    b_f = {"f:::EXIT": {"return == 0", "x > 0"}}
    d_f = {"f:::EXIT": {"return == 1", "x > 0"}}
    assert maintained_errors(b_f, d_f, {"f:::EXIT": {"return == 0"}}) == {"f:::EXIT": ["return == 0"]}
    assert maintained_errors(b_f, d_f, {"f:::EXIT": {"return == 1", "x > 0"}}) == {}   # x > 0 is shared with D
    assert maintained_errors(b_f, d_f, {"other:::EXIT": {"return == 0"}}) == {}


def test_maintains_error_fires_iff_buggy_and_fixed_differ_when_the_patch_copies_the_bug():
    """Acceptance check 3: with I_F(A) = I_F(B), "maintains error" fires iff some shared point has
    I_F(B) != I_F(D) with an invariant of B's not in D's."""
    b_f = {"f:::EXIT": {"return == 0"}, "f:::ENTER": {"x > 0"}}
    same = {"f:::EXIT": {"return == 0"}, "f:::ENTER": {"x > 0"}}
    assert maintained_errors(b_f, same, b_f) == {}
    differs = {"f:::EXIT": {"return == 1"}, "f:::ENTER": {"x > 0"}}
    assert maintained_errors(b_f, differs, b_f) == {"f:::EXIT": ["return == 0"]}


def test_the_developer_fix_is_never_flagged_and_the_decision_order():
    b = {"P": B_P, "F": {"f:::EXIT": {"return == 0"}}}
    d = {"P": D_P, "F": {"f:::EXIT": {"return == 1"}}}
    assert not semantic_verdict(b, d, d)["overfitting"]
    verdict = semantic_verdict(b, d, {"P": D_P, "F": {"f:::EXIT": {"return == 0"}}})
    assert verdict["overfitting"] and verdict["rule"] == "maintains_error"
    assert not naive_diff(d, d) and naive_diff(d, {"P": D_P, "F": {"f:::EXIT": set()}})
    assert invalidator_decision("maintains_error", 0.0, 0.975) == (True, "rule maintains_error fired")
    assert invalidator_decision(None, 0.98, 0.975) == (
        True, "no rule fired; the classifier's p(overfitting) = 0.980 > T = 0.975")
    assert invalidator_decision(None, 0.97, 0.975) == (
        False, "no rule fired; the classifier's p(overfitting) = 0.970 <= T = 0.975")
    assert invalidator_decision(None, None, 0.975) == (False, "no rule fired and no classifier was used")


def random_map(rng: random.Random, points: list[str], invariants: list[str]) -> dict[str, set[str]]:
    return {p: set(rng.sample(invariants, rng.randint(0, len(invariants)))) for p in rng.sample(points, rng.randint(
        0, len(points)))}


def test_the_rules_never_flag_the_developer_fix_on_random_invariant_sets():
    """A patch identical to D has I(A) = I(D): CorrectSpec = I_P(B) & I_P(D) is inside I_P(A), and ErrorBeh =
    I_F(B) - I_F(D) shares nothing with I_F(A). Over random maps (random points present, random invariants at each),
    whatever B is."""
    rng = random.Random(0)
    points, invariants = ["f:::ENTER", "f:::EXIT", "f:::LOOP0", "g:::EXIT"], [f"x{i} > 0" for i in range(6)]
    for _ in range(5000):
        b = {g: random_map(rng, points, invariants) for g in ("P", "F")}
        d = {g: random_map(rng, points, invariants) for g in ("P", "F")}
        assert not semantic_verdict(b, d, d)["overfitting"]
        assert not naive_diff(d, d)


def test_invalidator_flags_every_patch_the_rules_flag():
    """INVALIDATOR = rules OR p_syn > T, so its recall is never below the rules' alone, whatever the classifier."""
    rng = random.Random(0)
    for _ in range(1000):
        p, t = rng.random(), rng.random()
        assert invalidator_decision("violates_correct_spec", p, t)[0]
        assert invalidator_decision(None, p, t)[0] == (p > t)
