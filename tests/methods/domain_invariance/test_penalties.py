import itertools

import numpy as np
import pytest
import torch

from reprolab.data import load_digits
from reprolab.methods.domain_invariance.domains import rotate
from reprolab.methods.domain_invariance.penalties import (GAMMAS, compressed_penalty, feature_map, general_penalty,
                                                          group_mmd_matrix, mmd2, ramp)


def _explicit_mmd2(a, b, gammas):
    """The definition term by term: mean over all pairs of k, with k a sum of Gaussians."""
    def mean_k(p, q):
        return np.mean([sum(np.exp(-g * np.sum((x - y) ** 2)) for g in gammas) for x in p for y in q])
    return mean_k(a, a) + mean_k(b, b) - 2 * mean_k(a, b)


def test_mmd2_matches_its_definition_and_is_zero_on_identical_samples():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 3, generator=gen, dtype=torch.float64), torch.randn(5, 3, generator=gen, dtype=torch.float64)
    assert float(mmd2(a, b, GAMMAS["l2norm"])) == pytest.approx(_explicit_mmd2(a.numpy(), b.numpy(), GAMMAS["l2norm"]),
                                                                rel=1e-10)
    assert abs(float(mmd2(a, a.clone(), GAMMAS["raw"]))) <= 1e-6
    for seed in range(20):                                   # non-negative up to rounding
        g = torch.Generator().manual_seed(seed)
        x, y = torch.randn(16, 4, generator=g), torch.randn(9, 4, generator=g) * 0.1
        assert float(mmd2(x, y, GAMMAS["l2norm"])) >= -1e-6


def _loop_general(z, domains, k, features):
    phi = feature_map(z, features)
    groups = [phi[domains == i] for i in range(k)]
    valid = [i for i in range(k) if len(groups[i]) >= 2]
    values = [mmd2(groups[i], groups[j], GAMMAS[features]) for i, j in itertools.combinations(valid, 2)]
    return torch.stack(values).mean() if values else torch.zeros(())


def _loop_compressed(z, domains, labels, k, c, features):
    phi = feature_map(z, features)
    values = []
    for cls in range(c):
        for i, j in itertools.combinations(range(k), 2):
            a, b = phi[(domains == i) & (labels == cls)], phi[(domains == j) & (labels == cls)]
            if len(a) >= 2 and len(b) >= 2:
                values.append(mmd2(a, b, GAMMAS[features]))
    return torch.stack(values).mean() if values else torch.zeros(())


@pytest.mark.parametrize("features", ["l2norm", "raw"])
def test_one_kernel_matrix_equals_the_explicit_loop(features):
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(60, 8, generator=gen, dtype=torch.float64) * (0.3 if features == "raw" else 1.0)
    domains = torch.randint(0, 4, (60,), generator=gen)
    labels = torch.randint(0, 3, (60,), generator=gen)
    assert float(general_penalty(z, domains, 4, features)) == pytest.approx(
        float(_loop_general(z, domains, 4, features)), abs=1e-5)
    assert float(compressed_penalty(z, domains, labels, 4, 3, features)) == pytest.approx(
        float(_loop_compressed(z, domains, labels, 4, 3, features)), abs=1e-5)


def test_group_matrix_is_symmetric_with_zero_diagonal():
    gen = torch.Generator().manual_seed(2)
    mmd, counts = group_mmd_matrix(torch.randn(30, 5, generator=gen), torch.arange(30) % 3, 3, GAMMAS["l2norm"])
    assert counts.tolist() == [10, 10, 10]
    assert torch.allclose(mmd, mmd.T, atol=1e-6) and torch.allclose(mmd.diagonal(), torch.zeros(3), atol=1e-6)


def test_small_groups_drop_their_pairs_and_no_pair_gives_zero():
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(9, 4, generator=gen, dtype=torch.float64)
    domains = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2])               # domain 2 has one sample
    two = general_penalty(z[:8], domains[:8], 2)
    assert float(general_penalty(z, domains, 3)) == pytest.approx(float(two), abs=1e-12)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0])                # every (domain, class) group has one sample
    assert float(compressed_penalty(z, domains, labels, 3, 4)) == 0.0
    assert float(general_penalty(z[:1], domains[:1], 3)) == 0.0


def test_penalties_reject_bad_groups():
    z = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"domains must lie in \[0, 2\)"):
        general_penalty(z, torch.tensor([0, 1, 2, 0]), 2)
    with pytest.raises(ValueError, match="labels must lie"):
        compressed_penalty(z, torch.tensor([0, 1, 0, 1]), torch.tensor([0, 5, 0, 1]), 2, 3)
    with pytest.raises(ValueError, match="integer tensor of shape"):
        general_penalty(z, torch.tensor([0.0, 1.0, 0.0, 1.0]), 2)
    with pytest.raises(ValueError, match="penalty_features"):
        feature_map(z, "cosine")


def test_ramp_starts_at_zero_and_increases_towards_one():
    values = [ramp(t, 100) for t in range(0, 101, 10)]
    assert values[0] == 0.0 and all(a < b for a, b in zip(values, values[1:])) and 0.99 < values[-1] < 1.0
    with pytest.raises(ValueError):
        ramp(0, 0)


def test_known_answer_on_real_digits():
    """Two random halves of the same real digits are one distribution (penalty near 0); rotating one half by 60
    degrees shifts it (a much larger penalty). Same for the class-conditional form."""
    ds = load_digits()
    x = (ds.x / 16.0).astype(np.float32)[:, None]
    order = np.random.default_rng(0).permutation(len(ds.y))[:800]
    half_a, half_b = order[:400], order[400:]
    y = torch.from_numpy(np.concatenate([ds.y[half_a], ds.y[half_b]]))
    domains = torch.cat([torch.zeros(400, dtype=torch.int64), torch.ones(400, dtype=torch.int64)])
    same = torch.from_numpy(np.concatenate([x[half_a], x[half_b]]).reshape(800, -1))
    shifted = torch.from_numpy(np.concatenate([x[half_a], rotate(x[half_b], 60, "bilinear")]).reshape(800, -1))
    g_same, g_shift = float(general_penalty(same, domains, 2)), float(general_penalty(shifted, domains, 2))
    c_same = float(compressed_penalty(same, domains, y, 2, 10))
    c_shift = float(compressed_penalty(shifted, domains, y, 2, 10))
    assert g_same < 0.02 and g_shift > 10 * g_same
    assert c_shift > 3 * c_same
