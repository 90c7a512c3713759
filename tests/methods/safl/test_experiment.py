import pytest
import torch

from reprolab.launch import run_method
from reprolab.methods.safl.datasets import LmdbWordImages, WordImages, write_lmdb
from reprolab.methods.safl import experiment
from reprolab.methods.safl.experiment import (CONFIGS, benchmark_scores, best_constant, bucket_of, constant_answers,
                                              grid_cells, load_part, training_set)
from reprolab.methods.safl.recognizer import Recognizer
from reprolab.methods.safl.synth import SynthConfig, generate, zipf_order
from reprolab.runtime.config import ConfigError, apply_overrides
from tests.conftest import read_record, tiny_quick_run

TINY = ("runs=memorise,nll,focal,nll_no_stn,crnn_ctc", "train_images=200",
        "val_images=20", "test_images=20", "memorise_images=8", "memorise.steps=4",
        "memorise.batch_size=8", "train.steps=6", "train.batch_size=8", "train.warmup=2", "grid_images=2",
        "workers=2")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_quick_run(tmp_path_factory, "safl", TINY)


def test_smoke_run_writes_every_claim_metric_and_plot(tiny):
    out, result = tiny
    record = read_record(out)
    assert [c["name"] for c in record["claims"]] == [
        "memorises_small_set", "random_string_loss_falls", "rectifier_gets_gradient",
        "focal_beats_nll_on_rare_characters", "rectifier_helps_on_curved_text", "safl_beats_crnn_ctc"]
    assert [c["kind"] for c in record["claims"]] == ["check"] * 3 + ["reproduction"] * 3
    assert all(c["verdict"] in ("inconclusive", "no_signal") for c in record["claims"][3:])    # one seed
    runs = record["metrics"]["runs"]
    assert runs["focal"]["test_rare"]["word_accuracy"]["per_seed"] == [runs["focal"]["test_rare"]["word_accuracy"]
                                                                       ["mean"]]
    constant = record["metrics"]["data"]["test_curved"]["best_constant"]
    assert set(constant) == {"word_accuracy", "one_minus_ned"} and len(constant["one_minus_ned"]["answer"]) >= 3
    assert set(runs) == {"memorise", "nll", "focal", "nll_no_stn", "crnn_ctc"}
    assert len(runs["nll"]["loss_curve"]) == 6 and runs["nll"]["rectifier_grad_norm"]["mean"] > 0
    assert set(runs["nll"]) >= {"val", "test_uniform", "test_rare", "test_curved", "test_straight", "by_bucket"}
    assert "control_point_shift" not in runs["nll_no_stn"] and runs["crnn_ctc"]["params"] < runs["nll"]["params"]
    assert record["metrics"]["data"]["test_rare"]["images"] == 20
    assert sorted(record["metrics"]["data"]["zipf_order"]) == sorted(CONFIGS["quick"].alphabet)
    assert {"plot_losses.png", "plot_buckets.png", "plot_rectified_nll_seed0.png"} <= set(record["artifacts"])
    assert all((out / a).exists() for a in record["artifacts"])


def test_resume_reads_every_cell_back(tiny):
    out, result = tiny
    assert len(grid_cells(apply_overrides(CONFIGS["quick"], list(TINY)), 0)) == 5
    again = run_method("safl", "quick", out=out, device="cpu", overrides=TINY, progress=False, resume=True)
    assert again.metrics == result.metrics


def test_cells_run_longest_first_whatever_the_order_of_runs():
    cfg = apply_overrides(CONFIGS["quick"], ["runs=memorise,nll_no_stn,crnn_ctc,focal,nll", "seeds=2"])
    assert [(c["run"], c["seed"]) for c in grid_cells(cfg, 3)] == [
        (run, seed) for run in ("crnn_ctc", "nll", "focal", "nll_no_stn", "memorise") for seed in (3, 4)]


