import json

import pytest

from reprolab.launch import run_method

TINY = ("rule_check_cases=1000", "sb_runs=50", "sb_episodes=40", "official_runs=20", "official_episodes=60",
        "cliff_runs=2", "cliff_episodes=20", "lake_runs=3", "lake_episodes=30", "eval_episodes=5",
        "deep_frames=300", "deep_replay_start=100", "deep_eps_frames=100", "deep_target_sync=50",
        "deep_learners=dqn,balanced_dqn", "deep_seeds=1", "deep_bins=4", "workers=1")


def test_smoke_run_writes_claims_and_plots(tmp_path):
    result = run_method("balanced_q", "quick", out=tmp_path, device="cpu", overrides=TINY, progress=False)
    record = json.loads((tmp_path / "result.json").read_text())
    scenarios = ("sb_mu-0.1", "sb_mu+0.1", "official_mu-0.5", "official_mu+0.5", "cliff", "frozenlake")
    assert [c["name"] for c in record["claims"]] == [
        "beta_one_is_q_learning", "official_rule_equals_closed_form",
        "preferred_bias_depends_on_problem:sb_mu-0.1", "preferred_bias_depends_on_problem:sb_mu+0.1",
        *(f"balanced_best_of_both:{key}" for key in scenarios), "balanced_best_of_both:deep:minatar_breakout",
        "deep_losses_finite"]
    by_name = {c.name: c for c in result.claims}
    assert by_name["beta_one_is_q_learning"].holds and by_name["official_rule_equals_closed_form"].holds
    assert by_name["deep_losses_finite"].holds
    assert by_name["balanced_best_of_both:deep:minatar_breakout"].verdict in ("inconclusive", "no_signal")  # 1 seed
    assert len(record["metrics"]["cliff"]["balanced"]["greedy"]["per_run"]) == 2
    assert record["metrics"]["random_policy"]["sb_mu-0.1"] == 0.5
    for artifact in record["artifacts"]:
        assert (tmp_path / artifact).stat().st_size > 1000
    assert set(record["metrics"]["cliff"]) == {"q_learning", "double_q", "maxmin_2", "maxmin_8", "pessimistic",
                                               "balanced"}
    deep = record["metrics"]["deep"]["minatar_breakout"]
    assert set(deep) == {"dqn", "balanced_dqn"} and deep["balanced_dqn"]["losses_finite"]
    assert len(deep["dqn"]["mean"]) == 4


@pytest.mark.slow
def test_quick_reproduction_matches_the_reference_numbers(tmp_path):
    """Spec section 4 reference numbers, tolerance 0.02 (spec section 6)."""
    result = run_method("balanced_q", "quick", out=tmp_path, device="cpu", progress=False)
    sb = result.metrics["sb_mu-0.1"]
    for name, ref in (("q_learning", 0.374), ("double_q", 0.117), ("maxmin_2", 0.196), ("maxmin_8", 0.115),
                      ("pessimistic", 0.063)):
        assert abs(sb[name]["left_all"]["mean"] - ref) < 0.02, name
    verdicts = {c.name: c.verdict for c in result.claims}
    for name in ("beta_one_is_q_learning", "official_rule_equals_closed_form", "deep_losses_finite",
                 "preferred_bias_depends_on_problem:sb_mu-0.1", "preferred_bias_depends_on_problem:sb_mu+0.1"):
        assert verdicts[name] == "holds", name


def test_the_tabular_stages_give_the_same_record_in_a_pool_as_in_process(tmp_path):
    """Each tabular stage seeds itself: run in 2 worker processes (the quick run's pool, longest first) its values
    equal those of the stages run one after the other in this process, and the record keeps their order."""
    from reprolab.methods.balanced_q.experiment import CONFIGS, longest_first, tabular_stages
    from reprolab.runtime.config import apply_overrides
    from reprolab.runtime.results import RunContext

    cfg = apply_overrides(CONFIGS["quick"], [*TINY, "sb_episodes=10", "official_episodes=10", "cliff_episodes=3",
                                             "lake_episodes=5", "eval_episodes=2"])
    stages = tabular_stages(cfg, 0)
    assert list(longest_first(stages))[:2] == ["cliff", "frozenlake"]
    assert sorted(longest_first(stages)) == sorted(stages)
    alone = RunContext(tmp_path / "alone", progress=False).stages(stages, workers=1)
    pooled = RunContext(tmp_path / "pool", progress=False).stages(longest_first(stages), workers=2)
    assert json.dumps(alone) == json.dumps({name: pooled[name] for name in stages})
    assert list(alone) == ["rule_check", "beta_one", "sb_mu-0.1", "sb_mu+0.1", "official_mu-0.5", "official_mu+0.5",
                           "cliff", "frozenlake", "random_policy"]
