import numpy as np
import pytest

from reprolab.rl.tabular import (DoubleQ, MaximizationBiasMDP, MaxminQ, PessimisticQ, QLearning, TransitionTableEnv,
                                 epsilon_greedy, run_episodes)


def test_maximization_bias_mdp_dynamics():
    env, rng = MaximizationBiasMDP(mu=-0.1, n_b_actions=10), np.random.default_rng(0)
    s = np.array([0, 0, 1])
    nxt, r, done = env.step(s, np.array([0, 1, 7]), rng)
    assert nxt[0] == 1 and r[0] == 0 and not done[0]      # left: to B, reward 0
    assert done[1] and r[1] == 0                          # right: terminal, reward 0
    assert done[2]                                        # any B action ends the episode
    n = 200_000
    _, r, _ = env.step(np.ones(n, int), np.zeros(n, int), rng)
    assert abs(r.mean() + 0.1) < 0.01 and abs(r.std() - 1) < 0.01
    _, r, _ = MaximizationBiasMDP(mu=0.5, n_b_actions=8, reward="uniform").step(np.ones(n, int), np.zeros(n, int), rng)
    assert r.min() >= -0.5 and r.max() <= 1.5
    assert env.valid[0].sum() == 2 and env.valid[1].sum() == 10


def test_cliffwalking_table_and_slip():
    env, rng = TransitionTableEnv.from_gymnasium("CliffWalking-v1"), np.random.default_rng(0)
    start = env.reset(3, rng)
    assert (start == 36).all()
    nxt, r, done = env.step(start, np.array([1, 0, 1]), rng)   # right = into the cliff, up = safe
    assert nxt.tolist() == [36, 24, 36] and r.tolist() == [-100, -1, -100] and not done.any()
    slippery = TransitionTableEnv.from_gymnasium("CliffWalking-v1", slip=1.0)
    nxt, _, _ = slippery.step(np.full(40_000, 36), np.zeros(40_000, int), rng)   # always "up", fully slippery
    # a uniform action from the start: up -> 24, right -> cliff -> 36, down / left -> stay at 36
    assert abs((nxt == 24).mean() - 0.25) < 0.01


def test_frozenlake_slip_probabilities():
    env, rng = TransitionTableEnv.from_gymnasium("FrozenLake-v1", is_slippery=True), np.random.default_rng(1)
    nxt, r, done = env.step(np.full(60_000, 14), np.full(60_000, 2), rng)   # right from 14: 1/3 reaches the goal
    assert abs((nxt == 15).mean() - 1 / 3) < 0.01 and (r[nxt == 15] == 1).all() and done[nxt == 15].all()


def test_transition_table_validation():
    with pytest.raises(ValueError, match="sum to 1"):
        TransitionTableEnv(np.full((1, 1, 2), 0.4), np.zeros((1, 1, 2), int), np.zeros((1, 1, 2)),
                           np.zeros((1, 1, 2), bool), np.array([0]))
    with pytest.raises(ValueError, match="slip"):
        TransitionTableEnv.from_gymnasium("FrozenLake-v1", slip=1.5)
    with pytest.raises(ValueError, match="no transition table"):
        TransitionTableEnv.from_gymnasium("CartPole-v1")


def test_epsilon_greedy_ties_and_validity():
    rng = np.random.default_rng(0)
    values = np.tile([1.0, 1.0, 0.0, 5.0], (20_000, 1))
    valid = np.tile([True, True, True, False], (20_000, 1))     # the best value is not a valid action
    greedy = epsilon_greedy(values, valid, 0.0, rng)
    assert set(greedy.tolist()) == {0, 1} and abs((greedy == 0).mean() - 0.5) < 0.02
    explore = epsilon_greedy(values, valid, 1.0, rng)
    assert 3 not in explore and abs((explore == 2).mean() - 1 / 3) < 0.02


def _one_update(agent_cls, Q_init, s, a, r, s2, done, **kw):
    env = MaximizationBiasMDP(n_b_actions=3)
    agent = agent_cls(1, env, alpha=0.5, gamma=0.9, epsilon=0.1, **kw)
    agent.Q[:] = Q_init
    agent.update(np.array([s]), np.array([a]), np.array([r]), np.array([s2]), np.array([done]),
                 np.random.default_rng(0), np.array([True]))
    return agent


def test_q_learning_and_pessimistic_updates_by_hand():
    Q = np.zeros((1, 1, 2, 3))
    Q[0, 0, 1] = [1.0, 4.0, 2.0]
    agent = _one_update(QLearning, Q, 0, 0, 1.0, 1, False)
    assert agent.Q[0, 0, 0, 0] == pytest.approx(0.5 * (1.0 + 0.9 * 4.0))
    agent = _one_update(PessimisticQ, Q, 0, 0, 1.0, 1, False)
    assert agent.Q[0, 0, 0, 0] == pytest.approx(0.5 * (1.0 + 0.9 * 1.0))
    agent = _one_update(QLearning, Q, 0, 0, 1.0, 1, True)      # terminal: no bootstrap
    assert agent.Q[0, 0, 0, 0] == pytest.approx(0.5)
    Q[0, 0, 0] = [0.0, 9.0, 9.0]                               # state A: only actions 0, 1 exist
    agent = _one_update(QLearning, Q, 1, 0, 0.0, 0, False)
    assert agent.Q[0, 0, 1, 0] == pytest.approx(0.5 * 1.0 + 0.5 * 0.9 * 9.0)


def test_double_q_selects_with_one_table_and_evaluates_with_the_other():
    Q = np.zeros((2, 1, 2, 3))
    Q[0, 0, 1] = [5.0, 0.0, 1.0]     # table 0 prefers action 0
    Q[1, 0, 1] = [2.0, 7.0, 3.0]     # table 1 prefers action 1
    agent = _one_update(DoubleQ, Q, 0, 0, 0.0, 1, False)
    updated = 0 if agent.Q[0, 0, 0, 0] != 0 else 1
    expected = 0.5 * 0.9 * (2.0 if updated == 0 else 0.0)  # table 0: argmax 0 evaluated by table 1 = 2.0
    assert agent.Q[updated, 0, 0, 0] == pytest.approx(expected) and agent.Q[1 - updated, 0, 0, 0] == 0


def test_maxmin_target_is_max_of_elementwise_min():
    Q = np.zeros((3, 1, 2, 3))
    Q[:, 0, 1] = [[5.0, 1.0, 3.0], [2.0, 6.0, 4.0], [3.0, 3.0, 9.0]]  # element-wise min: [2, 1, 3] -> max 3
    agent = _one_update(MaxminQ, Q, 0, 0, 0.0, 1, False, n_estimators=3)
    assert agent.Q[:, 0, 0, 0].max() == pytest.approx(0.5 * 0.9 * 3.0)
    assert (agent.Q[:, 0, 0, 0] != 0).sum() == 1


def test_run_episodes_logs_and_is_deterministic():
    env = MaximizationBiasMDP()
    logs = [run_episodes(QLearning(50, env, alpha=0.1, gamma=1.0, epsilon=0.1), env, 40, np.random.default_rng(3))
            for _ in range(2)]
    assert set(np.unique(logs[0].lengths)) <= {1, 2}
    assert ((logs[0].lengths == 2) == (logs[0].first_actions == 0)).all()
    assert np.array_equal(logs[0].returns, logs[1].returns)
