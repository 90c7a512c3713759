import copy
import json

import pytest

from reprolab.launch import run_method
from tests.conftest import read_record, tiny_quick_run
from reprolab.methods.neural_collapse.claims import real_claims, synthetic_claims

TINY = ("ufm_steps=300", "ufm_dim=8", "balanced_depths=1", "imbalanced_depths=1", "bias_depths=2",
        "ce_small_depth=1", "ce_deep_depth=2", "ce_deep_dim=8", "minority_counts=60,60,2,2", "balanced.depths=1",
        "imbalanced.depths=1", "balanced.counts=12,12,12,12,12,12,12,12,12,12", "balanced.width=16",
        "imbalanced.counts=20,20,10,10,8,8,6,6,4,4", "imbalanced.width=16", "balanced.epochs=30",
        "imbalanced.epochs=30", "balanced.eval_every_epochs=10", "imbalanced.eval_every_epochs=10", "real_seeds=2",
        "workers=1")

NAMES = ["gd_matches_closed_form", "layer_singular_values_match", "balanced_frame", "imbalanced_gof_not_of",
         "minority_collapse_matches_theory", "ce_etf_small_lambda", "ce_etf_not_global_deep", "real_nc1_falls",
         "real_nc1_falls", "real_imbalanced_gof_below_of"]                    # real: balanced and imbalanced, M = 1


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return tiny_quick_run(tmp_path_factory, "neural_collapse", TINY)


def test_smoke_run_writes_a_complete_record(tiny_run):
    out, result = tiny_run
    record = read_record(out)
    assert [c["name"] for c in record["claims"]] == NAMES
    assert record["config"]["ufm_steps"] == 300 and record["scale"] == "quick" and record["seeds"] == [0, 1, 2]
    assert record["started_at"] < record["finished_at"]  # stamped when the run began, not when it was recorded
    assert {"total_s", "run__part=ufm__case=balanced_M1", "run__part=real__recipe=imbalanced__depth=1__seed=1"} <= set(
        record["timings"])
    for artifact in record["artifacts"]:
        assert (out / artifact).stat().st_size > 1000
    synthetic = record["metrics"]["synthetic"]
    assert set(synthetic) == {"balanced_M1", "imbalanced_M1", "bias_M2", "ce_M1_lam0.0005", "ce_M2_lam0.005",
                              "minority_M1"}
    assert len(record["metrics"]["real"]["mnist_balanced_M1_seed0"]["history"]) >= 4
    assert record["metrics"]["real"]["mnist_balanced_M1_seed1"]["seed"] == 1
    assert all(c["observed"]["n_seeds"] == 2 for c in record["claims"] if c["name"].startswith("real_"))


def test_resume_reuses_finished_stages(tiny_run, tmp_path):
    out, first = tiny_run
    again = run_method("neural_collapse", "quick", out=out, device="cpu", resume=True, overrides=TINY,
                       progress=False)
    assert again.metrics["synthetic"] == json.loads(json.dumps(first.metrics["synthetic"]))
    with pytest.raises(ValueError, match="cannot resume .* different \\['ufm_steps'\\]"):
        run_method("neural_collapse", "quick", out=out, device="cpu", resume=True,
                   overrides=TINY + ("ufm_steps=301",), progress=False)


def test_claims_fail_when_the_numbers_say_so(tiny_run):
    _, result = tiny_run
    synthetic = json.loads(json.dumps(result.metrics["synthetic"]))
    broken = copy.deepcopy(synthetic)
    broken["balanced_M1"]["loss_gd"] = broken["balanced_M1"]["loss_theory"] * 1.01
    broken["imbalanced_M1"]["per_depth"][0]["gof_nc2_w"] = 0.5
    verdicts = {c.name: c.verdict for c in synthetic_claims(broken)}
    assert verdicts["gd_matches_closed_form"] == verdicts["imbalanced_gof_not_of"] == "fails"
    real = json.loads(json.dumps(result.metrics["real"]))
    for run in real.values():
        run["final"].update(nc1=run["history"][1]["nc1"] + 1, train_acc=1.0)   # NC1 rises by 1 on both seeds
        run["final"]["gof_nc2_w"] = run["final"]["of_nc2_w"] + 1
    assert {c.verdict for c in real_claims(real)} == {"fails"}


@pytest.mark.slow
def test_quick_reproduction_holds_its_theory_claims(tmp_path):
    """The full `--scale quick` run (about 3 minutes on 2 cores)."""
    result = run_method("neural_collapse", "quick", out=tmp_path, device="cpu", progress=False)
    verdicts = {c.name: c.verdict for c in result.claims}
    assert set(verdicts) == set(NAMES)
    for name in ("gd_matches_closed_form", "layer_singular_values_match", "balanced_frame", "imbalanced_gof_not_of",
                 "minority_collapse_matches_theory", "ce_etf_small_lambda"):
        assert verdicts[name] == "holds", name
    assert all(c.observed["n_seeds"] == 3 for c in result.claims if c.name.startswith("real_"))


