"""`reprolab run trojan_filter`: IF / VIF / AIF filtering and Filtering-then-Contrasting against BadNet+, noise-BI+,
image-BI+, the input-aware dynamic attack and WaNet, against STRIP, Neural Cleanse, Fine-Pruning and a Februus-like
purifier, on MNIST (quick) or CIFAR-10 (JPEG copy; paper).

Data ([0, 1] images): the first `train_size` training images train the Trojaned classifier; the next
`defender_size` form the defender's clean set D_def (a tenth of it held out for the collapse check); the first
`test_size` test images evaluate. CIFAR-10 is shuffled once with a fixed seed first (the JPEG copy is grouped by
class). MNIST classifier: NetCMNIST (the WaNet code's MNIST network, inputs normalised to [-1, 1] inside the
wrapper), Adam 1e-3, batch 128, 10 % of each batch poisoned (2-core CPU prototype; BadNet+ 2 epochs, WaNet 4 epochs with
s = 1.0 and 20 % noise mode). CIFAR-10 classifier: PreActResNet18, SGD lr 0.01, momentum 0.9, weight decay 5e-4,
x0.1 at fixed milestones, random crop (padding 5) and horizontal flip (the WaNet code's recipe, cut to fewer
epochs). A benign classifier with the BadNet+ schedule gives the clean reference. Filters: Adam 1e-3, lambda_rec
0.01, VIF lambda_KL 0.05 with warm-up; AIF alternates one trigger-generator step and one filter step per batch.
Sweeps (robustness): filters retrained on smaller defender sets (`defender_sweep`), and image-BI+ at larger
blend weights (`norm_sweep`, a classifier per alpha).
ASR counts test images whose label differs from the trigger's target, per trigger. FtC FPR: clean test inputs
flagged; FNR: Trojan inputs not flagged, over all of them and over those the classifier sends to the target (T8).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Literal
import time

import numpy as np
import torch
from torch.nn import functional as F

from reprolab.data import load_cifar10, load_mnist
from reprolab.methods.trojan_filter.claims import claims
from reprolab.methods.trojan_filter.input_aware import InputAware, InputAwareConfig
from reprolab.methods.trojan_filter.adversarial import AIFConfig, TriggerGenerator, train_adversarial_filter
from reprolab.methods.trojan_filter.attacks import BadNetPlus, BlendedPlus, TrojanAttack, WaNet, attack_success
from reprolab.methods.trojan_filter.baselines.februus import FebruusConfig, FebruusFilter, Inpainter, train_inpainter
from reprolab.methods.trojan_filter.baselines.fine_pruning import FinePruningConfig, fine_prune
from reprolab.methods.trojan_filter.metrics import accuracy, batched, fraction
from reprolab.methods.trojan_filter.baselines.neural_cleanse import NeuralCleanseConfig, neural_cleanse, unlearn
from reprolab.methods.trojan_filter.filters import (FilterCollapsed, FilterConfig, FilterDefense, PlainFilter,
                                                    VariationalFilter, train_filter)
from reprolab.methods.trojan_filter.plots import plot_examples, plot_sweeps, plot_table
from reprolab.methods.trojan_filter.baselines.strip import STRIP
from reprolab.nets import NetCMNIST, Normalized, PreActResNet18
from reprolab.runtime.config import check_at_least, check_options, config_to_dict, ConfigError
from reprolab.runtime.results import RunContext, RunResult

NEEDS_EXTRA_DATA = False
DATASETS = {"mnist": (1, 28), "cifar10": (3, 32)}              # channels, image size
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def train_defense(name: str, classifier, x_def, y_def, cfg: "TrojanExperimentConfig", seed: int):
    """The filter of defense `name` ("IF", "VIF" or "AIF") trained on the defender's set, and its loss log."""
    channels = x_def.shape[1]
    shape = {"channels": channels, "width": cfg.filter_width, "latent": cfg.filter_latent}
    if name == "AIF":
        filt = PlainFilter(**shape).to(x_def.device)
        aif = AIFConfig(filter=dataclasses.replace(cfg.filter, steps=cfg.aif_steps))
        generator = TriggerGenerator(channels, width=cfg.filter_width).to(x_def.device)
        log = train_adversarial_filter(filt, generator, classifier, x_def, y_def, aif, seed)
        return filt, log
    filters = {"IF": PlainFilter, "VIF": VariationalFilter}
    if name not in filters:
        raise ValueError(f"unknown defense {name!r}; known: IF, VIF, AIF")
    filt = filters[name](**shape).to(x_def.device)
    return filt, train_filter(filt, classifier, x_def, y_def, cfg.filter, seed)