def test_rendered_sets_are_cached_by_their_config(isolated_data, monkeypatch):
    """A set is rendered once per config: the same config reads the cache, a changed one renders its own."""
    rendered = []

    def counting(n, synth, seed):
        rendered.append((n, synth.min_len, seed))
        return generate(n, synth, seed)

    monkeypatch.setattr(experiment, "generate", counting)
    cfg = apply_overrides(CONFIGS["quick"], ["val_images=4"])
    first, again = load_part("val", cfg), load_part("val", cfg)
    assert len(rendered) == 1 and torch.equal(first.images, again.images) and first.labels == again.labels
    longer = load_part("val", apply_overrides(cfg, ["min_len=4"]))
    more = load_part("val", apply_overrides(cfg, ["val_images=5"]))
    assert rendered == [(4, 3, 1), (4, 4, 1), (5, 3, 1)]
    assert all(len(label) >= 4 for label in longer.labels) and len(more) == 5
    assert load_part("test_curved", cfg).labels != first.labels and len(rendered) == 4     # another part, its own set


def test_the_best_constant_answer_per_metric():
    answers = constant_answers(CONFIGS["quick"])
    assert len(answers) == 36 * 3 and {"000", "zzzzz"} <= set(answers) and "zzzzzz" not in answers
    best = best_constant(["4444", "4444", "abc", "44"], ["444", "4444", "aaa"])
    assert best["word_accuracy"] == {"answer": "4444", "score": 0.5}
    assert best["one_minus_ned"] == {"answer": "4444", "score": pytest.approx((1 + 1 + 0 + 0.5) / 4)}
    assert best_constant(["abc"], ["aaa", "444"])["one_minus_ned"] == {"answer": "aaa", "score": pytest.approx(1 / 3)}


def test_frequency_buckets_and_config_errors():
    order, _ = zipf_order(0)
    assert bucket_of(order[0] * 3, order) == 0 and bucket_of(order[0] + order[-1], order) == 3
    with pytest.raises(ConfigError, match="max_len"):
        apply_overrides(CONFIGS["quick"], ["max_len=30"])
    with pytest.raises(ConfigError, match="runs"):
        apply_overrides(CONFIGS["quick"], ["runs=attention"])
    with pytest.raises(ConfigError, match="alphabet"):
        apply_overrides(CONFIGS["quick"], ["alphabet=4"])


def test_training_lmdbs_stream_and_benchmarks_keep_labels_over_the_maximum(tmp_path):
    images, labels = generate(3, SynthConfig(), seed=0)
    first = write_lmdb(tmp_path / "mj", WordImages(images, labels[:2] + ["a" * 25]))
    second = write_lmdb(tmp_path / "st", WordImages(images[:1], labels[:1]))
    cfg = apply_overrides(CONFIGS["quick"], [f"train_lmdbs={first},{second}"])
    train = training_set(cfg)
    assert isinstance(train, LmdbWordImages) and len(train) == 3 and train.skipped == {"label_too_long": 1}
    scores = benchmark_scores(Recognizer.from_config(size="light", seed=0), str(first), cfg)
    assert scores["images"] == 3 and scores["labels_over_max_label"] == 1 and scores["skipped"] == {}


@pytest.mark.slow
def test_quick_reproduction(tmp_path):
    """The full quick run: the pipeline learns (check 8), the NLL model reads the held-out uniform set above its best
    constant answer in both metrics, and every claim of the quick runs is reported."""
    result = run_method("safl", "quick", out=tmp_path, device="cpu", progress=False)
    verdicts = {c.name: c.holds for c in result.claims}
    assert len(verdicts) == 5 and verdicts["memorises_small_set"] and verdicts["rectifier_gets_gradient"]
    constant = result.metrics["data"]["test_uniform"]["best_constant"]
    nll = result.metrics["runs"]["nll"]["test_uniform"]
    assert all(nll[m]["mean"] > constant[m]["score"] for m in ("word_accuracy", "one_minus_ned"))
