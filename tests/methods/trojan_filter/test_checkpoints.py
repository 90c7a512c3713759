"""Every training loop of trojan_filter keeps checkpoints: an interrupted loop resumed from its checkpoint ends with
the same weights and loss log as an uninterrupted one, and a plain run gives the numbers it gave before the loops
moved onto `run_loop` (checksums recorded with the former hand-written loops, same tiny inputs, one torch thread).
Trained numbers differ between CPUs whose kernels sum in other orders (docs/runtime.md) and between thread counts,
so the loops run on one thread, and four loops carry a second record: the same code on a host with AVX2 kernels,
where their chaotic training ends elsewhere (the other seven agree within 1e-5 on both hosts)."""

import dataclasses
from typing import Callable, NamedTuple

import pytest
import torch
from torch import nn

from reprolab.methods.trojan_filter import adversarial, classifier, experiment, filters, input_aware
from reprolab.methods.trojan_filter.adversarial import AIFConfig, TriggerGenerator, train_adversarial_filter
from reprolab.methods.trojan_filter.baselines import februus, fine_pruning, neural_cleanse
from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig, Inpainter, train_inpainter
from reprolab.methods.trojan_filter.baselines.fine_pruning import FinePruningConfig, fine_prune
from reprolab.methods.trojan_filter.baselines.neural_cleanse import NeuralCleanseConfig, unlearn
from reprolab.methods.trojan_filter.classifier import train_classifier
from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
from reprolab.methods.trojan_filter.filters import FilterConfig, PlainFilter, VariationalFilter, train_filter
from reprolab.methods.trojan_filter.input_aware import InputAware, InputAwareConfig, pretrain_mask
from reprolab.methods.trojan_filter.threats import make_attack
from reprolab.runtime.train import LoopCheckpoints
from tests.runtime.test_train_resume import Interrupt, stop_loop_at

LOOP_MODULES = [filters, adversarial, input_aware, classifier, februus, fine_pruning, neural_cleanse]
FILTER = FilterConfig(steps=70, batch_size=8)
NC = NeuralCleanseConfig(steps=10, batch_size=8, unlearn_steps=20)
MASK = InputAwareConfig(width=2, mask_steps=60, mask_batch=8)


def images(n=48, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)


def tiny_classifier():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(16, 10))


def plain_filter(cls, where):
    torch.manual_seed(2)
    filt = cls(1, width=4, latent=2)
    x, y = images()
    log = train_filter(filt, tiny_classifier(), x, y, FILTER, seed=0, checkpoints=where, name=cls.__name__)
    return [filt.state_dict()], log


def aif(where):
    torch.manual_seed(2)
    filt, gen = PlainFilter(1, width=4, latent=2), TriggerGenerator(1, width=4, budget=0.05)
    log = train_adversarial_filter(filt, gen, tiny_classifier(), *images(), AIFConfig(filter=FILTER), seed=0,
                                   checkpoints=where)
    return [filt.state_dict(), gen.state_dict()], log


def mask(where):
    attack = InputAware(1, MASK, seed=0)
    log = pretrain_mask(attack, images()[0], seed=0, checkpoints=where)
    return [attack.mask_net.state_dict()], log


def inpainter(where):
    torch.manual_seed(2)
    net = Inpainter(1, 4, 2)
    log = train_inpainter(net, images()[0], FebruusConfig(steps=70, batch_size=8, hole_size=(2, 4)), seed=0,
                          checkpoints=where)
    return [net.state_dict()], log


def pruned(where):
    model, info = fine_prune(tiny_classifier(), *images(), FinePruningConfig(finetune_steps=20, batch_size=8),
                             seed=0, checkpoints=where)
    return [model.state_dict()], info


def reversed_triggers(where):
    nc = neural_cleanse.neural_cleanse(tiny_classifier(), images()[0], 10, NC, seed=0, checkpoints=where)
    return [{f"{t}{k}": v for t, pair in enumerate(nc["triggers"]) for k, v in zip("mp", pair)}], nc["l1_norms"]


def unlearned(where):
    x, y = images()
    triggers = neural_cleanse.neural_cleanse(tiny_classifier(), x, 10, NC, seed=0)["triggers"]
    return [unlearn(tiny_classifier(), x, y, triggers, [0, 3], NC, seed=0, checkpoints=where).state_dict()], None


