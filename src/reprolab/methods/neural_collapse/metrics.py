r"""Neural Collapse metrics, usable on any model's features and last-layer weights.

Features h_i (rows of `features`, the input of the first linear layer of the head), class means mu_k, global mean
mu_G, Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T, Sigma_B = (1/K) sum_k (mu_k - mu_G)(mu_k - mu_G)^T.
A_F := A / ||A||_F; P_ETF = (I - 11^T/K)/sqrt(K-1); P_OF = I/sqrt(K). (Official metric code, after Papyan et al.)

- NC1 = tr(Sigma_W Sigma_B^+) / K (Sigma_B^+ in float64, or as the official code computes it: `nc1`).
- ETF (bias; centred means M_c): NC2_W = ||(WW^T)_F - P_ETF||, NC2_H = ||(M_c^T M_c)_F - P_ETF||,
  NC3 = ||(W M_c)_F - P_ETF||.
- OF (bias-free; uncentred Hbar): NC2_W = ||(WW^T)_F - P_OF||, NC2_H = ||(Hbar^T Hbar)_F - P_OF||,
  NC3_WH = ||(W Hbar)_F - P_OF||, NC3_W = ||W_F - (Hbar^T)_F||.
- GOF (imbalanced; targets from s_k*, see theory.GOFTarget): the OF metrics with diagonal targets.
- Extras (Papyan et al. 2020): equinorm (std/mean of class-mean and classifier-row norms), equiangularity
  (std of pairwise cosines of centred means), maximal angle (mean |cos + 1/(K-1)|), NC4 (agreement between the
  model's prediction and the nearest class centre).
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence, TypeVar

import numpy as np
import scipy.linalg
import torch

from reprolab.methods.neural_collapse.theory import GOFTarget
from reprolab.runtime.config import check_choice

Matrix = TypeVar("Matrix", np.ndarray, torch.Tensor)
NC1Pinv = Literal["float64", "official"]


def _normalised(a: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(a)
    return a / norm if norm > 0 else a


def frame_distance(a: np.ndarray, target: np.ndarray) -> float:
    """||A_F - T_F||_F: distance between two matrices after scaling each to unit Frobenius norm."""
    return float(np.linalg.norm(_normalised(a) - _normalised(target)))


def _validate(features: np.ndarray, labels: np.ndarray, W: np.ndarray, b: np.ndarray | None):
    features, labels, W = np.asarray(features, np.float64), np.asarray(labels), np.asarray(W, np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be (N, d), got shape {features.shape}")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"labels must be (N,) = ({features.shape[0]},), got shape {labels.shape}")
    if W.ndim != 2 or W.shape[1] != features.shape[1]:
        raise ValueError(f"W must be (K, d) with d = {features.shape[1]}, got shape {W.shape}")
    if not (np.isfinite(features).all() and np.isfinite(W).all()):
        raise ValueError("features or W contain NaN or inf")
    K = W.shape[0]
    if labels.min() < 0 or labels.max() >= K:
        raise ValueError(f"labels must lie in 0..{K - 1} (W has {K} rows), got range {labels.min()}..{labels.max()}")
    missing = sorted(set(range(K)) - set(np.unique(labels).tolist()))
    if missing:
        raise ValueError(f"classes {missing} have no samples; class means are undefined")
    if b is not None:
        b = np.asarray(b, np.float64)
        if b.shape != (K,):
            raise ValueError(f"b must be (K,) = ({K},), got shape {b.shape}")
    return features, labels.astype(np.int64), W, b


def class_means(features: np.ndarray, labels: np.ndarray, K: int) -> np.ndarray:
    """Uncentred class means, shape (K, d)."""
    sums = np.zeros((K, features.shape[1]))
    np.add.at(sums, labels, features)
    return sums / np.bincount(labels, minlength=K)[:, None]


def nc1(features: np.ndarray, labels: np.ndarray, means: np.ndarray, pinv: NC1Pinv = "float64") -> float:
    """tr(Sigma_W Sigma_B^+) / K. `pinv="float64"`: Sigma_B^+ in float64, dropping singular values below
    1e-12 s_max. `"official"` (the official code): Sigma_W and Sigma_B in float32 and `scipy.linalg.pinv`'s default
    cut-off, singular values up to d eps_float32 s_max dropped (2.4e-4 s_max at d = 2048), the product in float32;
    where Sigma_B has eigenvalues between the two cut-offs NC1 comes out smaller."""
    check_choice("pinv", pinv, NC1Pinv)
    K, N = len(means), len(features)
    within = features - means[labels]
    sigma_w = within.T @ within / N
    centred = means - features.mean(axis=0)
    sigma_b = centred.T @ centred / K
    if pinv == "official":
        sigma_w, sigma_b = sigma_w.astype(np.float32), sigma_b.astype(np.float32)
        return float(np.trace(sigma_w @ scipy.linalg.pinv(sigma_b)) / K)
    return float(np.trace(sigma_w @ np.linalg.pinv(sigma_b, rcond=1e-12, hermitian=True)) / K)


def collapse_metrics(features, labels, W, b=None, *, gof: GOFTarget | None = None, layers_below: int = 0,
                     nc1_pinv: NC1Pinv = "float64") -> dict[str, float]:
    """All NC metrics of features (N, d) with labels (N,) under a last layer W (K, d) and optional bias (K,).

    `gof` adds the general-orthogonal-frame metrics; `layers_below` = j pairs the targets with a partial product
    W_M..W_{j+1} fed by features W_j..W_1 H; `nc1_pinv` picks NC1's pseudo-inverse (`nc1`).
    """
    features, labels, W, b = _validate(features, labels, W, b)
    K = W.shape[0]
    means = class_means(features, labels, K)          # Hbar^T, (K, d)
    centred = means - features.mean(axis=0)           # M_c^T
    eye, ones = np.eye(K), np.ones((K, K))
    p_etf, p_of = (eye - ones / K) / np.sqrt(K - 1), eye / np.sqrt(K)
    WWt, HtH, WH = W @ W.T, means @ means.T, W @ means.T
    out = {
        "nc1": nc1(features, labels, means, nc1_pinv),
        "etf_nc2_w": frame_distance(WWt, p_etf),
        "etf_nc2_h": frame_distance(centred @ centred.T, p_etf),
        "etf_nc3": frame_distance(W @ centred.T, p_etf),
        "of_nc2_w": frame_distance(WWt, p_of),
        "of_nc2_h": frame_distance(HtH, p_of),
        "of_nc3_wh": frame_distance(WH, p_of),
        "of_nc3_w": frame_distance(W, means),
    }
    if gof is not None:
        if len(gof.s) != K:
            raise ValueError(f"gof target has {len(gof.s)} classes, W has {K} rows")
        target = gof.diagonals(layers_below)
        out.update({
            "gof_nc2_w": frame_distance(WWt, np.diag(target["WWt"])),
            "gof_nc2_h": frame_distance(HtH, np.diag(target["HtH"])),
            "gof_nc3_wh": frame_distance(WH, np.diag(target["WH"])),
            "gof_nc3_w": frame_distance(W, target["row_scale"][:, None] * means),
        })
    out.update(_papyan_extras(features, labels, W, b, means, centred))
    return out


def _papyan_extras(features, labels, W, b, means, centred) -> dict[str, float]:
    """Undefined where the norms vanish (a collapsed, trivial solution): NaN then."""
    K, tiny = len(means), 1e-30
    mean_norms, w_norms = np.linalg.norm(centred, axis=1), np.linalg.norm(W, axis=1)
    nan = float("nan")
    if mean_norms.min() > tiny:
        unit = centred / mean_norms[:, None]
        cos = (unit @ unit.T)[~np.eye(K, dtype=bool)]
        angles = {"equiangular_h": float(cos.std()), "max_angle_h": float(np.abs(cos + 1.0 / (K - 1)).mean())}
    else:
        angles = {"equiangular_h": nan, "max_angle_h": nan}
    logits = features @ W.T + (b if b is not None else 0.0)
    # ||h - mu_k||^2 = ||h||^2 - 2 h.mu_k + ||mu_k||^2; the first term does not change the argmin
    nearest = np.argmin((means ** 2).sum(axis=1)[None, :] - 2.0 * features @ means.T, axis=1)
    return {
        "equinorm_h": float(mean_norms.std() / mean_norms.mean()) if mean_norms.mean() > tiny else nan,
        "equinorm_w": float(w_norms.std() / w_norms.mean()) if w_norms.mean() > tiny else nan,
        **angles,
        "nc4_disagreement": float((logits.argmax(axis=1) != nearest).mean()),
    }


def layer_product(layers: Sequence[Matrix]) -> Matrix:
    """W = W_M ... W_1 for layers W_1..W_M, each (out, in), multiplied from the top (W_M W_{M-1} first) so that
    every partial product has K rows: (M - 1) K d^2 multiply-adds instead of up to (M - 2) d^3 + K d^2. Torch
    tensors stay tensors (their dtype; autograd follows); anything else becomes float64 arrays."""
    matrix = (lambda W: W) if isinstance(layers[-1], torch.Tensor) else (lambda W: np.asarray(W, np.float64))
    product = matrix(layers[-1])
    for W in reversed(layers[:-1]):
        product = product @ matrix(W)
    return product


def per_depth_metrics(H: np.ndarray, labels: np.ndarray, layers: Sequence[np.ndarray], b=None, *,
                      gof: GOFTarget | None = None, nc1_pinv: NC1Pinv = "float64") -> list[dict[str, float]]:
    """Metrics for every partial product: entry j pairs W_M..W_{j+1} with features W_j..W_1 h (j = 0..M-1).

    `H` holds the head's input features as rows (N, d); `layers` are W_1..W_M, each (out, in).
    """
    results, feats = [], np.asarray(H, np.float64)
    for j in range(len(layers)):
        product = layer_product(layers[j:])
        results.append({"layers_below": j, **collapse_metrics(feats, labels, product, b, gof=gof, layers_below=j,
                                                              nc1_pinv=nc1_pinv)})
        feats = feats @ np.asarray(layers[j], np.float64).T
    return results


@torch.no_grad()
def collect_features(model: torch.nn.Module, layer: torch.nn.Module, inputs: torch.Tensor,
                     batch_size: int = 1024, forward: Callable[[torch.Tensor], object] | None = None) -> np.ndarray:
    """The inputs of `layer` (e.g. a model's last linear layer) for every row of `inputs`, via a forward hook."""
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, args, _out: captured.append(args[0].detach().flatten(1).cpu()))
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(inputs), batch_size):
            (forward or model)(inputs[start:start + batch_size])
    finally:
        handle.remove()
        model.train(was_training)
    if not captured:
        raise ValueError("the hooked layer was never called by the model's forward pass")
    return torch.cat(captured).double().numpy()
