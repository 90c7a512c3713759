import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from reprolab.runtime.claims import Claim, Signal, compare, counts_text, equivalent, reaches
from reprolab.runtime.stats import paired_interval, seeds_needed


def test_paired_interval_is_students_t_on_the_differences():
    a, b = [0.9, 0.8, 0.85, 0.7], [0.5, 0.6, 0.55, 0.65]
    diff = np.subtract(a, b)
    expected = scipy_stats.t.interval(0.95, 3, loc=diff.mean(), scale=scipy_stats.sem(diff))
    got = paired_interval(a, b)
    assert got.n == 4 and got.mean == pytest.approx(diff.mean())
    assert (got.low, got.high) == pytest.approx(expected, rel=1e-12)


def test_pairing_removes_the_spread_shared_by_both_arms():
    # seeds differ a lot, the arms differ by 0.01 on every seed: unpaired the gap is noise, paired it is decided
    base = np.array([0.2, 0.5, 0.8])
    assert paired_interval(base + 0.01, base).low > 0


def test_one_seed_never_decides_and_non_finite_pairs_are_dropped():
    assert paired_interval([0.9], [0.1]).low == -math.inf
    claim = compare("c", "s", [0.9], [0.1], arms=("a", "b"), source="paper states no size")
    assert claim.verdict == "inconclusive"
    assert paired_interval([0.9, math.nan, 0.8], [0.1, 0.2, 0.3]).n == 2
    with pytest.raises(ValueError, match="equal length"):
        paired_interval([1.0, 2.0], [1.0])


def test_compare_holds_fails_and_is_inconclusive_against_delta():
    b = [0.50, 0.60, 0.55, 0.52]
    holds = compare("c", "s", [0.60, 0.70, 0.66, 0.61], b, arms=("mad", "dfad"), delta=0.05, source="paper")
    fails = compare("c", "s", [0.44, 0.56, 0.49, 0.47], b, arms=("mad", "dfad"), delta=0.0, source="paper")
    unsure = compare("c", "s", [0.60, 0.55, 0.62, 0.50], b, arms=("mad", "dfad"), delta=0.0, source="paper")
    assert (holds.verdict, fails.verdict, unsure.verdict) == ("holds", "fails", "inconclusive")
    assert holds.kind == "reproduction" and "delta: paper" in holds.expected
    assert unsure.observed["seeds_needed"] > 4 and "seeds_needed" not in holds.observed
    assert holds.observed["mad"] == [0.60, 0.70, 0.66, 0.61] and holds.observed["n_seeds"] == 4


def test_lower_is_better_flips_the_difference():
    loss_a, loss_b = [0.1, 0.2, 0.15], [0.3, 0.4, 0.33]
    assert compare("c", "s", loss_a, loss_b, arms=("a", "b"), better="lower", source="x").verdict == "holds"
    assert compare("c", "s", loss_b, loss_a, arms=("b", "a"), better="lower", source="x").verdict == "fails"


def test_a_model_at_its_trivial_predictor_gives_no_signal_whatever_the_interval():
    dead = Signal("nll_1_minus_ned", 0.24, "constant_guess", 0.238)
    assert not Signal("nll_1_minus_ned", 0.238, "constant_guess", 0.238).present and dead.present
    gated = compare("c", "s", [0.3, 0.31, 0.32], [0.1, 0.11, 0.1], arms=("a", "b"), source="x",
                    signals=[dead, Signal("crnn", 0.0, "constant_guess", 0.238)])
    assert gated.verdict == "no_signal" and gated.observed["signal"][1]["beats_trivial"] is False
    loss = Signal("loss", 14.39, "prior", 14.71, better="lower", margin=1.0)
    assert not loss.present                                    # 0.32 nats below the prior is not 1 nat


def test_equivalence_within_a_margin():
    a = [0.80, 0.81, 0.79, 0.80]
    same = equivalent("c", "s", a, [0.801, 0.808, 0.792, 0.799], arms=("x", "y"), margin=0.01, source="spec")
    apart = equivalent("c", "s", a, [0.70, 0.72, 0.69, 0.71], arms=("x", "y"), margin=0.01, source="spec")
    unsure = equivalent("c", "s", a, [0.79, 0.82, 0.77, 0.81], arms=("x", "y"), margin=0.01, source="spec")
    assert (same.verdict, apart.verdict, unsure.verdict) == ("holds", "fails", "inconclusive")


def test_reaches_a_level_on_the_per_seed_interval():
    assert reaches("c", "s", [0.97, 0.98, 0.975], threshold=0.95, source="x", metric="acc").verdict == "holds"
    assert reaches("c", "s", [0.90, 0.91, 0.92], threshold=0.95, source="x", metric="acc").verdict == "fails"
    assert reaches("c", "s", [0.90, 0.99, 0.96], threshold=0.95, source="x", metric="acc").verdict == "inconclusive"
    assert reaches("c", "s", [0.01, 0.02, 0.015], threshold=0.05, source="x", metric="nc1",
                   better="lower").verdict == "holds"


def test_seeds_needed_is_the_smallest_n_whose_interval_would_exclude_delta():
    n = seeds_needed(mean=0.01, sd=0.02, delta=0.0)
    assert n is not None and n > 3
    t_sum = scipy_stats.t.ppf(0.975, n - 1) + scipy_stats.t.ppf(0.8, n - 1)
    assert math.sqrt(n) * 0.01 / 0.02 >= t_sum
    t_prev = scipy_stats.t.ppf(0.975, n - 2) + scipy_stats.t.ppf(0.8, n - 2)
    assert math.sqrt(n - 1) * 0.01 / 0.02 < t_prev
    assert seeds_needed(0.0, 0.02, 0.0) is None and seeds_needed(0.01, math.nan, 0.0) is None


def test_claims_validate_kind_and_verdict_and_count_by_both():
    with pytest.raises(ValueError, match="kind must be one of"):
        Claim("c", "s", 1, "e", "theorem", "holds")
    with pytest.raises(ValueError, match="a check holds or fails"):
        Claim("c", "s", 1, "e", "check", "inconclusive")
    claims = [Claim.check("a", "s", 1, "e", True), Claim.check("b", "s", 1, "e", False),
              Claim("c", "s", 1, "e", "reproduction", "no_signal"), Claim("d", "s", 1, "e", "reproduction", "holds")]
    assert counts_text(claims) == "reproductions: 1 hold, 0 fail, 0 inconclusive, 1 no signal; checks 1/2"


def test_long_arms_are_summarised_in_observed_and_still_decide_on_every_pair():
    rng = np.random.default_rng(0)
    b = rng.normal(0.5, 0.1, 2000)
    claim = compare("c", "s", b + 0.01, b, arms=("balanced", "q"), unit="run", source="x")
    assert claim.verdict == "holds" and claim.observed["n_runs"] == 2000
    assert claim.observed["balanced"] == {"mean": pytest.approx(b.mean() + 0.01), "sd": pytest.approx(b.std(ddof=1)),
                                          "n": 2000}
    assert compare("c", "s", [0.1, 0.2], [0.0, 0.1], arms=("a", "b"), source="x").observed["a"] == [0.1, 0.2]
