import io

import numpy as np
import pytest
import torch
from torch import nn

from reprolab.methods.balanced_q.baselines import OfficialAveragedRule, OfficialDoubleRule, OfficialMaxminRule
from reprolab.methods.balanced_q.deep import BalancedRule, make_rule
from reprolab.methods.balanced_q.rule import official_beta
from reprolab.rl.dqn import AveragedRule, DoubleRule, DQNAgent, DQNConfig, MaxminRule, train_dqn
from reprolab.rl.envs import make_env


def _net():
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 4))


def _agent(rule, **cfg):
    torch.manual_seed(0)
    return DQNAgent(_net, 4, DQNConfig(gamma=0.9, **cfg), rule)


def _same(a: nn.Module, b: nn.Module | dict) -> bool:
    """Whether network `a` holds exactly the weights of network (or state dict) `b`."""
    state = b if isinstance(b, dict) else b.state_dict()
    return all(torch.equal(v, state[k]) for k, v in a.state_dict().items())


def _fresh_nets(n_online: int, n_extra: int) -> tuple[list[nn.Module], list[nn.Module]]:
    """The official code's draw order from seed 0: its online networks, then its target networks, each built anew."""
    torch.manual_seed(0)
    return [_net() for _ in range(n_online)], [_net() for _ in range(n_extra)]


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


def test_float32_beta_bar_follows_the_official_float32_recurrence():
    # official: betamean starts as the int 1 and becomes ((betamean * t) + mean beta) / (t + 1) in float32; near
    # t = 2e6 a float32 t betamean is a multiple of 0.125, so the float64 running mean ends elsewhere
    bars = {}
    for dtype in ("float64", "float32"):
        agent = _agent(BalancedRule(beta_bar_dtype=dtype))
        reference = 1
        for t in (2_000_000, 2_000_001, 2_000_002):
            agent.frame = t
            _, info = agent.rule.targets(agent, _batch(), 0)
            reference = (reference * t + info["beta"]) / (t + 1)
        bars[dtype] = agent.rule.beta_bar
        assert bars[dtype].dtype == getattr(torch, dtype) and torch.equal(bars[dtype].squeeze(), reference)
    assert bars["float32"].double() != bars["float64"]
    restored = _agent(BalancedRule(beta_bar_dtype="float32"))
    restored.rule.load_state_dict(agent.rule.state_dict())
    assert restored.rule.beta_bar.dtype == torch.float32 and torch.equal(restored.rule.beta_bar, bars["float32"])


def test_unmasked_terminal_beta_follows_the_official_findbeta():
    b = _batch()
    done = b["done"].bool()
    assert done.any() and not done.all()
    gamma, betas, targets = 0.9, {}, {}
    for mode in ("masked", "unmasked"):
        agent = _agent(BalancedRule(beta_bar="fixed", terminal_beta=mode))
        for p in agent.online[0].parameters():   # Q moved since the previous-step snapshot
            p.data.add_(0.1)
        with torch.no_grad():
            # official findbeta (betabar = 1): beta from the target networks' values at s', terminal or not
            q = agent.online[0](b["obs"]).gather(1, b["action"][:, None]).squeeze(1)
            q_old = agent.rule.prev_policy(b["obs"]).gather(1, b["action"][:, None]).squeeze(1)
            nq, nq_old = agent.target[0](b["next_obs"]), agent.rule.prev_target(b["next_obs"])
            M, m = nq.max(1).values, nq.min(1).values
            td_new = b["reward"] + gamma * M - q
            td_old = b["reward"] + gamma * nq_old.max(1).values - q_old
            official = ((td_new + 0.2 * td_old - b["reward"] + q - gamma * m) / (M - m) / gamma).clamp(0, 1)
        targets[mode], info = agent.rule.targets(agent, b, 0)
        betas[mode] = info["beta"]
    nd = 1 - b["done"]
    assert torch.allclose(targets["unmasked"], b["reward"] + gamma * (official * M * nd + (1 - official) * m * nd),
                          atol=1e-6)
    assert float(betas["unmasked"]) == pytest.approx(float(official.mean()), abs=1e-6)
    assert torch.allclose(targets["masked"][done], b["reward"][done]) and torch.equal(targets["masked"][done],
                                                                                      targets["unmasked"][done])
    assert float(betas["masked"]) == pytest.approx(float(torch.where(done, 1.0, official).mean()), abs=1e-6)
    assert float(betas["masked"]) > float(betas["unmasked"])


