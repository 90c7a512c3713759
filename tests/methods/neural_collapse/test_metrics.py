import numpy as np
import pytest
import torch

from reprolab.methods.neural_collapse import theory as T
from reprolab.methods.neural_collapse.metrics import (class_means, collapse_metrics, collect_features, layer_product,
                                                     nc1, per_depth_metrics)

K, D, PER = 4, 8, 5


def _orthonormal(d, k, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q[:, :k].T  # (k, d) orthonormal rows


def _collapsed(means):
    labels = np.repeat(np.arange(len(means)), PER)
    return means[labels], labels


def test_orthogonal_frame_scores_zero_on_of_metrics():
    means = 2.0 * _orthonormal(D, K)
    features, labels = _collapsed(means)
    m = collapse_metrics(features, labels, W=3.0 * means)
    for key in ("nc1", "of_nc2_w", "of_nc2_h", "of_nc3_wh", "of_nc3_w"):
        assert abs(m[key]) < 1e-12, key
    assert m["etf_nc2_w"] > 0.1  # an OF is not a simplex ETF


def test_simplex_etf_scores_zero_on_etf_metrics():
    basis = _orthonormal(D, K)
    etf = (np.eye(K) - 1.0 / K) @ basis             # K centred, equal-norm, equiangular vectors
    offset = 0.7 * _orthonormal(D, K + 1, seed=1)[K]  # a global mean outside their span
    features, labels = _collapsed(etf + offset)
    m = collapse_metrics(features, labels, W=etf, b=np.full(K, 0.25))
    for key in ("nc1", "etf_nc2_w", "etf_nc2_h", "etf_nc3", "equinorm_h", "equiangular_h", "max_angle_h"):
        assert abs(m[key]) < 1e-12, key
    assert m["nc4_disagreement"] == 0.0


def test_general_orthogonal_frame_scores_zero_on_gof_only():
    target = T.GOFTarget(s=np.array([1.9, 1.7, 1.6, 1.5]), depth=3, c=400 * 5e-4)
    diag = target.diagonals()
    means = np.sqrt(diag["HtH"])[:, None] * _orthonormal(D, K)
    W = diag["row_scale"][:, None] * means
    features, labels = _collapsed(means)
    m = collapse_metrics(features, labels, W, gof=target)
    for key in ("gof_nc2_w", "gof_nc2_h", "gof_nc3_wh", "gof_nc3_w"):
        assert m[key] < 1e-12, key
    assert m["of_nc2_w"] > 0.05


def test_a_collapsed_class_nc3_w_row_is_scaled_by_c_only_with_the_official_flag():
    # the official code's target diag(s^{2M} + c) Hbar^T (`validate_NC_unbalanced.py`), written out here:
    # ||W / ||W||_F - D Hbar^T / ||D Hbar^T||_F||_F with D = diag(s^{2M} + c), c for a collapsed class
    s, M, c = np.array([1.3, 1.1, 0.0, 0.0]), 1, 0.25
    rng = np.random.default_rng(5)
    features, labels = rng.normal(size=(40, D)), np.repeat(np.arange(K), 10)
    W, means = rng.normal(size=(K, D)), class_means(features, labels, K)
    official = (s ** (2 * M) + c)[:, None] * means
    expected = np.linalg.norm(W / np.linalg.norm(W) - official / np.linalg.norm(official))
    ours, theirs = (collapse_metrics(features, labels, W, gof=T.GOFTarget(s, M, c, collapsed_row=row))["gof_nc3_w"]
                    for row in ("zero", "c"))
    assert theirs == pytest.approx(expected, rel=1e-12) and abs(ours - expected) > 0.01
    assert T.GOFTarget(s, M, c).diagonals()["row_scale"].tolist() == [1.3 ** 2 + c, 1.1 ** 2 + c, 0.0, 0.0]
    deeper = T.GOFTarget(s, 3, c, collapsed_row="c")               # the official code evaluates only j = 0
    assert deeper.diagonals(1)["row_scale"].tolist() == T.GOFTarget(s, 3, c).diagonals(1)["row_scale"].tolist()
    with pytest.raises(ValueError, match="collapsed_row"):
        T.GOFTarget(s, M, c, collapsed_row="one")


def test_metrics_are_invariant_to_rotations_of_feature_space():
    rng = np.random.default_rng(3)
    features, labels = rng.normal(size=(40, D)), np.repeat(np.arange(K), 10)
    W, b = rng.normal(size=(K, D)), rng.normal(size=K)
    Q = _orthonormal(D, D, seed=7)
    a = collapse_metrics(features, labels, W, b)
    r = collapse_metrics(features @ Q.T, labels, W @ Q.T, b)
    for key in a:
        assert a[key] == pytest.approx(r[key], rel=1e-9, abs=1e-12), key


def test_nc1_hand_computed():
    # 1-D, two classes: {0, 2} and {10, 12}: Sigma_W = 1, Sigma_B = 25, NC1 = (1/25)/2
    features, labels = np.array([[0.0], [2.0], [10.0], [12.0]]), np.array([0, 0, 1, 1])
    assert nc1(features, labels, class_means(features, labels, 2)) == pytest.approx(0.02)


@pytest.mark.parametrize("kwargs, message", [
    (dict(features=np.zeros((4, 3)), labels=np.zeros(5, int), W=np.zeros((2, 3))), "labels must be"),
    (dict(features=np.zeros((4, 3)), labels=np.array([0, 1, 0, 1]), W=np.zeros((2, 5))), "W must be"),
    (dict(features=np.full((4, 3), np.nan), labels=np.array([0, 1, 0, 1]), W=np.ones((2, 3))), "NaN"),
    (dict(features=np.ones((4, 3)), labels=np.array([0, 1, 0, 7]), W=np.ones((2, 3))), "labels must lie"),
    (dict(features=np.ones((4, 3)), labels=np.array([0, 0, 0, 0]), W=np.ones((2, 3))), "classes \\[1\\] have no"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        collapse_metrics(**kwargs)


def test_collect_features_returns_the_input_of_the_hooked_layer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    x = torch.randn(10, 5)
    feats = collect_features(model, model[2], x, batch_size=3)
    np.testing.assert_allclose(feats, torch.relu(model[0](x)).detach().double().numpy(), rtol=1e-6)
    assert model.training  # mode restored


def test_layer_product_and_per_depth_pairing():
    rng = np.random.default_rng(4)
    W1, W2, W3 = rng.normal(size=(6, 5)), rng.normal(size=(6, 6)), rng.normal(size=(K, 6))
    np.testing.assert_allclose(layer_product([W1, W2, W3]), W3 @ W2 @ W1, rtol=1e-12)
    tensors = [torch.from_numpy(W) for W in (W1, W2, W3)]      # tensors stay tensors, multiplied from the top
    assert torch.equal(layer_product(tensors), (tensors[2] @ tensors[1]) @ tensors[0])
    H, labels = rng.normal(size=(20, 5)), np.repeat(np.arange(K), 5)
    depth = per_depth_metrics(H, labels, [W1, W2, W3])
    # entry 1 pairs W3 W2 with the features after W1
    assert depth[1] == {"layers_below": 1, **collapse_metrics(H @ W1.T, labels, W3 @ W2)}


def _two_scale_classes(delta, a=0.1):
    """K = 3 classes in 2-D around (3, 5) with centred means (1, delta), (-1, delta), (0, -2 delta), four samples
    each at mu_k +- (a, 0) and mu_k +- (0, a): Sigma_W = diag(a^2/2, a^2/2), Sigma_B = diag(2/3, 2 delta^2)."""
    centred = np.array([[1.0, delta], [-1.0, delta], [0.0, -2.0 * delta]])
    offsets = np.array([[a, 0.0], [-a, 0.0], [0.0, a], [0.0, -a]])
    features = (np.array([3.0, 5.0]) + centred[:, None, :] + offsets[None]).reshape(12, 2)
    return features, np.repeat(np.arange(3), 4)


@pytest.mark.parametrize("delta, official_drops", [(1e-4, True), (1e-3, False)])
def test_official_nc1_pinv_drops_what_scipys_float32_cut_off_drops(delta, official_drops):
    # Sigma_B's eigenvalue ratio 3 delta^2 is 3e-8 (below scipy.linalg.pinv's default cut-off for a float32 2 x 2
    # matrix, 2 eps_float32 = 2.4e-7) or 3e-6 (above); the float64 cut-off, 1e-12, keeps both.
    # NC1 = (1/3) [(a^2/2) / (2/3) + (a^2/2) / (2 delta^2)], or (1/3) (a^2/2) / (2/3) = a^2/4 without the second.
    features, labels = _two_scale_classes(delta)
    means, a2 = class_means(features, labels, 3), 0.1 ** 2
    both = (3 * a2 / 4 + a2 / (4 * delta ** 2)) / 3
    assert nc1(features, labels, means) == pytest.approx(both, rel=1e-9)
    expected = a2 / 4 if official_drops else both
    assert nc1(features, labels, means, "official") == pytest.approx(expected, rel=1e-5)
    W = np.eye(3, 2)
    assert collapse_metrics(features, labels, W, nc1_pinv="official")["nc1"] == pytest.approx(expected, rel=1e-5)
    assert per_depth_metrics(features, labels, [W], nc1_pinv="official")[0]["nc1"] == pytest.approx(expected,
                                                                                                    rel=1e-5)
    with pytest.raises(ValueError, match="pinv"):
        nc1(features, labels, means, "float32")
