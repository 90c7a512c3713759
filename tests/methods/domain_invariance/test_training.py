import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from reprolab.methods.domain_invariance.algorithms import DomainInvariant
from reprolab.methods.domain_invariance.baselines import ERM
from reprolab.methods.domain_invariance.domains import from_arrays
from reprolab.methods.domain_invariance.penalties import ramp
from reprolab.methods.domain_invariance.training import (accuracy, domain_probe, evaluate, train, trivial_levels,
                                                         validation_subset)


def _task(sizes=(30, 60), unlabeled=True):
    rng = np.random.default_rng(0)
    sources = {f"s{i}": (rng.random((n, 1, 4, 4), dtype=np.float32) + i, rng.integers(0, 3, n))
               for i, n in enumerate(sizes)}
    target = ("t", rng.random((10, 1, 4, 4), dtype=np.float32), rng.integers(0, 3, 10))
    extra = np.full((7, 1, 4, 4), 0.77, np.float32) if unlabeled else None
    return from_arrays("tiny", sources, target, 3, unlabeled=extra)


def _featurizer():
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.ReLU())


def _erm(init_seed):
    torch.manual_seed(init_seed)
    return ERM(_featurizer(), 6, 3, 2)


def _fit(alg, task, **kw):
    return train(alg, task, steps=kw.pop("steps", 4), batch_per_domain=4, seed=kw.pop("seed", 5), eval_every=2,
                 progress=False, **kw)


def test_the_seed_fixes_the_initialisation_whatever_the_construction():
    task = _task()
    a, b = _erm(1), _erm(2)
    assert not torch.equal(a.classifier.weight, b.classifier.weight)
    assert _fit(a, task) == _fit(b, task)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    c, d = _erm(1), _erm(2)                                   # reinit=False keeps the weights as given
    assert _fit(c, task, reinit=False) != _fit(d, task, reinit=False)
    assert _fit(_erm(1), task, seed=6) != _fit(_erm(1), task, seed=5)


def test_reinit_refuses_a_trained_algorithm_and_modules_it_cannot_redraw():
    task = _task()
    alg = _erm(0)
    _fit(alg, task)
    with pytest.raises(ValueError, match="has had 4 updates"):
        _fit(alg, task)
    assert len(_fit(alg, task, reinit=False)) == 3                # steps 0, 2, 4 of the further training

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(6))

        def forward(self, z):
            return z * self.w

    custom = ERM(nn.Sequential(_featurizer(), Scale()), 6, 3, 2)
    with pytest.raises(ValueError, match="Scale has parameters but no reset_parameters"):
        _fit(custom, task)


def test_the_ramp_spans_the_run_by_default():
    task = _task()
    alg = DomainInvariant(_featurizer(), 6, 3, 2, invariance="general", lam=2.0)
    _fit(alg, task, steps=6)
    assert alg.total_steps == 6 and alg.weight() == pytest.approx(2.0 * ramp(6, 6))
    given = DomainInvariant(_featurizer(), 6, 3, 2, invariance="general", lam=2.0, total_steps=100)
    _fit(given, task, steps=6)
    assert given.total_steps == 100


def test_validation_scores_a_fixed_seeded_subset_of_stated_size():
    task = _task(sizes=(30, 60))                                   # validation parts: 6 and 12 samples
    subset = validation_subset(task, val_per_domain=5, measure_per_domain=3, seed=1)
    assert [len(y) for _, y in subset.val] == [5, 5] and len(subset.measure[1]) == 6
    for (x, _), d in zip(subset.val, task.sources):                # drawn from the source's validation part
        assert all(any(np.array_equal(row, v) for v in d.x_val) for row in x)
    again = validation_subset(task, val_per_domain=5, measure_per_domain=3, seed=1)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(subset.val, again.val))
    assert np.array_equal(subset.measure[0][:3], subset.val[0][0][:3])   # the same permutation's first samples
    other = validation_subset(task, val_per_domain=5, measure_per_domain=3, seed=2)
    assert not np.array_equal(other.val[1][0], subset.val[1][0])
    alg = _erm(0)
    record = evaluate(alg, task, subset)
    assert record["source_val"] == [accuracy(alg, x, y) for x, y in subset.val]
    history = _fit(_erm(0), task, val_per_domain=5)
    assert all(round(a * 5, 9) == round(a * 5) for r in history for a in r["source_val"])   # scored on 5


def test_the_probe_reports_its_majority_rate_beside_its_accuracy():
    task = _task(sizes=(30, 60))                                   # validation: 6 and 12 samples
    alg = _erm(0)
    _fit(alg, task)
    score = domain_probe(alg, task)
    assert score.majority == pytest.approx(12 / 18) == trivial_levels(task)["probe"]   # not 1/K = 0.5
    assert domain_probe(alg, task, per_domain=6).majority == 0.5


def test_the_unlabelled_target_batch_comes_from_the_unlabelled_images_only():
    task = _task()
    seen = []
    alg = DomainInvariant(_featurizer(), 6, 3, 2, invariance="general", lam=1.0)
    update = alg.update
    alg.update = lambda minibatches, unlabeled=None: (seen.append(unlabeled), update(minibatches, unlabeled))[1]
    _fit(alg, task, unlabeled_target=True)
    assert len(seen) == 4 and all(u.shape == (4, 1, 4, 4) and torch.all(u == 0.77) for u in seen)
    empty = dataclasses.replace(task, unlabeled=task.unlabeled[:0])
    assert task.has_unlabeled and not empty.has_unlabeled and not _task(unlabeled=False).has_unlabeled
    for without in (_task(unlabeled=False), empty):
        with pytest.raises(ValueError, match="task 'tiny' has none"):
            _fit(_erm(0), without, unlabeled_target=True)


def test_the_domainbed_schedule_evaluates_after_1_1_plus_k_eval_every_updates_and_the_last():
    # DomainBed's train.py evaluates after the update of step s (0-based) when s % checkpoint_freq == 0 or
    # s == n_steps - 1: after s + 1 updates
    task = _task()
    domainbed = train(_erm(0), task, steps=7, batch_per_domain=4, seed=5, eval_every=3, eval_schedule="domainbed",
                      progress=False)
    default = train(_erm(0), task, steps=7, batch_per_domain=4, seed=5, eval_every=3, progress=False)
    assert [r["step"] for r in domainbed] == [0] + [s + 1 for s in range(7) if s % 3 == 0 or s == 6] == [0, 1, 4, 7]
    assert [r["step"] for r in default] == [0, 3, 6, 7]
    assert domainbed[-1] == default[-1] and domainbed[0] == default[0]     # the same run, evaluated elsewhere
    with pytest.raises(ValueError, match="eval_schedule"):
        train(_erm(0), task, steps=7, batch_per_domain=4, seed=5, eval_schedule="every", progress=False)
