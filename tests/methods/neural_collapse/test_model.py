import numpy as np
import pytest
import torch

from reprolab.methods.neural_collapse import theory as T
from reprolab.methods.neural_collapse.model import UnconstrainedFeatures, train_ufm, ufm_objective


def test_objective_matches_hand_formula():
    torch.manual_seed(0)
    model = UnconstrainedFeatures(6, 3, 2, depth=2).double()
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    H, W1, W2 = (t.detach().numpy() for t in (model.H, *model.head.weights()))
    Y = np.eye(2)[labels.numpy()]
    expected = (((H @ W1.T @ W2.T - Y) ** 2).sum() / 12 + 1e-2 / 2 * (W1 ** 2).sum() + 2e-2 / 2 * (W2 ** 2).sum()
                + 3e-3 / 2 * (H ** 2).sum())
    assert ufm_objective(model, labels, [1e-2, 2e-2], 3e-3).item() == pytest.approx(expected, rel=1e-12)
    official = ((H @ W1.T @ W2.T - Y) ** 2).mean() + 1e-2 / 2 * (W1 ** 2).sum() + 2e-2 / 2 * (W2 ** 2).sum() \
        + 3e-3 / 2 * (H ** 2).sum()
    assert ufm_objective(model, labels, [1e-2, 2e-2], 3e-3, convention="official").item() == \
        pytest.approx(official, rel=1e-12)


def test_short_gd_run_approaches_the_closed_form():
    counts, lam = (200, 100, 50, 50), 5e-4
    run = train_ufm(counts, dim=16, depth=1, lambda_W=lam, lambda_H=lam, steps=10000)
    L_star = T.optimal_loss(T.UFMProblem(counts, 1, lam, lam))
    assert abs(run.final_loss - L_star) / L_star < 1e-4  # spec: 2.7e-5 after 10k iterations at d = 16
    assert run.final_loss >= L_star - 1e-12  # L* is a lower bound for every point


def test_per_layer_decays_and_official_convention_reach_their_closed_forms():
    counts, lams, lam_H = (60, 30), (2e-3, 5e-4), 1e-3
    run = train_ufm(counts, dim=8, depth=2, lambda_W=lams, lambda_H=lam_H, steps=8000)
    L_star = T.optimal_loss(T.UFMProblem(counts, 2, lams, lam_H))
    assert abs(run.final_loss - L_star) / L_star < 1e-4
    scale, lw, lh = T.theory_lambdas("official", 2, 1e-3, 1e-3)
    run = train_ufm(counts, dim=8, depth=1, lambda_W=1e-3, lambda_H=1e-3, steps=8000, convention="official")
    assert run.final_loss == pytest.approx(scale * T.optimal_loss(T.UFMProblem(counts, 1, lw, lh)), rel=1e-4)


def test_divergence_is_reported():
    with pytest.raises(FloatingPointError, match="lr"):
        train_ufm((5, 5), dim=4, depth=3, lambda_W=1e-3, lambda_H=1e-3, steps=200, lr=50.0, init_std=1.0)


def test_the_official_init_makes_every_head_layer_of_the_mlp_orthogonal():
    from reprolab.methods.neural_collapse.real import NCNetwork

    torch.manual_seed(0)
    official = NCNetwork("mlp", (1, 28, 28), 10, 3, 32, mlp_depth=3)
    for layer in official.head.layers:
        w = layer.weight if layer.weight.shape[0] <= layer.weight.shape[1] else layer.weight.T
        assert torch.allclose(w @ w.T, torch.eye(w.shape[0]), atol=1e-5)
    plain = NCNetwork("mlp", (1, 28, 28), 10, 3, 32, mlp_depth=3, init="pytorch")
    w = plain.head.layers[0].weight
    assert not torch.allclose(w @ w.T, torch.eye(32), atol=1e-2)


def test_the_head_forms_the_product_first_and_equals_the_layer_by_layer_map():
    from reprolab.methods.neural_collapse.model import DeepLinearHead

    torch.manual_seed(0)
    head = DeepLinearHead(5, 3, 4, width=7, bias=True).double()
    with torch.no_grad():
        head.bias.normal_()
    h = torch.randn(11, 5, dtype=torch.float64, requires_grad=True)
    layerwise = h
    for layer in head.layers:
        layerwise = layer(layerwise)
    fused = head(h)
    assert torch.allclose(fused, layerwise, rtol=1e-12, atol=1e-14)
    target = torch.randn(11, 3, dtype=torch.float64)
    grads = [torch.autograd.grad(((out - target) ** 2).sum(), [h, *head.parameters()]) for out in (fused, layerwise)]
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss, bias, depth, lambdas", [("mse", False, 3, [1e-2, 5e-3, 2e-2]),
                                                        ("ce", True, 2, [5e-3] * 2), ("mse", True, 1, [1e-3])])
