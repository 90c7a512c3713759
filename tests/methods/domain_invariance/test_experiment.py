import numpy as np
import pytest
import torch

from tests.methods.domain_invariance.test_claims import QUICK_CLAIMS
from reprolab.launch import run_method
from reprolab.methods.domain_invariance.experiment import (CONFIGS, best_validation_step, grid_cells, make_algorithm,
                                                           run_cell, select, summarize, task_of)
from reprolab.methods.domain_invariance.domains import build_task, from_arrays
from reprolab.methods.domain_invariance.training import flags, trivial_levels
from reprolab.runtime.config import ConfigError, apply_overrides
from reprolab.runtime.grid import GridResults
from tests.conftest import read_record, tiny_quick_run

TINY = ("seeds=1", "shift_seeds=2", "train.steps=20", "train.eval_every=10", "lambdas=0.1,10,100",
        "shift_lambdas=0.1,10", "claim_lambdas=0.1,10", "workers=2")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_quick_run(tmp_path_factory, "domain_invariance", TINY)


def test_smoke_run_writes_every_claim_metric_and_plot(tiny):
    out, result = tiny
    record = read_record(out)
    names = [c["name"] for c in record["claims"]]
    assert names == QUICK_CLAIMS
    assert {c["kind"] for c in record["claims"][:2]} == {"check"}
    assert {c["kind"] for c in record["claims"][2:]} == {"reproduction"}
    tasks = record["metrics"]["tasks"]
    assert set(record["metrics"]["trivial"]) == set(tasks)
    assert set(tasks) == {"rotated_digits", "rotated_digits_shift"}
    general = tasks["rotated_digits_shift"]["general"]
    assert set(general["by_lambda"]) == {"0.1", "10"}                              # the label-shift grid
    assert set(tasks["rotated_digits"]["general"]["by_lambda"]) == {"0.1", "10", "100"}
    for key in ("per_seed_target", "per_seed_source", "per_seed_probe", "per_seed_target_best_step", "best_step"):
        assert len(general["by_lambda"]["10"][key]) == 2                            # shift_seeds
    assert general["by_lambda"]["10"]["probe_majority"] == record["metrics"]["trivial"]["rotated_digits_shift"]["probe"]
    assert set(general["selection"]) == {"training_domain", "training_domain_best_step", "oracle"}
    assert {"plot_tradeoff.png", "plot_features.png"} <= set(record["artifacts"])
    assert all((out / a).exists() for a in record["artifacts"])
    by_lam = tasks["rotated_digits"]["compressed"]["by_lambda"]["100"]
    assert by_lam["collapsed_seeds"] == sum(s < 0.2 for s in by_lam["per_seed_source"])   # flagged, never dropped


def test_grid_has_one_cell_per_run_and_resume_reads_them_back(tiny, tmp_path):
    out, result = tiny
    cfg = apply_overrides(CONFIGS["quick"], list(TINY))
    cells = grid_cells(cfg, 0)
    assert len(cells) == (1 + 2 * 3) * 1 + (1 + 2 * 2) * 2 == result.metrics["runs"]
    assert {c["lam"] for c in cells if c["algorithm"] == "erm"} == {None}
    again = run_method("domain_invariance", "quick", out=out, device="cpu", overrides=TINY, progress=False,
                       resume=True)
    assert again.metrics == result.metrics                                         # every cell read back


@pytest.mark.slow
def test_ray_executor_gives_the_local_executors_numbers(tiny, tmp_path):
    pytest.importorskip("ray")
    _, local = tiny
    on_ray = run_method("domain_invariance", "quick", out=tmp_path, device="cpu", overrides=TINY, progress=False,
                        executor="ray")
    assert on_ray.metrics == local.metrics
    assert on_ray.versions["executor"].startswith("ray ") and local.versions["executor"] == "local (2 processes)"


def test_same_seed_same_numbers():
    cfg = apply_overrides(CONFIGS["quick"], list(TINY))
    cell = {"task": "rotated_digits", "algorithm": "compressed", "lam": 1.0, "seed": 3}
    a, b = run_cell(cell, cfg, "cpu", first_seed=0), run_cell(cell, cfg, "cpu", first_seed=0)
    assert a["history"] == b["history"] and a["probe"] == b["probe"]


