import pytest
import torch

from reprolab.methods.trojan_filter.attacks import (BadNetPlus, BlendedPlus, WaNet, attack_success,
                                                    untriggered_target_rate)
from reprolab.methods.trojan_filter.metrics import majority_class_rate


def test_badnet_plus_stamps_each_patch_in_place_and_nothing_else():
    attack = BadNetPlus((1, 28, 28), patch=4, seed=1)
    x = torch.full((2, 1, 28, 28), 0.5)
    for k, (r, c) in enumerate(((1, 1), (1, 23), (23, 1))):
        out = attack.apply(x, k)
        inside = out[:, :, r:r + 4, c:c + 4]
        assert set(inside.unique().tolist()) <= {0.0, 1.0}            # binary patch
        outside = out.clone()
        outside[:, :, r:r + 4, c:c + 4] = 0.5
        assert torch.equal(outside, x)                                 # the rest is untouched
    assert not torch.equal(attack.patterns[0][:, 1:5, 1:5], attack.patterns[1][:, 1:5, 23:27])
    with pytest.raises(ValueError, match="does not fit"):
        BadNetPlus((1, 8, 8), positions=((6, 6),), targets=(0,))


def test_poisoning_flips_the_stated_fraction_to_each_triggers_target():
    attack = BadNetPlus((1, 28, 28))
    x, y = torch.full((100, 1, 28, 28), 0.5), torch.full((100,), 9)
    xp, yp = attack.poison(x, y, 0.1, torch.Generator().manual_seed(0))
    changed = (xp != x).flatten(1).any(1)
    assert changed.sum() == 10 and (yp != 9).sum() == 10
    for i in changed.nonzero().flatten():                              # the label is the stamped trigger's target
        k = [torch.equal(xp[i], attack.apply(x[i:i + 1], j)[0]) for j in range(3)].index(True)
        assert yp[i] == attack.targets[k]
    assert torch.equal(x, torch.full((100, 1, 28, 28), 0.5))           # inputs are not modified in place


def test_blended_is_the_convex_mix():
    pattern = torch.rand(1, 1, 4, 4)
    attack = BlendedPlus(pattern, alpha=0.2)
    x = torch.rand(3, 1, 4, 4)
    assert torch.allclose(attack.apply(x, 0), 0.8 * x + 0.2 * pattern) and attack.targets == (0,)
    assert BlendedPlus.noise((1, 4, 4), n=3).targets == (0, 1, 2)


def test_wanet_warps_and_its_noise_mode_keeps_labels():
    x = torch.rand(40, 1, 28, 28)
    assert torch.allclose(WaNet(28, s=0.0).apply(x), x, atol=1e-5)    # s = 0: the identity grid
    attack = WaNet(28, s=1.0, noise_fraction=0.2)
    warped = attack.apply(x)
    assert not torch.allclose(warped, x, atol=1e-3)
    y = torch.full((40,), 5)
    xp, yp = attack.poison(x, y, 0.1, torch.Generator().manual_seed(0))
    changed = (xp - x).abs().flatten(1).amax(1) > 1e-6
    assert (yp == 0).sum() == 4 and changed.sum() == 4 + 8             # 10 % Trojan, 20 % noise mode
    assert torch.allclose(xp[yp == 0], warped[yp == 0])
    assert all(not torch.allclose(xp[i], warped[i]) for i in (changed & (yp == 5)).nonzero().flatten())


