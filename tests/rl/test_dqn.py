import numpy as np
import pytest
import torch
from torch import nn

from reprolab.rl.dqn import (AveragedRule, DoubleRule, DQNAgent, DQNConfig, MaxminRule, TargetRule, make_optimizer,
                            train_dqn)
from reprolab.rl.envs import make_env


def _net():
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 4))


def _agent(rule, **cfg):
    torch.manual_seed(0)
    agent = DQNAgent(_net, 4, DQNConfig(gamma=0.9, **cfg), rule)
    for net in agent.target:  # make target differ from online
        for p in net.parameters():
            p.data.add_(torch.randn_like(p))
    return agent


def _batch(n=16, done=None):
    g = torch.Generator().manual_seed(1)
    return {"obs": torch.randn(n, 3, generator=g), "next_obs": torch.randn(n, 3, generator=g),
            "action": torch.randint(0, 4, (n,), generator=g), "reward": torch.randn(n, generator=g),
            "done": torch.zeros(n) if done is None else done}


def test_target_rules_by_formula():
    b = _batch()
    a = _agent(TargetRule())
    y, _ = a.rule.targets(a, b, 0)
    assert torch.allclose(y, b["reward"] + 0.9 * a.target[0](b["next_obs"]).max(1).values)
    a = _agent(DoubleRule())
    y, _ = a.rule.targets(a, b, 0)
    best = a.online[0](b["next_obs"]).argmax(1)
    assert torch.allclose(y, b["reward"] + 0.9 * a.target[0](b["next_obs"])[torch.arange(16), best])
    a = _agent(MaxminRule(3))
    y, _ = a.rule.targets(a, b, 1)
    stacked = torch.stack([t(b["next_obs"]) for t in a.target])
    assert torch.allclose(y, b["reward"] + 0.9 * stacked.min(0).values.max(1).values)
    assert torch.allclose(a.rule.acting_values(a, b["obs"]), torch.stack([o(b["obs"]) for o in a.online]).min(0).values)


def test_terminal_transitions_do_not_bootstrap():
    b = _batch(done=torch.ones(16))
    for rule in (TargetRule(), DoubleRule(), MaxminRule(2), AveragedRule(3)):
        a = _agent(rule)
        assert torch.equal(a.rule.targets(a, b, 0)[0], b["reward"])


def test_maxmin_updates_one_network_and_targets_wait_for_sync():
    a = _agent(MaxminRule(3), target_sync=2)
    before = [[p.clone() for p in net.parameters()] for net in a.online]
    target_before = [p.clone() for p in a.target[0].parameters()]
    a.update(_batch(), np.random.default_rng(0))
    changed = [any(not torch.equal(p, q) for p, q in zip(net.parameters(), old)) for net, old in zip(a.online, before)]
    assert sum(changed) == 1
    assert all(torch.equal(p, q) for p, q in zip(a.target[0].parameters(), target_before))
    a.update(_batch(), np.random.default_rng(1))  # second update: sync
    assert all(torch.equal(p, q) for t, o in zip(a.target, a.online) for p, q in zip(t.parameters(), o.parameters()))


def test_averaged_rule_keeps_the_last_k_targets():
    a = _agent(AveragedRule(2), target_sync=1)
    for i in range(3):
        a.update(_batch(), np.random.default_rng(i))
    assert len(a.rule.snapshots) == 2
    b = _batch()
    mean = torch.stack([s(b["next_obs"]) for s in a.rule.snapshots]).mean(0)
    assert torch.allclose(a.rule.targets(a, b, 0)[0], b["reward"] + 0.9 * mean.max(1).values)


def test_train_dqn_runs_and_is_deterministic():
    def once():
        torch.manual_seed(0)
        env = make_env("CartPole-v1")
        agent = DQNAgent(lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)), 2,
                         DQNConfig(replay_start=50, eps_frames=100, target_sync=20), TargetRule())
        return train_dqn(env, agent, 300, seed=4, log_every=50)
    a, b = once(), once()
    assert a.episode_returns == b.episode_returns and a.losses == b.losses and np.isfinite(a.losses).all()
    assert a.episode_end_frames == sorted(a.episode_end_frames) and len(a.losses) == 5


def test_adam_takes_the_steps_of_torchs_per_tensor_loop_bit_for_bit():
    # make_optimizer's Adam (foreach) against torch's CPU default, the per-tensor loop; torch's fused CPU kernel
    # is not equal (6e-8 apart after these 100 steps), so this comparison can fail
    torch.manual_seed(0)
    nets = [_net(), _net()]
    nets[1].load_state_dict(nets[0].state_dict())
    start = nets[0][0].weight.detach().clone()
    optimizers = [make_optimizer(nets[0].parameters(), DQNConfig(optimizer="adam", lr=1e-2, adam_eps=1e-4)),
                  torch.optim.Adam(nets[1].parameters(), lr=1e-2, eps=1e-4, foreach=False)]
    g = torch.Generator().manual_seed(2)
    for _ in range(100):
        x = torch.randn(16, 3, generator=g)
        for net, optimizer in zip(nets, optimizers):
            optimizer.zero_grad()
            net(x).pow(2).mean().backward()
            optimizer.step()
    assert not torch.equal(nets[0][0].weight, start)       # the steps moved the weights
    assert all(torch.equal(a, b) for a, b in zip(nets[0].parameters(), nets[1].parameters()))


def test_bad_rule_arguments():
    with pytest.raises(ValueError):
        MaxminRule(0)
    with pytest.raises(ValueError):
        AveragedRule(0)


def test_checkpointed_run_resumes_without_losing_finished_episodes(tmp_path):
    from reprolab.methods.balanced_q.deep import make_rule  # the rule with the most state to restore

    def agent():
        torch.manual_seed(0)
        return DQNAgent(lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)), 2,
                        DQNConfig(replay_start=50, eps_frames=100, target_sync=20, buffer_size=500),
                        make_rule("balanced_dqn"))

    path = tmp_path / "dqn.pt"
    first = agent()
    partial = train_dqn(make_env("CartPole-v1"), first, 400, seed=1, log_every=50, checkpoint=path,
                        checkpoint_every=150)
    saved = torch.load(path, weights_only=True)
    frame = saved["step"]
    assert 150 <= frame <= 400 and frame in partial.episode_end_frames
    resumed_agent = agent()
    resumed = train_dqn(make_env("CartPole-v1"), resumed_agent, 700, seed=1, log_every=50, checkpoint=path,
                        checkpoint_every=150, resume=True)
    kept = partial.episode_end_frames.index(frame) + 1
    assert resumed.episode_returns[:kept] == partial.episode_returns[:kept]       # finished episodes kept
    assert resumed.episode_end_frames[kept:] and min(resumed.episode_end_frames[kept:]) > frame
    assert resumed_agent.updates == 700 - 50                                        # no update lost or repeated
    assert np.isfinite(resumed.losses).all()
    saved_agent = saved["objects"]["agent"]
    restored = agent()
    restored.load_state_dict(saved_agent)   # every part of the agent round-trips, the rule's snapshots included
    for name, weights in saved_agent["rule"]["prev_policy"].items():
        assert torch.equal(restored.rule.prev_policy.state_dict()[name], weights)
    for name, weights in saved_agent["online"][0].items():
        assert torch.equal(restored.online[0].state_dict()[name], weights)
    assert restored.updates == frame - 50 and restored.rule.beta_bar == saved_agent["rule"]["beta_bar"]