def test_selection_by_training_domain_at_the_final_and_best_step_and_oracle():
    by_lam = {"0.1": {"per_seed_source": [0.9, 0.5], "per_seed_target": [0.6, 0.7], "target": {"mean": 0.65, "se": 0},
                      "per_seed_source_best_step": [0.9, 0.5], "per_seed_target_best_step": [0.61, 0.71]},
              "1": {"per_seed_source": [0.8, 0.6], "per_seed_target": [0.9, 0.2], "target": {"mean": 0.55, "se": 0},
                    "per_seed_source_best_step": [0.95, 0.55], "per_seed_target_best_step": [0.8, 0.3]}}
    sel = select(by_lam, ["0.1", "1"])
    assert sel["training_domain"]["chosen_per_seed"] == ["0.1", "1"]
    assert sel["training_domain"]["per_seed"] == [0.6, 0.2]
    assert sel["training_domain"]["mean"] == pytest.approx((0.6 + 0.2) / 2)
    assert sel["training_domain_best_step"]["chosen_per_seed"] == ["1", "1"]
    assert sel["training_domain_best_step"]["per_seed"] == [0.8, 0.3]
    assert sel["oracle"]["chosen"] == "0.1" and sel["oracle"]["mean"] == 0.65
    assert sel["oracle"]["per_seed"] == [0.6, 0.7]


def _tied_by_lam():
    """Seed 0: lambdas 0.1 and 10 tie on source validation; seed 1: 0.1 and 1; mean target: 0.1 and 1."""
    source, target = {"0.1": [0.9, 0.5], "1": [0.8, 0.5], "10": [0.9, 0.4]}, {"0.1": [0.8, 0.6], "1": [0.6, 0.8],
                                                                              "10": [0.5, 0.6]}
    return {k: {"per_seed_source": source[k], "per_seed_target": target[k], "per_seed_source_best_step": source[k],
                "per_seed_target_best_step": target[k], "target": {"mean": sum(target[k]) / 2, "se": 0}}
            for k in source}


def _domainbed_choice(lams, score):
    """DomainBed's hparams_accs: the runs in hparams_seed order (here the grid's), a stable sort by validation
    accuracy, reversed, the first taken."""
    return sorted(lams, key=score)[::-1][0]


def test_lambda_ties_last_takes_the_tied_lambda_domainbeds_selection_takes():
    by_lam, lams = _tied_by_lam(), ["0.1", "1", "10"]
    first, last = select(by_lam, lams), select(by_lam, lams, "last")
    assert first["training_domain"]["chosen_per_seed"] == ["0.1", "0.1"] and first["oracle"]["chosen"] == "0.1"
    reference = [_domainbed_choice(lams, lambda k: by_lam[k]["per_seed_source"][s]) for s in (0, 1)]
    assert last["training_domain"]["chosen_per_seed"] == reference == ["10", "1"]
    assert last["training_domain"]["per_seed"] == [0.5, 0.8]
    assert last["training_domain_best_step"]["chosen_per_seed"] == ["10", "1"]
    assert last["oracle"]["chosen"] == _domainbed_choice(lams, lambda k: by_lam[k]["target"]["mean"]) == "1"


def test_lambda_ties_holdout_rounding_and_eval_schedule_are_reachable_from_the_config():
    cfg = apply_overrides(CONFIGS["quick"], list(TINY) + ["tasks=rotated_digits", "algorithms=general",
                                                          "lambdas=0.1,1,10", "claim_lambdas=0.1,1,10",
                                                          "shift_lambdas=0.1,1,10", "lambda_ties=last",
                                                          "holdout_rounding=floor", "train.eval_schedule=domainbed"])
    by_lam = _tied_by_lam()
    runs = []
    for lam in ("0.1", "1", "10"):
        for seed in (0, 1):
            record = {"step": 20, "source_val_mean": by_lam[lam]["per_seed_source"][seed],
                      "target": by_lam[lam]["per_seed_target"][seed], "feature_norm": 1.0, "general_mmd": 0.0,
                      "compressed_mmd": 0.0}
            runs.append(({"task": "rotated_digits", "algorithm": "general", "lam": float(lam), "seed": seed},
                         {"history": [dict(record, step=0), record], "final": record, "probe": 0.5,
                          "probe_majority": 0.5, "collapsed": False, "dead_features": False, "generator_steps": 20}))
    general = summarize(GridResults(runs), cfg, {})["tasks"]["rotated_digits"]["general"]
    assert general["selection"]["training_domain"]["chosen_per_seed"] == ["10", "1"]
    assert general["selection_claim_lambdas"]["oracle"]["chosen"] == "1"
    assert {len(d.y_all): len(d.y_val) for d in task_of("rotated_digits", cfg, 0).sources} == {300: 60, 299: 59}
    cell = {"task": "rotated_digits", "algorithm": "erm", "lam": None, "seed": 0}
    assert [r["step"] for r in run_cell(cell, cfg, "cpu", first_seed=1)["history"]] == [0, 1, 11, 20]