def trojaned(attack_name, augment=False):
    cfg = TrojanExperimentConfig(classifier_batch=16, lr_milestones=(1,), classifier_optimizer="sgd",
                                 augment=augment, input_aware=dataclasses.replace(MASK, mask_steps=5))

    def train(where):
        attack = make_attack(attack_name, cfg, 0) if attack_name else None
        model = train_classifier(*images(40, 28, seed=3), 2, cfg, 0, attack, where)
        extra = [attack.pattern_net.state_dict(), attack.mask_net.state_dict()] if attack_name == "input_aware" \
            else []
        return [model.state_dict(), *extra], None

    return train


def checksum(states):
    """Sum and sum of squares of every floating-point tensor, in double precision."""
    tensors = [t.double() for s in states for t in s.values() if t.is_floating_point()]
    return [float(sum(t.sum() for t in tensors)), float(sum((t * t).sum() for t in tensors))]


class Loop(NamedTuple):
    train: Callable                 # LoopCheckpoints -> (state dicts, loss log or other output)
    checkpoint: str                 # its checkpoint file's name
    stop: int                       # the step before which the interrupted run stops
    every: int                      # the checkpoint period of the interrupted run
    recorded: list[float]           # `checksum` of the former loop's weights
    last_log: dict | None = None    # the former loop's last loss-log record
    log_steps: list[int] | None = None
    avx2: tuple[list[float], dict | None] | None = None   # (checksum, last log record) on an AVX2 host


LOOPS = {
    "IF": Loop(lambda w: plain_filter(PlainFilter, w), "PlainFilter", 40, 16, [3.2561246330442373, 12.816595756414511],
               {"step": 69, "ce": 2.3311827182769775, "rec": 99.74776458740234, "kl": 0.0}, [0, 64, 69]),
    "VIF": Loop(lambda w: plain_filter(VariationalFilter, w), "VariationalFilter", 40, 16,
                [-8.035101681831293, 11.404619716845843],
                {"step": 69, "ce": 2.4217216968536377, "rec": 99.83867645263672, "kl": 0.0012294187908992171},
                [0, 64, 69], ([-8.035101185087115, 11.404619692895254],
                              {"step": 69, "ce": 2.4217216968536377, "rec": 99.83867645263672,
                               "kl": 0.00122943171299994})),
    "AIF": Loop(aif, "AIF", 40, 16, [3.395863856530923, 16.2404475119965],
                {"step": 69, "loss_g": 0.11372792720794678, "loss_f": 6.470407485961914,
                 "mask_area": 0.05000000447034836}, [0, 64, 69],
                ([3.35393276513787, 16.235878661091274], {"step": 69, "loss_g": 0.11372789740562439,
                                                          "loss_f": 6.470414161682129,
                                                          "mask_area": 0.05000000447034836})),
    "input_aware_mask": Loop(mask, "input_aware_mask", 33, 16, [19.947942235019582, 37.5230713131284],
                             {"step": 59, "norm": 0.07346856594085693, "div": 1.5452686548233032,
                              "density": 0.07690617442131042}, [0, 50, 59],
                             ([22.61223232068005, 36.88021200361529],
                              {"step": 59, "norm": 0.03510325402021408, "div": 1.9228777885437012,
                               "density": 0.03688270226120949})),
    "februus": Loop(inpainter, "februus_inpainter", 40, 16, [-3.5231641982099973, 12.255153896481369],
                    {"step": 69, "rec": 99.85108184814453}, [0, 64, 69]),
    # the weights and the pruning mask (one channel of 4 kept: +1 to both sums)
    "fine_pruning": Loop(pruned, "fine_pruning", 13, 8, [2.941284554079175, 5.729109529832053]),
    "neural_cleanse": Loop(reversed_triggers, "neural_cleanse_3", 6, 4, [1110.0410836338997, 521.6899050489759]),
    "unlearn": Loop(unlearned, "neural_cleanse_unlearn", 13, 8, [1.9282830705633387, 4.7273299826474116]),
    "classifier_badnet_plus": Loop(trojaned("badnet_plus"), "classifier", 3, 2,
                                   [169.85321197536652, 359.41559687481583]),
    "classifier_input_aware": Loop(trojaned("input_aware"), "classifier", 3, 2, [243.6924617443166, 444.44344263451],
                                   avx2=([243.69296220138446, 444.3996356139964], None)),
    "classifier_benign": Loop(trojaned(None), "classifier", 3, 2, [169.86854168311925, 359.42401731535637]),
}
# With augmentation the crops are now drawn as the shared `reprolab.nets.augment.random_crop_flip` draws them (the
# former mad teacher's order), so only the resume is checked.
AUGMENTED = Loop(trojaned("badnet_plus", augment=True), "classifier", 3, 2, [])


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def matches(states, log, recorded: list[float], last_log: dict | None) -> bool:
    return checksum(states) == pytest.approx(recorded, rel=1e-5) and (
        last_log is None or log[-1] == pytest.approx(last_log, rel=1e-5))


