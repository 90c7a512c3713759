import gymnasium as gym
import numpy as np
import pytest
import torch

from reprolab.rl.envs import MinAtarEnv, ObservationNoise, RewardNoise, StickyActions, VelocityMask, make_env
from reprolab.rl.replay import ReplayBuffer
from reprolab.runtime.stats import binned_curve, mean_se, summarize
from reprolab.rl.schedules import LinearSchedule, constant


def test_replay_buffer_is_a_ring_with_extras():
    buf = ReplayBuffer(3, (2,), extras={"h": ((4,), np.float32)})
    for i in range(5):
        buf.add(np.full(2, i), i, float(i), np.full(2, i + 1), i == 4, h=np.full(4, i))
    assert len(buf) == 3 and sorted(buf.fields["action"].tolist()) == [2, 3, 4]  # 0 and 1 were overwritten
    batch = buf.sample(64, np.random.default_rng(0))
    assert batch["obs"].shape == (64, 2) and batch["action"].dtype == torch.int64 and batch["h"].shape == (64, 4)
    assert set(batch["action"].tolist()) <= {2, 3, 4}
    assert torch.equal(batch["next_obs"][:, 0], batch["obs"][:, 0] + 1)  # fields stay aligned
    with pytest.raises(ValueError, match="lacks fields \\['h'\\]"):
        buf.add(np.zeros(2), 0, 0.0, np.zeros(2), False)
    with pytest.raises(ValueError, match="unknown transition fields"):
        buf.add(np.zeros(2), 0, 0.0, np.zeros(2), False, h=np.zeros(4), extra=1)
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(2, (1,)).sample(1, np.random.default_rng(0))


def test_linear_schedule():
    eps = LinearSchedule(1.0, 0.1, 100, delay=50)
    assert eps(0) == 1.0 and eps(50) == 1.0 and eps(100) == pytest.approx(0.55)
    assert eps(150) == pytest.approx(0.1) and eps(10**6) == 0.1
    assert constant(0.3)(12345) == 0.3


def _paired(wrapper_fn, seed=3):
    plain, wrapped = gym.make("CartPole-v1"), wrapper_fn(gym.make("CartPole-v1"))
    return plain.reset(seed=seed)[0], wrapped.reset(seed=seed)[0], plain, wrapped


def test_observation_noise_and_velocity_mask_change_observations_as_stated():
    diffs = []
    for seed in range(300):
        a, b, _, _ = _paired(lambda e: ObservationNoise(e, 0.5), seed)
        diffs.append(b - a)
    assert abs(np.std(diffs) - 0.5) < 0.03 and abs(np.mean(diffs)) < 0.03
    a, b, plain, wrapped = _paired(lambda e: VelocityMask(e))
    assert b.shape == (2,) and np.array_equal(b, a[[0, 2]]) and wrapped.observation_space.shape == (2,)
    a2, _, _, _, _ = plain.step(0)
    b2, _, _, _, _ = wrapped.step(0)
    assert np.array_equal(b2, a2[[0, 2]])
    with pytest.raises(ValueError, match="indexes outside"):
        VelocityMask(gym.make("CartPole-v1"), keep=(0, 7))


def test_reward_noise_and_sticky_actions():
    env = RewardNoise(gym.make("CartPole-v1"), 2.0)
    env.reset(seed=0)
    rewards = [env.step(0)[1] for _ in range(8)]
    assert np.std(rewards) > 0.5  # CartPole pays exactly 1 per step without noise

    class Recorder(gym.Env):
        observation_space, action_space = gym.spaces.Discrete(1), gym.spaces.Discrete(3)

        def __init__(self):
            self.actions = []

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return 0, {}

        def step(self, action):
            self.actions.append(action)
            return 0, 0.0, False, False, {}

    sticky = StickyActions(Recorder(), 1.0)
    sticky.reset(seed=0)
    for a in (2, 0, 1):
        sticky.step(a)
    assert sticky.unwrapped.actions == [2, 2, 2]
    with pytest.raises(ValueError, match="probability"):
        StickyActions(Recorder(), 1.5)


def test_minatar_adapter():
    env = make_env("minatar:breakout")
    assert isinstance(env, MinAtarEnv) and env.observation_space.shape == (4, 10, 10)
    obs, info = env.reset(seed=1)
    assert obs.dtype == np.float32 and set(np.unique(obs)) <= {0.0, 1.0} and info["sticky_action_prob"] == 0.1
    traj = [env.step(a % 3)[0] for a in range(30)]
    env.reset(seed=1)
    assert all(np.array_equal(o, env.step(a % 3)[0]) for a, o in enumerate(traj))  # seeded: same trajectory


def test_binned_curve_and_summary_by_hand():
    curve = binned_curve([10, 15, 45, 95], [1.0, 3.0, 5.0, 7.0], total_frames=100, n_bins=4)
    assert curve.tolist() == [2.0, 5.0, 5.0, 7.0]   # bin 3 (50-75) is empty: repeats bin 2
    s = summarize([np.array([1.0, 3.0]), np.array([3.0, 5.0])])
    assert s["mean"] == [2.0, 4.0] and s["auc_per_seed"] == [2.0, 4.0] and s["auc_mean"] == 3.0
    assert s["auc_se"] == pytest.approx(np.std([2.0, 4.0], ddof=1) / np.sqrt(2)) and s["final_mean"] == 4.0
    assert mean_se([1.0, 2.0, 6.0, np.nan]) == {"mean": 3.0, "se": pytest.approx(np.sqrt(7.0 / 3.0))}
    assert mean_se([5.0]) == {"mean": 5.0, "se": 0.0}
