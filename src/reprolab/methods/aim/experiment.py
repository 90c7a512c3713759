"""`reprolab run aim`: AIM against random, L2X, LIME, Kernel SHAP and Integrated Gradients on real text, all under
the same black box, items and deletion protocol, scored against the black box's labels.

- quick (CPU), 3 seeds: Rotten Tomatoes snippets (L = 50) and the 3-class 2016 debates (L = 50); per task and
  seed a WordCNN black box (3 epochs, balanced class offsets; kept in the data cache, keyed by its config, so
  only a first run trains it), then the explainers: AIM (clean), AIM with the official training flags, random,
  L2X at K = 1 (3 epochs), LIME (500 samples), Kernel SHAP (200 samples) and Integrated Gradients. AIM uses the
  prototype's sizes (HS 32, HE = HU 128, 3 epochs, batch 50, alpha 1.8, beta 1e-3). AIM, random and L2X are
  scored on every test item, LIME, Kernel SHAP and IG on the first 100 (AIM and random on them too). Quick cuts,
  both outside every claim: L2X only for K = 1 (`l2x_ks`; the claim compares at K = 1) and IG only on the first
  100 items (`ig_subset`).
- paper (GPU / cluster): snippets, long documents of 20 snippets (12-20 from the document's label; L = 400, the IMDB
  length) and debates; the official sizes (D 100, HS 100, HE = HU 250), 10 epochs, 5 seeds, LIME with 2,000
  samples, L2X for K = 1..10 (5 epochs), every method on every test item.

Two grids. `explain`: one cell per (task, seed, explainer) trains the explainer and keeps its scores of the test
items (`explanations/<cell>.pt`). `evaluate`: one cell per (task, seed, protocol) scores every explanation under
the protocol:
- `clean`: the config's `evaluation` switches (all off by default: PAD never ranked, kept tokens in their original
  order, clamped log-odds, LIME's signed weights for the label, by position); AIM and L2X as configured;
- `official`: every switch on (`metrics.OFFICIAL`: PAD ranked, kept tokens in rank order, the official log-odds
  and brevity, LIME's |weights| of class 1 by word type), AIM trained with `official_training` (sampler, double
  softmax, black-box dropout) and, with `official_l2x` (paper scale), L2X with fixed noise, Keras's RMSprop and
  its draws over PAD too.
  `aim_official` under the clean protocol is that same trained AIM.
An explainer whose training the protocol leaves unchanged is trained once and read by both protocols, and every
explainer reuses the task's black box. `--resume` skips finished cells; AIM checkpoints every epoch.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from reprolab.data.text import load_debates, load_rotten_tomatoes
from reprolab.methods.aim.baselines import (L2X, L2XConfig, integrated_gradients_scores, kernel_shap_scores,
                                            lime_weights, random_scores)
from reprolab.methods.aim.blackbox import BlackBox, BlackBoxConfig, WordCNN, embedding_black_box, train_word_cnn
from reprolab.methods.aim.claims import claims
from reprolab.methods.aim.corpus import PAD, TextTask, build_task, long_document_task
from reprolab.methods.aim.explainer import AIM, AIMConfig, adaptive_k, mean_pi_shift
from reprolab.methods.aim.metrics import (OFFICIAL, Protocol, keep_items, keep_word_types, label_scores, pad_share,
                                          remove_items, remove_word_types, top_k, top_word_types)
from reprolab.methods.aim.modules import FeatureKind, ModuleSizes
from reprolab.methods.aim.plots import plot_cost, plot_faithfulness, write_html
from reprolab.methods.aim.wordnet import brevity, purity, wordnet_available
from reprolab.runtime.cache import entry_path, link_entry, load_or_train, tensor_bytes
from reprolab.runtime.config import ConfigError, check_at_least, validate_config
from reprolab.runtime.grid import cell_checkpoint, cell_name
from reprolab.runtime.io import atomic_write
from reprolab.runtime.results import RunContext, RunResult
from reprolab.runtime.stats import mean_se

NEEDS_EXTRA_DATA = False
TaskName = Literal["rotten_tomatoes", "debates", "rotten_tomatoes_long"]
Method = Literal["aim", "aim_official", "random", "l2x", "lime", "kernel_shap", "integrated_gradients"]
ProtocolName = Literal["clean", "official"]
EXPLAIN, EVALUATE = "explain", "evaluate"
BLACK_BOX_FORMAT = 1      # part of the black-box cache key: raise it when `train_word_cnn` changes what it trains
L2X_FORMAT = 1            # part of the L2X cache key: raise it when `L2X.fit` changes what it trains
PARTS = ("full", "subset", "pi_ranking", "other_class")


@dataclasses.dataclass(frozen=True)
class AimExperimentConfig:
    tasks: tuple[TaskName, ...] = ("rotten_tomatoes", "debates")
    methods: tuple[Method, ...] = ("aim", "aim_official", "random", "l2x", "lime", "kernel_shap",
                                   "integrated_gradients")
    protocols: tuple[ProtocolName, ...] = ("clean", "official")
    evaluation: Protocol = Protocol()   # the clean protocol's switches (all off: reprolab's protocol)
    official_l2x: bool = False          # the official protocol trains L2X again with fixed noise, Keras's RMSprop
                                        # and draws over PAD (quick: off, it would cost 2 more L2X trainings per
                                        # task; L2X as configured is read)
    length: int = 50                  # L of snippets and debates (median 19 / 12 words)
    long_length: int = 400            # L of long documents (the official IMDB length)
    long_snippets: int = 20           # snippets per long document (~400 tokens)
    long_counts: tuple[int, int, int] = (8000, 800, 800)
    ks: tuple[int, ...] = (1, 3, 5)
    l2x_ks: tuple[int, ...] = (1,)      # quick cut: L2X for K = 1 only, the K its claim compares at (paper 1..10)
    seeds: int = 3                      # 3 paired values behind every comparison (one seed never decides)
    black_box: BlackBoxConfig = BlackBoxConfig(balanced=True)
    aim: AIMConfig = AIMConfig(sizes=ModuleSizes(selector_hidden=32, explainer_hidden=128, approximator_hidden=128),
                               epochs=3)
    l2x: L2XConfig = L2XConfig(epochs=3)
    lime_samples: int = 500
    shap_samples: int = 200
    ig_steps: int = 32
    subset_items: int = 100           # items LIME and Kernel SHAP explain (0: all test items)
    ig_subset: bool = True            # quick cut: Integrated Gradients explains only the first subset_items, as
                                      # LIME and Kernel SHAP do (no claim reads it; 32 passes per item)
    adaptive_k_max: int = 10
    html_items: int = 8
    workers: int = 2

    def __post_init__(self) -> None:
        validate_config(self)            # options, and the declared bounds of the nested configs
        if not self.tasks or not self.methods or not self.ks or not self.protocols:
            raise ConfigError("config keys 'tasks', 'methods', 'protocols' and 'ks' need at least one value each")
        if len(set(self.protocols)) != len(self.protocols):
            raise ConfigError(f"config key 'protocols' lists a protocol twice: {self.protocols}")
        check_at_least(self, 1, ("length", "long_length", "long_snippets", "seeds", "lime_samples", "shap_samples",
                                 "ig_steps", "adaptive_k_max", "workers"))
        check_at_least(self, 0, ("subset_items", "html_items"))
        if min(self.ks + self.l2x_ks) < 1 or max(self.ks + self.l2x_ks) > self.length:
            raise ConfigError(f"every K must be in [1, length = {self.length}], got ks {self.ks}, l2x_ks "
                              f"{self.l2x_ks}")
        if list(self.ks) != sorted(set(self.ks)):
            raise ConfigError(f"config key 'ks' must be increasing, got {self.ks}")
        if self.aim.official_rank_padding:
            raise ConfigError("config key 'aim.official_rank_padding' changes AIM.explain only; the experiment ranks "
                              "every explainer by its protocol: set 'evaluation.rank_padding=true' instead")


CONFIGS = {
    "quick": AimExperimentConfig(),
    "paper": AimExperimentConfig(
        tasks=("rotten_tomatoes", "rotten_tomatoes_long", "debates"), ks=tuple(range(1, 11)),
        l2x_ks=tuple(range(1, 11)), seeds=5, aim=AIMConfig(epochs=10), l2x=L2XConfig(epochs=5),
        lime_samples=2000, shap_samples=2000, subset_items=0, ig_subset=False, official_l2x=True, workers=1),
}


def official_training(cfg: AIMConfig) -> AIMConfig:
    """AIM trained as the official code trains it: its sampler, the double softmax, y1 under black-box dropout."""
    return dataclasses.replace(cfg, official_concrete=True, official_double_softmax=True,
                               official_black_box_dropout=True)


def official_l2x_training(cfg: L2XConfig) -> L2XConfig:
    """L2X trained as the official code trains it: one Gumbel draw for every batch, Keras's RMSprop, the draws over
    every position (PAD included)."""
    return dataclasses.replace(cfg, official_fixed_noise=True, official_rmsprop=True, official_pad=True)


def protocol_of(name: str, cfg: AimExperimentConfig) -> Protocol:
    return OFFICIAL if name == "official" else cfg.evaluation


def explainer_of(method: str, protocol: str, cfg: AimExperimentConfig) -> str | None:
    """The explain cell a method's evaluation under a protocol reads: the official protocol (and `aim_official`
    always) reads AIM trained with the official flags, and L2X trained with them when `official_l2x`, unless they
    equal the configured ones (then the configured one is read); `aim_official` under the official protocol
    repeats `aim` (None)."""
    if method == "aim_official":
        return None if protocol == "official" else ("aim_official" if official_training(cfg.aim) != cfg.aim
                                                    else "aim")
    if protocol == "official" and method == "aim" and official_training(cfg.aim) != cfg.aim:
        return "aim_official"
    if protocol == "official" and method == "l2x" and cfg.official_l2x and official_l2x_training(cfg.l2x) != cfg.l2x:
        return "l2x_official"
    return method


def load_text_task(name: str, cfg: AimExperimentConfig) -> TextTask:
    """The task's split (seed 0, recorded in the result) and vocabulary, built once per process (the cells a
    worker runs share it; nothing changes a task's tensors)."""
    if name == "rotten_tomatoes_long":
        return text_task(name, cfg.long_length, cfg.long_counts, cfg.long_snippets)
    return text_task(name, cfg.length)


