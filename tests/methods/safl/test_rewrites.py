"""The training step's rewrites for speed each compute what the plain form computes: the TPS grid as one product,
the fused Adam, the identity resize skipped without the rectifier, and dropout's mask drawn from float32 uniforms
(the law of nn.Dropout)."""

import copy

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.safl.model import RECTIFIED, SAFL, SAFLConfig
from reprolab.methods.safl.recognizer import TrainConfig, adam, param_groups
from reprolab.methods.safl.stn import TPSGrid
from reprolab.methods.safl.transformer import SeqTransformer, UniformDropout


def test_tps_source_points_are_the_map_times_the_padded_control_points_of_each_image():
    """source(p) = [U(|p - P'_i|)_i, 1, p_x, p_y] L^-1 [S; 0_(3x2)], written out per image."""
    torch.manual_seed(0)
    grid = TPSGrid(32, 100)
    control = torch.rand(5, 20, 2)
    written_out = torch.stack([grid.map @ torch.cat([s, torch.zeros(3, 2)]) for s in control])
    assert grid.source_points(control).shape == (5, 3200, 2)
    assert torch.allclose(grid.source_points(control), written_out, atol=1e-6)
    assert torch.allclose(grid(control), (written_out.clamp(0, 1) * 2 - 1).view(5, 32, 100, 2), atol=1e-6)


def test_fused_adam_steps_as_the_per_parameter_loop():
    """Three steps with the same gradients, the encoder and the rectifier at their fraction of the rate."""
    torch.manual_seed(0)
    model = SAFL(SAFLConfig(size="light"))
    plain_model, start = copy.deepcopy(model), copy.deepcopy(model)
    cfg = TrainConfig(schedule="constant", lr=1e-3, encoder_lr_scale=0.1, rectifier_lr_scale=0.1)
    fused = adam(model, cfg)
    plain = torch.optim.Adam(param_groups(plain_model, cfg), lr=1e-3, betas=(0.9, 0.98), eps=1e-9, foreach=False)
    assert fused.defaults["fused"] and [g["lr"] for g in fused.param_groups] == [1e-3, 1e-3, 1e-3]
    for group, plain_group in zip(fused.param_groups, plain.param_groups):
        group["lr"] = plain_group["lr"] = 1e-3 * group["lr_scale"]
    for _ in range(3):
        for p, q in zip(model.parameters(), plain_model.parameters()):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        fused.step()
        plain.step()
    assert max((p - q).abs().max().item() for p, q in zip(model.parameters(), start.parameters())) > 1e-3
    for p, q in zip(model.parameters(), plain_model.parameters()):
        assert torch.allclose(p, q, atol=1e-6, rtol=0)


def test_without_the_rectifier_images_of_the_rectified_size_pass_unchanged():
    """The bilinear resize to the size an image has returns it (so rectify skips it)."""
    x = torch.rand(3, 3, *RECTIFIED) * 2 - 1
    assert torch.equal(F.interpolate(x, size=RECTIFIED, mode="bilinear", align_corners=False), x)
    model = SAFL(SAFLConfig(size="light", stn=False))
    assert model.rectify(x)[0] is x
    official = SAFL(SAFLConfig(stn=False))                    # 64 x 256 input: resized
    assert official.rectify(torch.rand(1, 3, 64, 256))[0].shape == (1, 3, *RECTIFIED)


def test_uniform_dropout_keeps_where_the_uniform_draw_is_at_least_p():
    """Known answer from the same generator state; the kept fraction is 1 - p; eval mode and p = 0 pass the input."""
    x = torch.randn(200, 500)
    drop = UniformDropout(0.1)
    torch.manual_seed(3)
    out = drop(x)
    torch.manual_seed(3)
    expected = x * (torch.rand_like(x) >= 0.1).float() / 0.9
    assert torch.allclose(out, expected, atol=1e-6, rtol=0)
    kept = (out != 0).float().mean().item()
    assert abs(kept - 0.9) < 0.003                             # 100,000 draws: the standard error is 0.001
    assert drop.eval()(x) is x and UniformDropout(0.0)(x) is x


def test_every_dropout_of_the_transformer_is_uniform_with_its_probability():
    transformer = SeqTransformer(32, 4, 64, 2, 2, dropout=0.1, embed_dropout=0.2)
    dropouts = {name: m for name, m in transformer.named_modules() if isinstance(m, nn.Dropout)}
    assert dropouts and all(type(m) is UniformDropout for m in dropouts.values())
    assert {name: m.p for name, m in dropouts.items() if m.p != 0.1} == {"embed_dropout": 0.2}
    assert len(dropouts) == 1 + 2 * 3 + 2 * 4                 # embedding; 3 per encoder layer, 4 per decoder layer



def test_torch_dropout_keeps_torchs_bernoulli_masks():
    """The `torch_dropout` flag (the official behaviour): every dropout of the Transformer is torch's nn.Dropout with
    its probability, so from one generator state it draws torch's masks, which the uniform masks are not."""
    official = SeqTransformer(32, 4, 64, 2, 2, dropout=0.1, embed_dropout=0.2, torch_dropout=True)
    dropouts = {name: m for name, m in official.named_modules() if isinstance(m, nn.Dropout)}
    assert len(dropouts) == 1 + 2 * 3 + 2 * 4 and all(type(m) is nn.Dropout for m in dropouts.values())
    assert {name: m.p for name, m in dropouts.items() if m.p != 0.1} == {"embed_dropout": 0.2}
    x = torch.ones(10_000)
    masks = []
    for drop in (official.embed_dropout, nn.Dropout(0.2), UniformDropout(0.2)):
        torch.manual_seed(1)
        masks.append(drop(x))
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])
