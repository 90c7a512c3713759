"""Scoring a filter from each image's labels computed once equals scoring it with the defense's own calls
(`FilterDefense.detect` / `predict`, `attack_success` with the triggers stamped again)."""

import torch

from reprolab.methods.trojan_filter.attacks import BadNetPlus, attack_success
from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
from reprolab.methods.trojan_filter.data import load_splits
from reprolab.methods.trojan_filter.evaluate import detection_rates, evaluate_filter, trojan_inputs
from reprolab.methods.trojan_filter.filters import FilterConfig, FilterDefense
from reprolab.nets.scoring import batched, prediction_accuracy

TINY = TrojanExperimentConfig(train_size=200, defender_size=110, test_size=60,
                              filter=FilterConfig(steps=6, batch_size=8), collapse_floor=0.0)


def leaning_classifier(attack: BadNetPlus, lean: float = 0.02) -> torch.nn.Module:
    """A random linear classifier whose classes 0-2 lean towards the attack's three patches."""
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10)).eval()
    with torch.no_grad():
        classifier[1].weight[:3] += lean * torch.stack([p.flatten() for p in attack.patterns])
    return classifier


def test_trojan_inputs_success_is_attack_success():
    torch.manual_seed(0)
    attack = BadNetPlus((1, 28, 28))
    classifier = leaning_classifier(attack)
    y = torch.cat([torch.full((10,), 0), torch.full((20,), 1), torch.full((30,), 2), torch.arange(30) % 7 + 3])
    x = torch.rand(90, 1, 28, 28) * 0.2
    trojan = trojan_inputs(attack, classifier, x, y)
    reference = attack_success(classifier, attack, x, y)
    assert trojan.success(trojan.labels) == reference
    assert 0 < min(reference["per_trigger"]) < 1 and trojan.counts == (80, 70, 60)


def test_a_filters_record_is_what_the_defense_calls_give():
    data = load_splits(TINY)
    torch.manual_seed(0)
    attack = BadNetPlus((1, 28, 28))
    classifier = leaning_classifier(attack, lean=0.05)
    trojan = trojan_inputs(attack, classifier, *data["test"])
    assert 0 < float(trojan.hits.float().mean()) < 1
    record, filt = evaluate_filter("IF", classifier, data, trojan, TINY, 0)
    x_test, y_test = data["test"]
    ftc = FilterDefense(classifier, filt, mode="ftc")
    expected = detection_rates(batched(ftc.detect, x_test), batched(ftc.detect, trojan.x), trojan.hits)
    expected["accepted_and_correct"] = prediction_accuracy(ftc.predict, x_test, y_test)
    assert not record["collapsed"] and record["ftc"] == expected
    assert 0 < expected["fpr"] < 1 and 0 < expected["fnr"] < 1 and expected["accepted_and_correct"] > 0
    assert record["asr_filtered"] == attack_success(lambda x: classifier(filt(x)), attack, x_test, y_test)
    plain = FilterDefense(classifier, filt, mode="filter")
    assert record["filtered_clean_accuracy"] == prediction_accuracy(plain.predict, x_test, y_test)
