"""The data cache of trained classifiers, inpainters, baseline repairs and STRIP's clean pass: a key changes with
every field the training depends on and only with those, a loaded repair leaves the global generators as the repair
would, a kept clean pass flags what a calibrated detector flags, and an attack stage gives the same record from a cold
and a warm cache, with the training's seconds on both (the entries themselves: tests/runtime/test_cache.py)."""

import dataclasses
import random

import pytest
import torch

from reprolab.methods.trojan_filter import experiment
from reprolab.methods.trojan_filter.baselines.fine_pruning import FinePruningConfig
from reprolab.methods.trojan_filter.baselines.neural_cleanse import NeuralCleanseConfig
from reprolab.methods.trojan_filter.cache import (CLASSIFIER_FREE_FIELDS, baseline_key, cache_path, classifier_key,
                                                 inpainter_key, load_or_repair)
from reprolab.methods.trojan_filter.config import QUICK, TrojanExperimentConfig
from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig
from reprolab.methods.trojan_filter.baselines.strip import STRIP, Calibration
from reprolab.methods.trojan_filter.filters import FilterConfig


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path))
    return tmp_path


def classifier_path(cfg, attack="badnet_plus", seed=0, device="cpu"):
    return cache_path("classifier", classifier_key(cfg, attack, None, 2, seed, device))


def test_a_classifier_key_changes_with_its_training_and_not_with_the_defenses(cache):
    base = classifier_path(QUICK)
    for changed in (dict(poison_rate=0.2), dict(wanet_s=0.5), dict(classifier_lr=1e-4), dict(channels_last=False),
                    dict(train_size=6000), dict(wanet_counts="floor"), dict(augment=True)):
        assert classifier_path(dataclasses.replace(QUICK, **changed)) != base, changed
    augmented = dataclasses.replace(QUICK, augment=True)
    assert classifier_path(dataclasses.replace(augmented, augmentation="official")) != classifier_path(augmented)
    assert len({base, classifier_path(QUICK, attack="wanet"), classifier_path(QUICK, attack=None),
                classifier_path(QUICK, seed=1), classifier_path(QUICK, device="cuda")}) == 5
    for same in (dict(filter=FilterConfig(steps=5)), dict(neural_cleanse=NeuralCleanseConfig(steps=3)),
                 dict(seeds=5), dict(workers=1), dict(aif_steps=3), dict(test_size=10)):
        assert classifier_path(dataclasses.replace(QUICK, **same)) == base, same
    assert CLASSIFIER_FREE_FIELDS <= {f.name for f in dataclasses.fields(TrojanExperimentConfig)}


def test_an_inpainter_key_follows_the_defender_set_and_its_settings_only(cache):
    def path(cfg, seed=0):
        return cache_path("inpainter", inpainter_key(cfg, seed, "cpu"))

    base = path(QUICK)
    assert path(dataclasses.replace(QUICK, poison_rate=0.3, attacks=("wanet",))) == base
    for changed in (dict(februus=FebruusConfig(steps=7)), dict(defender_size=1000), dict(filter_width=16),
                    dict(februus=FebruusConfig(fill="mean"))):
        assert path(dataclasses.replace(QUICK, **changed)) != base, changed
    assert path(QUICK, seed=1) != base
    for heat_only in (dict(heat_threshold=0.5), dict(heat="minmax"), dict(layer="conv_input")):   # the filter's
        assert path(dataclasses.replace(QUICK, februus=FebruusConfig(**heat_only))) == base, heat_only


TINY = TrojanExperimentConfig(train_size=200, defender_size=110, test_size=60, badnet_epochs=1, channels_last=True,
                              filter=FilterConfig(steps=6, batch_size=8), aif_steps=4, strip_blends=2,
                              neural_cleanse=NeuralCleanseConfig(steps=2, batch_size=8, unlearn_steps=3),
                              fine_pruning=FinePruningConfig(finetune_steps=3, batch_size=8),
                              februus=FebruusConfig(steps=3, batch_size=8), collapse_floor=0.0)


def without(record, keys=("seconds", "classifier_seconds", "classifier_cached", "inpainter_cached", "cached",
                          "calibration_cached", "train_seconds")):
    if isinstance(record, dict):
        return {k: without(v, keys) for k, v in record.items() if k not in keys}
    return record


def test_an_attack_stage_gives_the_same_record_from_a_cold_and_a_warm_cache(cache):
    cold = experiment.run_attack(0, "badnet_plus", TINY)
    warm = experiment.run_attack(0, "badnet_plus", TINY)
    assert (cold["classifier_cached"], cold["Februus"]["inpainter_cached"]) == (False, False)
    assert (warm["classifier_cached"], warm["Februus"]["inpainter_cached"]) == (True, True)
    assert (cold["STRIP"]["calibration_cached"], warm["STRIP"]["calibration_cached"]) == (False, True)
    assert without(warm) == without(cold)
    assert warm["classifier_seconds"] == cold["classifier_seconds"]          # the training's, kept with the entry
    for baseline in ("NeuralCleanse", "FinePruning"):                        # the repairs, the same way
        assert (cold[baseline]["cached"], warm[baseline]["cached"]) == (False, True)
        assert warm[baseline]["train_seconds"] == cold[baseline]["train_seconds"]
    other = experiment.run_attack(0, "wanet", TINY)          # the inpainter is shared by the attacks of a seed
    assert (other["classifier_cached"], other["Februus"]["inpainter_cached"]) == (False, True)
    assert not other["NeuralCleanse"]["cached"] and not other["FinePruning"]["cached"]
    uncached = experiment.run_attack(0, "badnet_plus", dataclasses.replace(TINY, cache=False))
    assert not uncached["classifier_cached"] and not uncached["FinePruning"]["cached"]
    assert without(uncached) == without(cold)