Attack = Literal["badnet_plus", "wanet", "noise_bi_plus", "image_bi_plus", "input_aware"]


@dataclasses.dataclass(frozen=True)
class TrojanExperimentConfig:
    dataset: Literal["mnist", "cifar10"] = "mnist"       # cifar10: the JPEG copy
    attacks: tuple[Attack, ...] = ("badnet_plus", "wanet")
    defenses: tuple[Literal["IF", "VIF", "AIF"], ...] = ("IF", "VIF", "AIF")
    train_size: int = 12_000             # 2-core CPU prototype
    defender_size: int = 2000            # 2-core CPU prototype
    test_size: int = 1000                # 2-core CPU prototype
    poison_rate: float = 0.1
    badnet_epochs: int = 2               # 2-core CPU prototype; also BI+ and the benign reference
    wanet_epochs: int = 4                # 2-core CPU prototype
    input_aware_epochs: int = 4
    wanet_s: float = 1.0                 # raised from the official 0.5 for the short schedule
    wanet_noise_fraction: float = 0.2    # 2-core CPU prototype noise mode
    input_aware: InputAwareConfig = InputAwareConfig()
    blend_alpha: float = 0.15            # noise-BI+ (prototype default)
    image_blend_alpha: float = 0.25      # image-BI+: the "large-norm trigger" case (0.2-0.3)
    classifier_optimizer: Literal["adam", "sgd"] = "adam"   # adam: CPU prototype; sgd: official (momentum 0.9, wd 5e-4)
    classifier_lr: float = 1e-3
    classifier_batch: int = 128
    lr_milestones: tuple[int, ...] = ()  # epochs where the lr is multiplied by 0.1 (official 100/200/300/400)
    augment: bool = False                # random crop (padding 5) + horizontal flip (the CIFAR-10 recipe)
    filter: FilterConfig = FilterConfig()
    filter_width: int = 32               # MNIST 32 (latent 7x7x16); CIFAR-10 wider (64, latent 8x8x32)
    filter_latent: int = 16
    defender_sweep: tuple[int, ...] = ()  # smaller defender sets the filters are retrained on (robustness)
    sweep_attacks: tuple[Attack, ...] = ("badnet_plus", "wanet")
    norm_sweep: tuple[float, ...] = ()   # image-BI+ blend weights, a classifier each ("large-norm triggers")
    aif_steps: int = 256                 # 2-core CPU prototype ("8 ep"); an AIF step costs about two filter steps
    collapse_floor: float = 0.9          # A4: filtered clean accuracy on held-out D_def
    strip_blends: int = 20
    strip_fpr: float = 0.01
    neural_cleanse: NeuralCleanseConfig = NeuralCleanseConfig()
    fine_pruning: FinePruningConfig = FinePruningConfig()
    februus: FebruusConfig = FebruusConfig()
    workers: int = 2

    def __post_init__(self) -> None:
        check_options(self)
        check_at_least(self, 1, ("train_size", "defender_size", "test_size", "badnet_epochs", "wanet_epochs",
                                 "input_aware_epochs", "classifier_batch", "filter_width", "filter_latent",
                                 "aif_steps", "strip_blends", "workers"))
        if not 0 < self.poison_rate < 1 or not self.classifier_lr > 0:
            raise ConfigError(f"config keys 'poison_rate' must lie in (0, 1) and 'classifier_lr' be > 0, got "
                              f"{self.poison_rate}, {self.classifier_lr}")