@functools.cache
def text_task(name: str, length: int, long_counts: tuple[int, int, int] = (0, 0, 0), snippets: int = 0) -> TextTask:
    if name == "debates":
        corpus = load_debates()
        return build_task(name, corpus.texts, corpus.labels, corpus.classes, length)
    corpus = load_rotten_tomatoes()
    if name == "rotten_tomatoes_long":
        return long_document_task(name, corpus.texts, corpus.labels, corpus.classes, long_counts, length,
                                  snippets=snippets)
    return build_task(name, corpus.texts, corpus.labels, corpus.classes, length)


def black_box_path(out_dir, task: str, seed: int):
    return out_dir / "black_boxes" / f"{task}_seed{seed}.pt"


def black_box_cache_path(task: TextTask, cfg: BlackBoxConfig, seed: int, device: str) -> Path:
    """The data cache's file of the black box that `cfg` and `seed` train on the task: keyed by the config, the
    seed, the device type, torch's version, `BLACK_BOX_FORMAT` and the task's encoded training and validation
    items, so a change to any of them misses the cache."""
    key = [BLACK_BOX_FORMAT, dataclasses.asdict(cfg), seed, torch.device(device).type, torch.__version__,
           len(task.vocab), task.classes]
    return entry_path("aim", f"black_box-{task.name}-s{seed}", key,
                      tensor_bytes((task.train.ids, task.train.labels, task.val.ids)))


