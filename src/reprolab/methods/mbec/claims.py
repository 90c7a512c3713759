"""MBEC++'s claims, checked on the summarised runs.

- `memory_off_is_dqn` (check): MBEC++ with read_rate = rec_rate = 0 equals DQN bit for bit, same seed, after at
  least one update. A code identity.
- `memory_value_tracks_returns:<env>` (reproduction): the memory's relative error on fresh trajectories is lower in
  the last fifth of the episodes than in the first fifth. Paired per seed, delta 0 (spec section 7, check 3, states
  no size). Signal: the late error must beat predicting 0, whose relative error is 1.
- `beta_is_state_dependent:<env>` (reproduction): beta(h_t)'s standard deviation over the states of the last third
  of training exceeds 0.01 (threshold: spec section 7, check 4), by the 95 % t interval over seeds. beta in (0, 1)
  holds by construction (a sigmoid): `tests/methods/mbec/test_agent.py`.
- `mbec_beats_dqn_early:<env>` (reproduction, noisy and velocity-masked CartPole): MBEC++'s area under the first
  part of the learning curve (`early_fraction`) exceeds DQN's. Paired per seed, delta 0 (paper states no size).
- `dynamic_beta_beats_fixed:<env>` (reproduction, the ablation environments): the learned beta's area under the
  learning curve exceeds the fixed beta's. Paired per seed, delta 0 (paper states no size).

The last two are `no_signal` when neither compared agent's mean area beats a uniform random policy's return (the
episodes that end by the replay start, where epsilon is 1).
"""

from __future__ import annotations

import numpy as np

from reprolab.runtime.claims import Claim, Signal, compare, reaches

NO_SIZE = "paper states no size"
EARLY_ENVS = ("cartpole_noisy", "cartpole_masked")   # the noisy and the non-Markovian task
BETA_STD_MIN = 0.01                                  # spec section 7, check 4
ZERO_PREDICTOR_ERROR = 1.0                           # sum |0 - R| / sum |R|


def memory_off_is_dqn(eq: dict) -> Claim:
    return Claim.check("memory_off_is_dqn", "MBEC++ with read_rate = rec_rate = 0 equals DQN bit for bit (same "
                       f"seed, noisy CartPole, {eq['frames']} frames, at least one update)", eq,
                       "max |weight diff| = 0 and identical returns, updates > 0",
                       eq["max_abs_weight_diff"] == 0.0 and eq["identical_returns"] and min(eq["updates"]) > 0)


def memory_tracks_returns(env_name: str, errors: list[dict]) -> Claim:
    """Late against early relative memory error, paired per seed."""
    late = [float(e["late"]) for e in errors]
    late_finite = [v for v in late if np.isfinite(v)]
    signal = Signal("V_M, last fifth", float(np.mean(late_finite)), "predicting 0", ZERO_PREDICTOR_ERROR, "lower")
    return compare(f"memory_value_tracks_returns:{env_name}", "V_M approaches the Monte-Carlo return-to-go on "
                   f"fresh trajectories on {env_name}: the relative error sum|V_M - R| / sum|R| over the last fifth of "
                   "the episodes after warm-up is below that of the first fifth", late,
                   [float(e["early"]) for e in errors], arms=("late", "early"), delta=0.0,
                   source="spec section 7, check 3, states no size", better="lower", signals=[signal])


def beta_state_dependent(env_name: str, stds: list[float]) -> Claim:
    return reaches(f"beta_is_state_dependent:{env_name}", "beta(h_t) varies across states on "
                   f"{env_name}: its standard deviation over the states of the last third of training exceeds "
                   f"{BETA_STD_MIN:g}", stds, threshold=BETA_STD_MIN, source="spec section 7, check 4",
                   metric="std of beta(h_t), last third")


def random_policy_signal(block: dict, means: dict[str, float]) -> list[Signal]:
    """Whether the agent with the better of the two `means` beats the uniform random policy's return in its runs;
    none when no episode ended during the random phase."""
    best = max(means, key=means.get)
    random_return = block[best]["random_return"]
    if not np.isfinite(random_return):
        return []
    return [Signal(best, means[best], "uniform random policy", random_return)]


def mbec_beats_dqn_early(env_name: str, block: dict, cfg) -> Claim:
    early = {kind: block[kind]["auc_early"]["mean"] for kind in ("mbec", "dqn")}
    return compare(f"mbec_beats_dqn_early:{env_name}", f"MBEC++ learns faster than DQN on {env_name}: higher area "
                   f"under the learning curve over the first {cfg.early_fraction:.2g} of training ({cfg.frames} "
                   f"frames, {cfg.seeds} seeds)", block["mbec"]["auc_early"]["per_seed"],
                   block["dqn"]["auc_early"]["per_seed"], arms=("mbec", "dqn"), delta=0.0, source=NO_SIZE,
                   signals=random_policy_signal(block, early),
                   extra={"seeds": block["mbec"]["seeds"]})


def dynamic_beats_fixed(env_name: str, block: dict, cfg) -> Claim:
    return compare(f"dynamic_beta_beats_fixed:{env_name}", f"the learned beta(h_t) beats a fixed beta = "
                   f"{cfg.fixed_beta:g} on {env_name}: higher area under the learning curve ({cfg.frames} frames, "
                   f"{cfg.seeds} seeds)", block["mbec"]["auc_per_seed"], block["mbec_fixed_beta"]["auc_per_seed"],
                   arms=("mbec", "mbec_fixed_beta"), delta=0.0, source=NO_SIZE,
                   signals=random_policy_signal(block, {k: block[k]["auc_mean"] for k in ("mbec", "mbec_fixed_beta")}),
                   extra={"seeds": block["mbec"]["seeds"]})


def claims(metrics: dict, cfg) -> list[Claim]:
    envs = metrics["envs"]
    mbec = {env_name: block["mbec"] for env_name, block in envs.items() if "mbec" in block}
    result = [memory_off_is_dqn(metrics["equivalence"])]
    result += [memory_tracks_returns(env_name, m["memory_error"]) for env_name, m in mbec.items()
               if any(np.isfinite(float(e["late"])) for e in m["memory_error"])]
    result += [beta_state_dependent(env_name, [b["std"] for b in m["beta_late"] if b["n"] > 1])
               for env_name, m in mbec.items() if any(b["n"] > 1 for b in m["beta_late"])]
    result += [mbec_beats_dqn_early(env_name, envs[env_name], cfg) for env_name in EARLY_ENVS
               if {"mbec", "dqn"} <= set(envs.get(env_name, {}))]
    result += [dynamic_beats_fixed(env_name, block, cfg) for env_name, block in envs.items()
               if {"mbec", "mbec_fixed_beta"} <= set(block)]
    return result
