import numpy as np
import pytest

from reprolab.methods.balanced_q.tabular import BalancedQ
from reprolab.rl.tabular import MaximizationBiasMDP, PessimisticQ, QLearning, TransitionTableEnv, run_episodes


@pytest.mark.parametrize("beta, baseline", [(1.0, QLearning), (0.0, PessimisticQ)])
def test_fixed_beta_reproduces_the_extreme_learners(beta, baseline):
    env = TransitionTableEnv.from_gymnasium("CliffWalking-v1", slip=0.1)
    kw = dict(alpha=0.1, gamma=0.95, epsilon=0.1)
    a, b = BalancedQ(4, env, fixed_beta=beta, **kw), baseline(4, env, **kw)
    log_a = run_episodes(a, env, 30, np.random.default_rng(0), max_steps=200)
    log_b = run_episodes(b, env, 30, np.random.default_rng(0), max_steps=200)
    assert np.array_equal(a.Q, b.Q) and np.array_equal(log_a.returns, log_b.returns)


def test_previous_table_is_the_one_before_the_update():
    env = MaximizationBiasMDP(n_b_actions=3)
    agent = BalancedQ(1, env, alpha=0.5, gamma=1.0, epsilon=0.1)
    agent.Q[0, 0, 1] = [1.0, 2.0, 3.0]
    before = agent.Q[0].copy()
    agent.update(np.array([0]), np.array([0]), np.array([0.0]), np.array([1]), np.array([False]),
                 np.random.default_rng(0), np.array([True]))
    assert np.array_equal(agent.Q_old, before) and agent.Q[0, 0, 0, 0] != 0.0


def test_beta_bar_modes():
    env = MaximizationBiasMDP(n_b_actions=3)
    for mode, weight in (("running_mean", 1.0), ("running_mean", 5000.0), ("episode_reset", 1.0)):
        agent = BalancedQ(2, env, alpha=0.5, gamma=1.0, epsilon=0.1, beta_bar=mode, prior_weight=weight)
        agent.Q[0, :, 1] = [1.0, 2.0, 3.0]
        agent.Q_old[:, 1] = [9.0, 9.0, 9.0]
        agent.Q_old[:, 0, 0] = 12.0   # delta_n = 0 + 9 - 12 = -3: beta = 1 + 0.2 (-3) / (3 - 1) = 0.7
        agent.update(np.array([0, 0]), np.array([0, 0]), np.array([0.0, 0.0]), np.array([1, 1]),
                     np.array([False, True]), np.random.default_rng(0), np.array([True, True]))
        beta = agent.beta_trace[-1]   # run 0 only: run 1 ended (terminal transitions are not traced)
        assert beta == pytest.approx(0.7)
        if mode == "running_mean":
            assert agent.beta_bar[0] == pytest.approx((weight * 1.0 + beta) / (weight + 1))
        else:
            assert agent.beta_bar[0] == pytest.approx(beta) and agent.beta_bar[1] == 1.0  # reset when done
    with pytest.raises(ValueError, match="beta_bar must be"):
        BalancedQ(1, env, alpha=0.1, gamma=1.0, epsilon=0.1, beta_bar="mean")


def test_the_official_option_resets_the_old_table_at_every_episode_start():
    env = MaximizationBiasMDP(mu=-0.1)
    official = BalancedQ(50, env, alpha=0.1, gamma=1.0, epsilon=0.1, reset_old_each_episode=True)
    carried = BalancedQ(50, env, alpha=0.1, gamma=1.0, epsilon=0.1)
    for agent in (official, carried):
        run_episodes(agent, env, 3, np.random.default_rng(0))
    assert np.array_equal(official.Q_old, official.Q[0])               # the next episode starts from Q_old = Q
    assert not np.array_equal(carried.Q_old, carried.Q[0])             # the snapshot before the last update
