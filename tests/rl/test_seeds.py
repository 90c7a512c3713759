"""Seeds as a batch dimension: N stacked runs equal N separate `train_dqn` runs."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from reprolab.methods.balanced_q.deep import make_rule
from reprolab.methods.mbec.baselines import dqn_baseline
from reprolab.methods.mbec.agent import official_dqn_config
from reprolab.rl.dqn import DQNAgent, DQNConfig, network_for, train_dqn
from reprolab.rl.envs import make_env
from reprolab.rl.seeds import SeedBatchedDQN, StackedNetworks, clip_grad_norm_per_seed_, train_dqn_seeds

SEEDS = [3, 4, 5]
SMALL = DQNConfig(replay_start=100, eps_frames=200, target_sync=50)


def _separate(env_id, make_net, n_actions, cfg, learner, seed, frames, env_kwargs):
    torch.manual_seed(seed)
    agent = DQNAgent(make_net, n_actions, cfg, make_rule(learner))
    return agent, train_dqn(make_env(env_id, **env_kwargs), agent, frames, seed, log_every=50, progress=False)


def _compare(env_id, learner, frames, cfg=SMALL, make_net=None, **env_kwargs):
    env = make_env(env_id, **env_kwargs)
    make_net = make_net or network_for(env.observation_space, env.action_space.n, cfg.hidden)
    stacked = SeedBatchedDQN(make_net, env.action_space.n, cfg, make_rule(learner), SEEDS)
    logs = train_dqn_seeds(lambda: make_env(env_id, **env_kwargs), stacked, frames, log_every=50, progress=False)
    gaps = []
    for i, seed in enumerate(SEEDS):
        agent, log = _separate(env_id, make_net, env.action_space.n, cfg, learner, seed, frames, env_kwargs)
        assert logs[i].episode_returns == log.episode_returns and logs[i].episode_end_frames == log.episode_end_frames
        assert len(log.losses) == len(logs[i].losses) > 0 and set(log.infos) == set(logs[i].infos)
        gaps.append(max([np.abs(np.subtract(logs[i].losses, log.losses)).max()]
                        + [np.abs(np.subtract(logs[i].infos[k], v)).max() for k, v in log.infos.items()]
                        + [(w - stacked.online[0].params[name][i]).abs().max().item()
                           for name, w in agent.online[0].state_dict().items()]))
    return max(gaps)


@pytest.mark.parametrize("learner", ["dqn", "double_dqn", "averaged_dqn", "balanced_dqn"])
def test_stacked_mlp_runs_are_the_separate_runs_to_float32_rounding(learner):
    # bit for bit on some CPUs; on others (this project's AMD EPYC machines) the grouped and the single matmul take
    # different kernels and differ by one float32 rounding step (6e-8 measured), with the same episodes
    assert _compare("CartPole-v1", learner, 400) < 1e-6


def test_stacked_runs_follow_the_truncation_clipping_and_sampling_flags_as_train_dqn_does():
    # episodes truncated at 20 steps, rewards 1 + N(0, 0.5^2) (clipping changes them), batches without replacement:
    # any flag the stacked loop ignored would change its losses
    cfg = dataclasses.replace(SMALL, truncation_terminal=True, clip_rewards=True, replay_without_replacement=True)
    assert _compare("CartPole-v1", "dqn", 300, cfg, max_episode_steps=20, reward_noise=0.5) < 1e-6


def test_stacked_runs_follow_the_frame_clock_target_sync_as_train_dqn_does():
    # with the frame clock no update syncs the targets: a stacked loop that ignored it would never sync and take
    # other episodes (measured); syncs at frames 60 (before learning), 120, ..., 300
    cfg = dataclasses.replace(SMALL, target_sync_frames=60)
    assert _compare("CartPole-v1", "dqn", 300, cfg) < 1e-6


def test_stacked_minatar_runs_take_the_same_episodes_and_agree_to_rounding():
    # the batched 1024-wide matmul sums in another order than the per-seed one: equal to float32 rounding
    assert _compare("minatar:breakout", "balanced_dqn", 300) < 1e-4


def test_per_seed_gradient_clipping_equals_clipping_each_network():
    # MBEC++'s DQN baseline: the official network and optimizer, gradient norms clipped at 100 (here at 0.5 so
    # that the clip acts) on CartPole
    cfg = official_dqn_config(replay_start=100, target_sync=50, eps_frames=200, buffer_size=1000, max_grad_norm=0.5)
    def make_net():
        return dqn_baseline((4,), 2, cfg).online[0]
    assert _compare("CartPole-v1", "dqn", 300, cfg, make_net) < 1e-6


def test_clip_acts_per_seed():
    p = torch.zeros(2, 3, requires_grad=True)
    p.grad = torch.tensor([[3.0, 4.0, 0.0], [0.3, 0.4, 0.0]])
    clip_grad_norm_per_seed_([p], 1.0)
    assert torch.allclose(p.grad[0], torch.tensor([0.6, 0.8, 0.0]), atol=1e-6)   # norm 5 -> 1
    assert torch.equal(p.grad[1], torch.tensor([0.3, 0.4, 0.0]))                  # norm 0.5: untouched


def test_stacked_network_is_each_network_on_its_own_input():
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3))
            for _ in range(3)]
    x = torch.randn(3, 6, 2, 5, 5)
    out = StackedNetworks(nets)(x)
    for i, net in enumerate(nets):
        assert torch.allclose(out[i], net(x[i]), atol=1e-6)


def test_unsupported_rules_and_layers_are_named():
    net = lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))  # noqa: E731
    with pytest.raises(ValueError, match="Tanh"):
        SeedBatchedDQN(net, 2, SMALL, make_rule("dqn"), SEEDS)
    mlp = lambda: nn.Sequential(nn.Linear(4, 2))  # noqa: E731
    with pytest.raises(ValueError, match="one online network"):
        SeedBatchedDQN(mlp, 2, SMALL, make_rule("maxmin_dqn"), SEEDS)
    with pytest.raises(ValueError, match="distinct seeds"):
        SeedBatchedDQN(mlp, 2, SMALL, make_rule("dqn"), [1, 1])


def test_checkpointed_stacked_run_resumes_with_its_finished_episodes(tmp_path):
    env = make_env("CartPole-v1")
    make_net = network_for(env.observation_space, 2, SMALL.hidden)
    def train(frames, resume):
        agent = SeedBatchedDQN(make_net, 2, SMALL, make_rule("balanced_dqn"), SEEDS)
        return agent, train_dqn_seeds(lambda: make_env("CartPole-v1"), agent, frames, progress=False,
                                      checkpoint=tmp_path / "c.pt", checkpoint_every=150, resume=resume)
    _, first = train(300, False)
    agent, resumed = train(450, True)
    for a, b in zip(first, resumed):
        assert b.episode_returns[: len(a.episode_returns)] == a.episode_returns
        assert b.episode_end_frames[-1] > 300 or len(b.episode_returns) == len(a.episode_returns)
    assert agent.updates == 450 - SMALL.replay_start