def test_attack_success_counts_only_non_target_images_per_trigger():
    attack = BadNetPlus((1, 28, 28))

    def always_zero(x):
        return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 10).float()

    x, y = torch.zeros(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    asr = attack_success(always_zero, attack, x, y)
    assert asr["per_trigger"] == [1.0, 0.0, 0.0] and asr["mean"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        attack.poison(torch.full((2, 1, 28, 28), 2.0), torch.zeros(2, dtype=torch.long), 0.5, torch.Generator())


def test_untriggered_target_rate_is_attack_success_without_the_trigger():
    attack = BadNetPlus((1, 28, 28))                                    # targets 0, 1, 2

    def patch_free_says_one(x):                                         # 1 on clean images, 0 once a patch is stamped
        label = torch.where(x.flatten(1).amax(1) > 0, 0, 1)
        return torch.nn.functional.one_hot(label, 10).float()

    x, y = torch.zeros(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    assert untriggered_target_rate(patch_free_says_one, attack, x, y) == pytest.approx((0 + 1 + 0) / 3)
    assert attack_success(patch_free_says_one, attack, x, y)["per_trigger"] == [1.0, 0.0, 0.0]


def test_majority_class_rate_is_the_share_of_the_most_frequent_label():
    assert majority_class_rate(torch.tensor([3, 3, 1, 3, 0])) == 0.6


@pytest.mark.parametrize("batch, rounded, floored", [(128, (13, 26), (12, 24)), (64, (6, 13), (6, 12))])
def test_wanet_official_counts_floor_the_trojan_share_and_double_it_for_noise(batch, rounded, floored):
    """The official training loop: num_bd = int(B p_c), num_cross = int(num_bd cross_ratio), p_c 0.1, cross_ratio 2;
    the default rounds 0.1 B and 0.2 B. Counted on a poisoned batch: relabelled images, and warped ones that kept
    their label."""
    from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
    from reprolab.methods.trojan_filter.threats import make_attack

    x, y = torch.rand(batch, 1, 28, 28), torch.full((batch,), 5)
    for counts, expected in (("round", rounded), ("floor", floored)):
        attack = make_attack("wanet", TrojanExperimentConfig(wanet_counts=counts), seed=0)
        xp, yp = attack.poison(x, y, 0.1, torch.Generator().manual_seed(0))
        changed = (xp - x).abs().flatten(1).amax(1) > 1e-6
        assert attack.batch_counts(batch, 0.1) == expected
        assert (int((yp == 0).sum()), int((changed & (yp == 5)).sum())) == expected
    assert WaNet(28, counts="floor").batch_counts(100, 0.0) == (0, 0)
    # cross_ratio 3 and 3 (0.3 / 0.1 and 0.6 / 0.2 in floating point are just below 3): int(12 * 3), int(25 * 3)
    assert WaNet(28, noise_fraction=0.3, counts="floor").batch_counts(128, 0.1) == (12, 36)
    assert WaNet(28, noise_fraction=0.6, counts="floor").batch_counts(128, 0.2) == (25, 75)
    with pytest.raises(ValueError, match="counts"):
        WaNet(28, counts="ceil")


def test_wanet_warp_first_augments_the_warped_batch_as_the_official_code(monkeypatch):
    """`wanet_warp_first`: one training step warps (and noise-warps) the batch, then augments every input of it, and
    the classifier sees the augmented batch (the WaNet code's order); by default the batch is augmented, then
    warped; without `augment` there is no augmentation, and the flag is refused."""
    from reprolab.methods.trojan_filter import classifier as module
    from reprolab.methods.trojan_filter.config import TrojanExperimentConfig
    from reprolab.runtime.config import ConfigError

    events = []
    real_poison, real_augment, real_make = WaNet.poison, module.random_crop_flip, module.make_classifier

    def poison(self, x, y, rate, gen):
        out = real_poison(self, x, y, rate, gen)
        events.append(("warp", x, out[0]))
        return out

    def augment(x, gen, padding):
        out = real_augment(x, gen, padding)
        events.append(("augment", x, out))
        return out

    def make(dataset):
        model = real_make(dataset)
        model.register_forward_pre_hook(lambda _m, args: events.append(("classifier", args[0], None)))
        return model

    monkeypatch.setattr(WaNet, "poison", poison)
    monkeypatch.setattr(module, "random_crop_flip", augment)
    monkeypatch.setattr(module, "make_classifier", make)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 1, 28, 28, generator=g), torch.randint(1, 10, (16,), generator=g)
    for augmented, warp_first, order in ((True, True, ["warp", "augment", "classifier"]),
                                         (True, False, ["augment", "warp", "classifier"]),
                                         (False, False, ["warp", "classifier"])):
        events.clear()
        cfg = TrojanExperimentConfig(augment=augmented, wanet_warp_first=warp_first, classifier_batch=16)
        module.train_classifier(x, y, 1, cfg, 0, WaNet(28, s=1.0))
        assert [name for name, _, _ in events] == order
        for (_, _, made), (_, fed, _) in zip(events, events[1:]):      # each stage takes the previous one's output
            assert torch.equal(made, fed)
        warp = events[order.index("warp")]
        assert not torch.equal(warp[1], warp[2])                          # some inputs were warped
    with pytest.raises(ConfigError, match="'augment' is false"):                # the order needs an augmentation
        TrojanExperimentConfig(wanet_warp_first=True)


def test_augmented_loss_augments_before_the_trigger_or_after_it_for_wanet_only():
    """`augmented_loss`: CE of the classifier on augment(x) poisoned; with `trigger_first`, on WaNet, CE on
    augment(poisoned x), the same draws in the same order; the other attacks ignore `trigger_first`."""
    from torch.nn import functional as F

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 1, 28, 28, generator=g), torch.randint(1, 10, (16,), generator=g)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))

    def augment(xb):
        return xb.flip(-1)

    def loss(attack, trigger_first):
        return attack.augmented_loss(classifier, x, y, 0.25, torch.Generator().manual_seed(1), augment,
                                     trigger_first)

    for attack in (WaNet(28, s=1.0), BadNetPlus((1, 28, 28))):
        xp, yp = attack.poison(augment(x), y, 0.25, torch.Generator().manual_seed(1))
        assert torch.equal(loss(attack, False), F.cross_entropy(classifier(xp), yp))
    wanet, badnet = WaNet(28, s=1.0), BadNetPlus((1, 28, 28))
    xp, yp = wanet.poison(x, y, 0.25, torch.Generator().manual_seed(1))
    assert torch.equal(loss(wanet, True), F.cross_entropy(classifier(augment(xp)), yp))
    assert not torch.equal(loss(wanet, True), loss(wanet, False))
    assert torch.equal(loss(badnet, True), loss(badnet, False))