def test_train_ufm_takes_the_steps_of_the_official_layerwise_loop(loss, bias, depth, lambdas):
    """Product head + SGD weight decay (train_ufm) against the official loop (decay terms in the loss, plain SGD,
    layer-by-layer forward): the same iterates up to float64 rounding."""
    from benchmarks.neural_collapse import layerwise_ufm, max_relative_difference

    counts, lam_H = (12, 8, 5), 3e-3
    ours = train_ufm(counts, dim=6, depth=depth, lambda_W=lambdas, lambda_H=lam_H, steps=400, bias=bias, loss=loss)
    reference = layerwise_ufm(counts, dim=6, depth=depth, lambdas_W=lambdas, lambda_H=lam_H, steps=400, bias=bias,
                              loss=loss)
    assert max_relative_difference(ours.model, reference) < 1e-12
    moved = max_relative_difference(ours.model, layerwise_ufm(counts, dim=6, depth=depth, lambdas_W=lambdas,
                                                              lambda_H=lam_H, steps=399, bias=bias, loss=loss))
    assert moved > 1e-6                                  # one step fewer is far outside the tolerance


@pytest.mark.parametrize("loss, convention", [("mse", "theory"), ("mse", "official"), ("mse", "official_half"),
                                              ("ce", "theory")])
def test_the_written_out_logit_gradient_is_the_gradient_of_the_data_term(loss, convention):
    from reprolab.methods.neural_collapse.model import fit_term, logit_gradient

    torch.manual_seed(0)
    logits = torch.randn(9, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 3])
    (taped,) = torch.autograd.grad(fit_term(logits, labels, loss, convention), logits)
    written = logit_gradient(logits.detach(), torch.nn.functional.one_hot(labels, 4).double(), loss, convention)
    assert torch.allclose(written, taped, rtol=1e-13, atol=1e-16)


def test_the_final_metrics_are_those_of_a_fresh_feature_pass_also_after_a_finished_resume(tmp_path):
    """track_collapse keeps the features of its evaluation after the last step for the final per-depth metrics; they
    equal a fresh pass over the trained model, and a resume from the finished checkpoint computes the same ones."""
    from reprolab.methods.neural_collapse.metrics import collect_features, per_depth_metrics
    from reprolab.methods.neural_collapse.real import NCNetwork, RealRecipe, track_collapse
    from reprolab.runtime.distributed import DistInfo

    recipe = RealRecipe(counts=(10, 10, 10), depths=(2,), backbone="mlp", width=8, mlp_depth=1, lambda_W=1e-3,
                        lambda_H=1e-3, loss_convention="theory", optimizer="adam", lr=1e-2, momentum=0.9,
                        weight_decay=0.0, batch_size=8, epochs=3, lr_step_epochs=2, lr_gamma=0.5,
                        eval_every_epochs=2)
    x, y = torch.randn(30, 1, 4, 4, generator=torch.Generator().manual_seed(0)), torch.arange(30) % 3

    def train(resume=False):
        torch.manual_seed(0)
        model = NCNetwork("mlp", (1, 4, 4), 3, 2, 8, mlp_depth=1)
        out = track_collapse(model, x, y, recipe, gof=None, dist=DistInfo(), checkpoint=tmp_path / "nc.pt",
                             resume=resume)
        return model, out

    model, out = train()
    fresh = per_depth_metrics(collect_features(model, model.head, x), y.numpy(), model.head.numpy_layers(),
                              model.head.numpy_bias())
    assert out["per_depth"] == fresh and out["history"][-1]["step"] == 3 * 4
    assert train(resume=True)[1]["per_depth"] == fresh


