"""`augmentation="official"`: the WaNet code's crop, rotation and flip (augment.py), and the flag reaching the
classifier's training."""

import dataclasses
import math

import pytest
import torch

from reprolab.methods.trojan_filter import classifier as module
from reprolab.methods.trojan_filter.attacks import BadNetPlus, WaNet
from reprolab.methods.trojan_filter.augment import (OfficialDraw, apply_official, draw_official, official_augment,
                                                    pad_crop, rotate)
from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
from reprolab.nets.augment import random_crop_flip
from reprolab.runtime.config import ConfigError, apply_overrides


def shifted(x: torch.Tensor, sx: int, sy: int, fill: float) -> torch.Tensor:
    """Reference: the image x (C, H, W) moved by sx columns left and sy rows up, `fill` where nothing moved in."""
    c, h, w = x.shape
    out = torch.full_like(x, fill)
    for r in range(h):
        for col in range(w):
            if 0 <= r + sy < h and 0 <= col + sx < w:
                out[:, r, col] = x[:, r + sy, col + sx]
    return out


def rotated_reference(x: torch.Tensor, degrees: float, fill: float) -> torch.Tensor:
    """Reference: the official rotation of x (H, W) pixel by pixel. The forward matrix about the centre (cx, cy) is
    [[cos, sin], [-sin, cos]] (counter-clockwise as displayed), so output pixel (u, v) reads the input at
    (cx + cos du - sin dv, cy + sin du + cos dv), bilinearly, with `fill` off the image."""
    h, w = x.shape
    a = math.radians(degrees)
    cx, cy = (w - 1) / 2, (h - 1) / 2

    def pixel(r: int, c: int) -> float:
        return float(x[r, c]) if 0 <= r < h and 0 <= c < w else fill

    out = torch.empty(h, w)
    for v in range(h):
        for u in range(w):
            sx = cx + math.cos(a) * (u - cx) - math.sin(a) * (v - cy)
            sy = cy + math.sin(a) * (u - cx) + math.cos(a) * (v - cy)
            c0, r0 = math.floor(sx), math.floor(sy)
            fx, fy = sx - c0, sy - r0
            out[v, u] = ((1 - fx) * (1 - fy) * pixel(r0, c0) + fx * (1 - fy) * pixel(r0, c0 + 1)
                         + (1 - fx) * fy * pixel(r0 + 1, c0) + fx * fy * pixel(r0 + 1, c0 + 1))
    return out


def test_pad_crop_moves_each_image_by_its_offset_minus_the_padding():
    x = torch.arange(12.).view(1, 1, 3, 4)
    # column offset 0, row offset 2 of the image padded by 1 with 9: one column of fill on the left, the last
    # two rows moved up, one row of fill below (by hand)
    expected = torch.tensor([[9., 4., 5., 6.], [9., 8., 9., 10.], [9., 9., 9., 9.]])
    assert torch.equal(pad_crop(x, torch.tensor([[0], [2]]), 1, torch.tensor([9.]))[0, 0], expected)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 2, 7, 8, generator=g)
    offsets = torch.randint(0, 7, (2, 6), generator=g)
    out = pad_crop(x, offsets, 3, torch.tensor([0.25, 0.25]))
    for i in range(6):                       # the content moves by at most the padding, fill comes in behind it
        sx, sy = int(offsets[0, i]) - 3, int(offsets[1, i]) - 3
        assert torch.equal(out[i], shifted(x[i], sx, sy, 0.25))


def test_rotation_matches_the_reference_and_fills_with_the_mean():
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 2] = 1.0                                        # right of the centre ...
    turned = rotate(x, torch.tensor([90.0]), torch.tensor([0.0]))[0, 0]
    assert torch.allclose(turned, torch.tensor([[0., 1., 0.], [0., 0., 0.], [0., 0., 0.]]), atol=1e-6)  # ... above
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 1, 5, 6, generator=g)                   # not square: the two axes scale differently
    angles = torch.tensor([30.0, -17.0, 7.5])
    out = rotate(x, angles, torch.tensor([0.4]))
    for i in range(3):
        assert torch.allclose(out[i, 0], rotated_reference(x[i, 0], float(angles[i]), 0.4), atol=1e-5)
    assert not torch.allclose(out[0, 0], x[0, 0], atol=1e-2)
    flat = torch.full((1, 3, 4, 4), 0.3)                      # an image of the fill is left as it is
    assert torch.allclose(rotate(flat, torch.tensor([10.0]), torch.tensor([0.3] * 3)), flat, atol=1e-6)