def cached_black_box(task: TextTask, cfg: BlackBoxConfig, seed: int, device: str) -> tuple[WordCNN, dict[str, Any]]:
    """The black box from the data cache (weights only), or trained by `train_word_cnn` and cached atomically; with
    its training seconds (those of the run that trained it) and whether the cache held it."""
    def train() -> tuple[dict, dict]:
        start = time.perf_counter()
        model = train_word_cnn(task.train.ids, task.train.labels, len(task.classes), len(task.vocab), cfg, seed,
                               device, desc=f"{task.name} black box seed {seed}", val_x=task.val.ids)
        return {"state_dict": model}, {"train_seconds": time.perf_counter() - start}

    networks, extra, cached = load_or_train(black_box_cache_path(task, cfg, seed, device),
                                            lambda: {"state_dict": word_cnn(task, cfg)}, train, ("train_seconds",))
    return networks["state_dict"].to(device).eval(), {**extra, "cached": cached}


def word_cnn(task: TextTask, cfg: BlackBoxConfig) -> WordCNN:
    """An untrained WordCNN of the config's sizes for the task."""
    return WordCNN(len(task.vocab), len(task.classes), cfg.embed, cfg.widths, cfg.filters)


def train_black_box(task_name: str, seed: int, cfg: AimExperimentConfig, device: str, out_dir) -> dict[str, Any]:
    """The task's black box for the seed (`cached_black_box`), its cache entry linked into the run's folder for the
    explain and evaluate cells (which may run on other machines of a cluster, sharing only the run's folder); its
    test accuracy and label shares."""
    task = load_text_task(task_name, cfg)
    _, trained = cached_black_box(task, cfg.black_box, seed, device)
    link_entry(black_box_cache_path(task, cfg.black_box, seed, device), black_box_path(out_dir, task_name, seed))
    box = embedding_black_box(load_black_box(task, cfg, out_dir, seed, device))     # the weights the cells read
    predicted = box.predict(task.test.ids.to(device)).cpu()
    counts = label_counts(predicted, len(task.classes))
    return {"test_accuracy": float((predicted == task.test.labels).float().mean()), "label_share": counts,
            "majority_rate": max(counts) / sum(counts),
            "subset_label_share": label_counts(subset_of(predicted, cfg), len(task.classes)),
            **trained, "vocab": len(task.vocab),
            "items": {"train": len(task.train), "val": len(task.val), "test": len(task.test)}}


