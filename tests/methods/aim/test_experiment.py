import pytest

from reprolab.launch import run_method
from reprolab.methods.aim.experiment import CONFIGS, grid_cells, load_text_task
from reprolab.methods.aim.wordnet import wordnet_available
from reprolab.runtime.config import ConfigError, apply_overrides
from tests.conftest import read_record, tiny_quick_run

TINY = ("tasks=debates", "aim.epochs=1", "l2x.epochs=1", "l2x_ks=1", "lime_samples=50", "shap_samples=50",
        "subset_items=10", "html_items=2", "workers=2")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_quick_run(tmp_path_factory, "aim", TINY)


def test_smoke_run_writes_every_claim_metric_and_plot(tiny):
    out, result = tiny
    record = read_record(out)
    assert [c["name"] for c in record["claims"]] == [
        "aim_beats_random_and_l2x", "w_ranking_beats_pi_ranking", "other_class_below_random", "one_model_every_k",
        "adaptive_k_bounded", "pi_moves", "aim_ge_lime_and_kernel_shap", "aim_cost_below_lime_and_kernel_shap"]
    methods = record["metrics"]["tasks"]["debates"]["methods"]
    assert set(methods) == {"aim", "aim_official", "random", "l2x_k1", "lime", "kernel_shap", "integrated_gradients"}
    assert methods["lime"]["items"] == 10 and methods["aim"]["items"] == 113                # the seeded split
    assert set(methods["aim"]["full"]) == {"1", "3", "5"} and set(methods["l2x_k1"]["full"]) == {"1"}
    assert {"faithfulness", "removal", "keep", "purity"} <= set(methods["aim"]["full"]["3"])
    assert ("brevity" in methods["aim"]["full"]["3"]) == wordnet_available()
    assert len(methods["aim"]["history"]) == 2 and len(methods["aim"]["examples"]) == 2
    assert {"plot_faithfulness.png", "plot_cost.png", "explanations.html"} == set(record["artifacts"])
    assert all((out / a).exists() for a in record["artifacts"])
    assert "<mark" in (out / "explanations.html").read_text()


def test_resume_reads_every_cell_back(tiny):
    out, result = tiny
    cells = grid_cells(apply_overrides(CONFIGS["quick"], list(TINY)), 0)
    assert len(cells) == 7 == result.metrics["runs"]
    again = run_method("aim", "quick", out=out, device="cpu", overrides=TINY, progress=False, resume=True)
    assert again.metrics == result.metrics


def test_tasks_and_config_errors():
    task = load_text_task("rotten_tomatoes", CONFIGS["quick"])
    assert (len(task.train), len(task.val), len(task.test)) == (10246, 1281, 1281) and task.length == 50
    long = load_text_task("rotten_tomatoes_long", apply_overrides(CONFIGS["quick"], ["long_counts=40,8,8"]))
    assert len(long.test) == 8 and (long.train.ids != 0).sum(1).float().mean() > 300       # ~20 snippets each
    with pytest.raises(ConfigError, match="K must be in|every K"):
        apply_overrides(CONFIGS["quick"], ["ks=1,80"])
    with pytest.raises(ConfigError, match="tasks"):
        apply_overrides(CONFIGS["quick"], ["tasks=imdb"])


@pytest.mark.slow
def test_quick_reproduction(tmp_path):
    """The full quick run: every claim reported; the cost claim and check 7 hold whatever the data. At K = 1 the
    other class's ranking sat 0.20 and 0.26 below random on the two CPUs measured (the claim's margin is 0.2); at
    K = 3 and 5 it is about 0.6 below, which a wrong explainer (or a class index mix-up) would not give."""
    result = run_method("aim", "quick", out=tmp_path, device="cpu", progress=False)
    verdicts = {c.name: c.holds for c in result.claims}
    assert len(verdicts) == 16
    assert verdicts["aim_cost_below_lime_and_kernel_shap"] and verdicts["adaptive_k_bounded"]
    assert verdicts["one_model_every_k"]
    other = next(c.observed for c in result.claims if c.name == "other_class_below_random")
    assert all(other[k]["other_class"] <= other[k]["random"] - 0.4 for k in other if int(k) >= 3)
