"""balanced_q's claims on hand-made metrics in the experiment's format: each reproduction must be able to give
holds, fails, inconclusive and no_signal, each check holds and fails."""

import numpy as np
import pytest

from reprolab.methods.balanced_q.claims import claims
from reprolab.methods.balanced_q.experiment import CONFIGS

CFG = CONFIGS["quick"]
AGENTS = ("q_learning", "double_q", "maxmin_2", "maxmin_8", "pessimistic", "balanced")
SAME = np.array([0.0, 0.01, -0.01, 0.005])          # the same per-run offsets: paired differences are constant
OTHER = np.array([0.04, -0.05, 0.03, -0.02])         # offsets that make the paired differences noisy


def stat(mean, offsets=SAME) -> dict:
    values = mean + offsets
    return {"mean": float(values.mean()), "se": 0.0, "per_run": values.tolist()}


def mdp(**means) -> dict:
    return {n: {"left_all": stat(m), "left_window": stat(m), "curve": [m]} for n, m in means.items()}


def gridworld(**means) -> dict:
    return {n: {"greedy": stat(m), "online_second_half": stat(m), "curve": [m]} for n, m in means.items()}


def deep_learner(aucs, random_return=0.5) -> dict:
    return {"auc_per_seed": list(aucs), "auc_mean": float(np.mean(aucs)), "seeds": [0, 1, 2],
            "random_return": random_return, "losses_finite": True, "n_loss_logs": 3}


def metrics() -> dict:
    """Every reproduction holds: pessimism wins at mu < 0, optimism at mu > 0, Balanced beats the best learner."""
    return {"rule_check": {"n": 1000, "max_beta_diff": 0.0, "max_td_diff": 1e-15},
            "beta_one": {"max_abs_q_diff": 0.0, "identical_actions": True},
            "sb_mu-0.1": mdp(q_learning=0.38, double_q=0.12, maxmin_2=0.19, maxmin_8=0.15, pessimistic=0.06,
                             balanced=0.10),
            "sb_mu+0.1": mdp(q_learning=0.78, double_q=0.23, maxmin_2=0.43, maxmin_8=0.13, pessimistic=0.07,
                             balanced=0.80),
            "official_mu-0.5": mdp(q_learning=0.21, double_q=0.11, maxmin_2=0.16, maxmin_8=0.16, pessimistic=0.08,
                                   balanced=0.09),
            "official_mu+0.5": mdp(q_learning=0.93, double_q=0.78, maxmin_2=0.85, maxmin_8=0.43, pessimistic=0.27,
                                   balanced=0.95),
            "cliff": gridworld(q_learning=-22.6, double_q=-21.8, maxmin_2=-22.2, maxmin_8=-63.0, pessimistic=-128.0,
                               balanced=-20.0),
            "frozenlake": gridworld(q_learning=0.63, double_q=0.33, maxmin_2=0.37, maxmin_8=0.01, pessimistic=0.02,
                                    balanced=0.70),
            "random_policy": {"sb_mu-0.1": 0.5, "sb_mu+0.1": 0.5, "official_mu-0.5": 0.5, "official_mu+0.5": 0.5,
                              "cliff": -1500.0, "frozenlake": 0.015},
            "deep": {"minatar_breakout": {"dqn": deep_learner([1.0, 1.2, 1.1]),
                                          "double_dqn": deep_learner([1.5, 1.7, 1.6]),
                                          "balanced_dqn": deep_learner([2.0, 2.2, 2.1])}}}


def verdicts(m: dict) -> dict[str, str]:
    return {c.name: c.verdict for c in claims(m, CFG)}


def test_claim_names_kinds_and_all_holding():
    result = claims(metrics(), CFG)
    assert [(c.name, c.kind) for c in result] == [
        ("beta_one_is_q_learning", "check"), ("official_rule_equals_closed_form", "check"),
        ("preferred_bias_depends_on_problem:sb_mu-0.1", "reproduction"),
        ("preferred_bias_depends_on_problem:sb_mu+0.1", "reproduction"),
        *((f"balanced_best_of_both:{k}", "reproduction") for k in ("sb_mu-0.1", "sb_mu+0.1", "official_mu-0.5",
                                                                      "official_mu+0.5", "cliff", "frozenlake",
                                                                      "deep:minatar_breakout")),
        ("deep_losses_finite", "check")]
    assert all(c.verdict == "holds" for c in result)


def test_statements_come_from_the_config():
    cfg = CFG.__class__(sb_runs=7, sb_episodes=11, deep_frames=1234)
    text = {c.name: c.statement for c in claims(metrics(), cfg)}
    assert "11 episodes, 7 runs" in text["preferred_bias_depends_on_problem:sb_mu-0.1"]
    assert "1234 frames" in text["balanced_best_of_both:deep:minatar_breakout"]


# ---- (c) preferred_bias_depends_on_problem ---------------------------------------------------------------------

C_NEG, C_POS = "preferred_bias_depends_on_problem:sb_mu-0.1", "preferred_bias_depends_on_problem:sb_mu+0.1"


def test_preferred_bias_fails_when_the_pessimistic_learner_goes_left_more_at_negative_mu():
    m = metrics()
    m["sb_mu-0.1"]["double_q"]["left_all"] = stat(0.45)
    assert verdicts(m)[C_NEG] == "fails"


