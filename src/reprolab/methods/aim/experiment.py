"""`reprolab run aim`: AIM against random, L2X, LIME, Kernel SHAP and Integrated Gradients on real text, all under
the same black box, items and deletion protocol, scored against the black box's labels.

- quick (CPU): Rotten Tomatoes snippets (L = 50) and the 3-class 2016 debates (L = 50); per task a WordCNN black
  box (3 epochs), then one grid cell per method: AIM (clean), AIM with the official loss and sampler, random, L2X
  at K = 1 and 3 (3 epochs each), LIME (500 samples), Kernel SHAP (200 samples) and Integrated Gradients. AIM uses
  the prototype's sizes (HS 32, HE = HU 128, 3 epochs, batch 50, alpha 1.8, beta 1e-3). AIM, random, L2X and IG
  are scored on every test item, LIME and Kernel SHAP on the first 100 (AIM and random on them too).
- paper (GPU / cluster): snippets, long documents of 20 snippets (L = 400, the IMDB length) and debates; the
  official sizes (D 100, HS 100, HE = HU 250), 10 epochs, 5 seeds, LIME with 2,000 samples, L2X for K = 1..10
  (5 epochs), every method on every test item.
Every (task, method, seed) is an independent cell (`--resume` skips finished ones; AIM checkpoints every epoch).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Literal

import numpy as np
import torch

from reprolab.data.text import load_debates, load_rotten_tomatoes
from reprolab.methods.aim.baselines import (L2X, L2XConfig, integrated_gradients_scores, kernel_shap_scores,
                                            lime_scores, random_scores)
from reprolab.methods.aim.blackbox import BlackBoxConfig, WordCNN, embedding_black_box, train_word_cnn
from reprolab.methods.aim.claims import claims
from reprolab.methods.aim.corpus import TextTask, build_task, long_document_task
from reprolab.methods.aim.explainer import AIM, AIMConfig, mean_pi_shift
from reprolab.methods.aim.metrics import deletion_scores, top_k
from reprolab.methods.aim.modules import FeatureKind, ModuleSizes
from reprolab.methods.aim.plots import plot_cost, plot_faithfulness, write_html
from reprolab.methods.aim.wordnet import brevity, purity, wordnet_available
from reprolab.runtime.config import ConfigError, check_at_least, check_options, config_to_dict
from reprolab.runtime.grid import cell_checkpoint
from reprolab.runtime.results import RunContext, RunResult
from reprolab.runtime.stats import mean_se

NEEDS_EXTRA_DATA = False
TaskName = Literal["rotten_tomatoes", "debates", "rotten_tomatoes_long"]
Method = Literal["aim", "aim_official", "random", "l2x", "lime", "kernel_shap", "integrated_gradients"]
GRID = "explain"


@dataclasses.dataclass(frozen=True)
class AimExperimentConfig:
    tasks: tuple[TaskName, ...] = ("rotten_tomatoes", "debates")
    methods: tuple[Method, ...] = ("aim", "aim_official", "random", "l2x", "lime", "kernel_shap",
                                   "integrated_gradients")
    length: int = 50                  # L of snippets and debates (median 19 / 12 words)
    long_length: int = 400            # L of long documents (the official IMDB length)
    long_snippets: int = 20           # snippets per long document (~400 tokens)
    long_counts: tuple[int, int, int] = (8000, 800, 800)
    ks: tuple[int, ...] = (1, 3, 5)
    l2x_ks: tuple[int, ...] = (1, 3)
    seeds: int = 1
    black_box: BlackBoxConfig = BlackBoxConfig()
    aim: AIMConfig = AIMConfig(sizes=ModuleSizes(selector_hidden=32, explainer_hidden=128, approximator_hidden=128),
                               epochs=3)
    l2x: L2XConfig = L2XConfig(epochs=3)
    lime_samples: int = 500
    shap_samples: int = 200
    ig_steps: int = 32
    subset_items: int = 100           # items LIME and Kernel SHAP explain (0: all test items)
    adaptive_k_max: int = 10
    html_items: int = 8
    workers: int = 2

    def __post_init__(self) -> None:
        check_options(self)
        if not self.tasks or not self.methods or not self.ks:
            raise ConfigError("config keys 'tasks', 'methods' and 'ks' need at least one value each")
        check_at_least(self, 1, ("length", "long_length", "long_snippets", "seeds", "lime_samples", "shap_samples",
                                 "ig_steps", "adaptive_k_max", "workers"))
        check_at_least(self, 0, ("subset_items", "html_items"))
        if min(self.ks + self.l2x_ks) < 1 or max(self.ks + self.l2x_ks) > self.length:
            raise ConfigError(f"every K must be in [1, length = {self.length}], got ks {self.ks}, l2x_ks "
                              f"{self.l2x_ks}")
        if list(self.ks) != sorted(set(self.ks)):
            raise ConfigError(f"config key 'ks' must be increasing, got {self.ks}")


CONFIGS = {
    "quick": AimExperimentConfig(),
    "paper": AimExperimentConfig(
        tasks=("rotten_tomatoes", "rotten_tomatoes_long", "debates"), ks=tuple(range(1, 11)),
        l2x_ks=tuple(range(1, 11)), seeds=5, aim=AIMConfig(epochs=10), l2x=L2XConfig(epochs=5),
        lime_samples=2000, shap_samples=2000, subset_items=0, workers=1),
}


def load_text_task(name: str, cfg: AimExperimentConfig) -> TextTask:
    """The task's split (seed 0, recorded in the result) and vocabulary."""
    if name == "debates":
        corpus = load_debates()
        return build_task(name, corpus.texts, corpus.labels, corpus.classes, cfg.length)
    corpus = load_rotten_tomatoes()
    if name == "rotten_tomatoes_long":
        return long_document_task(name, corpus.texts, corpus.labels, corpus.classes, cfg.long_counts,
                                  cfg.long_length, snippets=cfg.long_snippets)
    return build_task(name, corpus.texts, corpus.labels, corpus.classes, cfg.length)


