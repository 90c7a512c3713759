"""Faithfulness vs K for every method and protocol, the cost per explained item, and an HTML view of explained
snippets."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from reprolab.report.figures import panels, save_figure

STYLE = {"aim": ("tab:red", "-"), "aim_official": ("tab:orange", "-"), "random": ("gray", ":"),
         "integrated_gradients": ("tab:green", "-"), "lime": ("tab:blue", "--"), "kernel_shap": ("tab:purple", "--")}


def plot_faithfulness(tasks: dict[str, Any], path: Path) -> Path:
    """One panel per task and evaluation protocol."""
    panes = [(f"{task}, {protocol} protocol", view["methods"]) for task, block in tasks.items()
             for protocol, view in block["protocols"].items()]
    fig, axes = panels(len(panes), 5.5, 4.0)
    for ax, (title, methods) in zip(axes, panes):
        for method, m in methods.items():
            part = "full" if "full" in m else "subset"
            ks = sorted(int(k) for k in m[part])
            ys = [m[part][str(k)]["faithfulness"]["mean"] for k in ks]
            if method.startswith("l2x"):
                ax.plot(ks, ys, "s", color="tab:brown", label=f"L2X (K={ks[0]})")
                continue
            color, style = STYLE.get(method, ("black", "-"))
            ax.plot(ks, ys, style, color=color, marker="o", label=f"{method} ({m['items']} test items)")
        ax.set(title=title, xlabel="K (features kept)", ylabel="faithfulness (post-hoc accuracy)")
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_cost(tasks: dict[str, Any], path: Path) -> Path:
    """Seconds per explained item (the same under every protocol: each explainer explains once)."""
    fig, axes = panels(len(tasks), 5.5, 3.5)
    for ax, (task, block) in zip(axes, tasks.items()):
        methods = next(iter(block["protocols"].values()))["methods"]
        names = list(methods)
        seconds = [methods[n]["seconds_per_item"]["mean"] for n in names]
        ax.barh(names, seconds, color=[STYLE.get(n, ("tab:brown", ""))[0] for n in names])
        ax.set_xscale("log")
        ax.set(title=f"{task}: seconds per explained item", xlabel="seconds (log scale)")
    return save_figure(fig, path)


def _highlight(tokens: list[str], positions: list[int], weights: list[float]) -> str:
    top = max((abs(weights[p]) for p in positions if p >= 0), default=1.0) or 1.0
    parts = []
    for i, token in enumerate(tokens):
        if i in positions:
            alpha = 0.25 + 0.75 * abs(weights[i]) / top
            parts.append(f'<mark style="background: rgba(255, 140, 0, {alpha:.2f})" title="W = {weights[i]:.3f}">'
                         f"{html.escape(token)}</mark>")
        else:
            parts.append(html.escape(token))
    return " ".join(parts)


def write_html(examples: list[dict[str, Any]], path: Path) -> Path:
    """One block per snippet: the black box's label, then each class's top-K words highlighted (darker = larger
    weight); hover a word for its weight."""
    rows = []
    for ex in examples:
        rows.append(f"<h3>black box says: {html.escape(str(ex['label']))}</h3>")
        for cls, sel in ex["classes"].items():
            words = _highlight(ex["tokens"], sel["positions"], sel["weights"])
            rows.append(f"<p><b>{html.escape(str(cls))}</b>: {words}</p>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>AIM explanations</title></head><body>"
            "<h1>AIM: the top-K words of every class, from one pass</h1>" + "\n".join(rows) + "</body></html>")
    path.write_text(page, encoding="utf-8")
    return path
