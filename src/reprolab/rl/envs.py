"""Gymnasium environment factory, wrappers for noisy / slippery / non-Markovian variants, and a MinAtar adapter.

Wrappers (all seeded through the environment's own `np_random`):
- `ObservationNoise(sigma)`: o + N(0, sigma^2) per component;
- `RewardNoise(sigma)`: r + N(0, sigma^2);
- `StickyActions(p)`: with probability p the previous action is repeated (Machado et al. 2018);
- `VelocityMask(indices)`: keeps only the listed observation components (CartPole [x, theta] drops velocities,
  making the task non-Markovian).
Atari (`ALE/<Game>-v5` through ale-py, which ships its ROMs) gets the DQN preprocessing of the MBEC official code
(`common/wrappers.py`, OpenAI baselines' wrappers): no sticky actions (its `*NoFrameskip-v4` games), at most 18 000
emulator frames per game, up to 30 no-op starts, frame skip 4 with max-pooling, episodic life (a lost life ends the
episode for learning and the next reset continues the same game: `EpisodicLife`), FIRE after every reset of games
that have it (`FireReset`), grey frames resized to 84 x 110 and cropped to rows 18-101 (84 x 84 uint8, the score
bar left out), reward sign-clipping and a 4-frame stack.
"""

from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np


def _noise_scale(sigma: float) -> float:
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    return float(sigma)


class ObservationNoise(gym.ObservationWrapper):
    def __init__(self, env: gym.Env, sigma: float):
        super().__init__(env)
        self.sigma = _noise_scale(sigma)

    def observation(self, observation):
        noise = self.np_random.normal(0.0, self.sigma, np.shape(observation))
        return (observation + noise).astype(np.asarray(observation).dtype)


class RewardNoise(gym.RewardWrapper):
    def __init__(self, env: gym.Env, sigma: float):
        super().__init__(env)
        self.sigma = _noise_scale(sigma)

    def reward(self, reward):
        return float(reward) + float(self.np_random.normal(0.0, self.sigma))


class StickyActions(gym.Wrapper):
    def __init__(self, env: gym.Env, p: float):
        super().__init__(env)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability, got {p}")
        self.p, self._last = p, None

    def reset(self, **kwargs):
        self._last = None
        return self.env.reset(**kwargs)

    def step(self, action):
        if self._last is not None and self.np_random.random() < self.p:
            action = self._last
        self._last = action
        return self.env.step(action)


class VelocityMask(gym.ObservationWrapper):
    def __init__(self, env: gym.Env, keep: Sequence[int] = (0, 2)):
        super().__init__(env)
        box = env.observation_space
        if not isinstance(box, gym.spaces.Box) or len(box.shape) != 1:
            raise ValueError("VelocityMask needs a 1-D Box observation space")
        if max(keep) >= box.shape[0]:
            raise ValueError(f"keep={tuple(keep)} indexes outside an observation of size {box.shape[0]}")
        self.keep = np.asarray(keep)
        self.observation_space = gym.spaces.Box(box.low[self.keep], box.high[self.keep], dtype=box.dtype)

    def observation(self, observation):
        return observation[self.keep]


class MinAtarEnv(gym.Env):
    """A MinAtar game as a gymnasium environment: observations (C, 10, 10) float32 in {0, 1}.

    MinAtar's own defaults (sticky actions 0.1, difficulty ramping) are kept unless given; `info` reports them.
    """

    def __init__(self, game: str, sticky_action_prob: float = 0.1, difficulty_ramping: bool = True):
        from minatar import Environment

        self.game = Environment(game, sticky_action_prob=sticky_action_prob, difficulty_ramping=difficulty_ramping)
        h, w, c = self.game.state_shape()
        self.observation_space = gym.spaces.Box(0.0, 1.0, (c, h, w), np.float32)
        self.action_space = gym.spaces.Discrete(self.game.num_actions())
        self.settings = {"game": game, "sticky_action_prob": sticky_action_prob,
                         "difficulty_ramping": difficulty_ramping}

    def _obs(self) -> np.ndarray:
        return np.ascontiguousarray(self.game.state().transpose(2, 0, 1), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.game.seed(seed)
        self.game.reset()
        return self._obs(), dict(self.settings)

    def step(self, action):
        reward, terminal = self.game.act(int(action))
        return self._obs(), float(reward), bool(terminal), False, {}


class EpisodicLife(gym.Wrapper):
    """A lost life ends the episode (terminated) but not the game: the next `reset` continues it with one no-op
    step, and only a real game over resets the emulator (baselines' `EpisodicLifeEnv`)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives, self.game_over = 0, True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self.game_over or kwargs.get("seed") is not None:      # a seed asks for a new game
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        self.game_over = False
        return obs, info


class FireReset(gym.Wrapper):
    """FIRE, then action 2, after every reset, for games that wait for FIRE to start (baselines' `FireResetEnv`: an
    episode that either step ends is reset and the next step still taken)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        if env.unwrapped.get_action_meanings()[1] != "FIRE":
            raise ValueError(f"{env.spec.id if env.spec else env}: action 1 is not FIRE")

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info


class CropRows(gym.ObservationWrapper):
    """Rows `start` to `stop` - 1 of each (rows, columns) frame."""

    def __init__(self, env: gym.Env, start: int, stop: int):
        super().__init__(env)
        space = env.observation_space
        if not 0 <= start < stop <= space.shape[0]:
            raise ValueError(f"rows {start}..{stop} do not fit frames of {space.shape[0]} rows")
        self.rows = slice(start, stop)
        self.observation_space = gym.spaces.Box(space.low[self.rows], space.high[self.rows], dtype=space.dtype)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        return obs[self.rows]


def make_atari(env_id: str, *, frame_stack: int = 4, episodic_life: bool = True, max_episode_steps: int = 18_000,
               repeat_action_probability: float = 0.0, **kwargs) -> gym.Env:
    """An ALE game with the official DQN preprocessing (module docstring); observations (frame_stack, 84, 84) uint8,
    rewards in {-1, 0, 1}. `max_episode_steps` counts emulator frames (the official `max_episode_length` on the
    frame-skip-1 game); `repeat_action_probability` 0 as the official v4 games (ale-py's v5 default is 0.25)."""
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make(env_id, frameskip=1, max_episode_steps=max_episode_steps,
                   repeat_action_probability=repeat_action_probability, **kwargs)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=(84, 110), grayscale_obs=True,
                                          terminal_on_life_loss=False, scale_obs=False)
    if episodic_life:
        env = EpisodicLife(env)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireReset(env)
    env = CropRows(env, 18, 102)
    env = gym.wrappers.TransformReward(env, lambda r: float(np.sign(r)))
    return gym.wrappers.FrameStackObservation(env, frame_stack)


def make_env(env_id: str, *, obs_noise: float = 0.0, reward_noise: float = 0.0, sticky: float = 0.0,
             mask_velocity: bool = False, **kwargs) -> gym.Env:
    """`minatar:<game>`, `ALE/<Game>-v5` (preprocessed by `make_atari`) or any gymnasium id, with the wrappers
    above applied when their setting is non-zero."""
    if env_id.startswith("minatar:"):
        env = MinAtarEnv(env_id.split(":", 1)[1], **kwargs)
    elif env_id.startswith("ALE/"):
        env = make_atari(env_id, **kwargs)
    else:
        env = gym.make(env_id, **kwargs)
    if mask_velocity:
        env = VelocityMask(env)
    if obs_noise:
        env = ObservationNoise(env, obs_noise)
    if reward_noise:
        env = RewardNoise(env, reward_noise)
    if sticky:
        env = StickyActions(env, sticky)
    return env
