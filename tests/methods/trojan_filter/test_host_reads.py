"""The training loops read no loss into Python at each step (on a GPU each read waits for the device): a loss log
reads the losses kept since its last record in one transfer at each record (every 64 steps, the mask's every 50),
so a loop of N steps makes at most N / 50 + 2 reads, with progress off."""

from typing import Callable

import pytest
import torch

from reprolab.methods.trojan_filter.adversarial import AIFConfig, TriggerGenerator, train_adversarial_filter
from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig, Inpainter, train_inpainter
from reprolab.methods.trojan_filter.baselines.neural_cleanse import NeuralCleanseConfig, reverse_trigger
from reprolab.methods.trojan_filter.classifier import train_classifier
from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
from reprolab.methods.trojan_filter.filters import FilterConfig, PlainFilter, VariationalFilter, train_filter
from reprolab.methods.trojan_filter.input_aware import InputAware, InputAwareConfig, pretrain_mask
from tests.methods.trojan_filter.test_checkpoints import images, tiny_classifier

STEPS = 120
FILTER = FilterConfig(steps=STEPS, batch_size=8)


def classifier_epochs(epochs: int) -> None:
    cfg = TrojanExperimentConfig(classifier_batch=1, lr_milestones=(1,), classifier_optimizer="sgd")
    train_classifier(*images(epochs, 28, seed=3), 1, cfg, 0)                    # `epochs` images, one per step


LOOPS: dict[str, Callable[[], object]] = {
    "IF": lambda: train_filter(PlainFilter(1, width=4, latent=2), tiny_classifier(), *images(), FILTER),
    "VIF": lambda: train_filter(VariationalFilter(1, width=4, latent=2), tiny_classifier(), *images(), FILTER),
    "AIF": lambda: train_adversarial_filter(PlainFilter(1, width=4, latent=2), TriggerGenerator(1, width=4),
                                            tiny_classifier(), *images(), AIFConfig(filter=FILTER)),
    "input_aware_mask": lambda: pretrain_mask(InputAware(1, InputAwareConfig(width=2, mask_steps=STEPS,
                                                                             mask_batch=8)), images()[0]),
    "februus": lambda: train_inpainter(Inpainter(1, 4, 2), images()[0],
                                       FebruusConfig(steps=STEPS, batch_size=8, hole_size=(2, 4))),
    "neural_cleanse": lambda: reverse_trigger(tiny_classifier(), images()[0], 3,
                                              NeuralCleanseConfig(steps=STEPS, batch_size=8), torch.Generator()),
    "classifier": lambda: classifier_epochs(STEPS),
}


@pytest.mark.parametrize("name", list(LOOPS))
def test_a_loop_of_n_steps_reads_at_most_n_over_50_plus_2_values(name, loop_reads):
    LOOPS[name]()
    assert len(loop_reads) <= STEPS / 50 + 2, loop_reads
