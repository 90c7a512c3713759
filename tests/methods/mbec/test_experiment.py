import json
import math

import numpy as np
import pytest

from reprolab.launch import run_method
from tests.conftest import read_record, tiny_quick_run
from reprolab.methods.mbec.claims import claims
from reprolab.methods.mbec.experiment import (CONFIGS, build_env, make_agent, memory_error_windows,
                                              steps_to_threshold)

TINY = ("envs=maze3", "frames=1500", "seeds=2", "ablation_envs=maze3", "equivalence_frames=400",
        "replay_start=200", "mbec.warmup_episodes=2", "bins=6", "workers=2")


def test_steps_to_threshold_uses_the_running_mean_of_10_episodes():
    frames = list(range(100, 2100, 100))
    returns = [0.0] * 10 + [10.0] * 10
    # the mean of the last 10 reaches 5 when 5 of them are 10: the 15th episode
    assert steps_to_threshold(frames, returns, 5.0) == 1500.0
    assert math.isnan(steps_to_threshold(frames, returns, 11.0))


def test_memory_error_windows_are_return_weighted():
    trace = [(i, 2.0, 4.0, 1) for i in range(8)] + [(8, 1.0, 4.0, 3), (9, 0.0, 1.0, 1)]
    assert math.isnan(memory_error_windows(trace[:5])["early"])
    w = memory_error_windows(trace, fraction=0.2)
    assert w["early"] == pytest.approx(0.5) and w["late"] == pytest.approx(3.0 / 13.0)


def test_a_seed_batched_dqn_cell_gives_each_seed_its_separate_run(tmp_path):
    from reprolab.methods.mbec.experiment import env_agents, grid_cells, run_cell
    from reprolab.runtime.config import apply_overrides

    cfg = apply_overrides(CONFIGS["quick"], [*TINY, "dqn_seed_batch=true"])
    assert grid_cells(cfg, env_agents(cfg), 4) == [
        {"env": "maze3", "agent": "dqn", "seed": 4, "n_seeds": 2},
        *({"env": "maze3", "agent": kind, "seed": s, "n_seeds": 1} for kind in ("mbec", "mbec_fixed_beta")
          for s in (4, 5))]
    batched = run_cell({"env": "maze3", "agent": "dqn", "seed": 4, "n_seeds": 2}, cfg, "cpu", tmp_path, False)
    separate = [run_cell({"env": "maze3", "agent": "dqn", "seed": s, "n_seeds": 1}, cfg, "cpu", tmp_path, False)[0]
                for s in (4, 5)]
    assert len(batched) == 2 and batched[0]["episodes"] > 10
    for a, b in zip(batched, separate):
        a.pop("seconds"), b.pop("seconds")
        np.testing.assert_equal(a, b)          # NaN (empty bins, threshold not reached) equal to NaN


