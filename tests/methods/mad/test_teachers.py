"""The teacher's training loop keeps checkpoints: interrupted and resumed, it ends with the weights of an
uninterrupted run, and a plain run gives the weights the former hand-written loop gave (checksum recorded with it,
same tiny recipe and data). The teacher cache misses when the recipe or the seed changes."""

import dataclasses

import pytest
import torch

from reprolab.methods.mad import teachers
from reprolab.methods.mad.config import CaseConfig
from reprolab.methods.mad.teachers import TeacherRecipe, train_teacher
from reprolab.runtime.train import LoopCheckpoints
from tests.runtime.test_train_resume import Interrupt, stop_loop_at

# 3 epochs of 3 batches (40 images, batch 16), lr x 0.1 after every epoch, random crop (pad 4) and flip: every part
# of the CIFAR-10 recipe's loop at 8x8.
TINY = TeacherRecipe("digits", "cnn6", "sgd", 0.05, 3, 16, lr_step_epochs=1, augment=True)
RECORDED = [40.57303009161478, 53.620522108985725]      # checksum of the former loop's weights, test accuracy 0.1


@pytest.fixture
def tiny_recipe(monkeypatch):
    def split(dataset, name):
        g = torch.Generator().manual_seed(0 if name == "train" else 1)
        return torch.rand(40, 1, 8, 8, generator=g) * 2 - 1, torch.randint(0, 10, (40,), generator=g)

    monkeypatch.setitem(teachers.RECIPES, "tiny", TINY)
    monkeypatch.setattr(teachers, "load_split", split)


def weights(trained):
    return trained["model"].state_dict()


def test_a_plain_run_gives_the_weights_of_the_former_loop(tiny_recipe):
    state = weights(train_teacher("tiny", seed=0))
    tensors = [t.double() for t in state.values() if t.is_floating_point()]
    checksum = [float(sum(t.sum() for t in tensors)), float(sum((t * t).sum() for t in tensors))]
    assert checksum == pytest.approx(RECORDED, rel=1e-5)


def test_an_interrupted_teacher_resumes_to_the_same_weights(tiny_recipe, tmp_path, monkeypatch):
    reference = train_teacher("tiny", seed=0)
    with monkeypatch.context() as patch:
        stop_loop_at(patch, [teachers], "teacher_tiny_s0", 5)       # checkpoint at 4 steps: mid-epoch 2
        with pytest.raises(Interrupt):
            train_teacher("tiny", seed=0, checkpoints=LoopCheckpoints(tmp_path, 4))
    resumed = train_teacher("tiny", seed=0, checkpoints=LoopCheckpoints(tmp_path, 4, resume=True))
    assert weights(resumed).keys() == weights(reference).keys()
    assert all(torch.equal(weights(resumed)[k], weights(reference)[k]) for k in weights(reference))
    assert resumed["test_accuracy"] == reference["test_accuracy"]


def test_a_changed_recipe_or_seed_misses_the_teacher_cache(tiny_recipe, tmp_path, monkeypatch):
    """The cache key is the recipe, the seed and the torch version: the same ones load the cached weights, any
    change trains anew under another file name."""
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path))
    first, record = teachers.load_or_train_teacher("tiny")
    again, cached = teachers.load_or_train_teacher("tiny")
    assert (record["cached"], cached["cached"]) == (False, True) and cached["path"] == record["path"]
    assert all(torch.equal(p, q) for p, q in zip(first.state_dict().values(), again.state_dict().values()))
    other_seed = teachers.load_or_train_teacher("tiny", seed=1)[1]
    monkeypatch.setitem(teachers.RECIPES, "tiny", dataclasses.replace(TINY, lr=0.1))
    other_lr = teachers.load_or_train_teacher("tiny")[1]
    assert not other_seed["cached"] and not other_lr["cached"]
    assert len({record["path"], other_seed["path"], other_lr["path"]}) == 3


def test_a_teacher_step_reads_no_loss_into_python(tiny_recipe, monkeypatch, host_reads):
    """120 SGD steps (40 epochs of 3 batches) with progress off bring no value to the host (on a GPU each read
    waits for the device); the test accuracy after them reads none either."""
    monkeypatch.setenv("REPROLAB_PROGRESS", "0")
    monkeypatch.setitem(teachers.RECIPES, "tiny", dataclasses.replace(TINY, epochs=40))
    train_teacher("tiny", seed=0)
    assert len(host_reads) <= 120 / 50, host_reads


def test_the_constant_lr_teacher_is_the_cifar10_recipe_without_its_lr_step(tiny_recipe, monkeypatch):
    """DFAD's README command passes `--step_size 80` without `--scheduler`, so its lr never steps: the
    "cifar10_resnet34_constant_lr" recipe is the CIFAR-10 recipe without the step, a `<case>.teacher` choice. On the
    tiny loop, a recipe with no step trains every batch at its lr, one with a step every epoch at 0.1x per epoch."""
    assert teachers.RECIPES["cifar10_resnet34_constant_lr"] == dataclasses.replace(
        teachers.RECIPES["cifar10_resnet34"], lr_step_epochs=0)
    assert CaseConfig(teacher="cifar10_resnet34_constant_lr").teacher == "cifar10_resnet34_constant_lr"
    rates: list[float] = []
    sgd_step = torch.optim.SGD.step
    monkeypatch.setattr(torch.optim.SGD, "step",
                        lambda self, *args, **kwargs: rates.append(self.param_groups[0]["lr"]) or sgd_step(self))
    train_teacher("tiny", seed=0)
    assert rates == pytest.approx([0.05] * 3 + [0.005] * 3 + [0.0005] * 3)
    rates.clear()
    monkeypatch.setitem(teachers.RECIPES, "tiny", dataclasses.replace(TINY, lr_step_epochs=0))
    train_teacher("tiny", seed=0)
    assert rates == [0.05] * 9
