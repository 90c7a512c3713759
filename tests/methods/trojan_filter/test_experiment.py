import copy
import dataclasses

import pytest
import torch

from reprolab.launch import run_method

from reprolab.methods.trojan_filter.claims import claims
from reprolab.methods.trojan_filter.data import defender_subsets, load_splits
from reprolab.methods.trojan_filter.experiment import CONFIGS, PAPER
from reprolab.methods.trojan_filter.threats import make_attack
from tests.conftest import read_record, tiny_quick_run

TINY = ("train_size=1000", "defender_size=400", "test_size=200", "badnet_epochs=1", "wanet_epochs=1",
        "input_aware_epochs=1", "input_aware.mask_steps=5", "filter.steps=16", "aif_steps=8", "strip_blends=4",
        "neural_cleanse.steps=4", "neural_cleanse.unlearn_steps=4", "fine_pruning.finetune_steps=4",
        "februus.steps=4", "workers=2", "attacks=badnet_plus,wanet", "defender_sweep=50",
        "sweep_attacks=badnet_plus", "norm_sweep=0.3", "seeds=2", "cache=false", "filter.batch_size=16",
        "filter_width=8", "filter_latent=4", "neural_cleanse.batch_size=16", "februus.batch_size=16",
        "fine_pruning.batch_size=16")


def test_unknown_attack_is_rejected_and_blended_attacks_are_built():
    with pytest.raises(ValueError, match="unknown attack 'lira'; known: badnet_plus, wanet, noise_bi_plus"):
        make_attack("lira", CONFIGS["quick"], 0)
    noise = make_attack("noise_bi_plus", CONFIGS["quick"], 0)
    image = make_attack("image_bi_plus", CONFIGS["quick"], 0)
    quick = CONFIGS["quick"]
    assert noise.alpha == quick.blend_alpha and image.alpha == quick.image_blend_alpha and image.targets == (0, 1, 2)
    assert image.patterns.shape == (3, 1, 28, 28) and not torch.equal(image.patterns[0], image.patterns[1])
    assert image.patterns.std() > 0.05                   # natural images, not blank
    black = torch.zeros(2, 1, 28, 28)                    # x~ = (1 - alpha) x + alpha P_k
    assert torch.allclose(image.apply(black, 2), image.alpha * image.patterns[2].expand(2, -1, -1, -1))
    assert torch.allclose(noise.apply(torch.ones(1, 1, 28, 28), 0), 1 - noise.alpha + noise.alpha * noise.patterns[0])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return tiny_quick_run(tmp_path_factory, "trojan_filter", TINY)


def test_smoke_run_writes_a_complete_record(tiny_run):
    out, result = tiny_run
    record = read_record(out)
    assert [c["name"] for c in record["claims"]] == [
        "attacks_are_effective", "filtered_clean_accuracy_above_floor", "vif_cuts_badnet",
        "vif_brings_badnet_asr_low", "aif_beats_if_badnet_plus", "aif_beats_if_wanet",
        "filtering_beats_mitigation_baselines_badnet_plus", "filtering_beats_mitigation_baselines_wanet",
        "wanet_strip_misses_filter_catches", "robust_to_small_defender_set_badnet_plus",
        "robust_to_large_norm_triggers"]
    assert [c["kind"] for c in record["claims"]] == ["check"] * 2 + ["reproduction"] * 9
    assert record["seeds"] == record["metrics"]["seeds"] == [0, 1]
    runs = record["metrics"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1]
    assert runs[0]["attacks"]["wanet"]["no_defense"] != runs[1]["attacks"]["wanet"]["no_defense"]
    assert runs[0]["attacks"]["badnet_plus"]["defender_sweep"]["50"]["VIF"]["defender_size"] == 50
    assert "defender_sweep" not in runs[0]["attacks"]["wanet"]
    assert runs[1]["norm_sweep"]["0.3"]["alpha"] == 0.3
    assert runs[0]["benign"]["majority_class_rate"] == runs[1]["benign"]["majority_class_rate"] > 0.1
    assert "plot_sweeps.png" in record["artifacts"]
    for run in runs:
        for attack in ("badnet_plus", "wanet"):
            block = run["attacks"][attack]
            assert {"no_defense", "IF", "VIF", "AIF", "STRIP", "NeuralCleanse", "FinePruning", "Februus"} <= set(block)
            assert block["FinePruning"]["pruned_channels"] < block["FinePruning"]["channels"] == 64
            assert len(block["NeuralCleanse"]["anomaly_index"]) == 10
            assert "untriggered_target_rate" in block["no_defense"]
            assert isinstance(block["IF"]["collapsed"], bool)
    strip = [r["attacks"]["wanet"]["STRIP"]["fnr"] for r in runs]
    wanet_claim = {c["name"]: c for c in record["claims"]}["wanet_strip_misses_filter_catches"]
    assert wanet_claim["observed"]["STRIP FNR"] == strip
    for artifact in record["artifacts"]:
        assert (out / artifact).stat().st_size > 1000


