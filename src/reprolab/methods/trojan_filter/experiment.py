"""`reprolab run trojan_filter`: IF / VIF / AIF filtering and Filtering-then-Contrasting against BadNet+, noise-BI+,
image-BI+, the input-aware dynamic attack and WaNet, against STRIP, Neural Cleanse, Fine-Pruning and a Februus-like
purifier, on MNIST (quick) or CIFAR-10 (JPEG copy; paper).

One stage per attack and seed: train the Trojaned classifier (`classifier.py`; MNIST: 10 % of each batch poisoned,
BadNet+ 2 epochs, WaNet 4 epochs with s = 1.0 and 20 % noise mode in the 2-core CPU prototype), then every filter
(`evaluate.py`; Adam 1e-3, lambda_rec 0.01, VIF lambda_KL 0.05 with warm-up; AIF alternates one trigger-generator
step and one filter step per batch), STRIP and the mitigation baselines on it. A benign classifier with the BadNet+
schedule gives the clean reference. Sweeps (robustness): filters retrained on smaller defender sets
(`defender_sweep`), and image-BI+ at larger blend weights (`norm_sweep`, a classifier per alpha). All of it runs
for `seeds` seeds on the same data splits; `metrics["runs"]` keeps one record per seed, in seed order.
With `checkpoint_every`, every training loop of a stage keeps its checkpoint in `checkpoints/<stage>/<loop>.pt`;
`--resume` continues an interrupted stage from there (its finished loops are restored, not rerun). With `cache`, the
classifiers, the Februus-like inpainter (shared by the attacks of a seed) and the Neural Cleanse and Fine-Pruning
repairs of an earlier run with the same key are loaded from the data cache (`cache.py`); the defenses then start from
the same global seed as after a training, and a loaded repair sets torch's global generators to their states after
it; STRIP's clean pass (its threshold and its blend generator's state after it) is kept too, keyed by the
classifier's weights, the clean set and STRIP's settings (`strip_detector`); so the numbers are the same either
way. The filters, STRIP's detection and every score run each time.
The config lives in `config.py` (re-exported here).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from reprolab.methods.trojan_filter.attacks import attack_success, untriggered_target_rate
from reprolab.methods.trojan_filter.baselines.februus import Inpainter, februus_filter, train_inpainter
from reprolab.methods.trojan_filter.baselines.fine_pruning import fine_prune, prunable_copy
from reprolab.methods.trojan_filter.baselines.neural_cleanse import neural_cleanse, unlearn
from reprolab.methods.trojan_filter.baselines.strip import STRIP, Calibration
from reprolab.methods.trojan_filter.claims import claims
from reprolab.methods.trojan_filter.cache import (CALIBRATION_KEYS, STRIP_FORMAT, baseline_key, cache_path,
                                                 classifier_key, inpainter_key, load_or_repair)
from reprolab.methods.trojan_filter.classifier import cached_classifier
from reprolab.methods.trojan_filter.config import CONFIGS, PAPER, TrojanExperimentConfig
from reprolab.methods.trojan_filter.data import DATASET_NAMES, defender_subsets, load_splits, to_device
from reprolab.methods.trojan_filter.evaluate import detection_rates, evaluate_filter, trojan_inputs
from reprolab.methods.trojan_filter.input_aware import InputAware
from reprolab.methods.trojan_filter.metrics import majority_class_rate
from reprolab.methods.trojan_filter.plots import plot_examples, plot_sweeps, plot_table
from reprolab.methods.trojan_filter.threats import make_attack
from reprolab.nets.scoring import accuracy, prediction_accuracy
from reprolab.runtime.cache import load_or_train, tensor_bytes
from reprolab.runtime.fast import check_fast_path
from reprolab.runtime.results import RunContext, RunResult
from reprolab.runtime.train import LoopCheckpoints, is_generator_state

NEEDS_EXTRA_DATA = False
__all__ = ["CONFIGS", "NEEDS_EXTRA_DATA", "PAPER", "TrojanExperimentConfig", "run", "run_attack", "run_benign"]


def run_attack(seed: int, attack_name: str, cfg: TrojanExperimentConfig, examples_path=None, device: str = "cpu",
               alpha: float | None = None, baselines: bool = True,
               checkpoints: LoopCheckpoints = LoopCheckpoints()) -> dict:
    """Train the Trojaned classifier, then every defense, STRIP and (with `baselines`) the mitigation baselines on
    it, and the defender-size sweep; all metrics of one attack. `alpha`: image-BI+ blend weight (norm sweep);
    `checkpoints`: where every training loop keeps its checkpoint (a finished loop is not rerun on a resume)."""
    data = to_device(load_splits(cfg), device)
    attack = make_attack(attack_name, cfg, seed, data["spare"][0], alpha)
    epochs = {"wanet": cfg.wanet_epochs, "input_aware": cfg.input_aware_epochs}.get(attack_name, cfg.badnet_epochs)
    classifier, trained = cached_classifier(*data["train"], epochs, cfg, seed, attack_name, attack, alpha,
                                            checkpoints)
    out: dict = {"classifier_seconds": trained["train_seconds"], "classifier_cached": trained["cached"],
                 "epochs": epochs}
    torch.manual_seed(seed)     # the defenses' initial weights and dropout masks: the same after a cached classifier
    if alpha is not None:
        out["alpha"] = alpha
    x_test, y_test = data["test"]
    trojan = trojan_inputs(attack, classifier, x_test, y_test)
    out["no_defense"] = {"clean_accuracy": accuracy(classifier, x_test, y_test), "asr": trojan.success(trojan.labels),
                         "untriggered_target_rate": untriggered_target_rate(classifier, attack, x_test, y_test)}
    if isinstance(attack, InputAware):      # a trigger made for another image should not flip C (cross mode)
        out["no_defense"]["cross_trigger_accuracy"] = accuracy(classifier, attack.cross_inputs(x_test), y_test)
    for name in cfg.defenses:
        out[name], filt = evaluate_filter(name, classifier, data, trojan, cfg, seed, checkpoints=checkpoints)
        if examples_path is not None and name == cfg.defenses[-1]:
            plot_examples(attack, filt, x_test[:6], examples_path)
    if cfg.defender_sweep and attack_name in cfg.sweep_attacks:
        out["defender_sweep"] = {
            str(n): {d: evaluate_filter(d, classifier, data, trojan, cfg, seed, x_def, y_def, checkpoints)[0]
                     for d in cfg.defenses} for n, x_def, y_def in defender_subsets(data, cfg.defender_sweep, seed)}
    start = time.perf_counter()
    strip, cached = strip_detector(classifier, data["defender"][0], cfg, seed, device)
    out["STRIP"] = {**detection_rates(strip.detect(x_test), strip.detect(trojan.x), trojan.hits),
                    "threshold": strip.threshold, "calibration_cached": cached,
                    "seconds": time.perf_counter() - start}
    if not baselines:
        return out
    key = classifier_key(cfg, attack_name, alpha, epochs, seed, device)
    start = time.perf_counter()
    cleaned, nc, cached = neural_cleanse_repair(classifier, data, cfg, key, seed, checkpoints)
    out["NeuralCleanse"] = {**nc["search"], "true_targets_flagged": sorted(set(nc["search"]["flagged"]) &
                                                                           set(attack.targets)),
                            "clean_accuracy": accuracy(cleaned, x_test, y_test),
                            "asr": attack_success(cleaned, attack, x_test, y_test),
                            "cached": cached, "train_seconds": nc["train_seconds"],
                            "seconds": time.perf_counter() - start}
    start = time.perf_counter()
    inpainter, cached = februus_inpainter(data["defender"][0], cfg, seed, checkpoints)
    februus = februus_filter(classifier, inpainter, cfg.februus)
    out["Februus"] = {"clean_accuracy": prediction_accuracy(lambda x: classifier(februus(x)).argmax(1), x_test,
                                                         y_test),
                      "asr": attack_success(lambda x: classifier(februus(x)), attack, x_test, y_test),
                      "inpainter_cached": cached, "seconds": time.perf_counter() - start}
    start = time.perf_counter()
    repaired, fp, cached = fine_pruning_repair(classifier, data, cfg, key, seed, checkpoints)
    out["FinePruning"] = {**fp["info"], "clean_accuracy": accuracy(repaired, x_test, y_test),
                          "asr": attack_success(repaired, attack, x_test, y_test),
                          "cached": cached, "train_seconds": fp["train_seconds"],
                          "seconds": time.perf_counter() - start}
    return out


def run_benign(seed: int, cfg: TrojanExperimentConfig, device: str = "cpu",
               checkpoints: LoopCheckpoints = LoopCheckpoints()) -> dict:
    """The clean reference: a classifier trained without an attack on the BadNet+ schedule; and the test set's
    majority-class rate (the accuracy of the trivial classifier)."""
    data = to_device(load_splits(cfg), device)
    model, trained = cached_classifier(*data["train"], cfg.badnet_epochs, cfg, seed, checkpoints=checkpoints)
    return {"clean_accuracy": accuracy(model, *data["test"]), "epochs": cfg.badnet_epochs,
            "classifier_cached": trained["cached"], "majority_class_rate": majority_class_rate(data["test"][1])}


def strip_detector(classifier, x_def: torch.Tensor, cfg: TrojanExperimentConfig, seed: int,
                   device: str) -> tuple[STRIP, bool]:
    """STRIP on the classifier and the clean defender images `x_def`, and whether its clean pass (the threshold and
    the blend generator's state after it) came from the data cache: with `cfg.cache`, kept there by an earlier run
    under the same classifier (its weights, their names and shapes, its memory format), clean images, STRIP
    settings, seed, device type and torch version. An entry that holds no usable clean pass is removed and the pass
    run anew."""
    settings = {"n_blends": cfg.strip_blends, "fpr": cfg.strip_fpr, "seed": seed, "clip": cfg.strip_clip,
                "threshold_rule": cfg.strip_threshold}
    state = classifier.state_dict()
    key = {**settings, "device": torch.device(device).type, "channels_last": cfg.channels_last,
           "state": {name: list(tensor.shape) for name, tensor in state.items()}, "format": STRIP_FORMAT}
    path = cache_path("strip", key, tensor_bytes((*state.values(), x_def))) if cfg.cache else None

    def calibrate() -> tuple[dict, dict]:
        calibration = STRIP(classifier, x_def, **settings).calibration
        return {}, {"threshold": calibration.threshold, "generator_state": calibration.generator_state}

    _, extra, cached = load_or_train(path, dict, calibrate, CALIBRATION_KEYS, check=is_calibration)
    return STRIP(classifier, x_def, **settings, calibration=Calibration(**extra)), cached


def is_calibration(extra: dict) -> bool:
    """Whether a cache entry's payload is a clean pass: a float threshold and a CPU generator's state."""
    return isinstance(extra["threshold"], float) and is_generator_state(extra["generator_state"])


def neural_cleanse_repair(classifier, data: dict, cfg: TrojanExperimentConfig, key: dict, seed: int,
                          checkpoints: LoopCheckpoints = LoopCheckpoints()) -> tuple[torch.nn.Module, dict, bool]:
    """Neural Cleanse on the classifier of cache key `key`: the unlearned copy, the trigger search's outcome
    (`search`: mask norms, anomaly indices, flagged classes) with the repair's seconds, and whether they came from
    the data cache (with `cfg.cache`: stored there by an earlier run under the same key and generator states)."""
    x_def, y_def = data["defender"]
    num_classes = int(data["test"][1].max()) + 1
    classifier.eval().requires_grad_(False)           # as the search leaves it, also when it is read from the cache

    def repair() -> tuple[dict, dict]:
        nc = neural_cleanse(classifier, x_def, num_classes, cfg.neural_cleanse, seed, checkpoints)
        cleaned = unlearn(classifier, x_def, y_def, nc["triggers"], nc["flagged"], cfg.neural_cleanse, seed,
                          checkpoints)
        return {"model": cleaned}, {"search": {k: nc[k] for k in ("l1_norms", "anomaly_index", "flagged")}}

    networks, extra, cached = load_or_repair("neural_cleanse",
                                             baseline_key({**key, "num_classes": num_classes}, cfg.neural_cleanse),
                                             lambda: {"model": copy.deepcopy(classifier)}, repair, ("search",),
                                             cfg.cache)
    return networks["model"].eval().requires_grad_(False), extra, cached


def fine_pruning_repair(classifier, data: dict, cfg: TrojanExperimentConfig, key: dict, seed: int,
                        checkpoints: LoopCheckpoints = LoopCheckpoints()) -> tuple[torch.nn.Module, dict, bool]:
    """Fine-Pruning of the classifier of cache key `key`: the pruned and fine-tuned copy, what was pruned (`info`)
    with the repair's seconds, and whether they came from the data cache (as `neural_cleanse_repair`)."""
    def repair() -> tuple[dict, dict]:
        repaired, info = fine_prune(classifier, *data["defender"], cfg.fine_pruning, seed, checkpoints)
        return {"model": repaired}, {"info": info}

    networks, extra, cached = load_or_repair("fine_pruning", baseline_key(key, cfg.fine_pruning),
                                             lambda: {"model": prunable_copy(classifier, cfg.fine_pruning.prune_at)},
                                             repair, ("info",), cfg.cache)
    return networks["model"].eval().requires_grad_(False), extra, cached


def februus_inpainter(x_def, cfg: TrojanExperimentConfig, seed: int,
                      checkpoints: LoopCheckpoints = LoopCheckpoints()) -> tuple[Inpainter, bool]:
    """The Februus-like purifier's inpainter, trained on the defender's clean images only (so the same for every
    attack of a seed: initial weights from `seed`), or with `cfg.cache` the one an earlier stage stored under the
    same key; and whether it came from the cache."""
    def fresh() -> dict:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return {"inpainter": Inpainter(x_def.shape[1], cfg.filter_width, cfg.filter_latent,
                                           cfg.februus.fill).to(x_def.device)}

    def train() -> tuple[dict, dict]:
        networks = fresh()
        train_inpainter(networks["inpainter"], x_def, cfg.februus, seed, checkpoints)
        return networks, {}

    path = cache_path("inpainter", inpainter_key(cfg, seed, str(x_def.device))) if cfg.cache else None
    networks, _, cached = load_or_train(path, fresh, train)
    return networks["inpainter"].eval(), cached


def seed_jobs(seed: int, cfg: TrojanExperimentConfig, examples_dir: Path | None, device: str,
              checkpoint_dir: Path | None = None, resume: bool = False) -> dict:
    """The stages of one seed: each attack with its defenses, each norm-sweep alpha, and the benign reference;
    with `examples_dir`, the attacks also plot their examples there. With `checkpoint_dir` (and
    `cfg.checkpoint_every`), each stage's loops keep their checkpoints in `checkpoint_dir / <stage name>`."""
    def where(name: str) -> LoopCheckpoints:
        return LoopCheckpoints(checkpoint_dir / name if checkpoint_dir is not None else None, cfg.checkpoint_every,
                               resume)

    examples = {a: examples_dir / f"examples_{a}.png" if examples_dir is not None else None for a in cfg.attacks}
    jobs = {}
    for a in cfg.attacks:
        name = f"attack_{a}__seed={seed}"
        jobs[name] = (run_attack, (seed, a, cfg, examples[a], device, None, True, where(name)))
    for alpha in cfg.norm_sweep:
        name = f"norm_{alpha}__seed={seed}"
        jobs[name] = (run_attack, (seed, "image_bi_plus", cfg, None, device, alpha, False, where(name)))
    name = f"benign__seed={seed}"
    jobs[name] = (run_benign, (seed, cfg, device, where(name)))
    return jobs


def seed_record(results: dict, seed: int, cfg: TrojanExperimentConfig) -> dict:
    """One seed's metrics: the benign reference, every attack's record and the norm sweep's."""
    record = {"seed": seed, "benign": results[f"benign__seed={seed}"],
              "attacks": {a: results[f"attack_{a}__seed={seed}"] for a in cfg.attacks}}
    if cfg.norm_sweep:
        record["norm_sweep"] = {str(alpha): results[f"norm_{alpha}__seed={seed}"] for alpha in cfg.norm_sweep}
    return record


def run(cfg: TrojanExperimentConfig, ctx: RunContext) -> RunResult:
    """Every seed's stages, their records in seed order (`runs`: the claims pair them by seed), and the plots of the
    first seed."""
    check_fast_path(cfg, ctx.device)
    seeds = list(range(ctx.seed, ctx.seed + cfg.seeds))
    jobs = {}
    for seed in seeds:
        jobs.update(seed_jobs(seed, cfg, ctx.out_dir if seed == seeds[0] else None, ctx.device,
                              ctx.out_dir / "checkpoints", ctx.resume))
    results = ctx.stages(jobs, workers=cfg.workers)
    metrics = {"dataset": DATASET_NAMES[cfg.dataset], "seeds": seeds,
               "runs": [seed_record(results, seed, cfg) for seed in seeds]}
    first = metrics["runs"][0]
    with ctx.timed("plots"):
        artifacts = [plot_table(first, cfg, ctx.out_dir / "plot_asr_ca.png").name]
        artifacts += [f"examples_{a}.png" for a in cfg.attacks if (ctx.out_dir / f"examples_{a}.png").exists()]
        if cfg.defender_sweep or cfg.norm_sweep:
            artifacts.append(plot_sweeps(first, cfg, ctx.out_dir / "plot_sweeps.png").name)
    return ctx.result("trojan_filter", cfg, seeds, metrics, claims(metrics, cfg), artifacts)