def test_official_draws_have_the_official_probabilities():
    g = torch.Generator().manual_seed(0)
    draws = [draw_official(8, g, padding=5) for _ in range(3000)]
    crops = [d.offsets for d in draws if d.offsets is not None]
    turns = [d for d in draws if d.rotated is not None]
    assert abs(len(crops) / 3000 - 0.8) < 0.03                # crop: per batch, p 0.8
    assert abs(len(turns) / 3000 - 0.5) < 0.03                # rotation: per batch, p 0.5 ...
    assert all(bool(d.rotated.all()) for d in turns)          # ... then every image (kornia 0.3.x, torch 1.5)
    later = [draw_official(8, g, padding=5, image_probability=0.5) for _ in range(3000)]
    rotated = torch.cat([d.rotated for d in later if d.rotated is not None]).float()
    assert abs(float(rotated.mean()) - 0.5) < 0.02            # kornia >= 0.4.1: per image, p 0.5
    angles = torch.cat([d.angles for d in turns])
    assert float(angles.abs().max()) <= 10.0 and float(angles.abs().max()) > 9.9 and abs(float(angles.mean())) < 0.2
    flips = torch.cat([d.flipped for d in draws]).float()
    assert abs(float(flips.mean()) - 0.5) < 0.02              # flip: per image, p 0.5
    counts = torch.bincount(torch.cat(crops).flatten(), minlength=11)
    assert counts.numel() == 11 and float((counts / counts.sum() - 1 / 11).abs().max()) < 0.01   # uniform 0..10
    assert draw_official(8, g, padding=5, flip=False).flipped is None                 # MNIST: no flip


def test_apply_official_crops_then_rotates_then_flips():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 1, 6, 6, generator=g)
    fill = torch.tensor([0.5])
    offsets = torch.tensor([[0, 4], [1, 2]])
    draw = OfficialDraw(offsets, torch.tensor([True, False]), torch.tensor([20.0, 20.0]), torch.tensor([False, True]))
    out = apply_official(x, draw, 2, fill)
    cropped = pad_crop(x, offsets, 2, fill)
    assert torch.equal(out[0], rotate(cropped, torch.tensor([20.0, 20.0]), fill)[0])  # rotated, not flipped
    assert torch.equal(out[1], cropped[1].flip(-1))                                    # not rotated, flipped
    every = OfficialDraw(offsets, torch.tensor([True, True]), torch.tensor([20.0, -5.0]), None)  # kornia 0.3.x
    assert torch.equal(apply_official(x, every, 2, fill), rotate(cropped, torch.tensor([20.0, -5.0]), fill))
    assert torch.equal(apply_official(x, OfficialDraw(None, None, None, None), 2, fill), x)