def test_preferred_bias_fails_when_q_learning_goes_left_less_at_positive_mu():
    m = metrics()
    m["sb_mu+0.1"]["q_learning"]["left_all"] = stat(0.55)
    m["sb_mu+0.1"]["double_q"]["left_all"] = stat(0.65)
    assert verdicts(m)[C_POS] == "fails"


def test_preferred_bias_is_inconclusive_on_noisy_small_differences():
    m = metrics()
    m["sb_mu-0.1"]["double_q"]["left_all"] = stat(0.375, OTHER)
    claim = {c.name: c for c in claims(m, CFG)}[C_NEG]
    assert claim.verdict == "inconclusive" and claim.observed["runs_needed"] > 4


def test_preferred_bias_has_no_signal_when_neither_learner_beats_the_random_policy():
    m = metrics()
    m["sb_mu+0.1"]["q_learning"]["left_all"] = stat(0.45)     # still above Double Q's 0.23, below chance 0.5
    claim = {c.name: c for c in claims(m, CFG)}[C_POS]
    assert claim.verdict == "no_signal"
    assert claim.observed["signal"] == [{"q_learning": pytest.approx(0.45 + SAME.mean()),
                                         "uniform random policy": 0.5, "beats_trivial": False}]


# ---- (d) balanced_best_of_both, tabular --------------------------------------------------------------------------

def test_best_of_both_compares_with_the_learner_of_the_best_mean():
    by_name = {c.name: c for c in claims(metrics(), CFG)}
    assert "maxmin_8" not in by_name["balanced_best_of_both:sb_mu-0.1"].observed   # Double Q: the lowest left
    assert "double_q" in by_name["balanced_best_of_both:sb_mu-0.1"].observed
    assert "q_learning" in by_name["balanced_best_of_both:frozenlake"].observed


@pytest.mark.parametrize("key, balanced, verdict", [
    ("sb_mu-0.1", 0.30, "fails"),          # lower is better at mu < 0: Balanced goes left more than Double Q
    ("sb_mu+0.1", 0.70, "fails"),          # higher is better at mu > 0: below Q-learning
    ("official_mu-0.5", 0.20, "fails")])
def test_best_of_both_fails_on_the_maximization_bias_mdps(key, balanced, verdict):
    m = metrics()
    m[key]["balanced"]["left_all"] = m[key]["balanced"]["left_window"] = stat(balanced)
    assert verdicts(m)[f"balanced_best_of_both:{key}"] == verdict


def test_best_of_both_on_the_cliff_holds_fails_and_is_inconclusive():
    m = metrics()
    m["cliff"]["balanced"]["greedy"] = stat(-30.0)
    assert verdicts(m)["balanced_best_of_both:cliff"] == "fails"
    m["cliff"]["balanced"]["greedy"] = stat(-21.8, 40 * OTHER)
    assert verdicts(m)["balanced_best_of_both:cliff"] == "inconclusive"


def test_best_of_both_has_no_signal_when_no_learner_beats_the_random_policy():
    m = metrics()
    m["random_policy"]["frozenlake"] = 0.8
    assert verdicts(m)["balanced_best_of_both:frozenlake"] == "no_signal"


# ---- (d) balanced_best_of_both, deep -----------------------------------------------------------------------------

DEEP = "balanced_best_of_both:deep:minatar_breakout"


def test_deep_best_of_both_fails_is_inconclusive_and_has_no_signal():
    m = metrics()
    block = m["deep"]["minatar_breakout"]
    block["balanced_dqn"] = deep_learner([1.0, 1.1, 1.05])
    assert verdicts(m)[DEEP] == "fails"
    block["balanced_dqn"] = deep_learner([2.5, 0.9, 1.6])
    assert verdicts(m)[DEEP] == "inconclusive"
    block["balanced_dqn"] = deep_learner([2.0, 2.2, 2.1], random_return=3.0)   # the better arm's random phase
    assert verdicts(m)[DEEP] == "no_signal"


def test_deep_best_of_both_is_not_gated_without_a_random_phase_and_one_seed_never_decides():
    m = metrics()
    block = m["deep"]["minatar_breakout"]
    block["balanced_dqn"]["random_return"] = float("nan")
    claim = {c.name: c for c in claims(m, CFG)}[DEEP]
    assert claim.verdict == "holds" and "signal" not in claim.observed
    for learner in block.values():
        learner["auc_per_seed"] = learner["auc_per_seed"][:1]
    assert verdicts(m)[DEEP] == "inconclusive"


# ---- checks ------------------------------------------------------------------------------------------------------

def test_checks_fail_on_the_numbers():
    m = metrics()
    m["beta_one"]["identical_actions"] = False
    m["rule_check"]["max_td_diff"] = 1e-11
    m["deep"]["minatar_breakout"]["dqn"]["losses_finite"] = False
    v = verdicts(m)
    assert v["beta_one_is_q_learning"] == v["official_rule_equals_closed_form"] == v["deep_losses_finite"] == "fails"
    m = metrics()
    m["deep"]["minatar_breakout"]["dqn"]["n_loss_logs"] = 0
    assert verdicts(m)["deep_losses_finite"] == "fails"
