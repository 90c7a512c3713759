import numpy as np
import pytest
import torch
from torch import nn

from reprolab.methods.balanced_q.deep import BalancedRule, make_rule
from reprolab.methods.balanced_q.rule import official_beta
from reprolab.rl.dqn import DQNAgent, DQNConfig, train_dqn
from reprolab.rl.envs import make_env


def _agent(rule):
    torch.manual_seed(0)
    return DQNAgent(lambda: nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 4)), 4, DQNConfig(gamma=0.9), rule)


def _batch(n=32):
    g = torch.Generator().manual_seed(2)
    return {"obs": torch.randn(n, 3, generator=g), "next_obs": torch.randn(n, 3, generator=g),
            "action": torch.randint(0, 4, (n,), generator=g), "reward": torch.randn(n, generator=g),
            "done": (torch.rand(n, generator=g) < 0.25).float()}


def test_targets_follow_the_official_rule_and_snapshots_precede_the_step():
    agent = _agent(BalancedRule(beta_bar="fixed"))
    b = _batch()
    prev = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 4))
    prev.load_state_dict(agent.rule.prev_policy.state_dict())
    for p in agent.online[0].parameters():  # pretend a gradient step happened since the snapshot
        p.data.add_(0.1)
    y, info = agent.rule.targets(agent, b, 0)
    nd = 1 - b["done"]
    q = agent.online[0](b["obs"]).gather(1, b["action"][:, None]).squeeze(1)
    nq, nq_old = agent.target[0](b["next_obs"]), agent.rule.prev_target(b["next_obs"])
    M, m = nq.max(1).values * nd, nq.min(1).values * nd
    q_old = prev(b["obs"]).gather(1, b["action"][:, None]).squeeze(1)
    beta = official_beta(b["reward"], q, M, m, q_old, nq_old.max(1).values * nd, nq_old.min(1).values * nd,
                         gamma=0.9)
    assert torch.allclose(y, b["reward"] + 0.9 * (beta * M + (1 - beta) * m))
    assert 0.0 <= info["beta_min"] <= info["beta_max"] <= 1.0
    # after computing targets, the previous-policy snapshot is the online network before this step
    assert all(torch.equal(p, q) for p, q in zip(agent.rule.prev_policy.parameters(), agent.online[0].parameters()))


def test_equal_max_and_min_give_beta_one_and_finite_targets():
    agent = _agent(BalancedRule())
    for net in (agent.target[0], agent.rule.prev_target):
        for p in net.parameters():
            p.data.zero_()           # constant zero outputs: M = m everywhere
    y, info = agent.rule.targets(agent, _batch(), 0)
    assert torch.isfinite(y).all() and info["beta_min"] == 1.0


def test_official_previous_networks_are_copies_of_the_policy():
    agent = _agent(BalancedRule(prev_nets="official"))
    agent.rule.targets(agent, _batch(), 0)
    assert all(torch.equal(p, q) for p, q in zip(agent.rule.prev_target.parameters(), agent.online[0].parameters()))


def test_beta_bar_running_mean_is_weighted_by_the_frame():
    agent = _agent(BalancedRule(beta_bar="official_minatar"))
    agent.frame = 5000
    _, info = agent.rule.targets(agent, _batch(), 0)
    assert float(agent.rule.beta_bar) == pytest.approx((5000 * 1.0 + float(info["beta"])) / 5001)


def test_balanced_dqn_trains_without_nan_on_minatar():
    torch.manual_seed(0)
    env = make_env("minatar:breakout")
    agent = DQNAgent(lambda: nn.Sequential(nn.Conv2d(4, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 32),
                                           nn.ReLU(), nn.Linear(32, 3)), 3,
                     DQNConfig(replay_start=100, eps_frames=200, target_sync=50), make_rule("balanced_dqn"))
    log = train_dqn(env, agent, 400, seed=0, log_every=100)
    assert np.isfinite(log.losses).all() and len(log.infos["beta"]) == 3
    assert min(log.infos["beta_min"]) >= 0 and max(log.infos["beta_max"]) <= 1


def test_unknown_options_are_named():
    with pytest.raises(ValueError, match="unknown learner"):
        make_rule("rainbow")
    with pytest.raises(ValueError, match="prev_nets"):
        BalancedRule(prev_nets="both")


def test_a_seed_batched_cell_gives_each_seed_its_separate_run(tmp_path):
    from reprolab.methods.balanced_q.experiment import BalancedQConfig, deep_cells, run_deep, run_deep_cell

    cfg = BalancedQConfig(deep_envs=("CartPole-v1",), deep_learners=("balanced_dqn", "maxmin_dqn"), deep_frames=300,
                          deep_replay_start=100, deep_eps_frames=100, deep_target_sync=50, deep_seeds=2,
                          deep_seed_batch=True)
    cells = deep_cells(cfg, 7)
    assert cells == [{"env": "CartPole-v1", "learner": "balanced_dqn", "seed": 7, "n_seeds": 2},
                     {"env": "CartPole-v1", "learner": "maxmin_dqn", "seed": 7, "n_seeds": 1},
                     {"env": "CartPole-v1", "learner": "maxmin_dqn", "seed": 8, "n_seeds": 1}]
    _assert_close(run_deep_cell(cells[0], cfg, tmp_path, False),
                  [run_deep(s, "CartPole-v1", "balanced_dqn", cfg) for s in (7, 8)])


def _assert_close(actual, desired, path="run"):
    """Same structure, same integers and strings, floats to float32 rounding (the stacked matmul takes another
    kernel than the single one on some CPUs: 6e-8 measured), NaN (empty bins) equal to NaN."""
    if isinstance(desired, dict):
        assert actual.keys() == desired.keys(), path
        for key in desired:
            _assert_close(actual[key], desired[key], f"{path}.{key}")
    elif isinstance(desired, (list, tuple)):
        assert len(actual) == len(desired), path
        for i, (a, d) in enumerate(zip(actual, desired)):
            _assert_close(a, d, f"{path}[{i}]")
    elif isinstance(desired, float):
        np.testing.assert_allclose(actual, desired, rtol=1e-6, atol=1e-7, err_msg=path)
    else:
        assert actual == desired, path
