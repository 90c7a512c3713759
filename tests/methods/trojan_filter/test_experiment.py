import copy

import pytest

from reprolab.launch import run_method
from reprolab.methods.trojan_filter.experiment import CONFIGS, claims, make_attack
from tests.conftest import read_record, tiny_quick_run

TINY = ("train_size=1000", "defender_size=400", "test_size=200", "badnet_epochs=1", "wanet_epochs=1",
        "filter.steps=16", "aif_steps=8", "strip_blends=4", "neural_cleanse.steps=4",
        "neural_cleanse.unlearn_steps=4", "fine_pruning.finetune_steps=4", "februus.steps=4",
        "workers=1")


def test_unknown_attack_is_rejected_and_blended_attacks_are_built():
    with pytest.raises(ValueError, match="unknown attack 'lira'"):
        make_attack("lira", CONFIGS["quick"], 0)
    noise = make_attack("noise_bi_plus", CONFIGS["quick"], 0)
    image = make_attack("image_bi_plus", CONFIGS["quick"], 0)
    assert noise.alpha == 0.15 and image.alpha == 0.25 and image.targets == (0, 1, 2)
    assert image.patterns.shape == (3, 1, 28, 28) and 0 <= image.patterns.min() and image.patterns.max() <= 1
    assert image.patterns.std() > 0.05                   # natural images, not blank


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return tiny_quick_run(tmp_path_factory, "trojan_filter", TINY)


def test_smoke_run_writes_a_complete_record(tiny_run):
    out, result = tiny_run
    record = read_record(out)
    assert [c["name"] for c in record["claims"]] == ["attacks_are_effective", "filtered_clean_accuracy_ge_90",
                                                     "vif_cuts_badnet", "aif_beats_if",
                                                     "filtering_beats_mitigation_baselines",
                                                     "wanet_strip_misses_filter_catches"]
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
def test_quick_reproduction_runs_end_to_end(tmp_path):
    result = run_method("trojan_filter", "quick", out=tmp_path, device="cpu", progress=False)
    verdicts = {c.name: c.holds for c in result.claims}
    assert verdicts["attacks_are_effective"]