ATTACKS: tuple[str, ...] = typing.get_args(Attack)
# --scale paper: CIFAR-10 (JPEG copy) PreActResNet18, all five attacks, the official classifier recipe cut
# to 100 epochs (official 1000 for WaNet, 600 for InpAwAtk), WaNet at the official s = 0.5, a defender set of 10 % of
# the training data, filters 100 epochs of batch 128 (3900 steps), and both sweeps. Sized for a GPU.
PAPER = TrojanExperimentConfig(
    dataset="cifar10", attacks=ATTACKS, train_size=45_000, defender_size=5000, test_size=10_000,
    badnet_epochs=100, wanet_epochs=100, input_aware_epochs=100, wanet_s=0.5,
    input_aware=InputAwareConfig(width=32, mask_steps=25 * 352), classifier_optimizer="sgd", classifier_lr=0.01,
    lr_milestones=(50, 75), augment=True, filter=FilterConfig(steps=3900, batch_size=128), filter_width=64,
    filter_latent=32, aif_steps=3900, defender_sweep=(450, 2250), sweep_attacks=ATTACKS, norm_sweep=(0.3, 0.4),
    workers=1)

CONFIGS = {"quick": TrojanExperimentConfig(), "paper": PAPER}


def _as_images(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    t = torch.from_numpy(np.array(x, copy=True)).float().div_(255)
    return t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2).contiguous()


def load_splits(cfg: TrojanExperimentConfig) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """train / defender / held_out / test splits of the configured dataset, and `spare` (the rest of the training
    images: image-BI+ patterns on CIFAR-10 come from there, outside training, D_def and evaluation)."""
    if cfg.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {cfg.dataset!r}; known: {', '.join(DATASETS)}")
    loader = load_mnist if cfg.dataset == "mnist" else load_cifar10
    train, test = loader("train"), loader("test")
    order = np.arange(len(train.y))
    if cfg.dataset == "cifar10":
        order = np.random.default_rng(0).permutation(len(order))     # the JPEG copy is grouped by class
    x, y = _as_images(train.x[order]), torch.from_numpy(train.y[order])
    x_test, y_test = _as_images(test.x[: cfg.test_size]), torch.from_numpy(test.y[: cfg.test_size])
    if cfg.dataset == "cifar10":
        pick = np.random.default_rng(1).permutation(len(test.y))[: cfg.test_size]
        x_test, y_test = _as_images(test.x[pick]), torch.from_numpy(test.y[pick])
    a, b = cfg.train_size, cfg.train_size + cfg.defender_size
    if b > len(y):
        raise ValueError(f"train_size + defender_size = {b} exceeds the {len(y)} {cfg.dataset} training images")
    held = cfg.defender_size // 10
    return {"train": (x[:a], y[:a]), "defender": (x[a:b - held], y[a:b - held]),
            "held_out": (x[b - held:b], y[b - held:b]), "test": (x_test, y_test), "spare": (x[b:], y[b:])}


def natural_patterns(n: int, cfg: TrojanExperimentConfig, spare: torch.Tensor, seed: int) -> torch.Tensor:
    """image-BI+ patterns. MNIST: `n` CIFAR-10 test images (JPEG copy), grey-scaled and resized to 28 x 28.
    CIFAR-10: `n` held-out training images (`spare`, outside training, D_def and evaluation)."""
    gen = torch.Generator().manual_seed(seed)
    if cfg.dataset == "cifar10":
        if len(spare) < n:
            raise ValueError(f"image-BI+ needs {n} spare CIFAR-10 training images; train_size + defender_size "
                             f"leaves {len(spare)}")
        return spare[torch.randperm(len(spare), generator=gen)[:n]]
    images = load_cifar10("test").x
    x = _as_images(images[torch.randperm(len(images), generator=gen)[:n].numpy()])
    grey = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return F.interpolate(grey, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)


def make_attack(name: str, cfg: TrojanExperimentConfig, seed: int, spare: torch.Tensor | None = None,
                alpha: float | None = None) -> TrojanAttack:
    """The attack `name` for the configured dataset; `alpha` overrides image-BI+'s blend weight (norm sweep)."""
    channels, size = DATASETS[cfg.dataset]
    if name == "badnet_plus":
        far = size - 5                                      # MNIST: (1, 1), (1, 23), (23, 1) as the prototype
        return BadNetPlus((channels, size, size), positions=((1, 1), (1, far), (far, 1)), seed=seed)
    if name == "wanet":
        return WaNet(size, s=cfg.wanet_s, noise_fraction=cfg.wanet_noise_fraction, seed=seed)
    if name == "noise_bi_plus":
        return BlendedPlus.noise((channels, size, size), n=3, alpha=cfg.blend_alpha, seed=seed)
    if name == "image_bi_plus":
        return BlendedPlus(natural_patterns(3, cfg, spare, seed), alpha=alpha or cfg.image_blend_alpha)
    if name == "input_aware":
        return InputAware(channels, cfg.input_aware, seed=seed)
    raise ValueError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")


