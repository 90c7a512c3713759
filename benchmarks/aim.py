"""AIM on the quick run's Rotten Tomatoes task (1 thread), each line a ratio measured in this process, with an
equality check where two computations must agree:

- the black box: `WordCNN.unpadded_probs` (the windows of PAD alone computed once) against its forward over all L
  positions, on the 1,281 test snippets and on their top-3 kept items (the probabilities);
- AIM's explainer: the MLP once per distinct token of a batch against the MLP at every position, forward and
  backward on 50 training snippets (W_x and the gradients);
- Adam: torch's fused step against its for-loop step on AIM's quick-size parameters (the updated parameters);
- RMSprop on L2X's parameters (the quick sizes, the task's 10,093-word vocabulary) after one batch of 40 training
  snippets: torch's step on every parameter against torch's step on all but the two embeddings and `RowRMSprop` on
  the embeddings' rows the batch holds (the updated parameters, 20 steps);
- each equality check: the largest |reference - fast| over the largest |reference| of each tensor compared;
- the cost per explained item: AIM (all classes, one pass) against LIME (500 samples) and Kernel SHAP (200 samples)
  on 30 test snippets and a WordCNN trained for 1 epoch (AIM 1 epoch at the quick sizes);
- the bound on training 3 seeds as one stacked model: 3 AIM steps (loss, backward, Adam) on 50 snippets against 1
  step on 150, in alternating rounds; a stacked step costs at least the second (it adds the seeds' separate
  weights), so their ratio is the most stacking could gain. No equality: the batches differ."""

import dataclasses

import torch

from benchmarks import paired_medians, timed
from reprolab.methods.aim.baselines import L2X, RowRMSprop, kernel_shap_scores, l2x_mask, lime_scores
from reprolab.methods.aim.blackbox import BlackBoxConfig, WordCNN, embedding_black_box, train_word_cnn
from reprolab.methods.aim.experiment import CONFIGS, load_text_task
from reprolab.methods.aim.explainer import AIM
from reprolab.methods.aim.metrics import keep_items, top_k
from reprolab.methods.aim.modules import Explainer, FeatureKind


def ratio_line(name: str, reference_s: float, fast_s: float, gap: float) -> str:
    return (f"{name}: reference {reference_s * 1e3:.1f} ms, fast {fast_s * 1e3:.1f} ms, {reference_s / fast_s:.1f}x; "
            f"max relative difference {gap:.1e}")


def relative_gap(reference: torch.Tensor, fast: torch.Tensor) -> float:
    """max |reference - fast| / max |reference|."""
    return float((reference - fast).abs().max() / reference.abs().max().clamp_min(1e-30))


def black_box_lines(model: WordCNN, x: torch.Tensor, features: FeatureKind) -> list[str]:
    lines = []
    kept = keep_items(x, top_k(torch.rand(x.shape, generator=torch.Generator().manual_seed(0)), x != 0, 3), features)
    for name, items in (("black box, 1,281 test snippets", x), ("black box, their top-3 kept items", kept)):
        with torch.no_grad():
            full, unpadded = in_batches(model, items), in_batches(model.unpadded_probs, items)
            gap = relative_gap(full(), unpadded())
            lines.append(ratio_line(name, timed(full, 3), timed(unpadded, 3), gap))
    return lines


def in_batches(probs, items: torch.Tensor, batch: int = 500):
    """A call that gives `probs` of the items in batches, as `BlackBox.batched_probs` does."""
    return lambda: torch.cat([probs(items[i:i + batch]) for i in range(0, len(items), batch)])


def explainer_line(explainer: Explainer, x: torch.Tensor) -> str:
    def per_position() -> tuple[torch.Tensor, list[torch.Tensor]]:
        return step(lambda: explainer.mlp(explainer.encode(x)).transpose(1, 2))

    def per_token() -> tuple[torch.Tensor, list[torch.Tensor]]:
        return step(lambda: explainer(x))

    def step(forward) -> tuple[torch.Tensor, list[torch.Tensor]]:
        explainer.zero_grad()
        w = forward()
        w.square().sum().backward()
        return w.detach(), [p.grad.clone() for p in explainer.parameters()]

    (w_ref, g_ref), (w_fast, g_fast) = per_position(), per_token()
    gap = max(relative_gap(a, b) for a, b in zip([w_ref, *g_ref], [w_fast, *g_fast]))
    return ratio_line("explainer forward + backward, 50 snippets", timed(per_position, 10), timed(per_token, 10), gap)


def adam_line(modules: torch.nn.Module) -> str:
    copies = {fused: [p.detach().clone().requires_grad_() for p in modules.parameters()] for fused in (False, True)}
    grads = [torch.randn_like(p) for p in modules.parameters()]
    optimizers = {fused: torch.optim.Adam(params, lr=1e-3, fused=fused) for fused, params in copies.items()}

    def stepper(fused: bool):
        def step() -> None:
            for p, g in zip(copies[fused], grads):
                p.grad = g
            optimizers[fused].step()
        return step

    reference_s, fast_s = timed(stepper(False), 20), timed(stepper(True), 20)
    gap = max(relative_gap(a.detach(), b.detach()) for a, b in zip(copies[False], copies[True]))
    return ratio_line("Adam step, AIM's quick-size parameters", reference_s, fast_s, gap)


