import numpy as np
import pytest
import torch

from reprolab.methods.balanced_q.rule import (balanced_target, closed_form_beta, closed_form_td_error,
                                              official_beta)


def _random_transitions(n, seed):
    rng = np.random.default_rng(seed)
    r, q, q_old = rng.normal(size=(3, n))
    M, m = np.sort(rng.normal(size=(2, n)), axis=0)[::-1]
    M_old, m_old = np.sort(rng.normal(size=(2, n)), axis=0)[::-1]
    return r, q, M, m, q_old, M_old, m_old, rng.uniform(size=n)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99, 1.0])
def test_official_rule_equals_its_closed_form(gamma):
    r, q, M, m, q_old, M_old, m_old, bb = _random_transitions(100_000, int(gamma * 100))
    beta = official_beta(r, q, M, m, q_old, M_old, m_old, gamma=gamma, beta_bar=bb)
    assert np.abs(beta - closed_form_beta(r, q_old, M, m, M_old, m_old, gamma=gamma, beta_bar=bb)).max() < 1e-12
    td = balanced_target(r, M, m, beta, gamma=gamma) - q
    assert np.abs(td - closed_form_td_error(r, q, M, m, q_old, M_old, m_old, gamma=gamma, beta_bar=bb)).max() < 1e-12
    assert beta.min() >= 0 and beta.max() <= 1


def test_hand_computed_beta():
    # r=1, gamma=1, Q=0.5, M=2, m=0, previous: Q_o=0.2, M_o=1.5, m_o=0.5, betabar=1, eta=0.2
    # delta_n+1 = 1 + 2 - 0.5 = 2.5; delta_n = 1 + 1.5 - 0.2 = 2.3
    # beta = (2.5 + 0.46 - 1 + 0.5 - 0) / 2 = 1.23 -> clipped to 1
    assert official_beta(1.0, 0.5, 2.0, 0.0, 0.2, 1.5, 0.5, gamma=1.0) == 1.0
    # a negative previous error lowers beta: Q_o = 3.0 -> delta_n = -0.5, beta = (2.5 - 0.1 - 0.5) / 2 = 0.95
    assert official_beta(1.0, 0.5, 2.0, 0.0, 3.0, 1.5, 0.5, gamma=1.0) == pytest.approx(0.95)


def test_ties_and_terminal_states_are_finite():
    beta = official_beta(np.array([1.0, -2.0]), np.array([0.3, 0.1]), np.array([0.0, 4.0]), np.array([0.0, 4.0]),
                         np.array([0.2, 0.0]), np.array([0.0, 1.0]), np.array([0.0, -1.0]), gamma=0.99)
    assert beta.tolist() == [1.0, 1.0]
    assert balanced_target(1.0, 0.0, 0.0, 1.0, gamma=0.99) == 1.0      # terminal: M = m = 0 -> y = r


def test_nonnegative_previous_error_gives_the_q_learning_target():
    r, q, M, m, q_old, M_old, m_old, _ = _random_transitions(10_000, 5)
    delta_old = r + 0.9 * M_old - q_old
    beta = official_beta(r, q, M, m, q_old, M_old, m_old, gamma=0.9)   # betabar = 1
    assert (beta[delta_old >= 0] == 1.0).all() and (beta[delta_old < 0] < 1.0).all()


def test_torch_and_numpy_agree():
    args = _random_transitions(1000, 7)[:7]
    expected = official_beta(*args, gamma=0.99)
    got = official_beta(*(torch.from_numpy(a) for a in args), gamma=0.99)
    assert isinstance(got, torch.Tensor) and np.allclose(got.numpy(), expected, atol=0, rtol=0)


def test_official_discounting_bug_only_matters_when_gamma_below_one():
    assert balanced_target(1.0, 2.0, 1.0, 0.5, gamma=1.0, official_gamma_min_only=True) == \
        balanced_target(1.0, 2.0, 1.0, 0.5, gamma=1.0)
    assert balanced_target(1.0, 2.0, 1.0, 0.5, gamma=0.5, official_gamma_min_only=True) == 1.0 + 1.0 + 0.25
    assert balanced_target(1.0, 2.0, 1.0, 0.5, gamma=0.5) == 1.0 + 0.5 * 1.5
