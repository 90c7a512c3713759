"""The Atari preprocessing of the MBEC official code (OpenAI baselines' wrappers) on a real ALE game."""

import numpy as np

from reprolab.rl.envs import EpisodicLife, FireReset, make_env


def _wrapper(env, kind):
    while not isinstance(env, kind):
        env = env.env
    return env


def test_a_lost_life_ends_the_episode_and_the_next_reset_continues_the_game():
    env = make_env("ALE/Breakout-v5")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == 0.0       # the v4 games' setting
    assert isinstance(_wrapper(env, FireReset), FireReset) and isinstance(_wrapper(env, EpisodicLife), EpisodicLife)
    rng = np.random.default_rng(0)
    lives_at_ends = []
    while len(lives_at_ends) < 6:
        _, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        assert reward in (-1.0, 0.0, 1.0)
        if terminated or truncated:
            lives_at_ends.append(env.unwrapped.ale.lives())
            env.reset()
    assert lives_at_ends == [4, 3, 2, 1, 0, 4]            # one episode per life; a new game after the fifth
