"""The typed config of `reprolab run mad`: one `CaseConfig` per distillation case (teacher, student, generator,
optimisers, evaluation) inside `MADExperimentConfig`, and the quick and paper configs (their sources are stated in
`experiment.py`'s docstring and beside each field)."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from reprolab.methods.mad.distiller import DistillConfig
from reprolab.runtime.config import ConfigError, check_at_least, check_options
from reprolab.runtime.fast import FastPath

Case = Literal["digits", "mnist", "cifar10"]
Teacher = Literal["mnist_lenet5", "digits_cnn16", "cifar10_resnet34", "cifar10_resnet34_constant_lr"]  # RECIPES
Student = Literal["lenet5", "lenet5_half", "cnn16", "cnn6", "resnet34", "resnet18"]   # teachers.build_network


@dataclasses.dataclass(frozen=True)
class AccuracySelection:
    """How a run's reported student test accuracy is taken from its evaluations' accuracies acc_1 .. acc_n (in
    evaluation order): the mean of the last `last_k`, (acc_{n-k+1} + ... + acc_n) / k, or with `last_k` None the
    best, max_i acc_i (DFAD keeps the checkpoint of its best test accuracy)."""
    last_k: int | None

    @property
    def metric(self) -> str:
        """The run record's key of the reported accuracy."""
        return "best_accuracy" if self.last_k is None else "last_k_accuracy"

    @property
    def description(self) -> str:
        """The rule in words, for the claims."""
        if self.last_k is None:
            return "the best of its evaluations, as DFAD keeps its best checkpoint"
        return f"mean of the last {self.last_k} evaluations"

    def select(self, acc: np.ndarray) -> float:
        return float(acc.max()) if self.last_k is None else float(acc[-self.last_k:].mean())


@dataclasses.dataclass(frozen=True)
class CaseConfig:
    teacher: Teacher = "mnist_lenet5"
    student: Student = "lenet5_half"
    nz: int = 100
    ngf: int = 16                       # DFAD 64
    img_size: int = 32
    channels: int = 1
    upsample: Literal["nearest", "bilinear"] = "nearest"   # DFAD; the MAD supplement: bilinear
    conditional: Literal["uncond", "sum", "cat"] = "uncond"  # the MAD figure's class embeddings: "sum" (z + E[y])
    contiguous_generator: bool = False  # DFAD: a contiguous generator; False: channels-last on CPU (faster; its
                                        # convolutions round differently, `experiment.channels_last_generator`)
    num_classes: int = 10
    distill: DistillConfig = DistillConfig(split_batch=True)
    iterations: int = 200               # quick (CPU budget; a 400-iteration design); DFAD MNIST 2000
    student_optimizer: Literal["sgd", "adam"] = "sgd"
    student_lr: float = 0.01
    student_momentum: float = 0.9
    student_weight_decay: float = 1e-4
    generator_lr: float = 1e-3
    cosine: bool = False                # cosine annealing of both learning rates over all iterations (ABM)
    eval_every: int = 20
    last_k: int = 5
    # the reported test accuracy: the mean of the last `last_k` evaluations; "best": the best evaluation, the
    # checkpoint DFAD keeps (its "Best Acc")
    selection: Literal["last_k", "best"] = "last_k"
    forgetting_lag: int = 60
    probe_samples: int = 256            # fixed z of the drift probe and size of each forgetting pool

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("nz", "ngf", "img_size", "channels", "iterations", "eval_every", "last_k",
                                 "probe_samples"))
        if self.forgetting_lag < 1 or self.student_lr <= 0 or self.generator_lr <= 0:
            raise ConfigError("config keys 'forgetting_lag' must be >= 1 and 'student_lr', 'generator_lr' > 0")

    @property
    def accuracy_selection(self) -> AccuracySelection:
        """The reported student test accuracy: the mean of the last `last_k` evaluations, or with
        `selection="best"` the best one."""
        return AccuracySelection(None if self.selection == "best" else self.last_k)


@dataclasses.dataclass(frozen=True)
class MADExperimentConfig(FastPath):     # compile, bf16, channels_last, cuda_graphs: the opt-in GPU fast path
    cases: tuple[Case, ...] = ("digits", "mnist")
    seeds: int = 3
    teacher_seed: int = 0
    digits: CaseConfig = CaseConfig(teacher="digits_cnn16", student="cnn6", nz=32, ngf=16, img_size=8,
                                    student_lr=0.05, student_weight_decay=5e-4, probe_samples=64)
    mnist: CaseConfig = CaseConfig(probe_samples=64)   # 64 probe samples to fit the quick CPU budget
    cifar10: CaseConfig = CaseConfig(teacher="cifar10_resnet34", student="resnet18", nz=100, ngf=64, img_size=32,
                                     channels=3, upsample="bilinear", conditional="sum", distill=DistillConfig(
                                         loss="kl", kl_reduction="mean", order="abm", student_steps=10,
                                         batch_size=128, lambda0=1.0, lambda1=1.0, grad_clip=5.0, beta_at=250.0),
                                     iterations=80_000, student_optimizer="adam", student_lr=2e-3,
                                     student_weight_decay=0.0, cosine=True, eval_every=1000)
    checkpoint_every: int = 0           # distillation iterations, and teacher steps, between in-run checkpoints
                                        # (0: none)
    workers: int = 2

    def __post_init__(self) -> None:
        check_options(self)
        if not self.cases or self.seeds < 1 or self.workers < 1 or self.checkpoint_every < 0:
            raise ConfigError("config keys 'cases' must be non-empty, 'seeds' and 'workers' >= 1, "
                              "'checkpoint_every' >= 0")


CONFIGS = {
    "quick": MADExperimentConfig(),
    "paper": MADExperimentConfig(cases=("digits", "mnist", "cifar10"),
                                 digits=CaseConfig(teacher="digits_cnn16", student="cnn6", nz=32, ngf=16, img_size=8,
                                                   student_lr=0.05, student_weight_decay=5e-4, iterations=400),
                                 mnist=CaseConfig(ngf=64, distill=DistillConfig(batch_size=512, split_batch=True),
                                                  iterations=2000, eval_every=50),
                                 checkpoint_every=1000, workers=1),
}