def test_augmentation_flag_reaches_every_classifiers_training(monkeypatch):
    """`augmentation="official"` augments every classifier's batches (the WaNet recipe, as `augment` does), with
    the dataset's mean as fill and no flip on MNIST; the default stays the crop and flip; without `augment` the flag
    is refused."""
    calls = []
    real_official, real_crop_flip = module.official_augment, module.random_crop_flip

    def official(x, gen, padding, fill, flip):
        calls.append(("official", padding, torch.as_tensor(fill).tolist(), flip))
        return real_official(x, gen, padding, fill, flip)

    def crop_flip(x, gen, padding):
        calls.append(("crop_flip", padding))
        return real_crop_flip(x, gen, padding)

    monkeypatch.setattr(module, "official_augment", official)
    monkeypatch.setattr(module, "random_crop_flip", crop_flip)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 1, 28, 28, generator=g), torch.randint(1, 10, (16,), generator=g)
    base = TrojanExperimentConfig(augment=True, classifier_batch=16)
    official_cfg = apply_overrides(base, ["augmentation=official"])
    for cfg, attack, expected in ((official_cfg, BadNetPlus((1, 28, 28)), ("official", 5, [0.5], False)),
                                  (dataclasses.replace(official_cfg, wanet_warp_first=True), WaNet(28, s=1.0),
                                   ("official", 5, [0.5], False)),
                                  (official_cfg, None, ("official", 5, [0.5], False)),
                                  (base, BadNetPlus((1, 28, 28)), ("crop_flip", 5))):
        calls.clear()
        module.train_classifier(x, y, 1, cfg, 0, attack)
        assert calls == [expected]
    cifar = TrojanExperimentConfig(dataset="cifar10", augment=True, augmentation="official")
    calls.clear()
    x = torch.rand(2, 3, 8, 8)
    module.batch_augmentation(cifar, torch.Generator().manual_seed(0), x)(x)
    assert calls == [("official", 5, torch.tensor(module.CIFAR_MEAN).tolist(), True)]
    with pytest.raises(ConfigError, match="'augment' is false"):
        TrojanExperimentConfig(augmentation="official")
    with pytest.raises(ConfigError):
        apply_overrides(base, ["augmentation=kornia"])


def test_default_augmentation_is_the_crop_and_flip_draw_for_draw():
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    cfg = TrojanExperimentConfig(augment=True)
    out = module.batch_augmentation(cfg, torch.Generator().manual_seed(5), x)(x)
    assert torch.equal(out, random_crop_flip(x, torch.Generator().manual_seed(5), 5))
    official = module.batch_augmentation(TrojanExperimentConfig(augment=True, augmentation="official"),
                                         torch.Generator().manual_seed(5), x)(x)
    assert official.shape == x.shape and not torch.equal(official, out)
    assert torch.equal(official_augment(x, torch.Generator().manual_seed(5), 5, (0.5,), False), official)
    assert module.batch_augmentation(TrojanExperimentConfig(), torch.Generator(), x)(x) is x     # no `augment`


def test_the_official_fill_is_built_once_per_training_loop(monkeypatch):
    """`train_classifier` builds the mean-pixel fill once, on the images' device and in their dtype, and every step's
    augmentation takes that tensor (no conversion or host-to-device copy per step); a fill given as a tuple or
    as a tensor gives the same augmentation, draw for draw."""
    fills = []
    real_official = module.official_augment

    def official(x, gen, padding, fill, flip):
        fills.append(fill)
        return real_official(x, gen, padding, fill, flip)

    monkeypatch.setattr(module, "official_augment", official)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)
    module.train_classifier(x, y, 2, TrojanExperimentConfig(augment=True, augmentation="official",
                                                            classifier_batch=8), 0)
    assert len(fills) == 4 and all(fill is fills[0] for fill in fills)
    assert fills[0].dtype == x.dtype and fills[0].device == x.device and fills[0].tolist() == [0.5]
    cifar = torch.rand(6, 3, 8, 8, generator=g)
    mean = torch.tensor(module.CIFAR_MEAN)
    assert torch.equal(real_official(cifar, torch.Generator().manual_seed(4), 2, mean, True),
                       real_official(cifar, torch.Generator().manual_seed(4), 2, module.CIFAR_MEAN, True))


@pytest.mark.parametrize("augmentation", ["crop_flip", "official"])
def test_the_augmentation_gives_the_same_bits_inside_bf16_autocast(augmentation):
    """The classifier's step augments inside the fast path's autocast block (`TrojanAttack.augmented_loss`): the
    augmentation's operations (gathers, where, flips, float32 grid sampling) are ones autocast leaves alone."""
    cfg = dataclasses.replace(TrojanExperimentConfig(), augment=True, augmentation=augmentation, dataset="cifar10")
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    outside = module.batch_augmentation(cfg, torch.Generator().manual_seed(1), x)(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = module.batch_augmentation(cfg, torch.Generator().manual_seed(1), x)(x)
    assert inside.dtype == torch.float32 and torch.equal(inside, outside)
