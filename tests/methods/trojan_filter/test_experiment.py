import copy
import dataclasses

import pytest
import torch

from reprolab.launch import run_method

from reprolab.methods.trojan_filter.claims import claims, sweep_claims
from reprolab.methods.trojan_filter.classifier import random_crop_flip
from reprolab.methods.trojan_filter.data import defender_subsets, load_splits
from reprolab.methods.trojan_filter.experiment import CONFIGS, PAPER
from reprolab.methods.trojan_filter.threats import make_attack
from tests.conftest import read_record, tiny_quick_run

TINY = ("train_size=1000", "defender_size=400", "test_size=200", "badnet_epochs=1", "wanet_epochs=1",
        "input_aware_epochs=1", "input_aware.mask_steps=5", "filter.steps=16", "aif_steps=8", "strip_blends=4",
        "neural_cleanse.steps=4", "neural_cleanse.unlearn_steps=4", "fine_pruning.finetune_steps=4",
        "februus.steps=4", "workers=2", "attacks=badnet_plus,wanet", "defender_sweep=50",
        "sweep_attacks=badnet_plus", "norm_sweep=0.3")


def test_unknown_attack_is_rejected_and_blended_attacks_are_built():
    with pytest.raises(ValueError, match="unknown attack 'lira'; known: badnet_plus, wanet, noise_bi_plus"):
        make_attack("lira", CONFIGS["quick"], 0)
    noise = make_attack("noise_bi_plus", CONFIGS["quick"], 0)
    image = make_attack("image_bi_plus", CONFIGS["quick"], 0)
    quick = CONFIGS["quick"]
    assert noise.alpha == quick.blend_alpha and image.alpha == quick.image_blend_alpha and image.targets == (0, 1, 2)
    assert image.patterns.shape == (3, 1, 28, 28) and 0 <= image.patterns.min() and image.patterns.max() <= 1
    assert image.patterns.std() > 0.05                   # natural images, not blank


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return tiny_quick_run(tmp_path_factory, "trojan_filter", TINY)


def test_smoke_run_writes_a_complete_record(tiny_run):
    out, result = tiny_run
    record = read_record(out)
    assert [c["name"] for c in record["claims"]][:6] == ["attacks_are_effective", "filtered_clean_accuracy_ge_90",
                                                     "vif_cuts_badnet", "aif_beats_if",
                                                     "filtering_beats_mitigation_baselines",
                                                     "wanet_strip_misses_filter_catches"]
    assert [c["name"] for c in record["claims"]][-2:] == ["robust_to_small_defender_set",
                                                          "robust_to_large_norm_triggers"]
    assert record["metrics"]["attacks"]["badnet_plus"]["defender_sweep"]["50"]["VIF"]["defender_size"] == 50
    assert "defender_sweep" not in record["metrics"]["attacks"]["wanet"]
    assert record["metrics"]["norm_sweep"]["0.3"]["alpha"] == 0.3
    assert "plot_sweeps.png" in record["artifacts"]
    for attack in ("badnet_plus", "wanet"):
        block = record["metrics"]["attacks"][attack]
        assert {"no_defense", "IF", "VIF", "AIF", "STRIP", "NeuralCleanse", "FinePruning", "Februus"} <= set(block)
        assert 0 <= block["FinePruning"]["pruned_channels"] < block["FinePruning"]["channels"] == 64
        assert len(block["NeuralCleanse"]["anomaly_index"]) == 10
        assert 0 <= block["STRIP"]["fpr"] <= 1 and isinstance(block["IF"]["collapsed"], bool)
    for artifact in record["artifacts"]:
        assert (out / artifact).stat().st_size > 1000


def test_a_collapsed_filter_fails_the_clean_accuracy_claim(tiny_run):
    _, result = tiny_run
    metrics = copy.deepcopy(result.metrics)
    for block in metrics["attacks"].values():
        for d in ("IF", "VIF", "AIF"):
            block[d].update(collapsed=False, filtered_clean_accuracy=0.95, held_out_filtered_accuracy=0.95)
    assert {c.name: c.holds for c in claims(metrics, CONFIGS["quick"])}["filtered_clean_accuracy_ge_90"]
    metrics["attacks"]["wanet"]["VIF"].update(collapsed=True, filtered_clean_accuracy=0.085)
    assert not {c.name: c.holds for c in claims(metrics, CONFIGS["quick"])}["filtered_clean_accuracy_ge_90"]


