"""mbec's claims on hand-made metrics in the experiment's format: each reproduction must be able to give holds,
fails, inconclusive and no_signal (where it has a gate), the check holds and fails."""

import dataclasses

import numpy as np
import pytest

from reprolab.methods.mbec.claims import claims
from reprolab.methods.mbec.experiment import CONFIGS

CFG = CONFIGS["quick"]
SAME = np.array([0.0, 1.0, -1.0, 0.5, -0.5])          # the same per-seed offsets: constant paired differences
NOISE = np.array([6.0, -8.0, 5.0, -4.0, 1.0])          # offsets that make the paired differences noisy


def agent(auc, early, random_return=20.0, offsets=SAME) -> dict:
    aucs, earlies = (auc + offsets).tolist(), (early + offsets).tolist()
    return {"auc_per_seed": aucs, "auc_mean": float(np.mean(aucs)), "seeds": [0, 1, 2, 3, 4],
            "auc_early": {"mean": float(np.mean(earlies)), "se": 0.0, "per_seed": earlies},
            "random_return": random_return}


def mbec_agent(auc, early, late_error=0.3, early_error=0.6, beta_std=0.03, **kw) -> dict:
    return {**agent(auc, early, **kw),
            "memory_error": [{"early": early_error + d, "late": late_error + d} for d in SAME / 100],
            "beta_late": [{"std": beta_std + d, "n": 50, "min": 0.2, "max": 0.6} for d in SAME / 1000]}


def metrics() -> dict:
    """Every claim holds."""
    return {"equivalence": {"frames": 3000, "updates": [500, 500], "episodes": [176, 176],
                            "max_abs_weight_diff": 0.0, "identical_returns": True},
            "envs": {"cartpole_noisy": {"dqn": agent(40.0, 30.0), "mbec": mbec_agent(55.0, 35.0),
                                        "mbec_fixed_beta": mbec_agent(45.0, 32.0)},
                     "cartpole_masked": {"dqn": agent(28.0, 25.0), "mbec": mbec_agent(30.0, 28.0)},
                     "maze5": {"dqn": agent(0.3, 0.4, random_return=float("nan")),
                               "mbec": mbec_agent(0.2, 0.3, random_return=float("nan"))}}}


def by_name(m: dict, cfg=CFG) -> dict:
    return {c.name: c for c in claims(m, cfg)}


def test_claim_names_kinds_and_all_holding():
    result = claims(metrics(), CFG)
    envs = ("cartpole_noisy", "cartpole_masked", "maze5")
    assert [(c.name, c.kind) for c in result] == [
        ("memory_off_is_dqn", "check"),
        *((f"memory_value_tracks_returns:{e}", "reproduction") for e in envs),
        *((f"beta_is_state_dependent:{e}", "reproduction") for e in envs),
        *((f"mbec_beats_dqn_early:{e}", "reproduction") for e in envs[:2]),
        ("dynamic_beta_beats_fixed:cartpole_noisy", "reproduction")]
    assert all(c.verdict == "holds" for c in result)


def test_statements_come_from_the_config():
    cfg = dataclasses.replace(CFG, frames=777, seeds=5, fixed_beta=0.3)
    text = by_name(metrics(), cfg)
    assert "777 frames, 5 seeds" in text["mbec_beats_dqn_early:cartpole_noisy"].statement
    assert "fixed beta = 0.3" in text["dynamic_beta_beats_fixed:cartpole_noisy"].statement


def test_claims_need_their_agents_and_data():
    m = metrics()
    del m["envs"]["cartpole_masked"], m["envs"]["cartpole_noisy"]["mbec_fixed_beta"]
    for stats in m["envs"]["maze5"]["mbec"]["beta_late"]:
        stats["n"] = 1                                  # a single late beta: no spread to measure
    for errors in m["envs"]["maze5"]["mbec"]["memory_error"]:
        errors.update(early=float("nan"), late=float("nan"))   # too few episodes after warm-up
    assert list(by_name(m)) == ["memory_off_is_dqn", "memory_value_tracks_returns:cartpole_noisy",
                                "beta_is_state_dependent:cartpole_noisy", "mbec_beats_dqn_early:cartpole_noisy"]


