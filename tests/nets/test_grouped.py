"""`nets.grouped.grouped_linear`: S linear maps applied to S inputs in one batched product equal each seed's own
`F.linear` (to float rounding), for inputs with no, one or more batch axes, with and without a bias."""

import pytest
import torch
from torch.nn import functional as F

from reprolab.nets.grouped import grouped_linear


@pytest.mark.parametrize("batch_shape", [(), (5,), (4, 6)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_grouped_linear_equals_each_seeds_own_linear_map(batch_shape, with_bias):
    gen = torch.Generator().manual_seed(0)
    seeds, features, out = 3, 7, 2
    x = torch.randn(seeds, *batch_shape, features, generator=gen)
    weight = torch.randn(seeds, out, features, generator=gen)
    bias = torch.randn(seeds, out, generator=gen) if with_bias else None
    y = grouped_linear(x, weight, bias)
    assert y.shape == (seeds, *batch_shape, out)
    for s in range(seeds):
        assert torch.allclose(y[s], F.linear(x[s], weight[s], None if bias is None else bias[s]), atol=1e-6)
    assert not torch.allclose(y[0], F.linear(x[0], weight[1], None if bias is None else bias[1]), atol=1e-3)