def label_counts(labels: torch.Tensor, classes: int) -> list[int]:
    """How many items the black box gives each class (the majority class's share is the faithfulness of an
    explanation whose kept words always give that class)."""
    return np.bincount(labels.numpy(), minlength=classes).tolist()


def load_black_box(task: TextTask, cfg: AimExperimentConfig, out_dir, seed: int, device: str) -> WordCNN:
    """The black box `train_black_box` put into the run's folder: a cache entry (its state dict is "state_dict"), or
    the bare state dict that run folders of reprolab before `runtime.cache.link_entry` hold (a resumed run)."""
    model = word_cnn(task, cfg.black_box)
    entry = torch.load(black_box_path(out_dir, task.name, seed), map_location="cpu", weights_only=True)
    model.load_state_dict(entry.get("state_dict", entry))
    return model.to(device).eval()


def subset_of(x: torch.Tensor, cfg: AimExperimentConfig) -> torch.Tensor:
    return x if cfg.subset_items == 0 else x[:cfg.subset_items]


def explains_subset(method: str, cfg: AimExperimentConfig) -> bool:
    """Whether the method explains only the first `subset_items` test items: LIME, Kernel SHAP, and Integrated
    Gradients with `ig_subset`."""
    return method in ("lime", "kernel_shap") or (method == "integrated_gradients" and cfg.ig_subset)


def explanation_path(out_dir, cell: dict[str, Any]) -> Path:
    """Where an explain cell keeps its scores of the test items."""
    return Path(out_dir) / "explanations" / f"{cell_name(EXPLAIN, cell)}.pt"