def l2x_rmsprop_line(task, box, cfg) -> str:
    l2x = L2X(box, len(task.vocab), 2, 1, cfg.l2x)
    x = task.train.ids[:40]
    modules = torch.nn.ModuleList([l2x.selector, l2x.approximator])
    l2x.approximator(x, l2x_mask(l2x.selector(x), 1, cfg.l2x.tau), 1).square().mean().backward()
    grads = [p.grad.clone() for p in modules.parameters()]
    embeddings = {id(l2x.selector.embedding.weight), id(l2x.approximator.embedding.weight)}
    copies = {fast: [p.detach().clone() for p in modules.parameters()] for fast in (False, True)}
    reference = torch.optim.RMSprop(copies[False], lr=cfg.l2x.lr)
    rest = torch.optim.RMSprop([c for p, c in zip(modules.parameters(), copies[True]) if id(p) not in embeddings],
                               lr=cfg.l2x.lr)
    rows = RowRMSprop([c for p, c in zip(modules.parameters(), copies[True]) if id(p) in embeddings], cfg.l2x.lr,
                      rest.defaults["alpha"], rest.defaults["eps"])
    ids = torch.unique(x)

    def stepper(fast: bool):
        def step() -> None:
            for p, g in zip(copies[fast], grads):
                p.grad = g
            if fast:
                rest.step()
                rows.step(ids)
            else:
                reference.step()
        return step

    reference_s, fast_s = timed(stepper(False), 20), timed(stepper(True), 20)
    gap = max(relative_gap(a, b) for a, b in zip(copies[False], copies[True]))
    return ratio_line("RMSprop step, L2X's quick-size parameters", reference_s, fast_s, gap)


def cost_lines(task, features: FeatureKind, cfg) -> list[str]:
    model = train_word_cnn(task.train.ids, task.train.labels, 2, len(task.vocab), BlackBoxConfig(epochs=1), 0)
    box = embedding_black_box(model)
    aim = AIM(box, 2, features, dataclasses.replace(cfg.aim, epochs=1)).fit(task.train.ids, task.val.ids)
    x = task.test.ids[:30]
    labels = box.predict(x)
    per_item = {"AIM": timed(lambda: aim.explain(x, 5, labels), 5) / len(x),
                "LIME (500 samples)": timed(lambda: lime_scores(box, x, labels, 500, 0), 1) / len(x),
                "Kernel SHAP (200 samples)": timed(lambda: kernel_shap_scores(box, x, labels, 200, 0), 1) / len(x)}
    aim_s = per_item["AIM"]
    return [f"{name}: {seconds * 1e3:.3f} ms per item" + ("" if name == "AIM" else f", {seconds / aim_s:.0f}x AIM")
            for name, seconds in per_item.items()]


def seed_stacking_bound_line(aim: AIM, x: torch.Tensor, seeds: int = 3, rounds: int = 7) -> str:
    batch = aim.cfg.batch_size
    y_hat = aim.black_box.predict(x)
    optimizer = torch.optim.Adam(aim.modules.parameters(), lr=aim.cfg.lr, fused=True)
    aim.modules.train()

    def step(index: slice) -> None:
        loss = aim.loss(x[index], y_hat[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def separate() -> None:
        for i in range(seeds):
            step(slice(i * batch, (i + 1) * batch))

    t_separate, t_stacked, bound = paired_medians(
        [(timed(separate, 5), timed(lambda: step(slice(0, seeds * batch)), 5)) for _ in range(rounds)])
    return (f"seed stacking bound, AIM step: {seeds} steps on {batch} snippets {t_separate * 1e3:.1f} ms, 1 step on "
            f"{seeds * batch} {t_stacked * 1e3:.1f} ms (medians of {rounds} rounds), at most {bound:.2f}x")


def main() -> None:
    torch.set_num_threads(1)
    cfg = CONFIGS["quick"]
    task = load_text_task("rotten_tomatoes", cfg)
    features = FeatureKind(vocab=len(task.vocab))
    torch.manual_seed(0)
    model = WordCNN(len(task.vocab), 2).eval()
    aim = AIM(embedding_black_box(model), 2, features, cfg.aim)
    for line in [*black_box_lines(model, task.test.ids, features), explainer_line(aim.explainer, task.train.ids[:50]),
                 adam_line(aim.modules), l2x_rmsprop_line(task, embedding_black_box(model), cfg),
                 seed_stacking_bound_line(aim, task.train.ids[:3 * cfg.aim.batch_size]),
                 *cost_lines(task, features, cfg)]:
        print(line, flush=True)
