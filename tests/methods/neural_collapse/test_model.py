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
