"""`reprolab run mad`: MAD against its base game (DFAD on digits and MNIST, ABM/ZSKT on the paper-scale CIFAR-10
case), same seeds, same number of student updates; on digits and MNIST also the same samples (MAD splits each student
batch B/2 from G + B/2 from G~: `split_batch`), on CIFAR-10 the spec's 128 from G + 128 from G~.

Cases:
- "digits" (smoke): scikit-learn 8x8 digits, teacher CNN(16) -> student CNN(6), GeneratorA at 8x8 (nz 32, ngf 16),
  B 64, n_s 5, student SGD lr 0.05, momentum 0.9, wd 5e-4, G Adam 1e-3 (the 2-core CPU prototype; 200 iterations at
  quick scale instead of its 400, to fit the 3-minute quick budget).
- "mnist" (quick): MNIST LeNet5 -> LeNet5-half (the DFAD setting scaled down: B 64, ngf 16, nz 100, n_s 5, student
  SGD 0.01 / 0.9 / 1e-4, G Adam 1e-3), evaluated every 20 iterations on the 10k test set; 200 iterations at quick
  scale (a 400-iteration design cut to fit the CPU budget), the full DFAD settings (B 512, ngf 64, 2000 iterations)
  at paper scale.
- "cifar10" (paper): ResNet-34 -> ResNet-18 with the ABM settings (KL "mean", attention transfer 250 on the four
  stage outputs, Adam 2e-3 / 1e-3 with cosine annealing, n_s 10, B 128, clip 5, 80k cycles, lambda = (1, 1)), and
  the generator of the MAD figure: class-conditional (z + E[y], the supplement's most stable input) with bilinear
  upsampling (the supplement's); its CE weight stays 0 (unknown).
Both methods: alpha 0.95, lambda = (0.5, 0.5) under SGD (design); the base method is lambda = (1, 0).
Metrics (mean, standard error and per-seed values, seeds in the same order for both methods): the mean test accuracy
of the last k = 5 evaluations (`selection="best"`: the best evaluation instead, as DFAD keeps its best checkpoint; the
metric is then `best_accuracy`), final accuracy, the second-half standard deviation, the drift
probe (JS per generator step for G and G~, in the MAD runs: spec §6 measures the two generators; a base run trains
on G alone and runs no drift probe), the forgetting probe (student agreement with the teacher on G's samples from 60
iterations earlier), seconds per iteration (training and evaluation; the drift probe's seconds are kept apart).
The grid runs the costliest case's cells first (`longest_first`); each cell seeds itself, so the order changes no
number.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from reprolab.methods.mad.baselines import base_method
from reprolab.methods.mad.claims import claims
from reprolab.methods.mad.config import CONFIGS as CONFIGS, CaseConfig, MADExperimentConfig  # registry reads CONFIGS
from reprolab.methods.mad.distiller import Distiller
from reprolab.methods.mad.plots import plot_accuracy, plot_drift, plot_samples
from reprolab.methods.mad.probes import DriftProbe, ForgettingProbe
from reprolab.methods.mad.teachers import RECIPES, build_network, load_or_train_teacher, load_split
from reprolab.nets import GeneratorA
from reprolab.nets.scoring import accuracy
from reprolab.runtime.stats import mean_se
from reprolab.runtime.fast import FastPath, check_fast_path, fast_settings
from reprolab.runtime.grid import GridResults, cell_checkpoint, product
from reprolab.runtime.results import RunContext, RunResult
from reprolab.runtime.train import LoopCheckpoints, run_loop

NEEDS_EXTRA_DATA = False
METHODS = ("base", "mad")
GRID = "run"
EVAL_BATCH = 250      # test images per forward pass: on a 2-core AMD EPYC CPU, 10k MNIST images score about twice as
                      # fast as in batches of 1 000, with identical logits (benchmarks/mad.py)


def dataset_of(case: CaseConfig) -> str:
    return RECIPES[case.teacher].dataset


def make_distiller(case: CaseConfig, method: str, teacher, seed: int, device: str,
                   fast: FastPath = FastPath()) -> Distiller:
    """Student, generator and optimizers for one run; `method` "base" (lambda = (1, 0)) or "mad"."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    torch.manual_seed(seed)
    student = build_network(case.student).to(device)
    generator = GeneratorA(case.nz, case.ngf, case.img_size, case.channels, case.upsample, case.conditional,
                           case.num_classes if case.conditional != "uncond" else 0).to(device)
    if torch.device(device).type == "cpu" and not case.contiguous_generator:   # measured: faster MNIST steps on
        generator = channels_last_generator(generator)                          # CPU (README, Performance)
    cfg = case.distill if method == "mad" else base_method(case.distill)
    if case.student_optimizer == "sgd":
        opt_s = torch.optim.SGD(student.parameters(), lr=case.student_lr, momentum=case.student_momentum,
                                weight_decay=case.student_weight_decay)
    else:
        opt_s = torch.optim.Adam(student.parameters(), lr=case.student_lr, weight_decay=case.student_weight_decay)
    opt_g = torch.optim.Adam(generator.parameters(), lr=case.generator_lr)
    schedulers = tuple(torch.optim.lr_scheduler.CosineAnnealingLR(o, case.iterations) for o in (opt_s, opt_g)) \
        if case.cosine else ()
    return Distiller(teacher, student, generator, cfg, student_optimizer=opt_s, generator_optimizer=opt_g,
                     schedulers=schedulers, seed=seed, device=device, num_classes=case.num_classes, fast=fast)