def test_a_head_bias_is_reachable_and_the_official_balanced_recipe_has_one(tmp_path):
    """The official balanced MLP keeps a last-layer bias (fc_bias); with it the targets are the simplex ETF, b = 1/K
    and (K - 1)/K of the bias-free loss."""
    from reprolab.methods.neural_collapse import theory
    from reprolab.methods.neural_collapse.experiment import CONFIGS, run_real_case
    from reprolab.runtime.config import apply_overrides

    assert CONFIGS["paper"].balanced.head_bias and not CONFIGS["quick"].balanced.head_bias
    cfg = apply_overrides(CONFIGS["quick"], list(TINY) + ["balanced.head_bias=true"])
    recipe = cfg.balanced
    record = run_real_case(cfg, "bias", recipe, 1, "cpu", tmp_path / "ck", False, 0, False)
    problem = theory.UFMProblem(recipe.counts, 1, recipe.lambda_W, recipe.lambda_H, bias=True)
    bias_free = theory.UFMProblem(recipe.counts, 1, recipe.lambda_W, recipe.lambda_H)
    assert record["loss_ufm_prediction"] == pytest.approx(0.9 * theory.optimal_loss(bias_free))
    assert record["s_theory"][-1] == 0.0 and theory.optimal_loss(problem) < theory.optimal_loss(bias_free)



def test_cifar10_is_normalised_by_the_official_constants_and_mnist_by_its_own():
    import numpy as np

    from reprolab.methods.neural_collapse.experiment import normalised

    x = np.random.default_rng(0).random((4, 3, 2, 2), dtype=np.float32)
    assert np.allclose(normalised(x, "cifar10")[:, 1], (x[:, 1] - 0.4822) / 0.1994)     # the official `datasets.py`
    grey = normalised(x[:, :1], "mnist")
    assert abs(grey.mean()) < 1e-6 and abs(grey.std() - 1) < 1e-5


def test_ufm_init_and_nc1_pinv_reach_the_synthetic_and_real_cases(tmp_path, monkeypatch):
    import torch

    from reprolab.methods.neural_collapse import experiment
    from reprolab.methods.neural_collapse.metrics import class_means, nc1
    from reprolab.runtime.config import ConfigError, apply_overrides

    cfg = apply_overrides(experiment.CONFIGS["quick"], list(TINY) + ["ufm_steps=20", "ufm_init=official",
                                                                     "nc1_pinv=official"])
    runs, train_ufm = [], experiment.train_ufm

    def spy(*args, **kwargs):
        runs.append((kwargs["init"], train_ufm(*args, **kwargs)))
        return runs[-1][1]

    monkeypatch.setattr(experiment, "train_ufm", spy)
    record = experiment.run_synthetic_case(experiment.synthetic_cases(cfg)[0], cfg, "cpu", tmp_path / "ufm", False)
    init, run = runs[0]
    H, labels = run.model.H.detach().double().numpy(), run.labels.numpy()
    assert init == "official"
    assert record["metrics"]["nc1"] == nc1(H, labels, class_means(H, labels, 4), "official")

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        runs.append(kwargs["nc1_pinv"])
        raise Stop

    monkeypatch.setattr(experiment, "track_collapse", stop)
    monkeypatch.setattr(experiment, "load_real_data",         # 12 images of each of the 10 classes the recipe takes
                        lambda dataset, preprocessing: (torch.zeros(120, 1, 2, 2), torch.arange(120) % 10, (1, 2, 2)))
    with pytest.raises(Stop):
        experiment.run_cell({"part": "real", "recipe": "balanced", "depth": 1, "seed": 0}, cfg, "cpu", tmp_path,
                            False, False)
    assert runs[-1] == "official"
    for override in ("ufm_init=xavier", "nc1_pinv=float32"):
        with pytest.raises(ConfigError, match="one of"):
            apply_overrides(experiment.CONFIGS["quick"], [override])