def test_official_double_dqn_scores_each_networks_pick_with_the_other_target():
    agent = _agent(OfficialDoubleRule())
    a, b = agent.online
    assert all(torch.equal(p, q) for p, q in zip(agent.target[1].parameters(), a.parameters()))  # B's target = A
    assert not torch.equal(b[0].weight, a[0].weight)                                             # B: its own init
    for p in agent.target[0].parameters():     # the two target networks differ, as after a sync
        p.data.add_(0.2 * torch.randn_like(p))
    batch = _batch()
    with torch.no_grad():
        q_a, q_b = agent.target[0](batch["next_obs"]), agent.target[1](batch["next_obs"])
    assert (q_a.argmax(1) != q_b.argmax(1)).any()
    for k, (picks, scores) in enumerate(((q_a, q_b), (q_b, q_a))):      # training A: A's target picks, B's scores
        y, _ = agent.rule.targets(agent, batch, k)
        best = scores.gather(1, picks.argmax(1, keepdim=True)).squeeze(1)
        assert torch.allclose(y, batch["reward"] + 0.9 * (1 - batch["done"]) * best)
    with torch.no_grad():
        assert torch.equal(agent.rule.acting_values(agent, batch["obs"]), a(batch["obs"]) + b(batch["obs"]))
    rng = np.random.default_rng(0)
    assert {agent.rule.choose_online(agent, rng) for _ in range(20)} == {0, 1}


def test_official_maxmin_draws_independent_targets_and_syncs_only_the_updated_network():
    online, targets = _fresh_nets(3, 3)
    agent = _agent(OfficialMaxminRule(3), target_sync=2)
    assert all(_same(a, b) for a, b in zip(agent.online + agent.target, online + targets))
    assert not any(_same(t, o) for t, o in zip(agent.target, agent.online))
    initial = [t.state_dict() for t in targets]
    rng, picks, after = np.random.default_rng(0), [], []
    for _ in range(4):
        agent.update(_batch(), rng)
        picks.append(agent.rule.updated)
        after.append([{k: v.clone() for k, v in net.state_dict().items()} for net in agent.online])
    assert picks[1] != picks[3] and len(set(picks)) == 3    # syncs at updates 2 and 4 hit different networks
    for j, target in enumerate(agent.target):   # official: target j = network j when it last triggered a sync
        synced = [u for u in (1, 3) if picks[u] == j]
        assert _same(target, after[synced[-1]][j] if synced else initial[j])
    batch = _batch()
    with torch.no_grad():   # official: targets stacked on a last axis, min over it, then max over the actions
        stacked = torch.stack([t(batch["next_obs"]) for t in agent.target], dim=2)
        best = stacked.min(dim=2).values.max(dim=1).values
    y, _ = agent.rule.targets(agent, batch, 0)
    assert torch.allclose(y, batch["reward"] + 0.9 * (1 - batch["done"]) * best)


def test_official_averaged_starts_from_independent_targets_replaced_round_robin():
    (online,), initial = _fresh_nets(1, 3)
    agent = _agent(OfficialAveragedRule(3), target_sync=1)
    assert _same(agent.online[0], online) and len(agent.rule.snapshots) == 3
    assert all(_same(a, b) for a, b in zip(agent.rule.snapshots, initial))
    slots = [net.state_dict() for net in initial]
    batch = _batch()
    for i in range(4):
        agent.update(_batch(), np.random.default_rng(i))
        slots[i % 3] = {k: v.clone() for k, v in agent.online[0].state_dict().items()}   # official: slot i mod K
        ref = _net()
        with torch.no_grad():
            total = torch.zeros(len(batch["reward"]), 4)
            for state in slots:
                ref.load_state_dict(state)
                total = total + ref(batch["next_obs"])
        y, _ = agent.rule.targets(agent, batch, 0)
        assert torch.allclose(y, batch["reward"] + 0.9 * (1 - batch["done"]) * (total / 3).max(dim=1).values)