def make_classifier(cfg: TrojanExperimentConfig) -> torch.nn.Module:
    """NetCMNIST on MNIST, PreActResNet18 on CIFAR-10; both take [0, 1] images and normalise inside."""
    if cfg.dataset == "mnist":
        return Normalized(NetCMNIST(), 0.5, 0.5)
    return Normalized(PreActResNet18(), CIFAR_MEAN, CIFAR_STD)


def random_crop_flip(x: torch.Tensor, gen: torch.Generator, padding: int = 5) -> torch.Tensor:
    """Per image: a random crop of the zero-padded image back to its size, and a horizontal flip with p = 1/2."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    off = torch.randint(0, 2 * padding + 1, (n, 2), generator=gen).to(x.device)
    images = torch.arange(n, device=x.device)[:, None, None, None]
    channels = torch.arange(c, device=x.device)[None, :, None, None]
    rows = (off[:, :1] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (off[:, 1:] + torch.arange(w, device=x.device))[:, None, None, :]
    crops = padded[images, channels, rows, cols]
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], crops.flip(-1), crops)


def train_classifier(x, y, epochs: int, cfg: TrojanExperimentConfig, seed: int,
                     attack: TrojanAttack | None = None) -> torch.nn.Module:
    """The dataset's classifier on [0, 1] images; with an attack, each batch is poisoned at `poison_rate`. The attack
    prepares itself first (InputAware pretrains its mask), and a trainable attack's optimiser steps beside the
    classifier's."""
    torch.manual_seed(seed)
    model = make_classifier(cfg).to(x.device)
    if cfg.classifier_optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.classifier_lr, momentum=0.9, weight_decay=5e-4)
    elif cfg.classifier_optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.classifier_lr)
    else:
        raise ValueError(f"classifier_optimizer must be 'adam' or 'sgd', got {cfg.classifier_optimizer!r}")
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.lr_milestones), 0.1)
    gen = torch.Generator().manual_seed(seed)
    if attack is not None:
        attack.prepare(x, seed)
    attack_optimizer = attack.optimizer() if attack is not None else None
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen).to(x.device)
        for i in range(0, len(y), cfg.classifier_batch):
            xb, yb = x[order[i:i + cfg.classifier_batch]], y[order[i:i + cfg.classifier_batch]]
            if cfg.augment:
                xb = random_crop_flip(xb, gen)
            loss = (attack.training_loss(model, xb, yb, cfg.poison_rate, gen) if attack is not None
                    else F.cross_entropy(model(xb), yb))
            optimizer.zero_grad(set_to_none=True)
            if attack_optimizer is not None:
                attack_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if attack_optimizer is not None:
                attack_optimizer.step()
        schedule.step()
    return model.eval()