def test_a_collapsed_filter_fails_the_clean_accuracy_check(tiny_run):
    _, result = tiny_run
    metrics = copy.deepcopy(result.metrics)
    for run in metrics["runs"]:
        for block in run["attacks"].values():
            for d in ("IF", "VIF", "AIF"):
                block[d].update(collapsed=False, filtered_clean_accuracy=0.95, held_out_filtered_accuracy=0.95)
    assert {c.name: c.holds for c in claims(metrics, CONFIGS["quick"])}["filtered_clean_accuracy_above_floor"]
    metrics["runs"][1]["attacks"]["wanet"]["VIF"].update(collapsed=True, filtered_clean_accuracy=0.085)
    assert not {c.name: c.holds for c in claims(metrics, CONFIGS["quick"])}["filtered_clean_accuracy_above_floor"]


@pytest.mark.slow
def test_input_aware_attack_runs_end_to_end_with_every_defense(tmp_path):
    overrides = tuple(o for o in TINY if not o.startswith(("attacks=", "defender_sweep=", "sweep_attacks=",
                                                           "norm_sweep="))) + ("attacks=input_aware",)
    result = run_method("trojan_filter", "quick", out=tmp_path, device="cpu", progress=False, overrides=overrides)
    block = result.metrics["runs"][0]["attacks"]["input_aware"]
    # a trigger made for another image does not send an image to the target: above the majority-class rate
    assert block["no_defense"]["cross_trigger_accuracy"] > result.metrics["runs"][0]["benign"]["majority_class_rate"]
    assert {"no_defense", "IF", "VIF", "AIF", "STRIP", "NeuralCleanse", "FinePruning", "Februus"} <= set(block)


@pytest.mark.slow
def test_quick_reproduction_runs_end_to_end(tmp_path):
    """What the quick run shows on 3 seeds: both attacks work on every seed, VIF brings BadNet+ below 5 % ASR, and
    STRIP misses WaNet's inputs that Filtering-then-Contrasting catches."""
    result = run_method("trojan_filter", "quick", out=tmp_path, device="cpu", progress=False)
    claims = {c.name: c for c in result.claims}
    assert result.seeds == [0, 1, 2] and claims["attacks_are_effective"].holds
    effective = claims["attacks_are_effective"].observed
    assert min(effective["badnet_plus"]["asr"]) > 0.95 and min(effective["wanet"]["asr"]) > 0.9
    assert claims["vif_brings_badnet_asr_low"].verdict == "holds"
    assert claims["wanet_strip_misses_filter_catches"].verdict == "holds"
    assert min(claims["wanet_strip_misses_filter_catches"].observed["STRIP FNR"]) > 0.9
    assert all(c.observed["n_seeds"] == 3 for c in result.claims
               if c.kind == "reproduction" and c.name != "aif_beats_if_wanet")   # AIF collapsed on 2 WaNet seeds


def test_cifar10_splits_are_shuffled_disjoint_and_attacks_fit_32x32():
    cfg = dataclasses.replace(PAPER, train_size=2000, defender_size=500, test_size=300)
    data = load_splits(cfg)
    x, y = data["train"]
    assert x.shape == (2000, 3, 32, 32) and x.min() == 0 and x.max() == 1
    assert torch.equal((x * 255).round() / 255, x)               # uint8 values / 255
    assert torch.bincount(y, minlength=10).min() > 120           # the class-grouped JPEG copy was shuffled
    assert len(data["spare"][0]) == 50_000 - 2500 and data["test"][0].shape == (300, 3, 32, 32)
    assert not any(torch.equal(data["spare"][0][0], img) for img in data["defender"][0])
    badnet = make_attack("badnet_plus", cfg, 0)
    assert badnet.masks.shape == (3, 1, 32, 32) and badnet.masks[1, 0, 1:5, 27:31].all()
    image = make_attack("image_bi_plus", cfg, 0, data["spare"][0])
    assert image.patterns.shape == (3, 3, 32, 32) and image.alpha == 0.25
    assert make_attack("image_bi_plus", cfg, 0, data["spare"][0], alpha=0.4).alpha == 0.4
    assert make_attack("input_aware", cfg, 0).apply(x[:2]).shape == (2, 3, 32, 32)


def test_defender_subsets_are_nested_and_checked():
    data = {"defender": (torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10))}
    subsets = list(defender_subsets(data, (5, 2), seed=0))
    assert [n for n, _, _ in subsets] == [2, 5]
    assert set(subsets[0][2].tolist()) <= set(subsets[1][2].tolist())
    with pytest.raises(ValueError, match="defender_sweep"):
        list(defender_subsets(data, (11,), seed=0))
