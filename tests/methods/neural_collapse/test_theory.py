import math
import warnings

import numpy as np
import pytest

from reprolab.methods.neural_collapse import theory as T


def brute_force_argmin(n_k, N, M, lam_W, lam_H, points=2_000_001):
    s = np.linspace(0.0, T._s_max(n_k, M, lam_W, lam_H), points)
    f = T.scalar_objective(s, n_k, N, M, lam_W, lam_H)
    return s[np.argmin(f)], f.min()


@pytest.mark.parametrize("seed", range(8))
def test_closed_form_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    M = int(rng.integers(1, 7))
    counts = rng.integers(5, 500, size=4)
    N, n_k = int(counts.sum()), int(counts[0])
    lam_W, lam_H = 10 ** rng.uniform(-4.5, -2), 10 ** rng.uniform(-4.5, -2)
    s_star = T.optimal_singular_value(n_k, N, M, lam_W, lam_H)
    s_grid, f_grid = brute_force_argmin(n_k, N, M, lam_W, lam_H)
    f_star = float(T.scalar_objective(s_star, n_k, N, M, lam_W, lam_H))
    assert f_star <= f_grid + 1e-15  # never worse than the dense grid
    spacing = T._s_max(n_k, M, lam_W, lam_H) / 2e6
    assert abs(s_star - s_grid) < max(3 * spacing, 1e-4 * s_grid)


def test_m1_formula_against_brute_force():
    for n_k, N, lam in [(100, 400, 5e-4), (10, 2020, 1e-2), (1000, 2020, 1e-2), (50, 400, 1e-3)]:
        expected = math.sqrt(max(math.sqrt(n_k * lam / lam) - N * lam, 0.0))
        assert T.optimal_singular_value(n_k, N, 1, lam, lam) == pytest.approx(expected, abs=1e-10)
        s_grid, _ = brute_force_argmin(n_k, N, 1, lam, lam)
        assert abs(expected - s_grid) < 1e-4


@pytest.mark.parametrize("counts, M, lam, loss, s", [
    ((100,) * 4, 1, 5e-4, 0.0198000, [3.1305] * 4),
    ((100,) * 4, 3, 5e-4, 0.01262905, [1.7755] * 4),
    ((100,) * 4, 6, 5e-4, 0.01350741, [1.3887] * 4),
    ((200, 100, 50, 50), 1, 5e-4, 0.01894214, [3.7339, 3.1305, 2.6213, 2.6213]),
    ((200, 100, 50, 50), 3, 5e-4, 0.01221840, [1.9374, 1.7755, 1.6263, 1.6263]),
    ((200, 100, 50, 50), 6, 5e-4, 0.01322035, [1.4596, 1.3887, 1.3210, 1.3210]),
    ((1000, 1000, 10, 10), 1, 1e-2, 0.4354060, [3.3798, 3.3798, 0, 0]),
    ((1000, 1000, 10, 10), 3, 1e-3, 0.02737990, [2.3646, 2.3646, 0, 0]),
])
def test_reference_table_of_the_spec(counts, M, lam, loss, s):
    problem = T.UFMProblem(counts, M, lam, lam)
    assert T.optimal_loss(problem) == pytest.approx(loss, rel=1e-6)
    np.testing.assert_allclose(T.optimal_singular_values(problem), s, atol=1e-4)


def test_bias_loss_is_k_minus_1_over_k():
    free, with_bias = T.UFMProblem((100,) * 4, 3, 5e-4, 5e-4), T.UFMProblem((100,) * 4, 3, 5e-4, 5e-4, bias=True)
    assert T.optimal_loss(with_bias) == pytest.approx(0.75 * T.optimal_loss(free), rel=1e-12)
    assert T.optimal_loss(with_bias) == pytest.approx(0.00947179, rel=1e-6)


def test_official_root_choice_is_wrong_in_the_minority_case():
    """Regression: the official code picks the largest stationary root, 1.1119, where the global argmin is 0."""
    N, M, lam = 2020, 3, 1e-3
    assert T.official_root_choice(10, N, M, lam, lam) == pytest.approx(1.1119, abs=1e-4)
    assert T.optimal_singular_value(10, N, M, lam, lam) == 0.0
    root = T.official_root_choice(10, N, M, lam, lam)
    assert T.scalar_objective(root, 10, N, M, lam, lam) > T.scalar_objective(0.0, 10, N, M, lam, lam)


def test_no_root_returns_zero_where_the_official_code_crashes():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert math.isnan(T.official_root_choice(1, 2020, 3, 1e-1, 1e-1))
    assert any("no positive stationary root" in str(w.message) for w in caught)
    assert T.optimal_singular_value(1, 2020, 3, 1e-1, 1e-1) == 0.0


def test_stationary_roots_solve_the_equation():
    roots = T.stationary_roots(200, 400, 3, 5e-4, 5e-4)
    assert len(roots) == 2  # a local maximum and the minimum
    for r in roots:
        lhs = 5e-4 * (r ** 6 + 400 * 5e-4) ** 2
        assert lhs == pytest.approx(200 * 5e-4 * r ** 4, rel=1e-9)


def test_minority_collapse_condition_m1():
    problem = T.UFMProblem((1000, 1000, 10, 10), 1, 1e-2, 1e-2)
    threshold = T.minority_collapse_threshold(problem)
    assert threshold == pytest.approx(2020 ** 2 * 1e-4)
    s = T.optimal_singular_values(problem)
    assert all((sk == 0) == (n <= threshold) for sk, n in zip(s, problem.counts))


def test_per_layer_decays_use_the_geometric_mean():
    lams = (1e-3, 4e-3, 2e-3)
    per_layer, single = T.UFMProblem((100, 50), 3, lams, 1e-3), T.UFMProblem((100, 50), 3, 2e-3, 1e-3)
    assert per_layer.lambda_W_eff == pytest.approx(2e-3)
    assert T.optimal_loss(per_layer) == pytest.approx(T.optimal_loss(single), rel=1e-12)
    sv = T.layer_singular_values(per_layer)
    # lambda_j s_j^2 is the same in every layer (balanced layers), and the product of the s_j is s^M
    np.testing.assert_allclose(np.asarray(lams) * sv[:, 0] ** 2, lams[0] * sv[0, 0] ** 2, rtol=1e-12)
    assert np.prod(sv[:, 0]) == pytest.approx(T.optimal_singular_values(single)[0] ** 3, rel=1e-12)


def test_balanced_ce_etf_reference():
    sol = T.balanced_ce_etf(4, 100, 1, 5e-4, 5e-4)
    assert sol.margin == pytest.approx(5.2832, abs=1e-4) and sol.loss == pytest.approx(0.09436169, rel=1e-7)
    assert sol.singular_value == pytest.approx(7.2686, abs=1e-4)
    assert T.balanced_ce_etf(4, 100, 6, 5e-3, 5e-3).loss == pytest.approx(0.1765, abs=1e-4)


def test_invalid_problems_are_named():
    with pytest.raises(ValueError, match="counts"):
        T.UFMProblem((100,), 1, 1e-3, 1e-3)
    with pytest.raises(ValueError, match="lambda_W has 2 values for depth 3"):
        T.UFMProblem((10, 10), 3, (1e-3, 1e-3), 1e-3)
    with pytest.raises(ValueError, match="balanced data only"):
        T.UFMProblem((10, 20), 1, 1e-3, 1e-3, bias=True)
    with pytest.raises(ValueError, match="loss_convention"):
        T.theory_lambdas("other", 4, 1e-3, 1e-3)