def explain_aim(task: TextTask, box, cfg: AimExperimentConfig, cell: dict[str, Any], device: str, checkpoint,
                resume: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    aim_cfg = official_training(cfg.aim) if cell["method"] == "aim_official" else cfg.aim
    features = FeatureKind(vocab=len(task.vocab))
    start = time.perf_counter()
    aim = AIM(box, len(task.classes), features, aim_cfg, device, cell["seed"]).fit(
        task.train.ids, task.val.ids, checkpoint=checkpoint, resume=resume,
        desc=f"{task.name} {cell['method']} seed {cell['seed']}")
    train_seconds = time.perf_counter() - start
    x = task.test.ids
    start = time.perf_counter()
    weights = aim.weights(x)
    seconds = (time.perf_counter() - start) / len(x)
    return ({"weights": weights, "pi": aim.selection_probabilities(x)},
            {"seconds_per_item": seconds, "train_seconds": train_seconds, "history": aim.history,
             "pi_shift": mean_pi_shift(aim.history), "selected_epoch": aim.selected_epoch, "items": len(x)})


def l2x_cache_path(task: TextTask, black_box: WordCNN, l2x_cfg: L2XConfig, k: int, seed: int) -> Path:
    """The data cache's file of the L2X explainer for K trained on the task's training items against `black_box`:
    keyed by the black box's weights and those items (raw bytes), the L2X settings, K, the seed, torch's version and
    `L2X_FORMAT`."""
    key = [L2X_FORMAT, task.name, dataclasses.asdict(l2x_cfg), k, seed, torch.__version__]
    return entry_path("aim", f"l2x-{task.name}-k{k}-s{seed}", key,
                      tensor_bytes((*black_box.state_dict().values(), task.train.ids)))


def trained_l2x(task: TextTask, model: WordCNN, box, l2x_cfg: L2XConfig, k: int, seed: int,
                desc: str) -> tuple[L2X, dict[str, Any]]:
    """The L2X explainer for K from the data cache (`l2x_cache_path`), or trained (`L2X.fit`) and cached; with its
    training seconds (those of the run that trained it) and whether the cache held it. `box`: `model` as the
    black box L2X imitates."""
    l2x = L2X(box, len(task.vocab), len(task.classes), k, l2x_cfg, seed)
    networks = {"selector": l2x.selector, "approximator": l2x.approximator}

    def train() -> tuple[dict, dict]:
        start = time.perf_counter()
        l2x.fit(task.train.ids, desc=desc)
        return networks, {"train_seconds": time.perf_counter() - start}

    _, extra, cached = load_or_train(l2x_cache_path(task, model, l2x_cfg, k, seed), lambda: networks, train,
                                     ("train_seconds",))
    return l2x, {**extra, "cached": cached}


def explain_baseline(task: TextTask, box, model: WordCNN, cfg: AimExperimentConfig,
                     cell: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    method, seed = cell["method"], cell["seed"]
    x = task.test.ids
    labels = box.predict(x).cpu()
    if explains_subset(method, cfg):
        x, labels = subset_of(x, cfg), subset_of(labels, cfg)
    start = time.perf_counter()
    trained = {"train_seconds": 0.0}
    if method == "random":
        out = {"scores": random_scores(x, seed)}
    elif method in ("l2x", "l2x_official"):
        l2x_cfg = official_l2x_training(cfg.l2x) if method == "l2x_official" else cfg.l2x
        l2x, trained = trained_l2x(task, model, box, l2x_cfg, cell["k"], seed,
                                   f"{task.name} {method} K={cell['k']} seed {seed}")
        start = time.perf_counter()
        out = {"scores": l2x.scores(x)}
    elif method == "lime":
        out = {"weights": lime_weights(box, x, len(task.classes), cfg.lime_samples, seed)}
    elif method == "kernel_shap":
        out = {"scores": kernel_shap_scores(box, x, labels, cfg.shap_samples, seed)}
    else:
        out = {"scores": integrated_gradients_scores(model, model.embedding, x, labels, cfg.ig_steps)}
    return out, {"seconds_per_item": (time.perf_counter() - start) / len(x), **trained, "items": len(x)}


def explain_cell(cell: dict[str, Any], cfg: AimExperimentConfig, device: str, out_dir, resume: bool) -> dict[str, Any]:
    """Trains one explainer on one task and seed, keeps its scores of the test items; returns its costs (and AIM's
    training history)."""
    task = load_text_task(cell["task"], cfg)
    model = load_black_box(task, cfg, out_dir, cell["seed"], device)
    box = embedding_black_box(model)
    if cell["method"] in ("aim", "aim_official"):
        tensors, record = explain_aim(task, box, cfg, cell, device, cell_checkpoint(out_dir, EXPLAIN, cell), resume)
    else:
        tensors, record = explain_baseline(task, box, model, cfg, cell)
    atomic_write(explanation_path(out_dir, cell), lambda tmp: torch.save({k: t.cpu() for k, t in tensors.items()}, tmp))
    return record


@dataclasses.dataclass
class Scorer:
    """What every ranking of one evaluate cell shares: the task, its black box, the protocol, the config and f(x)
    of the test items (computed once)."""
    task: TextTask
    box: BlackBox
    protocol: Protocol
    cfg: AimExperimentConfig

    def __post_init__(self) -> None:
        self.probs = self.box.batched_probs(self.task.test.ids)
        self.labels = self.probs.argmax(1)

    def items(self, subset: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The test items (the first `subset_items` with `subset`) and f of them."""
        if subset:
            return subset_of(self.task.test.ids, self.cfg), subset_of(self.probs, self.cfg)
        return self.task.test.ids, self.probs

    def metrics(self, scores: torch.Tensor, ks: tuple[int, ...], subset: bool = False, brevity_on: bool = True,
                word_types: bool = False) -> dict[str, dict[str, float]]:
        """Faithfulness, removal and keep scores, the PAD share of the K slots, purity and brevity at every K (means
        over the items), the top K by position or (`word_types`) by word type; brevity is left out when WordNet is
        not installed. Purity and brevity read the selected words without PAD [official: `f[f > 0]`]."""
        x, full = self.items(subset)
        features, protocol = FeatureKind(vocab=len(self.task.vocab)), self.protocol
        brevity_on = brevity_on and wordnet_available()
        out = {}
        for k in ks:
            if word_types:
                types = top_word_types(x, scores, k)
                kept, removed = keep_word_types(x, types), remove_word_types(x, types)
                ids, pads = types.tolist(), np.zeros(len(x))
            else:
                positions = top_k(scores, x != PAD, k, protocol.rank_padding)
                kept = keep_items(x, positions, features, protocol.keep_order)
                removed = remove_items(x, positions, features)
                ids = [[int(x[i, p]) for p in row if p >= 0] for i, row in enumerate(positions.tolist())]
                pads = pad_share(x, positions)
            d = label_scores(self.box, x, kept, removed, protocol.official_log_odds, full)
            tokens = [self.task.vocab.decode([t for t in row if t != PAD]) for row in ids]
            out[str(k)] = {"faithfulness": float(d["faithful"].mean()), "removal": float(d["removal"].mean()),
                           "keep": float(d["keep"].mean()), "pad_share": float(pads.mean()),
                           "purity": float(np.mean([purity(t, k) for t in tokens])),
                           **({"brevity": float(np.mean([brevity(t, protocol.brevity_bug) for t in tokens]))}
                              if brevity_on else {})}
        return out


def evaluate_aim(scorer: Scorer, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """AIM's ranking by W_x[y], and the controls: ranking by pi and by the next class's weights W_x[(y + 1) mod C];
    the adaptive rule on the protocol's ranking."""
    cfg, task, x, y = scorer.cfg, scorer.task, scorer.task.test.ids, scorer.labels
    w, pi, index = tensors["weights"], tensors["pi"], torch.arange(len(x))
    own, other = w[index, y], w[index, (y + 1) % len(task.classes)]
    ranked = top_k(own, x != PAD, min(cfg.adaptive_k_max + 1, x.shape[1]), scorer.protocol.rank_padding)
    adaptive = adaptive_k(scorer.box, x, ranked, y, FeatureKind(vocab=len(task.vocab)), cfg.adaptive_k_max)
    return {"full": scorer.metrics(own, cfg.ks),
            "subset": scorer.metrics(subset_of(own, cfg), cfg.ks, subset=True, brevity_on=False),
            "pi_ranking": scorer.metrics(pi, cfg.ks, brevity_on=False),
            "other_class": scorer.metrics(other, cfg.ks, brevity_on=False),
            "adaptive": {k: v for k, v in adaptive.items() if k not in ("k_star", "queries")}}


def lime_ranking_scores(weights: torch.Tensor, labels: torch.Tensor, protocol: Protocol) -> torch.Tensor:
    """LIME's per-position scores: the weights of the label's class (class 1 with `lime_class_one`), signed or
    (`lime_abs`) by magnitude; PAD stays -inf."""
    classes = torch.ones_like(labels) if protocol.lime_class_one else labels
    scores = weights[torch.arange(len(labels)), classes]
    return torch.where(torch.isfinite(scores), scores.abs(), scores) if protocol.lime_abs else scores


def evaluate_method(method: str, scorer: Scorer, tensors: dict[str, torch.Tensor],
                    ks: tuple[int, ...]) -> dict[str, Any]:
    """One explainer's metrics at every K of `ks`: on every test item, and on the first `subset_items` (the methods
    of `explains_subset` explain only those)."""
    if method in ("aim", "aim_official"):
        return evaluate_aim(scorer, tensors)
    if method == "lime":
        scores = lime_ranking_scores(tensors["weights"], subset_of(scorer.labels, scorer.cfg), scorer.protocol)
        return {"subset": scorer.metrics(scores, ks, subset=True, word_types=scorer.protocol.lime_word_types)}
    if explains_subset(method, scorer.cfg):
        return {"subset": scorer.metrics(tensors["scores"], ks, subset=True)}
    return {"full": scorer.metrics(tensors["scores"], ks),
            "subset": scorer.metrics(subset_of(tensors["scores"], scorer.cfg), ks, subset=True, brevity_on=False)}


def evaluation_sources(cfg: AimExperimentConfig, task: str, seed: int, protocol: str) -> dict[str, dict[str, Any]]:
    """Per reported method (`l2x_k<K>` per K), the explain cell its evaluation reads under the protocol."""
    out = {}
    for method in cfg.methods:
        source = explainer_of(method, protocol, cfg)
        if source is None:
            continue
        for k in (cfg.l2x_ks if method == "l2x" else (None,)):
            out[f"l2x_k{k}" if k else method] = {"task": task, "method": source, "seed": seed,
                                                 **({"k": k} if k else {})}
    return out


def evaluate_cell(cell: dict[str, Any], cfg: AimExperimentConfig, device: str, out_dir) -> dict[str, Any]:
    """Every method's explanations of one task and seed scored under one protocol (each record names the explain
    cell it read: `source`)."""
    task = load_text_task(cell["task"], cfg)
    box = embedding_black_box(load_black_box(task, cfg, out_dir, cell["seed"], device))
    scorer = Scorer(task, box, protocol_of(cell["protocol"], cfg), cfg)
    out = {}
    for key, source in evaluation_sources(cfg, cell["task"], cell["seed"], cell["protocol"]).items():
        method = "l2x" if "k" in source else key
        tensors = torch.load(explanation_path(out_dir, source))
        ks = (source["k"],) if "k" in source else cfg.ks
        out[key] = {**evaluate_method(method, scorer, tensors, ks), "source": source}
    if cell["protocol"] == cfg.protocols[0] and "aim" in out and cfg.html_items:
        weights = torch.load(explanation_path(out_dir, out["aim"]["source"]))["weights"]
        n = cfg.html_items
        out["aim"]["examples"] = examples(task, task.test.ids[:n], weights[:n], scorer.labels[:n], max(cfg.ks))
    return out


def examples(task: TextTask, x: torch.Tensor, w: torch.Tensor, y: torch.Tensor, k: int) -> list[dict[str, Any]]:
    """Tokens, the black box's label, and each class's top-K positions and weights, for the HTML view."""
    out = []
    for i in range(len(x)):
        n = int((x[i] != PAD).sum())
        out.append({"tokens": task.vocab.decode(x[i, :n].tolist()), "label": task.classes[int(y[i])],
                    "classes": {c: {"positions": top_k(w[i:i + 1, j, :n], x[i:i + 1, :n] != PAD,
                                                       min(k, n))[0].tolist(),
                                    "weights": [round(v, 4) for v in w[i, j, :n].tolist()]}
                                for j, c in enumerate(task.classes)}})
    return out


def seed_list(cfg: AimExperimentConfig, base_seed: int) -> list[int]:
    return list(range(base_seed, base_seed + cfg.seeds))


def explain_cells(cfg: AimExperimentConfig, base_seed: int) -> list[dict[str, Any]]:
    """One cell per (task, seed, explainer that some protocol reads), each L2X once per K."""
    cells = []
    for task in cfg.tasks:
        for seed in seed_list(cfg, base_seed):
            for protocol in cfg.protocols:
                for cell in evaluation_sources(cfg, task, seed, protocol).values():
                    if cell not in cells:
                        cells.append(cell)
    return cells


def evaluate_cells(cfg: AimExperimentConfig, base_seed: int) -> list[dict[str, Any]]:
    return [{"task": t, "seed": s, "protocol": p} for t in cfg.tasks for s in seed_list(cfg, base_seed)
            for p in cfg.protocols]


def seed_stats(values: list[float]) -> dict[str, Any]:
    """Mean +- SE over seeds and the per-seed values (seed order, the same in every arm: the claims pair them)."""
    return {**mean_se(values), "per_seed": [float(v) for v in values]}


def mean_metrics(records: list[dict[str, Any]], part: str) -> dict[str, dict[str, dict[str, Any]]]:
    """`seed_stats` of every metric at every K of one part ("full", "subset", ...)."""
    ks = records[0][part]
    return {k: {name: seed_stats([r[part][k][name] for r in records]) for name in ks[k]} for k in ks}


def method_block(records: list[dict[str, Any]], trained: list[dict[str, Any]]) -> dict[str, Any]:
    """One method under one protocol over the seeds: its metrics (`records`, seed order) and what its explain
    cells recorded (`trained`, the same order)."""
    block: dict[str, Any] = {part: mean_metrics(records, part) for part in PARTS if part in records[0]}
    block["explained_by"] = records[0]["source"]["method"]
    block["seconds_per_item"] = seed_stats([t["seconds_per_item"] for t in trained])
    block["train_seconds"] = seed_stats([t["train_seconds"] for t in trained])
    block["items"] = trained[0]["items"]
    if "adaptive" in records[0]:
        block["adaptive"] = records[0]["adaptive"]
    if "pi_shift" in trained[0]:
        block["pi_shift"] = seed_stats([t["pi_shift"] for t in trained])
        block["history"] = trained[0]["history"]
        block["selected_epoch"] = [t["selected_epoch"] for t in trained]
    if "examples" in records[0]:
        block["examples"] = records[0]["examples"]
    return block


def summarize_task(explained: dict[str, Any], evaluated, task: str, cfg: AimExperimentConfig,
                   black_boxes: dict[int, Any]) -> dict[str, Any]:
    """Per protocol, every method's block; the black boxes of the task's seeds."""
    protocols = {}
    for protocol in cfg.protocols:
        by_method: dict[str, list[dict[str, Any]]] = {}
        for _, value in evaluated.select(task=task, protocol=protocol):          # seed order
            for key, record in value.items():
                by_method.setdefault(key, []).append(record)
        protocols[protocol] = {"methods": {
            key: method_block(records, [explained[cell_name(EXPLAIN, r["source"])] for r in records])
            for key, records in by_method.items()}}
    return {"protocols": protocols, "black_box": black_boxes}


def run(cfg: AimExperimentConfig, ctx: RunContext) -> RunResult:
    seeds = seed_list(cfg, ctx.seed)
    for task in cfg.tasks:
        load_text_task(task, cfg)           # built once here; forked worker processes inherit it
    jobs = {f"black_box__task={t}__seed={s}": (train_black_box, (t, s, cfg, ctx.device, ctx.out_dir))
            for t in cfg.tasks for s in seeds}
    boxes = ctx.stages(jobs, workers=cfg.workers)
    explained = ctx.grid(EXPLAIN, explain_cells(cfg, ctx.seed), explain_cell, cfg, ctx.device, ctx.out_dir,
                         ctx.resume, workers=cfg.workers)
    evaluated = ctx.grid(EVALUATE, evaluate_cells(cfg, ctx.seed), evaluate_cell, cfg, ctx.device, ctx.out_dir,
                         workers=cfg.workers)
    records = {cell_name(EXPLAIN, cell): value for cell, value in explained}
    metrics = {"tasks": {t: summarize_task(records, evaluated, t, cfg,
                                           {s: boxes[f"black_box__task={t}__seed={s}"] for s in seeds})
                         for t in cfg.tasks},
               "runs": {EXPLAIN: len(explained), EVALUATE: len(evaluated)}}
    with ctx.timed("plots"):
        artifacts = [plot_faithfulness(metrics["tasks"], ctx.out_dir / "plot_faithfulness.png").name,
                     plot_cost(metrics["tasks"], ctx.out_dir / "plot_cost.png").name]
        first = metrics["tasks"][cfg.tasks[0]]["protocols"][cfg.protocols[0]]["methods"].get("aim", {})
        if "examples" in first:
            artifacts.append(write_html(first["examples"], ctx.out_dir / "explanations.html").name)
    return ctx.result("aim", cfg, seeds, metrics, claims(metrics, cfg), artifacts)