@pytest.mark.parametrize("name", list(LOOPS))
def test_a_plain_run_gives_the_numbers_of_the_former_loop(name, one_thread):
    loop = LOOPS[name]
    states, log = loop.train(LoopCheckpoints())
    assert matches(states, log, loop.recorded, loop.last_log) or (
        loop.avx2 is not None and torch.backends.cpu.get_cpu_capability() == "AVX2"
        and matches(states, log, *loop.avx2)), (checksum(states), log[-1] if log else None)
    if loop.last_log is not None:
        assert [r["step"] for r in log] == loop.log_steps


def equal_states(a, b):
    return all(sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa) for sa, sb in zip(a, b))


@pytest.mark.parametrize("name", [*LOOPS, "classifier_augmented"])
def test_an_interrupted_loop_resumes_to_the_same_weights_and_log(name, tmp_path, monkeypatch):
    loop = AUGMENTED if name == "classifier_augmented" else LOOPS[name]
    reference, ref_log = loop.train(LoopCheckpoints())
    with monkeypatch.context() as patch:
        stop_loop_at(patch, LOOP_MODULES, loop.checkpoint, loop.stop)
        with pytest.raises(Interrupt):
            loop.train(LoopCheckpoints(tmp_path, loop.every))
    assert (tmp_path / f"{loop.checkpoint}.pt").exists()
    resumed, log = loop.train(LoopCheckpoints(tmp_path, loop.every, resume=True))
    assert equal_states(resumed, reference) and log == ref_log


TINY_STAGE = TrojanExperimentConfig(train_size=200, defender_size=110, test_size=60, badnet_epochs=1,
                                    filter=FilterConfig(steps=6, batch_size=8), aif_steps=4, strip_blends=2,
                                    neural_cleanse=NeuralCleanseConfig(steps=2, batch_size=8, unlearn_steps=3),
                                    fine_pruning=FinePruningConfig(finetune_steps=3, batch_size=8),
                                    februus=FebruusConfig(steps=3, batch_size=8), defender_sweep=(30,),
                                    collapse_floor=0.0, cache=False)


def test_an_interrupted_stage_resumes_its_finished_loops_to_the_same_record(tmp_path, monkeypatch):
    """One attack stage: interrupted inside the sweep's VIF (after the classifier, IF, VIF, AIF and the sweep's IF
    finished), resumed: the same record as an uninterrupted stage; every loop has its own checkpoint."""
    def stage(where):
        out = experiment.run_attack(0, "badnet_plus", TINY_STAGE, checkpoints=where)
        return {k: v for k, v in out.items() if k != "classifier_seconds"}

    def without_seconds(record):
        if isinstance(record, dict):
            return {k: without_seconds(v) for k, v in record.items() if k not in ("seconds", "train_seconds")}
        return record

    reference = stage(LoopCheckpoints())
    with monkeypatch.context() as patch:
        stop_loop_at(patch, LOOP_MODULES, "VIF_defender30", 3)
        with pytest.raises(Interrupt):
            stage(LoopCheckpoints(tmp_path, 2))
    assert {p.stem for p in tmp_path.iterdir()} == {"classifier", "IF", "VIF", "AIF", "IF_defender30",
                                                    "VIF_defender30"}
    assert without_seconds(stage(LoopCheckpoints(tmp_path, 2, resume=True))) == without_seconds(reference)
    names = {p.stem for p in tmp_path.iterdir()}
    assert {"AIF_defender30", "februus_inpainter", "fine_pruning", "neural_cleanse_9"} <= names