def black_box_path(out_dir, task: str, seed: int):
    return out_dir / "black_boxes" / f"{task}_seed{seed}.pt"


def train_black_box(task_name: str, seed: int, cfg: AimExperimentConfig, device: str, out_dir) -> dict[str, Any]:
    task = load_text_task(task_name, cfg)
    start = time.perf_counter()
    model = train_word_cnn(task.train.ids, task.train.labels, len(task.classes), len(task.vocab), cfg.black_box,
                           seed, device, desc=f"{task_name} black box seed {seed}")
    seconds = time.perf_counter() - start
    path = black_box_path(out_dir, task_name, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    box = embedding_black_box(model)
    predicted = box.predict(task.test.ids.to(device)).cpu()
    return {"test_accuracy": float((predicted == task.test.labels).float().mean()),
            "label_share": label_counts(predicted, len(task.classes)),
            "subset_label_share": label_counts(subset_of(predicted, cfg), len(task.classes)),
            "train_seconds": seconds, "vocab": len(task.vocab),
            "items": {"train": len(task.train), "val": len(task.val), "test": len(task.test)}}


def label_counts(labels: torch.Tensor, classes: int) -> list[int]:
    """How many items the black box gives each class (the majority class's share is the faithfulness of an
    explanation whose kept words always give that class)."""
    return np.bincount(labels.numpy(), minlength=classes).tolist()


def load_black_box(task: TextTask, cfg: AimExperimentConfig, out_dir, seed: int, device: str) -> WordCNN:
    model = WordCNN(len(task.vocab), len(task.classes), cfg.black_box.embed, cfg.black_box.widths,
                    cfg.black_box.filters)
    model.load_state_dict(torch.load(black_box_path(out_dir, task.name, seed), map_location="cpu"))
    return model.to(device).eval()


def ranking_metrics(box, task: TextTask, x: torch.Tensor, scores: torch.Tensor, ks: tuple[int, ...],
                    brevity_on: bool = True) -> dict[str, dict[str, float]]:
    """Faithfulness, removal and keep scores, purity and brevity at every K (means over the items); brevity is
    left out when WordNet is not installed."""
    features = FeatureKind(vocab=len(task.vocab))
    brevity_on = brevity_on and wordnet_available()
    out = {}
    for k in ks:
        positions = top_k(scores, x != 0, k)
        d = deletion_scores(box, x, positions, features)
        tokens = [[task.vocab.decode([int(x[i, p])])[0] for p in row if p >= 0] for i, row in
                  enumerate(positions.tolist())]
        out[str(k)] = {"faithfulness": float(d["faithful"].mean()), "removal": float(d["removal"].mean()),
                       "keep": float(d["keep"].mean()), "purity": float(np.mean([purity(t, k) for t in tokens])),
                       **({"brevity": float(np.mean([brevity(t) for t in tokens]))} if brevity_on else {})}
    return out


def subset_of(x: torch.Tensor, cfg: AimExperimentConfig) -> torch.Tensor:
    return x if cfg.subset_items == 0 else x[:cfg.subset_items]


def aim_cell(task: TextTask, box, cfg: AimExperimentConfig, method: str, seed: int, device: str, checkpoint,
             resume: bool) -> dict[str, Any]:
    official = method == "aim_official"
    aim_cfg = dataclasses.replace(cfg.aim, official_concrete=official, official_double_softmax=official)
    features = FeatureKind(vocab=len(task.vocab))
    start = time.perf_counter()
    aim = AIM(box, len(task.classes), features, aim_cfg, device, seed).fit(
        task.train.ids, task.val.ids, checkpoint=checkpoint, resume=resume, desc=f"{task.name} {method} seed {seed}")
    train_seconds = time.perf_counter() - start
    x = task.test.ids
    explanation = aim.explain(x, max(cfg.ks))
    w, y = explanation.weights, explanation.labels
    own = w[torch.arange(len(x)), y]
    other = w[torch.arange(len(x)), (y + 1) % len(task.classes)]
    pi = aim.selection_probabilities(x)
    record = {"full": ranking_metrics(box, task, x, own, cfg.ks),
              "subset": ranking_metrics(box, task, subset_of(x, cfg), subset_of(own, cfg), cfg.ks, False),
              "pi_ranking": ranking_metrics(box, task, x, pi, cfg.ks, False),
              "other_class": ranking_metrics(box, task, x, other, cfg.ks, False),
              "adaptive": {k: v for k, v in aim.explain_adaptive(x, cfg.adaptive_k_max).items()
                           if k not in ("k_star", "queries")},
              "seconds_per_item": explanation.seconds_per_item, "train_seconds": train_seconds,
              "history": aim.history, "pi_shift": mean_pi_shift(aim.history), "selected_epoch": aim.selected_epoch,
              "items": len(x)}
    if method == "aim" and cfg.html_items:
        record["examples"] = examples(task, x[:cfg.html_items], w[:cfg.html_items], y[:cfg.html_items], max(cfg.ks))
    return record


def examples(task: TextTask, x: torch.Tensor, w: torch.Tensor, y: torch.Tensor, k: int) -> list[dict[str, Any]]:
    """Tokens, the black box's label, and each class's top-K positions and weights, for the HTML view."""
    out = []
    for i in range(len(x)):
        n = int((x[i] != 0).sum())
        out.append({"tokens": task.vocab.decode(x[i, :n].tolist()), "label": task.classes[int(y[i])],
                    "classes": {c: {"positions": top_k(w[i:i + 1, j, :n], x[i:i + 1, :n] != 0,
                                                       min(k, n))[0].tolist(),
                                    "weights": [round(v, 4) for v in w[i, j, :n].tolist()]}
                                for j, c in enumerate(task.classes)}})
    return out


def baseline_cell(task: TextTask, box, model: WordCNN, cfg: AimExperimentConfig, method: str, seed: int,
                  k: int | None) -> dict[str, Any]:
    x = task.test.ids
    labels = box.predict(x).cpu()
    if method in ("lime", "kernel_shap"):
        x, labels = subset_of(x, cfg), subset_of(labels, cfg)
    start = time.perf_counter()
    train_seconds = 0.0
    if method == "random":
        scores = random_scores(x, seed)
    elif method == "l2x":
        l2x = L2X(box, len(task.vocab), len(task.classes), k, cfg.l2x, seed).fit(
            task.train.ids, desc=f"{task.name} L2X K={k} seed {seed}")
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        scores = l2x.scores(x)
    elif method == "lime":
        scores = lime_scores(box, x, labels, cfg.lime_samples, seed)
    elif method == "kernel_shap":
        scores = kernel_shap_scores(box, x, labels, cfg.shap_samples, seed)
    else:
        scores = integrated_gradients_scores(model, model.embedding, x, labels, cfg.ig_steps)
    seconds = (time.perf_counter() - start) / len(x)
    ks = (k,) if method == "l2x" else cfg.ks
    record = {"seconds_per_item": seconds, "train_seconds": train_seconds, "items": len(x)}
    if method in ("lime", "kernel_shap"):
        return {**record, "subset": ranking_metrics(box, task, x, scores, ks)}
    return {**record, "full": ranking_metrics(box, task, x, scores, ks),
            "subset": ranking_metrics(box, task, subset_of(x, cfg), subset_of(scores, cfg), ks, False)}


def run_cell(cell: dict[str, Any], cfg: AimExperimentConfig, device: str, out_dir, resume: bool) -> dict[str, Any]:
    task = load_text_task(cell["task"], cfg)
    model = load_black_box(task, cfg, out_dir, cell["seed"], device)
    box = embedding_black_box(model)
    if cell["method"] in ("aim", "aim_official"):
        return aim_cell(task, box, cfg, cell["method"], cell["seed"], device,
                        cell_checkpoint(out_dir, GRID, cell), resume)
    return baseline_cell(task, box, model, cfg, cell["method"], cell["seed"], cell.get("k"))


def grid_cells(cfg: AimExperimentConfig, base_seed: int) -> list[dict[str, Any]]:
    cells = []
    for task in cfg.tasks:
        for seed in range(base_seed, base_seed + cfg.seeds):
            for method in cfg.methods:
                ks = cfg.l2x_ks if method == "l2x" else (None,)
                cells += [{"task": task, "method": method, "seed": seed, **({"k": k} if k else {})} for k in ks]
    return cells


def seed_stats(values: list[float]) -> dict[str, Any]:
    """Mean +- SE over seeds and the per-seed values (seed order, the same in every arm: the claims pair them)."""
    return {**mean_se(values), "per_seed": [float(v) for v in values]}


def mean_metrics(records: list[dict[str, Any]], part: str) -> dict[str, dict[str, dict[str, Any]]]:
    """`seed_stats` of every metric at every K of one part ("full", "subset", ...)."""
    ks = records[0][part]
    return {k: {name: seed_stats([r[part][k][name] for r in records]) for name in ks[k]} for k in ks}


def summarize_task(grid, task: str, black_boxes: dict[str, Any]) -> dict[str, Any]:
    methods: dict[str, Any] = {}
    for cell, value in grid.select(task=task):
        key = f"l2x_k{cell['k']}" if cell["method"] == "l2x" else cell["method"]
        methods.setdefault(key, []).append(value)
    out = {}
    for key, records in methods.items():
        block = {part: mean_metrics(records, part) for part in ("full", "subset", "pi_ranking", "other_class")
                 if part in records[0]}
        block["seconds_per_item"] = seed_stats([r["seconds_per_item"] for r in records])
        block["train_seconds"] = seed_stats([r["train_seconds"] for r in records])
        block["items"] = records[0]["items"]
        if "adaptive" in records[0]:
            block["adaptive"] = records[0]["adaptive"]
            block["pi_shift"] = seed_stats([r["pi_shift"] for r in records])
            block["history"] = records[0]["history"]
            block["selected_epoch"] = [r["selected_epoch"] for r in records]
        if "examples" in records[0]:
            block["examples"] = records[0]["examples"]
        out[key] = block
    return {"methods": out, "black_box": black_boxes}


def run(cfg: AimExperimentConfig, ctx: RunContext) -> RunResult:
    seeds = list(range(ctx.seed, ctx.seed + cfg.seeds))
    jobs = {f"black_box__task={t}__seed={s}": (train_black_box, (t, s, cfg, ctx.device, ctx.out_dir))
            for t in cfg.tasks for s in seeds}
    boxes = ctx.stages(jobs, workers=cfg.workers)
    cells = grid_cells(cfg, ctx.seed)
    grid = ctx.grid(GRID, cells, run_cell, cfg, ctx.device, ctx.out_dir, ctx.resume, workers=cfg.workers)
    metrics = {"tasks": {t: summarize_task(grid, t, {s: boxes[f"black_box__task={t}__seed={s}"] for s in seeds})
                         for t in cfg.tasks}, "runs": len(grid)}
    start = time.perf_counter()
    artifacts = [plot_faithfulness(metrics["tasks"], ctx.out_dir / "plot_faithfulness.png").name,
                 plot_cost(metrics["tasks"], ctx.out_dir / "plot_cost.png").name]
    first = metrics["tasks"][cfg.tasks[0]]["methods"].get("aim", {})
    if "examples" in first:
        artifacts.append(write_html(first["examples"], ctx.out_dir / "explanations.html").name)
    ctx.timings["plots"] = time.perf_counter() - start
    return RunResult(method="aim", scale=ctx.scale, seeds=seeds, config=config_to_dict(cfg), metrics=metrics,
                     claims=claims(metrics, cfg), artifacts=artifacts)
