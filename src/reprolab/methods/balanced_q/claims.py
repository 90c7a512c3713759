"""Balanced Q-learning's claims, checked on the measured runs.

- `beta_one_is_q_learning` (check, (a)): Balanced with beta fixed at 1 reproduces Q-learning exactly, same seed
  (max |Q diff| = 0, identical actions). A code identity.
- `official_rule_equals_closed_form` (check, (b)): the official beta rule equals its closed form, and its TD error
  the clipped momentum TD error, to 1e-12 on random transitions (tolerance: spec section 7, check 1). A code
  identity.
- `preferred_bias_depends_on_problem:<S&B scenario>` (reproduction, (c)): at mu < 0 Double Q goes left from A less
  often than Q-learning, at mu > 0 Q-learning goes left more often than Double Q. Paired over runs, delta 0 (paper
  states no size).
- `balanced_best_of_both:<scenario>` (reproduction, (d)), per tabular scenario and deep environment: Balanced
  beats the learner with the best mean among Q-learning, Double Q and Maxmin (deep: every other learner) on the
  scenario's statistic. Paired over runs (deep: seeds, area under the learning curve), delta 0 (paper states no
  size).
- `deep_losses_finite` (check): every deep learner logged losses and all of them are finite.

The reproductions are gated by a `Signal`: the better of the two compared learners must beat a uniform random
policy (`metrics["random_policy"]`; deep runs: the episodes before the replay start, where epsilon is 1), else the
verdict is no_signal. beta in [0, 1] holds by construction (a clip): `tests/methods/balanced_q/test_rule.py`.
"""

from __future__ import annotations

import numpy as np

from reprolab.runtime.claims import Better, Claim, Signal, compare

OPTIMISTIC = ("q_learning",)
PESSIMISTIC = ("double_q", "maxmin_2", "maxmin_8")
PESSIMISTIC_ARM = "double_q"         # claim (c)'s pessimistic learner: a baseline of the official code (spec section 3)
NO_SIZE = "paper states no size"
RULE_TOLERANCE = 1e-12               # spec section 7, check 1
RANDOM = "uniform random policy"


def mdp_mu(key: str) -> float:
    """mu of a maximization-bias scenario key such as "sb_mu-0.1"."""
    return float(key.split("mu")[1])


def better_direction(key: str) -> Better:
    """Going left from A is bad at mu < 0 (lower is better); returns and left fractions at mu > 0 are higher-better."""
    return "lower" if "_mu" in key and mdp_mu(key) < 0 else "higher"


def tabular_scenarios(metrics: dict, cfg) -> dict[str, tuple[str, str]]:
    """scenario -> (statistic, its description), for every tabular scenario the metrics hold."""
    out = {}
    for key in metrics:
        if key.startswith("sb_mu"):
            out[key] = ("left_all", f"Sutton & Barto MDP, mu = {mdp_mu(key):g}: fraction of episodes going left "
                                    f"from A over {cfg.sb_episodes} episodes, {cfg.sb_runs} runs")
        elif key.startswith("official_mu"):
            out[key] = ("left_window", f"official MDP, mu = {mdp_mu(key):g}: fraction of the first episodes going "
                                       f"left from A, {cfg.official_runs} runs")
    out["cliff"] = ("greedy", f"slippery CliffWalking: greedy return over {cfg.eval_episodes} episodes, "
                              f"{cfg.cliff_runs} runs")
    out["frozenlake"] = ("greedy", f"slippery FrozenLake: greedy success rate over {cfg.eval_episodes} episodes, "
                                   f"{cfg.lake_runs} runs")
    return out


def best_arm(means: dict[str, float], better: Better) -> str:
    """The name with the best mean."""
    return (max if better == "higher" else min)(means, key=means.get)


def learning_signal(means: dict[str, float], random_value: float, better: Better) -> list[Signal]:
    """Whether the better of the compared learners beats the uniform random policy; none when the random policy's
    score is unknown (no deep episode ended before the replay start)."""
    if not np.isfinite(random_value):
        return []
    name = best_arm(means, better)
    return [Signal(name, means[name], RANDOM, random_value, better)]


