"""AIM's cost per explained item (all classes, one pass) against LIME (500 samples) and Kernel SHAP (200 samples),
on the same 30 Rotten Tomatoes test snippets and the same WordCNN black box (1 epoch; AIM 1 epoch at the quick
sizes). Prints each baseline's seconds per item over AIM's as a ratio."""

import dataclasses

import torch

from benchmarks import timed
from reprolab.methods.aim.baselines import kernel_shap_scores, lime_scores
from reprolab.methods.aim.blackbox import BlackBoxConfig, embedding_black_box, train_word_cnn
from reprolab.methods.aim.experiment import CONFIGS, load_text_task
from reprolab.methods.aim.explainer import AIM
from reprolab.methods.aim.modules import FeatureKind


def main() -> None:
    torch.set_num_threads(1)
    cfg = CONFIGS["quick"]
    task = load_text_task("rotten_tomatoes", cfg)
    model = train_word_cnn(task.train.ids, task.train.labels, 2, len(task.vocab), BlackBoxConfig(epochs=1), 0)
    box = embedding_black_box(model)
    aim = AIM(box, 2, FeatureKind(vocab=len(task.vocab)), dataclasses.replace(cfg.aim, epochs=1))
    aim.fit(task.train.ids, task.val.ids)
    x = task.test.ids[:30]
    labels = box.predict(x)
    per_item = {"AIM": timed(lambda: aim.explain(x, 5, labels), 5) / len(x),
                "LIME (500 samples)": timed(lambda: lime_scores(box, x, labels, 500, 0), 1) / len(x),
                "Kernel SHAP (200 samples)": timed(lambda: kernel_shap_scores(box, x, labels, 200, 0), 1) / len(x)}
    aim_s = per_item["AIM"]
    for name, seconds in per_item.items():
        print(f"{name}: {seconds * 1e3:.3f} ms per item" + ("" if name == "AIM" else f", {seconds / aim_s:.0f}x AIM"))