def test_official_maxmin_and_averaged_resume_from_a_checkpoint_as_if_never_stopped():
    """An agent saved after 3 updates and loaded into one built from another seed continues exactly as the agent
    that never stopped: the official rules' state (the network last updated; the averaged networks, in order)
    travels in the checkpoint."""
    for make in (lambda: OfficialMaxminRule(3), lambda: OfficialAveragedRule(3)):
        agent, rng = _agent(make(), target_sync=2), np.random.default_rng(0)
        for _ in range(3):
            agent.update(_batch(), rng)
        torch.manual_seed(5)
        resumed = DQNAgent(_net, 4, DQNConfig(gamma=0.9, target_sync=2), make())
        saved = io.BytesIO()
        torch.save(agent.state_dict(), saved)                   # as a checkpoint file holds it
        saved.seek(0)
        resumed.load_state_dict(torch.load(saved, weights_only=True))
        resumed_rng = np.random.default_rng(0)
        resumed_rng.bit_generator.state = rng.bit_generator.state
        for _ in range(3):
            assert agent.update(_batch(), rng) == resumed.update(_batch(), resumed_rng)
        assert all(_same(a, b) for a, b in zip(agent.online + agent.target, resumed.online + resumed.target))


def test_official_maxmin_and_averaged_refuse_seed_batching():
    from reprolab.rl.seeds import SeedBatchedDQN

    for rule in (OfficialMaxminRule(1), OfficialAveragedRule(2)):
        assert not rule.seed_batchable()
        with pytest.raises(ValueError, match="seed batching"):
            SeedBatchedDQN(_net, 4, DQNConfig(), rule, [0, 1])
    assert MaxminRule(1).seed_batchable() and AveragedRule(2).seed_batchable()


def test_deep_flags_reach_the_rule_and_the_dqn_settings():
    from reprolab.methods.balanced_q.experiment import BalancedQConfig, deep_cells, deep_config, deep_rule
    from reprolab.runtime.config import ConfigError

    default, official = BalancedQConfig(), BalancedQConfig(deep_beta_bar_dtype="float32",
                                                           deep_terminal_beta="unmasked",
                                                           deep_replay_without_replacement=True,
                                                           deep_double_dqn="official", deep_maxmin="official",
                                                           deep_averaged="official")
    for cfg, dtype, terminal, double, maxmin, averaged in (
            (default, torch.float64, "masked", DoubleRule, MaxminRule, AveragedRule),
            (official, torch.float32, "unmasked", OfficialDoubleRule, OfficialMaxminRule, OfficialAveragedRule)):
        rule = deep_rule("balanced_dqn", cfg)
        assert rule.beta_bar.dtype == dtype and rule.terminal_beta == terminal
        assert deep_config(cfg).replay_without_replacement == cfg.deep_replay_without_replacement
        assert type(deep_rule("double_dqn", cfg)) is double
        assert type(deep_rule("maxmin_dqn", cfg)) is maxmin and deep_rule("maxmin_dqn", cfg).n_online == 8
        assert type(deep_rule("averaged_dqn", cfg)) is averaged and deep_rule("averaged_dqn", cfg).k == 8
    for learner in ("double_dqn", "maxmin_dqn", "averaged_dqn"):
        assert [c["n_seeds"] for c in deep_cells(official, 0) if c["learner"] == learner] == [1, 1, 1]
    assert [c["n_seeds"] for c in deep_cells(default, 0) if c["learner"] == "averaged_dqn"] == [3]
    with pytest.raises(ConfigError, match="deep_replay_start"):
        BalancedQConfig(deep_replay_without_replacement=True, deep_replay_start=10)
    for key in ("deep_maxmin", "deep_averaged"):
        with pytest.raises(ConfigError, match=key):
            BalancedQConfig(**{key: "lan"})
    with pytest.raises(ValueError, match="maxmin must be"):
        make_rule("maxmin_dqn", maxmin="lan")