def test_memory_off_is_dqn_fails_on_a_difference_or_without_updates():
    m = metrics()
    m["equivalence"]["max_abs_weight_diff"] = 1e-7
    assert by_name(m)["memory_off_is_dqn"].verdict == "fails"
    m = metrics()
    m["equivalence"]["updates"] = [0, 0]
    assert by_name(m)["memory_off_is_dqn"].verdict == "fails"


@pytest.mark.parametrize("late, early, verdict", [
    (0.7, 0.6, "fails"),                  # the error grows
    (None, 0.6, "inconclusive"),          # noisy, no clear change
    (1.2, 1.5, "no_signal")])             # falls, but stays worse than predicting 0
def test_memory_value_tracks_returns(late, early, verdict):
    m = metrics()
    errors = m["envs"]["maze5"]["mbec"]["memory_error"]
    for e, d in zip(errors, NOISE / 20):
        e.update(early=early + d / 10, late=(early + d) if late is None else late + d / 10)
    claim = by_name(m)["memory_value_tracks_returns:maze5"]
    assert claim.verdict == verdict
    if verdict == "no_signal":
        assert claim.observed["signal"][0]["beats_trivial"] is False


@pytest.mark.parametrize("std, offsets, verdict", [(0.005, SAME / 1000, "fails"),
                                                    (0.011, NOISE / 1000, "inconclusive")])
def test_beta_is_state_dependent(std, offsets, verdict):
    m = metrics()
    for stats, d in zip(m["envs"]["cartpole_masked"]["mbec"]["beta_late"], offsets):
        stats["std"] = std + d
    claim = by_name(m)["beta_is_state_dependent:cartpole_masked"]
    assert claim.verdict == verdict and claim.observed["threshold"] == 0.01


@pytest.mark.parametrize("mbec, dqn, random_return, verdict", [
    ((25.0, SAME), (30.0, SAME), 20.0, "fails"),
    ((30.5, NOISE), (30.0, SAME), 20.0, "inconclusive"),
    ((21.5, SAME), (21.0, SAME), 22.0, "no_signal")])    # both below the random policy's return
def test_mbec_beats_dqn_early(mbec, dqn, random_return, verdict):
    m = metrics()
    block = m["envs"]["cartpole_noisy"]
    block["mbec"] = mbec_agent(55.0, mbec[0], random_return=random_return, offsets=mbec[1])
    block["dqn"] = agent(40.0, dqn[0], random_return=random_return, offsets=dqn[1])
    claim = by_name(m)["mbec_beats_dqn_early:cartpole_noisy"]
    assert claim.verdict == verdict and claim.observed["seeds"] == [0, 1, 2, 3, 4]


def test_mbec_beats_dqn_early_is_not_gated_without_a_random_phase():
    m = metrics()
    for kind in ("mbec", "dqn"):
        m["envs"]["cartpole_masked"][kind]["random_return"] = float("nan")
    claim = by_name(m)["mbec_beats_dqn_early:cartpole_masked"]
    assert claim.verdict == "holds" and "signal" not in claim.observed


@pytest.mark.parametrize("learned, fixed, random_return, verdict", [
    ((40.0, SAME), (45.0, SAME), 20.0, "fails"),
    ((45.5, NOISE), (45.0, SAME), 20.0, "inconclusive"),
    ((15.0, SAME), (12.0, SAME), 20.0, "no_signal")])
def test_dynamic_beta_beats_fixed(learned, fixed, random_return, verdict):
    m = metrics()
    block = m["envs"]["cartpole_noisy"]
    block["mbec"] = mbec_agent(learned[0], 35.0, random_return=random_return, offsets=learned[1])
    block["mbec_fixed_beta"] = mbec_agent(fixed[0], 32.0, random_return=random_return, offsets=fixed[1])
    assert by_name(m)["dynamic_beta_beats_fixed:cartpole_noisy"].verdict == verdict