@pytest.mark.slow
def test_input_aware_attack_runs_end_to_end_with_every_defense(tmp_path):
    overrides = tuple(o for o in TINY if not o.startswith(("attacks=", "defender_sweep=", "sweep_attacks=",
                                                           "norm_sweep="))) + ("attacks=input_aware",)
    result = run_method("trojan_filter", "quick", out=tmp_path, device="cpu", progress=False, overrides=overrides)
    block = result.metrics["attacks"]["input_aware"]
    assert 0 <= block["no_defense"]["cross_trigger_accuracy"] <= 1
    assert {"no_defense", "IF", "VIF", "AIF", "STRIP", "NeuralCleanse", "FinePruning", "Februus"} <= set(block)


@pytest.mark.slow
def test_quick_reproduction_runs_end_to_end(tmp_path):
    result = run_method("trojan_filter", "quick", out=tmp_path, device="cpu", progress=False)
    verdicts = {c.name: c.holds for c in result.claims}
    assert verdicts["attacks_are_effective"]


def test_cifar10_splits_are_shuffled_disjoint_and_attacks_fit_32x32():
    cfg = dataclasses.replace(PAPER, train_size=2000, defender_size=500, test_size=300)
    data = load_splits(cfg)
    x, y = data["train"]
    assert x.shape == (2000, 3, 32, 32) and 0 <= x.min() and x.max() <= 1
    assert torch.bincount(y, minlength=10).min() > 120           # the class-grouped JPEG copy was shuffled
    assert len(data["spare"][0]) == 50_000 - 2500 and data["test"][0].shape == (300, 3, 32, 32)
    assert not any(torch.equal(data["spare"][0][0], img) for img in data["defender"][0])
    badnet = make_attack("badnet_plus", cfg, 0)
    assert badnet.masks.shape == (3, 1, 32, 32) and badnet.masks[1, 0, 1:5, 27:31].all()
    image = make_attack("image_bi_plus", cfg, 0, data["spare"][0])
    assert image.patterns.shape == (3, 3, 32, 32) and image.alpha == 0.25
    assert make_attack("image_bi_plus", cfg, 0, data["spare"][0], alpha=0.4).alpha == 0.4
    assert make_attack("input_aware", cfg, 0).apply(x[:2]).shape == (2, 3, 32, 32)


def test_random_crop_flip_takes_windows_of_the_padded_image():
    x = torch.rand(16, 3, 8, 8)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=2)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        windows = [padded[i, :, r:r + 8, c:c + 8] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)
    same = random_crop_flip(x, torch.Generator().manual_seed(0), padding=0)
    assert all(torch.equal(same[i], x[i]) or torch.equal(same[i], x[i].flip(-1)) for i in range(16))


def test_defender_subsets_are_nested_and_checked():
    data = {"defender": (torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10))}
    subsets = list(defender_subsets(data, (5, 2), seed=0))
    assert [n for n, _, _ in subsets] == [2, 5]
    assert set(subsets[0][2].tolist()) <= set(subsets[1][2].tolist())
    with pytest.raises(ValueError, match="defender_sweep"):
        list(defender_subsets(data, (11,), seed=0))


def test_sweep_claims_use_the_best_uncollapsed_filter():
    cfg = dataclasses.replace(CONFIGS["quick"], defender_sweep=(100, 500), norm_sweep=(0.3, 0.4))
    ok = {"asr_filtered": {"mean": 0.04}}
    metrics = {"attacks": {"badnet_plus": {"defender_sweep": {"100": {"IF": {"asr_filtered": {"mean": 0.5}},
                                                                      "VIF": ok, "AIF": {"collapsed": True}},
                                                              "500": {"IF": ok, "VIF": ok, "AIF": ok}}}},
               "norm_sweep": {"0.3": {"IF": ok, "VIF": ok, "AIF": ok, "no_defense": {"asr": {"mean": 0.99}}},
                              "0.4": {"IF": {"asr_filtered": {"mean": 0.3}}, "VIF": {"collapsed": True},
                                      "AIF": {"asr_filtered": {"mean": 0.2}}, "no_defense": {"asr": {"mean": 1.0}}}}}
    verdicts = {c.name: c for c in sweep_claims(metrics, cfg)}
    small = verdicts["robust_to_small_defender_set"]
    assert small.holds and small.observed["badnet_plus"]["best_filter"] == "VIF"
    large = verdicts["robust_to_large_norm_triggers"]
    assert not large.holds and large.observed["best_filter"] == "AIF" and large.observed["asr"] == 0.2
