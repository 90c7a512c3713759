import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from reprolab.rl.dqn import (AveragedRule, DoubleRule, DQNAgent, DQNConfig, MaxminRule, TargetRule, make_optimizer,
                            train_dqn)
from reprolab.rl.envs import make_env
from reprolab.rl.replay import ReplayBuffer


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


class ThreeStepEpisodes(gym.Env):
    """Episodes of 3 steps with rewards 0.5, -3, 2 whose last step is truncated (or terminated); the observation
    counts every step since creation, so no two stored transitions are equal."""

    observation_space = gym.spaces.Box(0.0, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)
    REWARDS = (0.5, -3.0, 2.0)

    def __init__(self, terminate: bool = False):
        self.terminate, self.count, self.t = terminate, 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([self.count], np.float32), {}

    def step(self, action):
        reward, self.t, self.count = self.REWARDS[self.t], self.t + 1, self.count + 1
        end = self.t == 3
        return np.array([self.count], np.float32), reward, end and self.terminate, end and not self.terminate, {}


class Recorder(DQNAgent):
    """A DQN agent that records what its hooks and updates receive."""

    def __init__(self, **cfg):
        torch.manual_seed(0)
        super().__init__(lambda: nn.Sequential(nn.Linear(1, 4)), 2, DQNConfig(eps_frames=1, **cfg), TargetRule())
        self.observed, self.episode_ends, self.batches = [], [], []

    def observe(self, obs, action, reward, next_obs, terminated):
        self.observed.append((reward, terminated))
        return {}

    def end_episode(self, episode_return):
        self.episode_ends.append(episode_return)

    def update(self, batch, rng):
        self.batches.append(batch)
        return super().update(batch, rng)


def test_truncation_is_terminal_only_with_the_flag():
    for flag in (False, True):
        agent = Recorder(replay_start=3, batch_size=8, truncation_terminal=flag)
        train_dqn(ThreeStepEpisodes(), agent, 9, seed=0, progress=False)
        assert [done for _, done in agent.observed] == [False, False, flag] * 3
        episode_end = torch.cat([b["next_obs"][:, 0] for b in agent.batches]) % 3 == 0
        assert torch.equal(torch.cat([b["done"] for b in agent.batches]), (episode_end & flag).float())
    terminating = Recorder(replay_start=3, batch_size=8)
    train_dqn(ThreeStepEpisodes(terminate=True), terminating, 9, seed=0, progress=False)
    assert [done for _, done in terminating.observed] == [False, False, True] * 3


def test_clipped_rewards_reach_the_learner_and_the_log_keeps_the_environments():
    for flag, seen in ((False, [0.5, -3.0, 2.0]), (True, [1.0, -1.0, 1.0])):
        agent = Recorder(replay_start=3, batch_size=8, clip_rewards=flag)
        log = train_dqn(ThreeStepEpisodes(), agent, 6, seed=0, progress=False)
        assert [reward for reward, _ in agent.observed] == seen * 2 and agent.episode_ends == [sum(seen)] * 2
        assert set(torch.cat([b["reward"] for b in agent.batches]).tolist()) == set(seen)
        assert log.episode_returns == [-0.5, -0.5]


def test_replay_without_replacement_draws_distinct_transitions():
    # buffer and batch of 6: without replacement every batch is the whole buffer; with replacement, 6 draws of 6
    # hold a repeat with probability 1 - 6!/6^6 = 0.985 per batch
    repeats = {}
    for flag in (False, True):
        agent = Recorder(replay_start=5, batch_size=6, buffer_size=6, replay_without_replacement=flag)
        train_dqn(ThreeStepEpisodes(), agent, 15, seed=0, progress=False)
        repeats[flag] = [len(set(b["obs"][:, 0].tolist())) < 6 for b in agent.batches]
    assert not any(repeats[True]) and any(repeats[False]) and len(repeats[True]) == 10
    buffer = ReplayBuffer(6, (1,))
    buffer.add(np.zeros(1), 0, 0.0, np.zeros(1), False)
    with pytest.raises(ValueError, match="2 distinct transitions"):
        buffer.sample(2, np.random.default_rng(0), replace=False)


class SyncLog(TargetRule):
    """The max rule, recording (frame, updates) at every target sync."""

    def attach(self, agent):
        self.syncs = []

    def after_sync(self, agent):
        self.syncs.append((agent.frame, agent.updates))


@pytest.mark.parametrize("sync_frames, expected", [
    (0, [(15, 5), (20, 10)]),                    # every 5 updates; updates start at frame 11
    (7, [(7, 0), (14, 4), (21, 11)]),            # official frame clock: from frame 1, before learning too, each
])                                               # after that frame's update, and no sync by updates
def test_the_frame_clock_syncs_the_targets_every_f_frames_after_that_frames_update(sync_frames, expected):
    torch.manual_seed(0)
    rule = SyncLog()
    agent = DQNAgent(lambda: nn.Sequential(nn.Linear(1, 4)), 2,
                     DQNConfig(eps_frames=1, replay_start=10, batch_size=4, target_sync=5,
                               target_sync_frames=sync_frames), rule)
    train_dqn(ThreeStepEpisodes(), agent, 22, seed=0, progress=False)
    assert rule.syncs == expected
    with pytest.raises(ValueError, match="target_sync_frames"):
        DQNConfig(target_sync_frames=-1)


def test_the_episode_end_comes_before_the_last_frames_update_only_with_the_flag():
    # episodes end at frames 3 and 6, updates run at frames 3-6
    expected = {False: ["update 3", "end 3", "update 4", "update 5", "update 6", "end 6"],
                True: ["end 3", "update 3", "update 4", "update 5", "end 6", "update 6"]}
    for flag, order in expected.items():
        agent = Recorder(replay_start=2, batch_size=4, episode_end_before_update=flag)
        events, update, end = [], agent.update, agent.end_episode
        agent.update = lambda batch, rng: events.append(f"update {agent.frame}") or update(batch, rng)
        agent.end_episode = lambda ret: events.append(f"end {agent.frame}") or end(ret)
        train_dqn(ThreeStepEpisodes(), agent, 6, seed=0, progress=False)
        assert events == order and agent.episode_ends == [-0.5, -0.5]