def trojan_inputs(attack: TrojanAttack, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Every test image with a label other than the trigger's target, stamped, for every trigger; and targets."""
    xs, ts = [], []
    for k, target in enumerate(attack.targets):
        keep = y != target
        xs.append(batched(lambda xb: attack.apply(xb, k), x[keep]))
        ts.append(torch.full((int(keep.sum()),), target, device=x.device))
    return torch.cat(xs), torch.cat(ts)


def detection_rates(flags_clean: torch.Tensor, flags_trojan: torch.Tensor, hits: torch.Tensor) -> dict:
    """FPR on clean inputs; FNR over all Trojan inputs and over those the classifier sends to the target."""
    return {"fpr": fraction(flags_clean), "fnr": fraction(~flags_trojan), "fnr_on_hits": fraction(~flags_trojan[hits])}


def _to(data: dict, device: str) -> dict:
    return {k: (x.to(device), y.to(device)) for k, (x, y) in data.items()}


def evaluate_filter(name: str, classifier, attack: TrojanAttack, data: dict, x_troj, hits,
                    cfg: TrojanExperimentConfig, seed: int, x_def=None, y_def=None) -> tuple[dict, torch.nn.Module]:
    """Train filter `name` on the defender set (or the given subset of it); its collapse check, filtered clean
    accuracy, ASR after filtering and FtC rates. A collapsed filter is reported and not scored (trap T1)."""
    x_test, y_test = data["test"]
    if x_def is None:
        x_def, y_def = data["defender"]
    start = time.perf_counter()
    filt, log = train_defense(name, classifier, x_def, y_def, cfg, seed)
    defense = FilterDefense(classifier, filt, mode="ftc")
    record = {"seconds": time.perf_counter() - start, "final_losses": log[-1], "defender_size": len(y_def)}
    try:
        record["held_out_filtered_accuracy"] = defense.check_not_collapsed(*data["held_out"], cfg.collapse_floor)
        record["collapsed"] = False
    except FilterCollapsed as err:
        record.update(collapsed=True, error=str(err))
    filtered = FilterDefense(classifier, filt, mode="filter")
    record["filtered_clean_accuracy"] = accuracy(filtered.predict, x_test, y_test)
    if not record["collapsed"]:
        record["asr_filtered"] = attack_success(lambda x: classifier(filt(x)), attack, x_test, y_test)
        record["ftc"] = detection_rates(batched(defense.detect, x_test), batched(defense.detect, x_troj), hits)
        record["ftc"]["accepted_and_correct"] = accuracy(defense.predict, x_test, y_test)
    return record, filt


def defender_subsets(data: dict, sizes: tuple[int, ...], seed: int):
    """(size, x, y): seeded random subsets of the defender set, smallest first."""
    x_def, y_def = data["defender"]
    if any(not 0 < n <= len(y_def) for n in sizes):
        raise ValueError(f"defender_sweep sizes must lie in 1..{len(y_def)} (the defender set), got {sizes}")
    order = torch.randperm(len(y_def), generator=torch.Generator().manual_seed(seed)).to(y_def.device)
    for n in sorted(sizes):
        yield n, x_def[order[:n]], y_def[order[:n]]


def run_attack(seed: int, attack_name: str, cfg: TrojanExperimentConfig, examples_path=None, device: str = "cpu",
               alpha: float | None = None, baselines: bool = True) -> dict:
    """Train the Trojaned classifier, then every defense, STRIP and (with `baselines`) the mitigation baselines on
    it, and the defender-size sweep; all metrics of one attack. `alpha`: image-BI+ blend weight (norm sweep)."""
    data = _to(load_splits(cfg), device)
    attack = make_attack(attack_name, cfg, seed, data["spare"][0], alpha)
    start = time.perf_counter()
    epochs = {"wanet": cfg.wanet_epochs, "input_aware": cfg.input_aware_epochs}.get(attack_name, cfg.badnet_epochs)
    classifier = train_classifier(*data["train"], epochs, cfg, seed, attack)
    out: dict = {"classifier_seconds": time.perf_counter() - start, "epochs": epochs}
    if alpha is not None:
        out["alpha"] = alpha
    x_test, y_test = data["test"]
    predict = lambda x: classifier(x).argmax(1)  # noqa: E731
    x_troj, targets = trojan_inputs(attack, x_test, y_test)
    hits = batched(predict, x_troj) == targets
    out["no_defense"] = {"clean_accuracy": accuracy(predict, x_test, y_test),
                         "asr": attack_success(classifier, attack, x_test, y_test)}
    if isinstance(attack, InputAware):      # a trigger made for another image should not flip C (cross mode)
        out["no_defense"]["cross_trigger_accuracy"] = accuracy(predict, attack.cross_inputs(x_test), y_test)
    for name in cfg.defenses:
        out[name], filt = evaluate_filter(name, classifier, attack, data, x_troj, hits, cfg, seed)
        if examples_path is not None and name == cfg.defenses[-1]:
            plot_examples(attack, filt, x_test[:6], examples_path)
    if cfg.defender_sweep and attack_name in cfg.sweep_attacks:
        out["defender_sweep"] = {
            str(n): {d: evaluate_filter(d, classifier, attack, data, x_troj, hits, cfg, seed, x_def, y_def)[0]
                     for d in cfg.defenses} for n, x_def, y_def in defender_subsets(data, cfg.defender_sweep, seed)}
    start = time.perf_counter()
    strip = STRIP(classifier, data["defender"][0], cfg.strip_blends, cfg.strip_fpr, seed)
    out["STRIP"] = {**detection_rates(strip.detect(x_test), strip.detect(x_troj), hits),
                    "threshold": strip.threshold, "seconds": time.perf_counter() - start}
    if not baselines:
        return out
    num_classes = int(y_test.max()) + 1
    start = time.perf_counter()
    nc = neural_cleanse(classifier, data["defender"][0], num_classes, cfg.neural_cleanse, seed)
    cleaned = unlearn(classifier, *data["defender"], nc["triggers"], nc["flagged"], cfg.neural_cleanse, seed)
    out["NeuralCleanse"] = {"l1_norms": nc["l1_norms"], "anomaly_index": nc["anomaly_index"],
                            "flagged": nc["flagged"], "true_targets_flagged": sorted(set(nc["flagged"]) &
                                                                                     set(attack.targets)),
                            "clean_accuracy": accuracy(lambda x: cleaned(x).argmax(1), x_test, y_test),
                            "asr": attack_success(cleaned, attack, x_test, y_test),
                            "seconds": time.perf_counter() - start}
    start = time.perf_counter()
    inpainter = Inpainter(x_test.shape[1], cfg.filter_width, cfg.filter_latent).to(device)
    train_inpainter(inpainter, data["defender"][0], cfg.februus, seed)
    februus = FebruusFilter(classifier, inpainter, cfg.februus.heat_threshold)
    out["Februus"] = {"clean_accuracy": accuracy(lambda x: classifier(februus(x)).argmax(1), x_test, y_test),
                      "asr": attack_success(lambda x: classifier(februus(x)), attack, x_test, y_test),
                      "seconds": time.perf_counter() - start}
    start = time.perf_counter()
    repaired, info = fine_prune(classifier, *data["defender"], cfg.fine_pruning, seed)
    out["FinePruning"] = {**info, "clean_accuracy": accuracy(lambda x: repaired(x).argmax(1), x_test, y_test),
                          "asr": attack_success(repaired, attack, x_test, y_test),
                          "seconds": time.perf_counter() - start}
    return out


def run_benign(seed: int, cfg: TrojanExperimentConfig, device: str = "cpu") -> dict:
    data = _to(load_splits(cfg), device)
    model = train_classifier(*data["train"], cfg.badnet_epochs, cfg, seed)
    return {"clean_accuracy": accuracy(lambda x: model(x).argmax(1), *data["test"]), "epochs": cfg.badnet_epochs}


def run(cfg: TrojanExperimentConfig, ctx: RunContext) -> RunResult:
    seed, device = ctx.seed, ctx.device
    jobs = {f"attack_{a}": (run_attack, (seed, a, cfg, ctx.out_dir / f"examples_{a}.png", device))
            for a in cfg.attacks}
    jobs.update({f"norm_{alpha}": (run_attack, (seed, "image_bi_plus", cfg, None, device, alpha, False))
                 for alpha in cfg.norm_sweep})
    jobs["benign"] = (run_benign, (seed, cfg, device))
    results = ctx.stages(jobs, workers=cfg.workers)
    metrics = {"dataset": "CIFAR-10 (JPEG copy)" if cfg.dataset == "cifar10" else "MNIST",
               "benign": results["benign"], "attacks": {a: results[f"attack_{a}"] for a in cfg.attacks}}
    if cfg.norm_sweep:
        metrics["norm_sweep"] = {str(alpha): results[f"norm_{alpha}"] for alpha in cfg.norm_sweep}
    start = time.perf_counter()
    artifacts = [plot_table(metrics, cfg, ctx.out_dir / "plot_asr_ca.png").name]
    artifacts += [f"examples_{a}.png" for a in cfg.attacks if (ctx.out_dir / f"examples_{a}.png").exists()]
    if cfg.defender_sweep or cfg.norm_sweep:
        artifacts.append(plot_sweeps(metrics, cfg, ctx.out_dir / "plot_sweeps.png").name)
    ctx.timings["plots"] = time.perf_counter() - start
    return RunResult(method="trojan_filter", scale=ctx.scale, seeds=[seed], config=config_to_dict(cfg),
                     metrics=metrics, claims=claims(metrics, cfg), artifacts=artifacts)