def test_track_collapse_reads_no_step_loss_into_python(host_reads, monkeypatch):
    """The steps' losses are checked for finiteness at the evaluations, in one transfer each: 200 steps with three
    evaluations read as many values as 20 steps with three (progress off; SGD, whose step reads nothing)."""
    from reprolab.methods.neural_collapse.real import NCNetwork, RealRecipe, track_collapse
    from reprolab.runtime.distributed import DistInfo

    monkeypatch.setenv("REPROLAB_PROGRESS", "0")
    x, y = torch.randn(30, 1, 4, 4, generator=torch.Generator().manual_seed(0)), torch.arange(30) % 3
    counts = []
    for epochs in (5, 50):
        recipe = RealRecipe(counts=(10, 10, 10), depths=(2,), backbone="mlp", width=8, mlp_depth=1, lambda_W=1e-3,
                            lambda_H=1e-3, loss_convention="theory", optimizer="sgd", lr=1e-2, momentum=0.9,
                            weight_decay=0.0, batch_size=8, epochs=epochs, lr_step_epochs=2, lr_gamma=0.5,
                            eval_every_epochs=epochs)
        torch.manual_seed(0)
        host_reads.clear()
        track_collapse(NCNetwork("mlp", (1, 4, 4), 3, 2, 8, mlp_depth=1), x, y, recipe, gof=None, dist=DistInfo())
        counts.append(len(host_reads))
    assert counts[0] == counts[1] <= 200 / 50 + 30, counts


def _official_initial_state(counts, dim, depth, seed):
    """The official synthetic scripts' start: set_seed, H = torch.normal(0, 0.1), the layers (a last-layer bias),
    every weight re-drawn N(0, 0.1^2), then the targets in class order indexed by torch.randperm."""
    torch.manual_seed(seed)
    H = torch.normal(0, 0.1, size=(sum(counts), dim))
    fc = [torch.nn.Linear(dim, dim, bias=False) for _ in range(depth - 1)]
    fc.append(torch.nn.Linear(dim, len(counts), bias=True))
    for layer in fc:
        torch.nn.init.normal_(layer.weight, mean=0, std=0.1)
    targets = torch.tensor([k for k, n in enumerate(counts) for _ in range(n)])
    return H, [layer.weight for layer in fc], fc[-1].bias, targets[torch.randperm(len(targets))]


def test_the_official_ufm_init_keeps_the_linear_bias_and_draws_the_labels_after_the_model():
    from reprolab.methods.neural_collapse.model import balanced_labels

    counts, dim, depth = (6, 5, 5), 3, 2
    H, weights, bias, labels = _official_initial_state(counts, dim, depth, seed=2)
    kwargs = dict(dim=dim, depth=depth, lambda_W=1e-3, lambda_H=1e-3, steps=0, bias=True, dtype=torch.float32)
    official = train_ufm(counts, init="official", **kwargs)
    assert torch.equal(official.labels, labels) and torch.equal(official.model.H, H)
    assert all(torch.equal(ours, theirs) for ours, theirs in zip(official.model.head.weights(), weights))
    assert torch.equal(official.model.head.bias, bias) and 0 < bias.abs().max() <= dim ** -0.5
    default = train_ufm(counts, **kwargs)                  # the same H and W; b = 0; labels from their own generator
    assert torch.equal(default.model.H, H) and not default.model.head.bias.any()
    assert torch.equal(default.labels, balanced_labels(counts, torch.Generator().manual_seed(2)))
    assert not torch.equal(default.labels, labels)
    with pytest.raises(ValueError, match="init"):
        train_ufm(counts, init="xavier", **kwargs)


def test_track_collapse_computes_nc1_with_the_pinv_it_is_given():
    from reprolab.methods.neural_collapse.metrics import class_means, collect_features, nc1
    from reprolab.methods.neural_collapse.real import NCNetwork, RealRecipe, track_collapse
    from reprolab.runtime.distributed import DistInfo

    recipe = RealRecipe(counts=(10, 10, 10), depths=(2,), backbone="mlp", width=8, mlp_depth=1, lambda_W=1e-3,
                        lambda_H=1e-3, loss_convention="theory", optimizer="adam", lr=1e-2, momentum=0.9,
                        weight_decay=0.0, batch_size=0, epochs=3, lr_step_epochs=2, lr_gamma=0.5,
                        eval_every_epochs=2)
    x, y = torch.randn(30, 1, 4, 4, generator=torch.Generator().manual_seed(0)), torch.arange(30) % 3
    torch.manual_seed(0)
    model = NCNetwork("mlp", (1, 4, 4), 3, 2, 8, mlp_depth=1)
    out = track_collapse(model, x, y, recipe, gof=None, dist=DistInfo(), nc1_pinv="official", progress=False)
    H, labels = collect_features(model, model.head, x), y.numpy()
    official, default = (nc1(H, labels, class_means(H, labels, 3), pinv) for pinv in ("official", "float64"))
    assert out["final"]["nc1"] == out["per_depth"][0]["nc1"] == official != default
