"""`reprolab run neural_collapse`: the synthetic UFM table checked against the closed form, and NC on real data.

Quick (CPU, minutes): float64 UFM, d = 32, lambda = 5e-4, SGD lr 0.1 momentum 0.9, 30k iterations:
balanced M in {1, 3, 6}; imbalanced [200, 100, 50, 50] M in {1, 3}; balanced + bias (ETF) M = 3; CE + bias at
small lambda (M = 1, lambda = 5e-4) and the deep CE case (M = 6, lambda = 5e-3) where the ETF is not global;
minority collapse [1000, 1000, 10, 10], M = 1, lambda = 1e-2, lr 0.05. Real data: MNIST, small MLP + M-layer head,
balanced (60 per class) and imbalanced (the first 120, 120, 60, 60, 40, 40, 24, 24, 12, 12 of the classes), exact
theory loss, full-batch Adam, 3 seeds per run. Quick cut: these counts are 0.4 of the 2-core CPU prototype's (150 per
class; 300, 300, 150, ..., 30 imbalanced), the same class ratios, so that 3 seeds of the four real runs fit the quick
budget (each full-batch step costs in proportion to N).
Paper (GPU): d = 64, M in {1, 3, 6, 9}; CIFAR-10 (JPEG copy) with the official recipes:
balanced MLP width 2048 (Adam 1e-4, batch 128, 200 epochs, StepLR(50), MSE + sep_decay 1e-4, metrics every 10
epochs) and imbalanced MLP (counts 100..500, full batch, MSE/2, lambda 1e-5, 12 000 epochs).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from reprolab.data import first_n_per_class, load_cifar10, load_mnist
from reprolab.methods.neural_collapse import theory
from reprolab.methods.neural_collapse.claims import real_claims, synthetic_claims
from reprolab.methods.neural_collapse.metrics import NC1Pinv, layer_product, per_depth_metrics
from reprolab.methods.neural_collapse.model import UFMInit, top_singular_values, train_ufm
from reprolab.methods.neural_collapse.real import NCNetwork, RealRecipe, full_batch_lambda_H, track_collapse
from reprolab.methods.neural_collapse.theory import CollapsedRow
from reprolab.methods.neural_collapse.plots import plot_real_runs, plot_singular_values
from reprolab.runtime.fast import FastPath, check_fast_path, fast_settings
from reprolab.runtime.config import check_at_least, check_choice, check_options, ConfigError
from reprolab.runtime.grid import cell_checkpoint
from reprolab.runtime.distributed import cleanup, init_distributed
from reprolab.runtime.results import RunContext, RunResult

NEEDS_EXTRA_DATA = False
GRID = "run"
GOFLambdas = Literal["mapped", "raw"]
MNISTPreprocessing = Literal["reprolab", "official"]


@dataclasses.dataclass(frozen=True)
class NCConfig(FastPath):   # compile, bf16, channels_last, cuda_graphs: the opt-in GPU fast path (real data)
    # --- synthetic UFM (all values from the official code unless noted) ---
    run_synthetic: bool = True
    ufm_dim: int = 32                      # official 64 (2048 imbalanced README); 32 keeps quick under 5 min
    ufm_steps: int = 30000                 # official
    ufm_lr: float = 0.1
    ufm_momentum: float = 0.9
    ufm_lambda: float = 5e-4               # lambda_W = lambda_H
    ufm_seed: int = 2
    ufm_dtype: Literal["float64", "float32"] = "float64"   # official float32 (torch's default); float64 resolves the
                                                           # relative gaps of 1e-5 the closed-form checks ask for
    ufm_init: UFMInit = "reprolab"         # b = 0, labels permuted by a generator of their own; official: b keeps
                                           # nn.Linear's uniform +-1/sqrt(d), labels permuted from the global stream
                                           # after the model (the official seed-2 labels); the same optima
    balanced_counts: tuple[int, ...] = (100, 100, 100, 100)
    imbalanced_counts: tuple[int, ...] = (200, 100, 50, 50)
    balanced_depths: tuple[int, ...] = (1, 3, 6)
    imbalanced_depths: tuple[int, ...] = (1, 3)
    bias_depths: tuple[int, ...] = (3,)
    ce_small_lambda: float = 5e-4          # ETF asserted only for small lambda * M
    ce_small_depth: int = 1
    ce_deep_lambda: float = 5e-3           # the documented negative: ETF not global
    ce_deep_depth: int = 6
    ce_deep_dim: int = 64                  # at d = 32 GD falls into the trivial s = 0 point
    minority_counts: tuple[int, ...] = (1000, 1000, 10, 10)
    minority_depth: int = 1
    minority_lambda: float = 1e-2
    minority_lr: float = 0.05
    # --- real data: one recipe for the balanced runs, one for the imbalanced runs ---
    run_real: bool = True
    real_dataset: Literal["mnist", "cifar10"] = "mnist"
    real_seeds: int = 3                    # seeds per real-data run (run seed, +1, ...): a paired comparison over
                                           # seeds decides each real-data claim
    balanced: RealRecipe = dataclasses.field(default_factory=lambda: QUICK_RECIPE)
    imbalanced: RealRecipe = dataclasses.field(default_factory=lambda: dataclasses.replace(
        QUICK_RECIPE, counts=(120, 120, 60, 60, 40, 40, 24, 24, 12, 12)))
    # --- metrics ---
    nc1_pinv: NC1Pinv = "float64"          # official: scipy.linalg.pinv of a float32 Sigma_B (cut-off d eps_float32
                                           # s_max, 2.4e-4 s_max at d = 2048); float64: cut-off 1e-12 s_max
    gof_lambdas: GOFLambdas = "mapped"     # real data: GOF targets from the decays mapped onto the trained
                                           # objective (theory.theory_lambdas); official "raw": the recipe's lambda_W,
                                           # lambda_H as given, whatever the loss convention
    gof_collapsed_row: CollapsedRow = "zero"   # GOF NC3_W target row of a collapsed class: 0; official "c": c hbar_k
    mnist_preprocessing: MNISTPreprocessing = "reprolab"   # MNIST at 28 x 28, one channel, normalised by its own
                                           # mean and std; official: 3 grey channels resized to 32 x 32, normalised by
                                           # 0.1307 / 0.3081 (`official_mnist`)
    # --- execution ---
    workers: int = 2                       # parallel processes for independent runs (CPU)

    def __post_init__(self) -> None:
        check_options(self)
        positive = ("ufm_dim", "ufm_steps", "ce_small_depth", "ce_deep_depth", "ce_deep_dim", "minority_depth",
                    "real_seeds", "workers")
        check_at_least(self, 1, positive)
        for key in ("ufm_lr", "minority_lr"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"config key {key!r} must be > 0, got {getattr(self, key)}")
        for key in ("balanced_counts", "imbalanced_counts", "minority_counts", "balanced_depths", "imbalanced_depths",
                    "bias_depths"):
            if any(v < 1 for v in getattr(self, key)):
                raise ConfigError(f"config key {key!r} takes values >= 1, got {getattr(self, key)}")
        if self.mnist_preprocessing == "official" and self.real_dataset != "mnist":
            raise ConfigError(f"config key 'mnist_preprocessing': 'official' prepares MNIST only, and 'real_dataset' "
                              f"is {self.real_dataset!r}")


# A 2-core CPU prototype's recipe: small MLP, exact theory loss, lambda 1e-3, full-batch Adam 1e-3, 2000 steps,
# StepLR(1000, 0.1), backbone unregularised; the first 60 samples of each MNIST class (the prototype: 150; the quick
# cut in the module docstring).
QUICK_RECIPE = RealRecipe(counts=(60,) * 10, depths=(1, 3), backbone="mlp", width=128, mlp_depth=3, lambda_W=1e-3,
                          lambda_H=1e-3, loss_convention="theory", optimizer="adam", lr=1e-3, momentum=0.9,
                          weight_decay=0.0, batch_size=0, epochs=2000, lr_step_epochs=1000, lr_gamma=0.1,
                          eval_every_epochs=50)
# Official CIFAR-10 recipes (code defaults, not confirmed from the paper).
PAPER_BALANCED = RealRecipe(counts=(5000,) * 10, depths=(1, 3, 6, 9), backbone="mlp_bn", width=2048, mlp_depth=6,
                            lambda_W=1e-4, lambda_H=1e-4, loss_convention="official", optimizer="adam", lr=1e-4,
                            momentum=0.9, weight_decay=0.0, batch_size=128, epochs=200, lr_step_epochs=50,
                            lr_gamma=0.1, eval_every_epochs=10, head_bias=True)
PAPER_IMBALANCED = RealRecipe(counts=(100, 100, 200, 200, 300, 300, 400, 400, 500, 500), depths=(1, 3, 6),
                              backbone="mlp", width=2048, mlp_depth=6, lambda_W=1e-5, lambda_H=1e-5,
                              loss_convention="official_half", optimizer="adam", lr=1e-4, momentum=0.9,
                              weight_decay=0.0, batch_size=0, epochs=12000, lr_step_epochs=6000, lr_gamma=0.1,
                              eval_every_epochs=500)

CONFIGS = {
    "quick": NCConfig(),
    "paper": NCConfig(ufm_dim=64, balanced_depths=(1, 3, 6, 9), imbalanced_depths=(1, 3, 6), bias_depths=(3,),
                      real_dataset="cifar10", balanced=PAPER_BALANCED, imbalanced=PAPER_IMBALANCED, workers=1),
}


@dataclasses.dataclass(frozen=True)
class SyntheticCase:
    name: str
    kind: Literal["balanced", "imbalanced", "bias", "ce_small", "ce_deep", "minority"]
    counts: tuple[int, ...]
    depth: int
    lam: float
    lr: float
    bias: bool
    loss: Literal["mse", "ce"]
    dim: int


def synthetic_cases(cfg: NCConfig) -> list[SyntheticCase]:
    lam, lr, d = cfg.ufm_lambda, cfg.ufm_lr, cfg.ufm_dim
    cases = [SyntheticCase(f"balanced_M{m}", "balanced", cfg.balanced_counts, m, lam, lr, False, "mse", d)
             for m in cfg.balanced_depths]
    cases += [SyntheticCase(f"imbalanced_M{m}", "imbalanced", cfg.imbalanced_counts, m, lam, lr, False, "mse", d)
              for m in cfg.imbalanced_depths]
    cases += [SyntheticCase(f"bias_M{m}", "bias", cfg.balanced_counts, m, lam, lr, True, "mse", d)
              for m in cfg.bias_depths]
    cases.append(SyntheticCase(f"ce_M{cfg.ce_small_depth}_lam{cfg.ce_small_lambda:g}", "ce_small",
                               cfg.balanced_counts, cfg.ce_small_depth, cfg.ce_small_lambda, lr, True, "ce", d))
    cases.append(SyntheticCase(f"ce_M{cfg.ce_deep_depth}_lam{cfg.ce_deep_lambda:g}", "ce_deep", cfg.balanced_counts,
                               cfg.ce_deep_depth, cfg.ce_deep_lambda, lr, True, "ce", max(d, cfg.ce_deep_dim)))
    cases.append(SyntheticCase(f"minority_M{cfg.minority_depth}", "minority", cfg.minority_counts,
                               cfg.minority_depth, cfg.minority_lambda, cfg.minority_lr, False, "mse", d))
    return cases


def run_synthetic_case(case: SyntheticCase, cfg: NCConfig, device: str, checkpoint: Path, resume: bool) -> dict:
    """Train one UFM by full-batch GD and compare it with the closed form (JSON-ready record)."""
    run = train_ufm(case.counts, dim=case.dim, depth=case.depth, lambda_W=case.lam, lambda_H=case.lam,
                    steps=cfg.ufm_steps, lr=case.lr, momentum=cfg.ufm_momentum, bias=case.bias, loss=case.loss,
                    dtype=getattr(torch, cfg.ufm_dtype), init=cfg.ufm_init,
                    seed=cfg.ufm_seed, eval_every=max(cfg.ufm_steps // 50, 1), checkpoint=checkpoint,
                    checkpoint_every=max(cfg.ufm_steps // 5, 1), resume=resume, device=device)
    K = len(case.counts)
    H = run.model.H.detach().double().cpu().numpy()
    labels = run.labels.cpu().numpy()
    layers, b = run.model.head.numpy_layers(), run.model.head.numpy_bias()
    svals = top_singular_values(run.model, K)
    record = {"case": dataclasses.asdict(case), "loss_gd": run.final_loss,
              "loss_curve": [(h["step"], h["loss"]) for h in run.history],
              "singular_values_gd": svals.tolist(), "bias": None if b is None else b.tolist()}
    product = layer_product(layers)
    record["row_norms"] = np.linalg.norm(product, axis=1).tolist()
    if case.loss == "mse":
        problem = theory.UFMProblem(case.counts, case.depth, case.lam, case.lam, bias=case.bias)
        gof = None if case.bias else theory.GOFTarget.from_problem(problem, cfg.gof_collapsed_row)
        s_star = theory.predicted_singular_values(problem)
        record.update(loss_theory=theory.optimal_loss(problem), s_theory=s_star.tolist(),
                      layer_s_theory=theory.layer_singular_values(problem).tolist(),
                      per_depth=per_depth_metrics(H, labels, layers, b, gof=gof, nc1_pinv=cfg.nc1_pinv))
        if case.depth >= 2:
            record["s_official_root"] = [theory.official_root_choice(n, problem.N, case.depth, case.lam, case.lam)
                                         for n in case.counts]
    else:
        etf = theory.balanced_ce_etf(K, case.counts[0], case.depth, case.lam, case.lam)
        record.update(loss_theory=etf.loss, etf_margin=etf.margin, s_theory=[etf.singular_value] * (K - 1) + [0.0],
                      per_depth=per_depth_metrics(H, labels, layers, b, nc1_pinv=cfg.nc1_pinv),
                      rank_of_product=int(np.linalg.matrix_rank(product, tol=1e-6 * np.abs(product).max())))
    record["metrics"] = record["per_depth"][0]
    return record


# The official code's normalisation (`datasets.py`): CIFAR-10 by fixed per-channel means and stds, MNIST by one.
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@functools.lru_cache(maxsize=1)
def load_real_data(dataset: str, mnist_preprocessing: MNISTPreprocessing = "reprolab"
                   ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """Training images as float32 (N, C, H, W) normalised per channel (CIFAR-10 by the official constants, MNIST by
    its own mean and std, or with `mnist_preprocessing="official"` as `official_mnist`), labels int64, and the input
    shape. Kept per process for the next cell of the same dataset; callers index the tensors and never write to
    them."""
    loaders = {"mnist": load_mnist, "cifar10": load_cifar10}
    check_choice("real_dataset", dataset, tuple(loaders))
    data = loaders[dataset]("train")
    if dataset == "mnist" and mnist_preprocessing == "official":
        x = torch.from_numpy(official_mnist(data.x)).expand(-1, 3, -1, -1)   # Grayscale(3): one channel's memory
        return x, torch.from_numpy(data.y), tuple(x.shape[1:])
    x = data.x.astype(np.float32) / 255.0
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    return torch.from_numpy(normalised(x, dataset)), torch.from_numpy(data.y), tuple(x.shape[1:])


def normalised(x: np.ndarray, dataset: str) -> np.ndarray:
    """(x - mean) / std per channel of (N, C, H, W) images in [0, 1]: CIFAR-10's official constants, else the
    images' own mean and std (MNIST; the official code's 0.1307 / 0.3081 are about the same)."""
    if dataset == "cifar10":
        mean, std = (np.array(v, dtype=np.float32).reshape(1, 3, 1, 1) for v in (CIFAR10_MEAN, CIFAR10_STD))
    else:
        mean, std = x.mean(axis=(0, 2, 3), keepdims=True), x.std(axis=(0, 2, 3), keepdims=True)
    return (x - mean) / std


def official_mnist(images: np.ndarray) -> np.ndarray:
    """The official code's MNIST input (`datasets.py`: Grayscale(3), Resize(32), ToTensor, Normalize(0.1307, 0.3081))
    but for Grayscale(3)'s three equal channels, which `load_real_data` gives as a view: each (28, 28) uint8 image
    resized to 32 x 32 by PIL's bilinear filter (torchvision's Resize of a PIL image, which rounds to uint8), scaled
    to [0, 1], (x - 0.1307) / 0.3081 in float32 -> (N, 1, 32, 32)."""
    from PIL import Image

    resized = np.stack([np.asarray(Image.fromarray(image).resize((32, 32), Image.Resampling.BILINEAR))
                        for image in np.asarray(images, np.uint8)])
    x = (resized.astype(np.float32) / np.float32(255.0) - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)
    return x[:, None]


def real_gof_target(recipe: RealRecipe, depth: int, mapped: theory.UFMProblem, lambdas: GOFLambdas = "mapped",
                    collapsed_row: CollapsedRow = "zero") -> theory.GOFTarget | None:
    """The GOF targets of a bias-free head (None with a head bias): s_k* of `mapped`, the UFM whose decays are mapped
    onto the trained objective, or with `lambdas="raw"` of the UFM with the recipe's lambda_W and lambda_H as given,
    as the official code computes them (`validate_NC_unbalanced.py`: the arguments' 1e-5, though its loss is
    nn.MSELoss / 2)."""
    if recipe.head_bias:
        return None
    problem = mapped if lambdas == "mapped" else theory.UFMProblem(recipe.counts, depth, recipe.lambda_W,
                                                                   recipe.lambda_H)
    return theory.GOFTarget.from_problem(problem, collapsed_row)


def run_real_case(cfg: NCConfig, name: str, recipe: RealRecipe, depth: int, device: str, checkpoint: Path,
                  resume: bool, seed: int, progress: bool | None) -> dict:
    """Train backbone + M-layer head on the first n_k samples of each class; NC metrics along training. `cfg` gives
    the dataset (`real_dataset`, `mnist_preprocessing`), the fast path, `nc1_pinv` and the GOF targets'
    `gof_lambdas` and `gof_collapsed_row`."""
    dist = init_distributed(device)
    x_all, y_all, in_shape = load_real_data(cfg.real_dataset, cfg.mnist_preprocessing)
    idx = first_n_per_class(y_all.numpy(), recipe.counts)
    x, y = x_all[idx].to(dist.device), y_all[idx].to(dist.device)
    torch.manual_seed(seed)
    model = NCNetwork(recipe.backbone, in_shape, len(recipe.counts), depth, recipe.width, recipe.mlp_depth,
                      head_bias=recipe.head_bias, init=recipe.init)
    model = model.to(dist.device)
    scale, lam_W, lam_H = theory.theory_lambdas(recipe.loss_convention, len(recipe.counts), recipe.lambda_W,
                                                full_batch_lambda_H(recipe, len(y)))
    problem = theory.UFMProblem(recipe.counts, depth, lam_W, lam_H, bias=recipe.head_bias)
    gof = real_gof_target(recipe, depth, problem, cfg.gof_lambdas, cfg.gof_collapsed_row)
    result = track_collapse(model, x, y, recipe, gof=gof, dist=dist, fast=fast_settings(cfg), nc1_pinv=cfg.nc1_pinv,
                            checkpoint=checkpoint, resume=resume, progress=progress, desc=name, seed=seed)
    result.update(name=name, seed=seed, counts=list(recipe.counts), depth=depth,
                  loss_ufm_prediction=scale * theory.optimal_loss(problem),
                  s_theory=theory.predicted_singular_values(problem).tolist())
    cleanup(dist)
    return result


def real_name(cfg: NCConfig, cell: dict) -> str:
    """The run a real-data cell belongs to (dataset, recipe, depth), the same for all its seeds."""
    return f"{cfg.real_dataset}_{cell['recipe']}_M{cell['depth']}"


def real_seeds(cfg: NCConfig, seed: int) -> list[int]:
    return list(range(seed, seed + cfg.real_seeds))


def grid_cells(cfg: NCConfig, seed: int) -> list[dict]:
    """One cell per synthetic UFM case and per (real recipe, depth, seed)."""
    cells = [{"part": "ufm", "case": case.name} for case in synthetic_cases(cfg)] if cfg.run_synthetic else []
    if cfg.run_real:
        for label, recipe in (("balanced", cfg.balanced), ("imbalanced", cfg.imbalanced)):
            cells += [{"part": "real", "recipe": label, "depth": depth, "seed": s} for depth in recipe.depths
                      for s in real_seeds(cfg, seed) if recipe.counts]
    return cells


def run_cell(cell: dict, cfg: NCConfig, device: str, out_dir: Path, resume: bool, progress: bool | None) -> dict:
    checkpoint = cell_checkpoint(out_dir, GRID, cell)
    if cell["part"] == "ufm":
        case = next(c for c in synthetic_cases(cfg) if c.name == cell["case"])
        return run_synthetic_case(case, cfg, device, checkpoint, resume)
    recipe = getattr(cfg, cell["recipe"])
    return run_real_case(cfg, real_name(cfg, cell), recipe, cell["depth"], device, checkpoint, resume, cell["seed"],
                         progress)


def run(cfg: NCConfig, ctx: RunContext) -> RunResult:
    check_fast_path(cfg, ctx.device)
    grid = ctx.grid(GRID, grid_cells(cfg, ctx.seed), run_cell, cfg, ctx.device, ctx.out_dir, ctx.resume, None,
                    workers=cfg.workers if ctx.device == "cpu" else 1)
    synthetic = {cell["case"]: value for cell, value in grid.select(part="ufm")}
    real = {f"{real_name(cfg, cell)}_seed{cell['seed']}": value for cell, value in grid.select(part="real")}
    claims = synthetic_claims(synthetic) + real_claims(real)
    with ctx.timed("plots"):
        artifacts = []
        if synthetic:
            artifacts.append(plot_singular_values(synthetic, ctx.out_dir / "plot_singular_values.png").name)
        if real:
            artifacts.append(plot_real_runs(real, ctx.out_dir / "plot_nc_vs_epoch.png").name)
    return ctx.result("neural_collapse", cfg, sorted({cfg.ufm_seed, *real_seeds(cfg, ctx.seed)}),
                      {"synthetic": synthetic, "real": real}, claims, artifacts)