def preferred_bias(metrics: dict, key: str, stat: str, text: str) -> Claim:
    """(c) on one Sutton & Barto scenario: the pessimistic learner wins at mu < 0, Q-learning at mu > 0."""
    better = better_direction(key)
    block = metrics[key]
    winner, loser = (PESSIMISTIC_ARM, "q_learning") if better == "lower" else ("q_learning", PESSIMISTIC_ARM)
    verb = "less" if better == "lower" else "more"
    means = {n: block[n][stat]["mean"] for n in (winner, loser)}
    return compare(f"preferred_bias_depends_on_problem:{key}",
                   f"(c) {'pessimism' if better == 'lower' else 'optimism'} pays: {winner} goes left from A {verb} "
                   f"often than {loser} ({text})", block[winner][stat]["per_run"], block[loser][stat]["per_run"],
                   arms=(winner, loser), delta=0.0, source=NO_SIZE, better=better,
                   signals=learning_signal(means, metrics["random_policy"][key], better), unit="run")


def best_of_both_tabular(metrics: dict, key: str, stat: str, text: str) -> Claim:
    """(d) on one tabular scenario: Balanced against the optimistic or pessimistic learner with the best mean."""
    block, better = metrics[key], better_direction(key)
    means = {n: block[n][stat]["mean"] for n in OPTIMISTIC + PESSIMISTIC}
    best = best_arm(means, better)
    pair = {"balanced": block["balanced"][stat]["mean"], best: means[best]}
    return compare(f"balanced_best_of_both:{key}", f"(d) Balanced Q does better than the best of the optimistic "
                   f"and pessimistic learners ({best}: the best mean) ({text})",
                   block["balanced"][stat]["per_run"], block[best][stat]["per_run"], arms=("balanced", best),
                   delta=0.0, source=NO_SIZE, better=better,
                   signals=learning_signal(pair, metrics["random_policy"][key], better), unit="run")


def best_of_both_deep(env_key: str, block: dict, cfg) -> Claim:
    """(d) on one deep environment: Balanced DQN's per-seed area under the learning curve against the other learner
    with the best mean."""
    means = {n: v["auc_mean"] for n, v in block.items()}
    best = best_arm({n: m for n, m in means.items() if n != "balanced_dqn"}, "higher")
    pair = {"balanced_dqn": means["balanced_dqn"], best: means[best]}
    random_value = block[best_arm(pair, "higher")]["random_return"]
    return compare(f"balanced_best_of_both:deep:{env_key}", f"(d) Balanced DQN does better than the best other "
                   f"learner ({best}: the best mean) on {env_key}: area under the learning curve, {cfg.deep_frames} "
                   f"frames, {cfg.deep_seeds} seeds", block["balanced_dqn"]["auc_per_seed"],
                   block[best]["auc_per_seed"], arms=("balanced_dqn", best), delta=0.0, source=NO_SIZE,
                   signals=learning_signal(pair, random_value, "higher"),
                   extra={"seeds": block["balanced_dqn"]["seeds"]})


def identity_checks(metrics: dict) -> list[Claim]:
    """(a) and (b): code identities, held or failed."""
    b1, rc = metrics["beta_one"], metrics["rule_check"]
    return [Claim.check("beta_one_is_q_learning", "(a) Balanced with beta fixed at 1 reproduces Q-learning exactly "
                        "(same seed: same tables, same actions)", b1, "max |Q diff| = 0, identical actions",
                        b1["max_abs_q_diff"] == 0.0 and b1["identical_actions"]),
            Claim.check("official_rule_equals_closed_form", "(b) the official beta rule equals clip(betabar + eta "
                        "delta_n / (gamma (M - m)), 0, 1) and its TD error the clipped momentum TD error "
                        f"({rc['n']} random transitions)", rc,
                        f"both differences < {RULE_TOLERANCE:g} (spec section 7, check 1)",
                        rc["max_beta_diff"] < RULE_TOLERANCE and rc["max_td_diff"] < RULE_TOLERANCE)]


def deep_losses_finite(deep: dict) -> Claim:
    logs = {f"{env}/{learner}": {"n_loss_logs": v["n_loss_logs"], "finite": v["losses_finite"]}
            for env, block in deep.items() for learner, v in block.items()}
    return Claim.check("deep_losses_finite", "every deep learner logged its loss and it stayed finite", logs,
                       "finite losses, at least one log each", all(v["finite"] and v["n_loss_logs"] > 0
                                                                   for v in logs.values()))


def claims(metrics: dict, cfg) -> list[Claim]:
    scenarios = tabular_scenarios(metrics, cfg)
    result = identity_checks(metrics)
    result += [preferred_bias(metrics, key, stat, text) for key, (stat, text) in scenarios.items()
               if key.startswith("sb_mu")]
    result += [best_of_both_tabular(metrics, key, stat, text) for key, (stat, text) in scenarios.items()]
    result += [best_of_both_deep(env_key, block, cfg) for env_key, block in metrics["deep"].items()
               if "balanced_dqn" in block and len(block) > 1]
    return result + [deep_losses_finite(metrics["deep"])]