def test_best_validation_step_is_the_first_best_checkpoint_after_training_starts():
    history = [{"step": 0, "source_val_mean": 0.99, "target": 0.1},      # before any update: never selected
               {"step": 100, "source_val_mean": 0.8, "target": 0.5},
               {"step": 200, "source_val_mean": 0.9, "target": 0.6},
               {"step": 300, "source_val_mean": 0.9, "target": 0.7},
               {"step": 301, "source_val_mean": 0.7, "target": 0.8}]
    assert best_validation_step(history) == history[2]


def test_collapsed_flag_marks_source_accuracy_below_0_2():
    start = {"source_val_mean": 0.1, "feature_norm": 10.0}
    assert flags([start, {"source_val_mean": 0.19, "feature_norm": 5.0}]) == {"collapsed": True, "dead_features": False}
    assert flags([start, {"source_val_mean": 0.2, "feature_norm": 0.05}]) == {"collapsed": False, "dead_features": True}


def test_trivial_levels_are_what_a_constant_predictor_scores():
    import numpy as np

    x = np.zeros((1, 1, 2, 2), dtype=np.float32)
    a = (np.repeat(x, 10, 0), np.array([0, 0] + [1] * 8))            # validation: the first 20%, labels [0, 0]
    b = (np.repeat(x, 15, 0), np.array([0, 1, 1] + [2] * 12))        # validation labels [0, 1, 1]
    task = from_arrays("t", {"a": a, "b": b}, ("c", np.repeat(x, 4, 0), np.array([2, 2, 2, 0])), 3)
    levels = trivial_levels(task)
    assert levels["target"] == 0.75                                    # always 2
    assert levels["source_val_mean"] == pytest.approx((1 + 1 / 3) / 2)   # always 0: 1 on a, 1/3 on b
    assert levels["probe"] == pytest.approx(3 / 5)                     # always b: 3 of the 5 validation samples
    assert trivial_levels(task, probe_per_domain=2)["probe"] == 0.5


@pytest.mark.parametrize("override, message", [
    ("lambdas=-1,1", "every lambda must be >= 0"),
    ("algorithms=erm,irm", "one of"),
    ("tasks=pacs", "one of"),
    ("train.penalty_features=cosine", "one of"),
    ("label_shift=1.5", "label_shift"),
    ("claim_lambdas=3", "subset"),
    ("shift_lambdas=0.1,1", "subset"),
    ("train.batch_per_domain=1", "batch_per_domain"),
    ("rotation_interpolation=nearest", "one of"),
    ("train.adversarial.grad_penalty_form=wgan", "grad_penalty_form"),
    ("uda_fraction=1", "uda_fraction"),
    ("train.unlabeled_target=true", "needs unlabelled target images"),
    ("train.val_per_domain=0", "val_per_domain"),
    ("holdout_rounding=ceil", "one of"),
    ("lambda_ties=random", "one of"),
    ("train.eval_schedule=every", "one of"),
])
def test_bad_config_values_are_rejected_before_any_work(override, message):
    with pytest.raises((ConfigError, ValueError), match=message):
        apply_overrides(CONFIGS["quick"], [override])


def test_overrides_are_validated_together_whatever_their_order():
    cfg = apply_overrides(CONFIGS["quick"], ["claim_lambdas=0.5", "lambdas=0.5,5", "shift_lambdas=0.5"])
    assert cfg.lambdas == (0.5, 5.0) and cfg.claim_lambdas == (0.5,)


def test_channels_last_featurizer_computes_the_same_function():
    import torch

    from reprolab.methods.domain_invariance.featurizers import build_featurizer
    from reprolab.runtime.fast import FastPath

    torch.manual_seed(0)
    plain, _ = build_featurizer("quick_cnn", (1, 16, 16))
    torch.manual_seed(0)
    fast, _ = build_featurizer("quick_cnn", (1, 16, 16), fast=FastPath(channels_last=True))
    x = torch.rand(8, 1, 16, 16)
    assert torch.allclose(plain(x), fast(x), atol=1e-5)
    assert fast.net[0].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("channels_last", [False, True])