def test_official_mnist_is_three_grey_channels_at_32_by_32_normalised_by_fixed_constants(monkeypatch):
    import types

    import numpy as np
    import torch

    from reprolab.methods.neural_collapse import experiment

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    images[0] = 77                                                  # a constant image resizes to itself
    x = experiment.official_mnist(images)
    assert x.shape == (3, 1, 32, 32) and x.dtype == np.float32
    assert (x[0] == (np.float32(77) / np.float32(255) - np.float32(0.1307)) / np.float32(0.3081)).all()
    # PIL's bilinear upsampling is torch's bilinear interpolation (half-pixel centres), rounded to uint8
    reference = torch.nn.functional.interpolate(torch.from_numpy(images[:, None].astype(np.float64)), size=(32, 32),
                                                mode="bilinear", align_corners=False)[:, 0].numpy()
    grey = x[:, 0] * np.float32(0.3081) * 255 + 0.1307 * 255
    assert np.abs(grey - reference).max() <= 1.0 and np.abs(grey - reference).max() > 0.01
    data = types.SimpleNamespace(x=images, y=np.arange(3))
    monkeypatch.setattr(experiment, "load_mnist", lambda split: data)
    load = experiment.load_real_data.__wrapped__                    # not the per-process cache
    official, _, shape = load("mnist", "official")
    assert shape == (3, 32, 32) and official.shape == (3, 3, 32, 32)
    assert (official == official[:, :1]).all()                      # Grayscale(3): three equal channels
    assert torch.equal(official[:, :1], torch.from_numpy(x))
    assert torch.equal(official[torch.tensor([2, 0])], torch.from_numpy(np.repeat(x[[2, 0]], 3, axis=1)))
    assert load("mnist")[2] == load("mnist", "reprolab")[2] == (1, 28, 28)


def test_raw_gof_lambdas_give_the_official_targets_of_the_recipes_decays():
    import numpy as np

    from reprolab.methods.neural_collapse import experiment, theory

    # M = 1: s_k^2 = sqrt(n_k lambda_H / lambda_W) - N lambda_H; the official imbalanced recipe trains nn.MSELoss / 2
    # with lambda = 1e-5, which maps onto the closed form as K lambda = 1e-4; the official targets use 1e-5
    recipe = experiment.PAPER_IMBALANCED
    counts, N = np.array(recipe.counts), sum(recipe.counts)
    _, lam_W, lam_H = theory.theory_lambdas(recipe.loss_convention, 10, recipe.lambda_W, recipe.lambda_H)
    mapped = theory.UFMProblem(recipe.counts, 1, lam_W, lam_H)
    for lambdas, lam in (("mapped", 1e-4), ("raw", 1e-5)):
        target = experiment.real_gof_target(recipe, 1, mapped, lambdas, "c")
        assert np.allclose(target.s ** 2, np.sqrt(counts) - N * lam, rtol=1e-9)
        assert target.c == pytest.approx(N * lam) and target.collapsed_row == "c"
    assert experiment.real_gof_target(experiment.PAPER_BALANCED, 1, mapped, "raw") is None     # a head bias: no GOF


def test_the_official_gof_mnist_and_fast_path_flags_reach_the_real_cases(tmp_path, monkeypatch):
    import torch

    from reprolab.methods.neural_collapse import experiment, theory
    from reprolab.runtime.config import ConfigError, apply_overrides
    from reprolab.runtime.fast import FastPath

    cfg = apply_overrides(experiment.CONFIGS["quick"], list(TINY) + [
        "gof_lambdas=raw", "gof_collapsed_row=c", "mnist_preprocessing=official", "imbalanced.loss_convention=official",
        "imbalanced.lambda_W=1e-2", "imbalanced.lambda_H=1e-2", "bf16=true"])
    seen = {}

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        seen["gof"], seen["fast"] = kwargs["gof"], kwargs["fast"]
        raise Stop

    def load(dataset, preprocessing):                      # 20 images of each of the 10 classes
        seen["dataset"], seen["preprocessing"] = dataset, preprocessing
        return torch.zeros(200, 1, 2, 2), torch.arange(200) % 10, (1, 2, 2)

    monkeypatch.setattr(experiment, "track_collapse", stop)
    monkeypatch.setattr(experiment, "load_real_data", load)
    with pytest.raises(Stop):
        experiment.run_cell({"part": "real", "recipe": "imbalanced", "depth": 1, "seed": 0}, cfg, "cpu", tmp_path,
                            False, False)
    raw = theory.UFMProblem(cfg.imbalanced.counts, 1, 1e-2, 1e-2)
    assert (seen["dataset"], seen["preprocessing"]) == ("mnist", "official") and seen["gof"].collapsed_row == "c"
    assert seen["fast"] == FastPath(bf16=True)
    assert seen["gof"].c == raw.c and seen["gof"].s.tolist() == theory.optimal_singular_values(raw).tolist()
    for override in ("gof_lambdas=scaled", "gof_collapsed_row=one", "mnist_preprocessing=torchvision"):
        with pytest.raises(ConfigError, match="one of"):
            apply_overrides(experiment.CONFIGS["quick"], [override])
    with pytest.raises(ConfigError, match="'official' prepares MNIST only"):
        apply_overrides(experiment.CONFIGS["quick"], ["real_dataset=cifar10", "mnist_preprocessing=official"])
