"""The data cache of trained classifiers and inpainters: a key changes with every field the training depends on
and only with those, and an attack stage gives the same record from a cold and a warm cache, with the training's
seconds on both (the entries themselves: tests/runtime/test_cache.py)."""

import dataclasses

import pytest

from reprolab.methods.trojan_filter import experiment
from reprolab.methods.trojan_filter.baselines.fine_pruning import FinePruningConfig
from reprolab.methods.trojan_filter.baselines.neural_cleanse import NeuralCleanseConfig
from reprolab.methods.trojan_filter.cache import CLASSIFIER_FREE_FIELDS, cache_path, classifier_key, inpainter_key
from reprolab.methods.trojan_filter.config import QUICK, TrojanExperimentConfig
from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig
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


def without(record, keys=("seconds", "classifier_seconds", "classifier_cached", "inpainter_cached")):
    if isinstance(record, dict):
        return {k: without(v, keys) for k, v in record.items() if k not in keys}
    return record


def test_an_attack_stage_gives_the_same_record_from_a_cold_and_a_warm_cache(cache):
    cold = experiment.run_attack(0, "badnet_plus", TINY)
    warm = experiment.run_attack(0, "badnet_plus", TINY)
    assert (cold["classifier_cached"], cold["Februus"]["inpainter_cached"]) == (False, False)
    assert (warm["classifier_cached"], warm["Februus"]["inpainter_cached"]) == (True, True)
    assert without(warm) == without(cold)
    assert warm["classifier_seconds"] == cold["classifier_seconds"]          # the training's, kept with the entry
    other = experiment.run_attack(0, "wanet", TINY)          # the inpainter is shared by the attacks of a seed
    assert (other["classifier_cached"], other["Februus"]["inpainter_cached"]) == (False, True)
    uncached = experiment.run_attack(0, "badnet_plus", dataclasses.replace(TINY, cache=False))
    assert not uncached["classifier_cached"] and without(uncached) == without(cold)
