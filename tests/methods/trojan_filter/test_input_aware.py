import pytest
import torch
from torch import nn

from reprolab.methods.trojan_filter.input_aware import (InputAware, InputAwareConfig, TriggerNet, diversity_loss,
                                                        pretrain_mask, rms_distance)


def _attack(mask_bias: float | None = None) -> InputAware:
    attack = InputAware(1, InputAwareConfig(width=4, mask_steps=20, mask_batch=8), seed=0)
    if mask_bias is not None:                          # force the mask to 0 or 1 everywhere
        last = attack.mask_net.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.constant_(last.bias, mask_bias)
    return attack


def test_stamp_is_x_plus_pattern_minus_x_times_mask():
    x, p = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    m = (torch.rand(2, 1, 8, 8) > 0.5).float()
    out = InputAware.stamp(x, p, m)
    assert torch.equal(out[m.bool()], p[m.bool()]) and torch.equal(out[~m.bool()], x[~m.bool()])
    x = torch.rand(3, 1, 8, 8)
    assert torch.allclose(_attack(mask_bias=-5.0).apply(x), x)              # m = 0: nothing stamped
    full = _attack(mask_bias=5.0)
    assert torch.allclose(full.apply(x), full.pattern(x), atol=1e-6)       # m = 1: the pattern itself


def test_mask_is_near_binary_and_pattern_in_unit_range():
    attack = _attack()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        h = attack.mask_net(x)
        assert torch.allclose(attack.mask(x), torch.tanh(20 * h - 10) / 2 + 0.5)
        p = attack.pattern(x)
        assert torch.allclose(p, torch.tanh(attack.pattern_net(x)) / 2 + 0.5)
        last = attack.pattern_net.net[-1]                 # a constant pre-activation h gives tanh(h) / 2 + 0.5
        nn.init.zeros_(last.weight)
        nn.init.constant_(last.bias, 0.5 * float(torch.log(torch.tensor(3.0))))    # atanh(0.5)
        assert torch.allclose(attack.pattern(x), torch.full_like(x, 0.75))
        nn.init.constant_(last.bias, -30.0)
        assert torch.allclose(attack.pattern(x), torch.zeros_like(x), atol=1e-6)


def test_cross_inputs_use_the_trigger_of_the_previous_image():
    attack = _attack()
    x = torch.rand(5, 1, 8, 8)
    cross = attack.cross_inputs(x, batch=2)
    with torch.no_grad():
        expected = attack.stamp(x[3], attack.pattern(x[2:3])[0], attack.mask(x[2:3])[0]).clamp(0, 1)
    assert torch.allclose(cross[3], expected, atol=1e-6)


def test_diversity_loss_and_distance_by_hand():
    a, b = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    assert rms_distance(a, b).item() == pytest.approx(0.5 ** 0.5)
    g1, g2 = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    assert diversity_loss(a, b, g1, g2).item() == pytest.approx(0.5 ** 0.5 / 0.5, rel=1e-5)
    same = torch.ones(2, 1, 2, 2, requires_grad=True)
    rms_distance(same, same.detach()).sum().backward()
    assert torch.isfinite(same.grad).all()            # identical saturated masks do not give NaN


def test_training_batch_composition_and_gradients():
    attack = _attack(mask_bias=5.0)                    # m = 1: every stamped row differs from the clean batch
    seen = {}

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            seen["x"] = x.detach().clone()
            return self.fc(x.flatten(1))

    x, y = torch.rand(20, 1, 8, 8), torch.randint(1, 10, (20,))
    loss = attack.training_loss(Recorder(), x, y, 0.1, torch.Generator().manual_seed(0))
    changed = (seen["x"] - x).abs().flatten(1).amax(1) > 1e-6
    assert int(changed.sum()) == 2 + 2                 # rate 0.1 own triggers + p_cross = 0.1 cross triggers
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in attack.pattern_net.parameters())
    assert all(p.grad is None for p in attack.mask_net.parameters())   # M stays frozen in joint training
    assert set(map(id, attack.parameters())) == set(map(id, attack.pattern_net.parameters()))


def test_mask_pretraining_lowers_its_objective_and_freezes_the_mask():
    attack = _attack()
    x = torch.rand(64, 1, 8, 8)
    log = pretrain_mask(attack, x, seed=0)
    objective = [100 * r["norm"] + r["div"] for r in log]   # lambda_norm mean(relu(m - density)) + lambda_div div
    assert objective[-1] < objective[0]
    assert not any(p.requires_grad for p in attack.mask_net.parameters())
    with pytest.raises(ValueError, match="divisible by 4"):
        TriggerNet(1, 1, 4)(torch.rand(1, 1, 30, 30))