def test_a_repair_key_follows_the_classifier_and_the_baselines_settings(cache):
    def path(cfg, settings, seed=0):
        return cache_path("neural_cleanse", baseline_key(classifier_key(cfg, "wanet", None, 4, seed, "cpu"), settings))

    base = path(QUICK, QUICK.neural_cleanse)
    assert path(dataclasses.replace(QUICK, filter=FilterConfig(steps=5), aif_steps=3), QUICK.neural_cleanse) == base
    for cfg, settings in ((QUICK, NeuralCleanseConfig(steps=3)), (QUICK, NeuralCleanseConfig(keep="best")),
                          (dataclasses.replace(QUICK, poison_rate=0.2), QUICK.neural_cleanse)):
        assert path(cfg, settings) != base
    assert path(QUICK, QUICK.neural_cleanse, seed=1) != base
    assert path(QUICK, FinePruningConfig(finetune_steps=3)) != path(QUICK, QUICK.fine_pruning)


def test_a_loaded_repair_leaves_the_global_generators_where_the_repair_left_them(cache):
    """A hit skips the repair's draws, so the states after it come with the entry; an entry is found only from the
    same states before it, and one without usable states is repaired again."""
    def repair():
        net = torch.nn.Linear(2, 2)
        with torch.no_grad():
            net.weight.copy_(torch.rand(2, 2))            # draws, as dropout does while a baseline fine-tunes
        return {"net": net}, {"info": {"draws": 1}}

    def fresh():
        with torch.random.fork_rng():                     # draws nothing, as the baselines' copies of a classifier
            return {"net": torch.nn.Linear(2, 2)}

    def run(seed):
        torch.manual_seed(seed)
        random.random()                                   # other generators' states do not reach the key
        networks, extra, cached = load_or_repair("test", {"k": 1}, fresh, repair, ("info",))
        return networks["net"].weight.detach().clone(), extra, cached, torch.rand(3)

    weight, extra, cached, after = run(0)
    again = run(0)
    assert not cached and again[2] and extra["info"] == again[1]["info"] == {"draws": 1}
    assert torch.equal(again[0], weight) and torch.equal(again[3], after)
    assert extra["train_seconds"] == again[1]["train_seconds"] and "rng" not in extra
    (entry,) = (cache / "trojan_filter").glob("test-*.pt")
    for damaged in ({"torch": torch.zeros(3, dtype=torch.uint8)}, [after]):         # no usable generator states
        torch.save({**torch.load(entry, weights_only=True), "rng": damaged}, entry)
        repaired = run(0)
        assert not repaired[2] and torch.equal(repaired[0], weight) and torch.equal(repaired[3], after)
    assert not run(1)[2]                                  # other states before it: repaired, not loaded


def test_a_kept_strip_clean_pass_flags_what_a_calibrated_detector_flags_and_follows_its_inputs(cache):
    """The entry holds the threshold and the blend generator's state after the clean pass, so a detector built from
    it draws the partners a calibrated one draws; other weights, clean images, settings or seed miss it."""
    torch.manual_seed(0)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x_def, x = torch.rand(64, 1, 4, 4), torch.rand(40, 1, 4, 4)
    cfg = dataclasses.replace(TINY, strip_blends=4)
    calibrated = STRIP(classifier, x_def, n_blends=4, seed=0)
    reference = calibrated.entropy(x)
    _, cold = experiment.strip_detector(classifier, x_def, cfg, 0, "cpu")
    kept, warm = experiment.strip_detector(classifier, x_def, cfg, 0, "cpu")
    assert (cold, warm) == (False, True) and kept.threshold == calibrated.threshold
    assert torch.equal(kept.entropy(x), reference)
    unset = Calibration(kept.threshold, torch.Generator().manual_seed(0).get_state())
    assert not torch.equal(STRIP(classifier, x_def, n_blends=4, calibration=unset).entropy(x), reference)
    assert not experiment.strip_detector(classifier, x_def, cfg, 1, "cpu")[1]
    assert not experiment.strip_detector(classifier, x_def, dataclasses.replace(cfg, strip_blends=5), 0, "cpu")[1]
    assert not experiment.strip_detector(classifier, x_def[1:], cfg, 0, "cpu")[1]
    assert not experiment.strip_detector(classifier, x_def, dataclasses.replace(cfg, cache=False), 0, "cpu")[1]
    with torch.no_grad():
        classifier[1].weight[0, 0] += 1
    assert not experiment.strip_detector(classifier, x_def, cfg, 0, "cpu")[1]


def test_a_strip_entry_without_a_usable_clean_pass_is_removed_and_the_pass_run_again(cache):
    torch.manual_seed(0)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x_def = torch.rand(64, 1, 4, 4)
    cfg = dataclasses.replace(TINY, strip_blends=4)
    first, _ = experiment.strip_detector(classifier, x_def, cfg, 0, "cpu")
    (entry,) = (cache / "trojan_filter").glob("strip-*.pt")
    for damaged in ({"threshold": first.threshold, "generator_state": torch.zeros(3, dtype=torch.uint8)},
                    {"threshold": "low", "generator_state": first.calibration.generator_state}):
        torch.save(damaged, entry)
        again, cached = experiment.strip_detector(classifier, x_def, cfg, 0, "cpu")
        assert not cached and again.threshold == first.threshold
        assert torch.equal(again.gen.get_state(), first.calibration.generator_state)