def test_the_pool_takes_the_mbec_cells_before_the_dqn_cells():
    from reprolab.methods.mbec.experiment import env_agents, grid_cells, longest_first
    from reprolab.runtime.config import apply_overrides

    cfg = apply_overrides(CONFIGS["quick"], [*TINY, "envs=maze3,maze4"])
    cells = grid_cells(cfg, env_agents(cfg), 0)
    ordered = longest_first(cells)
    assert [(c["env"], c["agent"]) for c in ordered[::2]] == [
        ("maze3", "mbec"), ("maze3", "mbec_fixed_beta"), ("maze4", "mbec"), ("maze3", "dqn"), ("maze4", "dqn")]
    assert [c["seed"] for c in ordered] == [0, 1] * 5 and sorted(map(str, ordered)) == sorted(map(str, cells))


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown environment 'pong'"):
        build_env("pong", CONFIGS["quick"])
    env, _ = build_env("maze4", CONFIGS["quick"])
    with pytest.raises(ValueError, match="unknown agent 'nec'"):
        make_agent("nec", env, None, CONFIGS["quick"], 0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return tiny_quick_run(tmp_path_factory, "mbec", TINY)


def test_smoke_run_writes_a_complete_record(tiny_run):
    out, result = tiny_run
    record = read_record(out)
    assert [c["name"] for c in record["claims"]] == ["memory_off_is_dqn", "memory_value_tracks_returns:maze3",
                                                     "beta_is_state_dependent:maze3",
                                                     "dynamic_beta_beats_fixed:maze3"]
    assert record["claims"][0]["verdict"] == "holds"
    block = record["metrics"]["envs"]["maze3"]
    assert set(block) == {"dqn", "mbec", "mbec_fixed_beta"} and len(block["mbec"]["mean"]) == 6
    for kind in block:   # per-seed values in seed order, the claims' pairs
        assert block[kind]["seeds"] == [0, 1] and len(block[kind]["auc_early"]["per_seed"]) == 2
    assert block["mbec"]["losses_finite"] and max(block["mbec"]["memory_size"]) > 0
    assert 0 < np.mean(block["mbec"]["read_fraction"]) < 0.5
    for artifact in record["artifacts"]:
        assert (out / artifact).stat().st_size > 1000


def test_the_recorded_metrics_feed_the_claims(tiny_run):
    _, result = tiny_run
    from reprolab.runtime.config import apply_overrides

    metrics = json.loads(json.dumps(result.metrics))      # as read back from result.json
    cfg = apply_overrides(CONFIGS["quick"], TINY)
    assert [c.to_dict() for c in claims(metrics, cfg)] == [c.to_dict() for c in result.claims]


@pytest.mark.slow
def test_quick_reproduction_runs_end_to_end(tmp_path):
    """What the quick run shows on 5 seeds: MBEC++ without its memory is DQN to the last weight, and the learned
    beta(h_t) varies across states on every environment (the std of beta above 0.01 on every seed)."""
    result = run_method("mbec", "quick", out=tmp_path, device="cpu", progress=False)
    claims = {c.name: c for c in result.claims}
    assert result.seeds == [0, 1, 2, 3, 4]
    assert claims["memory_off_is_dqn"].holds and claims["memory_off_is_dqn"].observed["max_abs_weight_diff"] == 0.0
    for env in ("cartpole_noisy", "cartpole_masked", "maze5"):
        assert result.metrics["envs"][env]["mbec"]["losses_finite"]
        beta = claims[f"beta_is_state_dependent:{env}"]
        assert beta.verdict == "holds" and min(beta.observed["std of beta(h_t), last third"]) > 0.01


def test_truncation_and_clipping_flags_reach_every_agents_dqn_settings():
    from reprolab.methods.mbec.experiment import dqn_config
    from reprolab.runtime.config import ConfigError, apply_overrides

    default = CONFIGS["quick"]
    official = apply_overrides(default, ["truncation_terminal=true", "clip_rewards=all"])
    for env_name in ("maze5", "ALE/Pong-v5"):
        settings = dqn_config(env_name, default, 12_000)
        assert not settings.truncation_terminal and not settings.clip_rewards
        settings = dqn_config(env_name, official, 12_000)
        assert settings.truncation_terminal and settings.clip_rewards
    with pytest.raises(ConfigError, match="clip_rewards"):
        apply_overrides(default, ["clip_rewards=classic"])


def test_the_target_sync_clock_and_episode_order_flags_reach_every_agents_dqn_settings():
    import dataclasses

    from reprolab.methods.mbec.experiment import dqn_config
    from reprolab.runtime.config import ConfigError, apply_overrides

    default = CONFIGS["quick"]
    official = apply_overrides(default, ["target_sync_clock=frames", "episode_end_first=true"])
    # the frame clock: every target_sync_frames (500) frames on classic control, every 1000 (official) on Atari
    for env_name, sync_frames in (("maze5", 500), ("ALE/Pong-v5", 1000)):
        settings = dqn_config(env_name, default, 12_000)
        assert settings.target_sync_frames == 0 and not settings.episode_end_before_update
        assert dqn_config(env_name, official, 12_000) == dataclasses.replace(
            settings, target_sync_frames=sync_frames, episode_end_before_update=True)
    with pytest.raises(ConfigError, match="target_sync_clock"):
        apply_overrides(default, ["target_sync_clock=episodes"])
    with pytest.raises(ConfigError, match="target_sync_frames"):
        apply_overrides(default, ["target_sync_clock=frames", "target_sync_frames=0"])