def test_quick_cnn_pooling_before_its_relu_gives_the_textbook_values_and_gradients(channels_last):
    """relu(maxpool(x)) = maxpool(relu(x)): the quick CNN's features and parameter gradients equal those of the same
    modules in Conv-ReLU-MaxPool order exactly, on RotatedDigits images (their zero backgrounds give ties)."""
    import torch
    from torch import nn

    from reprolab.methods.domain_invariance.featurizers import build_featurizer
    from reprolab.runtime.fast import FastPath

    torch.manual_seed(0)
    featurizer, _ = build_featurizer("quick_cnn", (1, 16, 16), fast=FastPath(channels_last=channels_last))
    net = featurizer.net if channels_last else featurizer
    textbook = nn.Sequential(*(net[i] for i in (0, 2, 1, 3, 5, 4, 6, 7, 8)))   # the same parameters
    assert [type(m).__name__ for m in textbook] == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d",
                                                    "Flatten", "Linear", "ReLU"]
    x = torch.from_numpy(build_task("rotated_digits").sources[0].x_train[:64])
    upstream = torch.randn(64, 64, generator=torch.Generator().manual_seed(1))
    outputs, grads = [], []
    for model in (net, textbook):
        net.zero_grad()
        out = model(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
        out.backward(upstream)
        outputs.append(out.detach())
        grads.append([p.grad.clone() for p in net.parameters()])
    assert torch.equal(outputs[0], outputs[1]) and outputs[0].abs().sum() > 0
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_paper_config_builds_every_algorithm_on_the_mnist_cnn():
    cfg = CONFIGS["paper"]
    task = build_task("rotated_digits")
    for name in cfg.algorithms:
        alg = make_algorithm(name, 1.0, task, cfg.train)
        assert alg.classifier.in_features == 128


def test_data_flags_reach_the_task_and_default_to_the_published_choices(monkeypatch):
    from reprolab.methods.domain_invariance import experiment

    cfg = CONFIGS["quick"]
    assert cfg.rotation_interpolation == "bicubic" and cfg.uda_fraction == 0 and not cfg.train.mmd_unlabeled
    assert cfg.train.adversarial.grad_penalty_form == "domainbed" and cfg.train.val_per_domain == 2000
    seen = []
    monkeypatch.setattr(experiment, "build_task", lambda *args, **kwargs: seen.append((args, kwargs)))
    task_of("rotated_mnist_75", apply_overrides(cfg, ["rotation_interpolation=bilinear", "uda_fraction=0.2"]), 0)
    assert "bilinear" in seen[0][0] and seen[0][1]["uda_fraction"] == 0.2


def test_unlabelled_target_runs_use_the_uda_split_and_mmd_ignores_it_unless_asked():
    cfg = apply_overrides(CONFIGS["quick"], list(TINY) + ["uda_fraction=0.2", "train.unlabeled_target=true",
                                                          "train.steps=2", "train.eval_every=2"])
    task = task_of("rotated_digits", cfg, 0)
    assert len(task.unlabeled) > 0 and len(task.target.y_all) < len(build_task("rotated_digits").target.y_all)
    record = run_cell({"task": "rotated_digits", "algorithm": "general", "lam": 1.0, "seed": 0}, cfg, "cpu", 1)
    assert len(record["history"]) == 2
    assert not make_algorithm("mmd", None, task, cfg.train).use_unlabeled
    assert make_algorithm("mmd", None, task, apply_overrides(cfg, ["train.mmd_unlabeled=true"]).train).use_unlabeled


def test_domainbed_oracle_chooses_per_seed_by_the_targets_out_split():
    """DomainBed's OracleSelectionMethod: per seed, the lambda whose last checkpoint scores best on the target's
    "out" split, and its "in" accuracy. Seed 0: out 0.7 vs 0.5, lambda 0.1 (in 0.6); seed 1: 0.2 vs 0.9, lambda 1
    (in 0.2). The default oracle takes lambda 0.1 for both seeds (mean target 0.65 against 0.55)."""
    by_lam = {"0.1": {"per_seed_source": [0.9, 0.5], "per_seed_target": [0.6, 0.7], "target": {"mean": 0.65, "se": 0},
                      "per_seed_source_best_step": [0.9, 0.5], "per_seed_target_best_step": [0.61, 0.71],
                      "per_seed_target_out": [0.7, 0.2]},
              "1": {"per_seed_source": [0.8, 0.6], "per_seed_target": [0.9, 0.2], "target": {"mean": 0.55, "se": 0},
                    "per_seed_source_best_step": [0.95, 0.55], "per_seed_target_best_step": [0.8, 0.3],
                    "per_seed_target_out": [0.5, 0.9]}}
    domainbed = select(by_lam, ["0.1", "1"], target_split="domainbed")["oracle"]
    assert domainbed["chosen_per_seed"] == ["0.1", "1"] and domainbed["per_seed"] == [0.6, 0.2]
    assert domainbed["mean"] == pytest.approx(0.4)
    assert select(by_lam, ["0.1", "1"])["oracle"]["per_seed"] == [0.6, 0.7]


def test_target_split_and_rotation_are_reachable_from_the_config(monkeypatch):
    from reprolab.methods.domain_invariance import experiment

    cfg = CONFIGS["quick"]
    assert cfg.target_split == "all" and cfg.rotation == "grid_sample" and not cfg.train.featurizer_per_domain
    seen = []
    monkeypatch.setattr(experiment, "build_task", lambda *args, **kwargs: seen.append(kwargs))
    task_of("rotated_mnist_75", apply_overrides(cfg, ["tasks=rotated_mnist_75", "target_split=domainbed",
                                                      "rotation=pil"]), 0)
    assert seen[0]["target_split"] == "domainbed" and seen[0]["rotation"] == "pil"


def test_split_seed_per_trial_gives_each_run_seed_its_own_split_and_fixed_keeps_the_cached_one():
    fixed = apply_overrides(CONFIGS["quick"], list(TINY))
    per_trial = apply_overrides(fixed, ["split_seed=per_trial"])
    assert fixed.split_seed == "fixed"
    assert task_of("rotated_digits", fixed, 0) is task_of("rotated_digits", fixed, 1)          # one cached task
    first, second = task_of("rotated_digits", per_trial, 0), task_of("rotated_digits", per_trial, 1)
    assert not np.array_equal(first.sources[0].y_val, second.sources[0].y_val)
    assert np.array_equal(task_of("rotated_digits", per_trial, 1).sources[0].x_val, second.sources[0].x_val)
    record = run_cell({"task": "rotated_digits", "algorithm": "erm", "lam": None, "seed": 1}, per_trial, "cpu", 1)
    assert len(record["history"]) == 3
    with pytest.raises(ConfigError, match="split_seed"):
        apply_overrides(fixed, ["split_seed=per_hparams"])


def test_split_seed_per_trial_splits_each_trial_once_for_every_cell_of_its_seed(monkeypatch):
    """Over the quick grid's cells (task by task, seeds innermost) each (task, seed) is split once: the cells of one
    seed share its split, the same object with the bits of a split made afresh; another seed or config gets its own."""
    from reprolab.methods.domain_invariance import domains

    cfg = apply_overrides(CONFIGS["quick"], ["split_seed=per_trial"])
    split, trials = domains.split_per_trial, []

    def counted(unsplit, target_at, trial_seed, *rest):
        trials.append((unsplit.name, trial_seed))
        return split(unsplit, target_at, trial_seed, *rest)

    monkeypatch.setattr(domains, "split_per_trial", counted)
    domains._trial_task.cache_clear()
    tasks = {}
    try:
        for cell in grid_cells(cfg, 0):
            task = task_of(cell["task"], cfg, cell["seed"])
            assert tasks.setdefault((cell["task"], cell["seed"]), task) is task
        assert trials == [("rotated_digits", s) for s in range(3)] + [("rotated_digits_shift", s) for s in range(5)]
        cached = task_of("rotated_digits_shift", cfg, 0)
        assert cached is tasks["rotated_digits_shift", 0] and task_of("rotated_digits_shift", cfg, 1) is not cached
        assert task_of("rotated_digits_shift", apply_overrides(cfg, ["holdout_rounding=floor"]), 0) is not cached
    finally:
        domains._trial_task.cache_clear()                 # splits made through the counting stand-in
    unsplit = build_task("rotated_digits_shift", cfg.data_seed, cfg.label_shift, cfg.shift_target)
    afresh = split(unsplit, 5, 0)
    for new, old in zip((*cached.sources, cached.target), (*afresh.sources, afresh.target)):
        for a, b in ((getattr(new, part), getattr(old, part)) for part in ("x_train", "y_train", "x_val", "y_val")):
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_featurizer_per_domain_reaches_mmd_and_coral():
    cfg = apply_overrides(CONFIGS["quick"], ["train.featurizer_per_domain=true"])
    task = build_task("rotated_digits")
    for name in ("mmd", "coral"):
        assert make_algorithm(name, None, task, cfg.train).featurizer_per_domain
        assert not make_algorithm(name, None, task, CONFIGS["quick"].train).featurizer_per_domain


def test_a_domainbed_target_split_is_scored_on_its_in_split_and_reports_its_out_split():
    """A predictor of class 0 everywhere, a target whose "in" split is all class 0 and whose "out" split is all
    class 1: target accuracy 1, target_out 0, and the trivial level counts the "in" split only."""
    from reprolab.methods.domain_invariance.domains import Domain, DomainTask
    from reprolab.methods.domain_invariance.training import evaluate, trivial_levels

    rng = np.random.default_rng(0)
    x = rng.random((10, 1, 16, 16)).astype(np.float32)
    sources = tuple(Domain(f"s{i}", x[:6], np.arange(6) % 2, x[6:], np.arange(4) % 2) for i in range(2))
    target = Domain("t", x[:8], np.zeros(8, np.int64), x[8:], np.ones(2, np.int64))
    task = DomainTask("toy", sources, target, 2)
    alg = make_algorithm("erm", None, task, CONFIGS["quick"].train)
    with torch.no_grad():
        alg.classifier.weight.zero_()
        alg.classifier.bias.copy_(torch.tensor([1.0, 0.0]))
    record = evaluate(alg, task)
    assert record["target"] == 1.0 and record["target_out"] == 0.0
    assert trivial_levels(task)["target"] == 1.0
    plain = DomainTask("toy", sources, Domain("t", x, np.r_[np.zeros(8), np.ones(2)].astype(np.int64), x[:0],
                                              np.zeros(0, np.int64)), 2)
    record = evaluate(alg, plain)
    assert record["target"] == 0.8 and "target_out" not in record


def test_target_split_domainbed_records_the_out_split_and_the_summary_selects_on_it():
    cfg = apply_overrides(CONFIGS["quick"], list(TINY) + ["tasks=rotated_digits", "algorithms=general",
                                                          "lambdas=0.1,1", "claim_lambdas=0.1,1",
                                                          "shift_lambdas=0.1,1", "target_split=domainbed"])
    cell = {"task": "rotated_digits", "algorithm": "erm", "lam": None, "seed": 0}
    final = run_cell(cell, cfg, "cpu", first_seed=1)["final"]
    task = task_of("rotated_digits", cfg, 0)
    assert len(task.target.y_val) == 60 and 0.0 <= final["target_out"] <= 1.0
    runs = []
    for lam, out in (("0.1", [0.7, 0.2]), ("1", [0.5, 0.9])):
        for seed in (0, 1):
            record = {"step": 20, "source_val_mean": 0.9, "target": 0.6 if lam == "0.1" else 0.3,
                      "target_out": out[seed], "feature_norm": 1.0, "general_mmd": 0.0, "compressed_mmd": 0.0}
            runs.append(({"task": "rotated_digits", "algorithm": "general", "lam": float(lam), "seed": seed},
                         {"history": [dict(record, step=0), record], "final": record, "probe": 0.5,
                          "probe_majority": 0.5, "collapsed": False, "dead_features": False, "generator_steps": 20}))
    general = summarize(GridResults(runs), cfg, {})["tasks"]["rotated_digits"]["general"]
    assert general["by_lambda"]["1"]["per_seed_target_out"] == [0.5, 0.9]
    assert general["selection"]["oracle"]["chosen_per_seed"] == ["0.1", "1"]
    assert general["selection"]["oracle"]["per_seed"] == [0.6, 0.3]


def test_a_uda_fraction_whose_cut_holds_no_image_is_refused_before_any_worker():
    from reprolab.methods.domain_invariance.experiment import checked_task

    cfg = apply_overrides(CONFIGS["quick"], ["uda_fraction=0.003", "holdout_rounding=floor",
                                             "train.unlabeled_target=true"])
    with pytest.raises(ConfigError, match="leaves task 'rotated_digits' no unlabelled target image"):
        checked_task("rotated_digits", cfg, 0)     # int(0.003 * 299) = 0
    assert len(checked_task("rotated_digits", apply_overrides(cfg, ["holdout_rounding=round"]), 0).unlabeled) == 1