def channels_last_output(_module, _inputs, output: torch.Tensor) -> torch.Tensor:
    return output.contiguous(memory_format=torch.channels_last)


def channels_last_generator(generator: GeneratorA) -> GeneratorA:
    """The generator in channels-last memory format, its first BatchNorm's output converted to channels-last too:
    `l1`'s output is a contiguous view, so without the conversion the first upsampling runs on contiguous data
    and the first convolution converts its 4x larger input. The values are the same bit for bit (the BatchNorm
    runs as before, the conversion only moves values, and the upsampling, nearest or bilinear, gives the same bits
    in either layout; tested). On a 2-core AMD EPYC CPU the MNIST quick generator is 1.03-1.08x faster on 32
    samples and 1.05x on the forward and backward pass on 64 (benchmarks/mad.py). The EMA copy (a deep copy) keeps the
    hook."""
    generator = generator.to(memory_format=torch.channels_last)
    generator.blocks[0].register_forward_hook(channels_last_output)
    return generator


def run_distillation(seed: int, case_name: str, method: str, cfg: MADExperimentConfig, device: str = "cpu",
                     checkpoint: Path | None = None, resume: bool = False, samples_path: Path | None = None) -> dict:
    case = getattr(cfg, case_name)
    teacher, teacher_record = load_or_train_teacher(case.teacher, cfg.teacher_seed, device)
    x_test, y_test = load_split(dataset_of(case), "test")
    distiller = make_distiller(case, method, teacher, seed, device, fast_settings(cfg))
    forgetting = ForgettingProbe(distiller, lag=case.forgetting_lag, n=case.probe_samples)
    objects = {**distiller.checkpoint_objects(), "forgetting": forgetting}
    drift = DriftProbe(distiller, n=case.probe_samples) if method == "mad" else None   # G and G~ (spec §6)
    probe_seconds = [0.0]
    if drift is not None:
        drift.update(distiller)
        objects["drift"] = drift

    def step(_):
        info = distiller.iteration()
        if drift is not None:
            start = time.perf_counter()
            drift.update(distiller)
            probe_seconds[0] += time.perf_counter() - start
        return info["loss_s"]

    def evaluate(iteration):
        distiller.read_losses()                          # a non-finite loss raises here at the latest
        forgetting.update(distiller, iteration)
        return {"accuracy": accuracy(distiller.student, x_test, y_test, batch=EVAL_BATCH)}

    start = time.perf_counter()
    history = run_loop(case.iterations, step, objects=objects, eval_fn=evaluate, eval_every=case.eval_every,
                       checkpoint=checkpoint if cfg.checkpoint_every else None,
                       checkpoint_every=cfg.checkpoint_every, resume=resume)
    seconds = time.perf_counter() - start
    acc = np.asarray([h["accuracy"] for h in history])
    if samples_path is not None:
        plot_samples(distiller, samples_path)
    selection = case.accuracy_selection
    return {"history": history, selection.metric: selection.select(acc), "final_accuracy": float(acc[-1]),
            "second_half_std": float(acc[len(acc) // 2:].std()),
            **({"drift": drift.summary()} if drift is not None else {}), "forgetting": forgetting.summary(),
            "seconds": seconds, "drift_probe_seconds": probe_seconds[0],
            "seconds_per_iteration": (seconds - probe_seconds[0]) / case.iterations, "teacher": teacher_record}


def run_cell(cell: dict, cfg: MADExperimentConfig, device: str, out_dir: Path, resume: bool, first_seed: int) -> dict:
    """One (case, method, seed) distillation; the first seed's MAD run also draws the samples figure."""
    case_name, method, seed = cell["case"], cell["method"], cell["seed"]
    samples = out_dir / f"samples_{case_name}.png" if (method == "mad" and seed == first_seed) else None
    checkpoint = cell_checkpoint(out_dir, GRID, cell)
    return run_distillation(seed, case_name, method, cfg, device, checkpoint, resume, samples)


def run(cfg: MADExperimentConfig, ctx: RunContext) -> RunResult:
    check_fast_path(cfg, ctx.device)
    seed = ctx.seed
    teachers = {}
    checkpoints = LoopCheckpoints(ctx.out_dir / "checkpoints", cfg.checkpoint_every, ctx.resume)
    for case_name in cfg.cases:
        case = getattr(cfg, case_name)
        teachers[case_name] = ctx.stage(f"teacher_{case_name}", lambda case=case: load_or_train_teacher(
            case.teacher, cfg.teacher_seed, ctx.device, ctx.progress, threads=os.cpu_count(),
            checkpoints=checkpoints)[1])
    cells = product(case=longest_first(cfg), method=list(METHODS), seed=list(range(seed, seed + cfg.seeds)))
    runs = ctx.grid(GRID, cells, run_cell, cfg, ctx.device, ctx.out_dir, ctx.resume, seed, workers=cfg.workers)
    metrics = {"teachers": teachers,
               "cases": {c: summarize_case(runs, c, getattr(cfg, c).accuracy_selection.metric) for c in cfg.cases}}
    with ctx.timed("plots"):
        artifacts = [plot_accuracy(metrics["cases"], ctx.out_dir / "plot_accuracy.png").name,
                     plot_drift(metrics["cases"], ctx.out_dir / "plot_drift.png").name]
        artifacts += [f"samples_{c}.png" for c in cfg.cases if (ctx.out_dir / f"samples_{c}.png").exists()]
    return ctx.result("mad", cfg, list(range(seed, seed + cfg.seeds)), metrics, claims(metrics, cfg), artifacts)


def case_cost(case: CaseConfig) -> int:
    """A proxy for a case's compute per run (iterations x samples x pixels x generator width), used only to order
    the grid."""
    return case.iterations * case.distill.batch_size * case.img_size ** 2 * case.ngf


def longest_first(cfg: MADExperimentConfig) -> list[str]:
    """The cases, the costliest first: the two workers then end within about one short run of each other."""
    return sorted(cfg.cases, key=lambda name: -case_cost(getattr(cfg, name)))


def seed_values(values: list[float]) -> dict:
    """Mean and standard error over seeds, and the per-seed values in seed order (the same for both methods)."""
    return {**mean_se(values), "per_seed": [float(v) for v in values]}


def summarize_case(runs: GridResults, case_name: str, accuracy_metric: str) -> dict:
    """A case's metrics per method over the seeds; the reported accuracy under its key `accuracy_metric`."""
    out = {}
    for method in METHODS:
        seeds = runs.values(case=case_name, method=method)
        steps = [h["step"] for h in seeds[0]["history"]]
        curves = np.asarray([[h["accuracy"] for h in r["history"]] for r in seeds])
        out[method] = {accuracy_metric: seed_values([r[accuracy_metric] for r in seeds]),
                       "final_accuracy": seed_values([r["final_accuracy"] for r in seeds]),
                       "second_half_std": seed_values([r["second_half_std"] for r in seeds]),
                       "curve_steps": steps, "curve_mean": curves.mean(0).tolist(),
                       "forgetting_drop": seed_values([r["forgetting"]["mean_drop"] for r in seeds]),
                       "old_agreement": seed_values([r["forgetting"]["old_agreement"] for r in seeds]),
                       "seconds_per_iteration": seed_values([r["seconds_per_iteration"] for r in seeds])}
        if method == "mad":                # the drift probe runs in the MAD runs only (spec §6: G and G~)
            out[method]["js_step_G"] = seed_values([r["drift"]["js_step_G"] for r in seeds])
            out[method]["js_step_G_ema"] = seed_values([r["drift"]["js_step_G_ema"] for r in seeds])
            out[method]["js_ratio"] = seed_values([r["drift"]["ratio_G_over_G_ema"] for r in seeds])
    return out
