import hashlib

import numpy as np
import pytest

from reprolab.methods.domain_invariance import domains
from reprolab.methods.domain_invariance.domains import (ANGLES, DomainTask, build_task, colored_mnist,
                                                        digit_domain, from_arrays, label_shift_mask, rotate,
                                                        split_per_trial)


def fresh_task(*args, **kwargs) -> DomainTask:
    """`build_task(*args, **kwargs)` built anew, its caches emptied before and after: the task comes from the
    loaders as the test patches them, and none of it reaches another test."""
    caches = (domains._fixed_task, domains._trial_task)
    for cache in caches:
        cache.cache_clear()
    try:
        return build_task(*args, **kwargs)
    finally:
        for cache in caches:
            cache.cache_clear()


def test_rotation_is_counter_clockwise_and_zero_is_the_identity():
    img = np.zeros((1, 1, 9, 9), np.float32)
    img[0, 0, 4, 7] = 1.0                                                   # right of centre
    up = rotate(img, 90, "bilinear")
    assert np.unravel_index(up[0, 0].argmax(), (9, 9)) == (1, 4)            # above the centre
    assert np.array_equal(rotate(img, 0, "bicubic"), img)


def test_rotated_digits_are_disjoint_seeded_shards_of_the_real_digits():
    task = build_task("rotated_digits", data_seed=0)
    assert [d.name for d in task.sources] == [f"{a}deg" for a in ANGLES[:-1]] and task.target.name == "75deg"
    assert task.input_shape == (1, 16, 16)
    sizes = [len(d.y_all) for d in task.sources] + [len(task.target.y_all)]
    assert sum(sizes) == 1797 and max(sizes) - min(sizes) <= 1
    for d in task.sources:                                                  # first 20% is validation
        assert len(d.y_val) == round(0.2 * len(d.y_all))
    again = fresh_task("rotated_digits", data_seed=0)
    assert np.array_equal(again.sources[2].x_train, task.sources[2].x_train)
    other = fresh_task("rotated_digits", data_seed=1)
    assert not np.array_equal(other.sources[0].y_train, task.sources[0].y_train)


def test_label_shift_keeps_the_favoured_classes_of_each_domain():
    y = np.repeat(np.arange(10), 1000)
    keep = label_shift_mask(y, 1, 0.8, np.random.default_rng(0))
    kept = np.bincount(y[keep], minlength=10) / 1000
    assert kept[2] == kept[3] == 1.0                                        # domain 1 favours {2, 3}
    assert all(0.15 < kept[c] < 0.25 for c in (0, 1, 4, 5, 6, 7, 8, 9))
    task = fresh_task("rotated_digits_shift", data_seed=0)
    target = np.bincount(task.target.y_all, minlength=10)
    assert target[0] > 3 * target[5] and target[1] > 3 * target[5]         # the 75-degree target favours {0, 1}
    with pytest.raises(ValueError, match="label shift strength"):
        label_shift_mask(y, 0, 1.0, np.random.default_rng(0))


def test_colored_mnist_colour_agrees_with_the_label_as_the_environment_says():
    task = colored_mnist(data_seed=0)
    assert task.input_shape == (2, 28, 28) and task.num_classes == 2
    envs = list(task.sources) + [task.target]
    assert [d.name for d in envs] == ["+90%", "+80%", "-90%"]
    for domain, agreement in zip(envs, (0.9, 0.8, 0.1)):
        x, y = domain.x_all, domain.y_all
        colour = (x[:, 1].reshape(len(y), -1).max(1) > 0).astype(int)     # the lit channel (1 - colour is zeroed)
        assert abs((colour == y).mean() - agreement) < 0.02
        assert 0.45 < y.mean() < 0.55                                       # y = digit < 5 with 25% label noise


def test_digit_domains_share_the_mnist_frame():
    from reprolab.data import load_usps

    x, y = digit_domain("usps", "test", "mnist")
    usps = load_usps("test")                                                # 16x16 in [0, 1]
    assert x.shape == (2007, 1, 28, 28) and x.dtype == np.float32 and np.array_equal(y, usps.y)
    assert x.min() == 0.0 and x.max() == 1.0                                # the same range as USPS
    inner = x[:, 0, 4:24, 4:24].mean(axis=(1, 2))                           # an antialiased resize keeps the
    assert np.allclose(inner, usps.x.mean(axis=(1, 2)), atol=0.01)          # mean intensity of each image
    assert x[:, :, :4].max() == 0 and x[:, :, -4:].max() == 0               # the 4-pixel border is empty
    stretched, _ = digit_domain("digits", "all", "stretch")
    assert stretched.shape == (1797, 1, 28, 28) and stretched[:, :, :4].max() > 0


def test_bad_domains_are_rejected():
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 1, 8, 8), dtype=np.float32), rng.integers(0, 3, 20)
    ok = from_arrays("mine", {"a": (x, y), "b": (x, y)}, ("t", x, y), num_classes=3)
    assert len(ok.sources) == 2 and ok.input_shape == (1, 8, 8)
    with pytest.raises(ValueError, match="needs >= 2 training and >= 1 validation"):
        from_arrays("mine", {"a": (x[:1], y[:1]), "b": (x, y)}, ("t", x, y), num_classes=3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        from_arrays("mine", {"a": (x, y + 1), "b": (x, y)}, ("t", x, y), num_classes=3)
    with pytest.raises(ValueError, match="every domain needs one image shape"):
        from_arrays("mine", {"a": (x, y), "b": (x[:, :, :4], y)}, ("t", x, y), num_classes=3)
    with pytest.raises(ValueError, match="images must have shape"):
        from_arrays("mine", {"a": (x[:, 0, 0], y), "b": (x, y)}, ("t", x, y), num_classes=3)
    with pytest.raises(ValueError, match="has no source"):
        DomainTask("empty", (), ok.target, 3)
    with pytest.raises(ValueError, match="target_angle"):
        from reprolab.methods.domain_invariance.domains import rotated_domains
        rotated_domains("r", x, y, 10, 0, "bilinear")


def _fake_mnist(monkeypatch, n=60):
    rng = np.random.default_rng(3)
    x, y = rng.random((n, 1, 28, 28), dtype=np.float32), np.arange(n) % 10
    monkeypatch.setattr(domains, "_mnist_like", lambda loader: (x, y))
    return x, y


def test_rotated_mnist_interpolation_defaults_to_the_published_bicubic_and_bilinear_is_a_flag(monkeypatch):
    x, y = _fake_mnist(monkeypatch)
    shard = x[np.random.default_rng(0).permutation(len(y))][5::6]             # the 75-degree shard, data_seed 0
    bicubic = fresh_task("rotated_mnist_75").target.x_all
    bilinear = fresh_task("rotated_mnist_75", interpolation="bilinear").target.x_all
    assert np.array_equal(bicubic, rotate(shard, 75, "bicubic"))
    assert np.array_equal(bilinear, rotate(shard, 75, "bilinear"))
    assert not np.allclose(bicubic, bilinear)
    zero = fresh_task("rotated_mnist_0").target                               # the 0-degree shard, data_seed 0
    assert zero.name == "0deg" and np.array_equal(zero.x_all, x[np.random.default_rng(0).permutation(len(y))][0::6])
    with pytest.raises(ValueError, match="interpolation must be"):
        fresh_task("rotated_mnist_75", interpolation="nearest")


def test_uda_split_is_cut_from_the_target_and_no_longer_scored():
    plain = fresh_task("rotated_digits", data_seed=0)
    uda = fresh_task("rotated_digits", data_seed=0, uda_fraction=0.2)
    n = len(plain.target.y_all)
    assert plain.unlabeled is None and len(uda.unlabeled) == round(0.2 * n)
    assert np.array_equal(np.concatenate([uda.unlabeled, uda.target.x_all]), plain.target.x_all)
    assert len(uda.target.y_all) == n - len(uda.unlabeled)                      # scored: the rest only
    assert np.array_equal(uda.sources[0].x_train, plain.sources[0].x_train)     # the sources do not change
    with pytest.raises(ValueError, match="uda_fraction"):
        fresh_task("rotated_digits", uda_fraction=1.0)


def test_digits_targets_offer_their_train_split_or_a_cut_of_uci_digits(monkeypatch):
    def fake(name, split, frame):
        n = {"train": 30, "test": 20, "all": 25}[split]
        x = np.full((n, 1, 28, 28), {"train": 0.1, "test": 0.2, "all": 0.3}[split], np.float32)
        return x, np.arange(n) % 10

    monkeypatch.setattr(domains, "digit_domain", fake)
    usps = domains.digits_multisource("usps", 0, uda_fraction=0.2)
    assert usps.unlabeled.shape[0] == 30 and np.all(usps.unlabeled == 0.1)      # all of USPS train, unscored
    assert len(usps.target.y_all) == 20 and np.all(usps.target.x_all == 0.2)   # USPS test, scored as before
    assert domains.digits_multisource("usps", 0).unlabeled is None
    uci = domains.digits_multisource("digits", 0, uda_fraction=0.2)
    assert len(uci.unlabeled) == 5 and len(uci.target.y_all) == 20             # UCI digits: a 20% cut, not scored


def test_to_digit_frame_puts_any_digits_into_mnists_frame():
    import torch

    from reprolab.methods.domain_invariance.domains import to_digit_frame

    digits = np.ones((3, 8, 8), np.float32)
    framed = to_digit_frame(digits)
    assert framed.shape == (3, 1, 28, 28) and framed.dtype == np.float32
    assert framed[:, :, :4].max() == 0 and framed[:, :, 4:24, 4:24].min() > 0.99   # 20x20 inside a 4-pixel border
    stretched = to_digit_frame(torch.ones(3, 1, 16, 16), "stretch")
    assert stretched.shape == (3, 1, 28, 28) and stretched.min() > 0.99
    with pytest.raises(ValueError, match="frame must be"):
        to_digit_frame(digits, "centre")


def test_from_arrays_takes_tensors_and_unlabelled_target_images():
    import torch

    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(20, 8, 8, generator=gen), torch.randint(0, 3, (20,), generator=gen)
    task = from_arrays("mine", {"a": (x, y), "b": (x.numpy(), y.numpy())}, ("t", x, y), 3, unlabeled=x[:5])
    assert task.input_shape == (1, 8, 8) and task.sources[0].y_train.dtype == np.int64
    assert np.array_equal(task.sources[0].x_all, task.sources[1].x_all) and task.unlabeled.shape == (5, 1, 8, 8)


@pytest.mark.parametrize("sources, target, unlabeled, message", [
    ({"a": ("x0", "y0"), "b": ("x", "y")}, ("t", "x", "y"), None, "domain 'a' of task 'mine' is empty"),
    ({"a": ("x", "y"), "b": ("x", "y")}, ("t", "x0", "y0"), None, "domain 't' of task 'mine' is empty"),
    ({"a": ("x", "y"), "b": ("x", "y5")}, ("t", "x", "y"), None, r"domain 'b' train: labels must lie in \[0, 3\)"),
    ({"a": ("x", "y"), "b": ("x", "y")}, ("t", "x16", "y"), None, "domain 't' has images of shape"),
    ({"a": ("x", "y"), "b": ("x", "y")}, ("t", "x", "y"), "x16", "unlabelled images of target domain 't'"),
    ({"a": ("x", "y1"), "b": ("x", "y")}, ("t", "x", "y"), None, "domain 'a': needs one label per image"),
    ({"a": ("x", "yf"), "b": ("x", "y")}, ("t", "x", "y"), None, "domain 'a': labels must be integers"),
])
def test_bad_user_domains_name_the_domain(sources, target, unlabeled, message):
    rng = np.random.default_rng(0)
    arrays = {"x": rng.random((20, 1, 8, 8), dtype=np.float32), "y": rng.integers(0, 3, 20)}
    arrays |= {"x0": arrays["x"][:0], "y0": arrays["y"][:0], "y5": arrays["y"] + 5, "y1": arrays["y"][:19],
               "yf": arrays["y"] + 0.5, "x16": rng.random((20, 1, 16, 16), dtype=np.float32)}
    with pytest.raises(ValueError, match=message):
        from_arrays("mine", {n: (arrays[a], arrays[b]) for n, (a, b) in sources.items()},
                    (target[0], arrays[target[1]], arrays[target[2]]), 3,
                    unlabeled=None if unlabeled is None else arrays[unlabeled])


def test_holdout_rounding_floor_cuts_domainbeds_int_of_the_fraction():
    # DomainBed's out-split holds int(len(env) * holdout_fraction) samples: 59 of a 299-image RotatedDigits source,
    # 60 of a 300-image one; round(0.2 n) gives 60 for both
    default = fresh_task("rotated_digits", data_seed=0)
    floor = fresh_task("rotated_digits", data_seed=0, holdout_rounding="floor")
    assert {len(d.y_all): len(d.y_val) for d in default.sources} == {300: 60, 299: 60}
    assert {len(d.y_all): len(d.y_val) for d in floor.sources} == {300: 60, 299: 59}
    for d, f in zip(default.sources, floor.sources):        # the same permuted rows, cut at another place
        assert np.array_equal(np.concatenate([f.x_val, f.x_train]), np.concatenate([d.x_val, d.x_train]))
    # the target's uda part too: of its 299 images, int(0.15 * 299) = 44 against round() = 45
    uda = [fresh_task("rotated_digits", data_seed=0, uda_fraction=0.15, holdout_rounding=rounding).unlabeled
           for rounding in ("round", "floor")]
    assert [len(u) for u in uda] == [45, 44]
    with pytest.raises(ValueError, match="holdout_rounding"):
        fresh_task("rotated_digits", holdout_rounding="ceil")


def test_domainbed_target_split_sets_apart_the_out_split_then_cuts_the_uda_part_from_the_rest():
    """DomainBed splits the target env into out (20%) and in, and cuts the uda part from in: of the 299 permuted
    images of the 75-degree shard, the first 60 (59 with floor rounding) are the "out" split (validation part), the
    next round(0.2 * 239) = 48 the unlabelled ones, the remaining 191 the scored "in" split."""
    plain = fresh_task("rotated_digits", data_seed=0)
    split = fresh_task("rotated_digits", data_seed=0, uda_fraction=0.2, target_split="domainbed")
    everything = plain.target.x_all
    assert len(everything) == 299 and plain.target.y_val.size == 0
    assert np.array_equal(split.target.x_val, everything[:60])
    assert np.array_equal(split.unlabeled, everything[60:108])
    assert np.array_equal(split.target.x_train, everything[108:]) and len(split.target.y_train) == 191
    floor = fresh_task("rotated_digits", data_seed=0, target_split="domainbed", holdout_rounding="floor")
    assert len(floor.target.y_val) == 59 and np.array_equal(floor.target.x_train, everything[59:])
    assert np.array_equal(split.sources[0].x_train, plain.sources[0].x_train)   # the sources do not change
    with pytest.raises(ValueError, match="target_split"):
        fresh_task("rotated_digits", target_split="oracle")


def _eight_bit_digits(n=3, side=28):
    """Digits on a zero border, on the 1/255 grid (as MNIST's bytes / 255)."""
    x = np.zeros((n, 1, side, side), np.float32)
    x[:, :, 6:22, 8:20] = np.random.default_rng(0).integers(0, 256, (n, 1, 16, 12)) / np.float32(255)
    return x


def test_pil_rotation_is_domainbeds_8_bit_rotation_counter_clockwise():
    """`rotate_pil` (torchvision's `rotate` on PIL images): 90 degrees is exactly np.rot90 (counter-clockwise),
    0 degrees keeps 8-bit images; at 30 degrees PIL's bilinear resampling lies within one grey level of grid
    sampling's (the same rotation, rounded to 8 bits) and every value stays on the 1/255 grid."""
    from reprolab.methods.domain_invariance.domains import rotate_pil

    x = _eight_bit_digits()
    assert np.array_equal(rotate_pil(x, 90, "bilinear"), np.rot90(x, axes=(2, 3)))
    assert np.array_equal(rotate_pil(x, 0, "bicubic"), x)
    pil, grid = rotate_pil(x, 30, "bilinear"), rotate(x, 30, "bilinear")
    assert np.abs(pil - grid).max() <= 1 / 255 + 1e-6 and not np.array_equal(pil, grid)
    assert np.array_equal(np.rint(pil * 255) / np.float32(255), pil)
    assert np.array_equal(rotate(x, 30, "bicubic", rotation="pil"), rotate_pil(x, 30, "bicubic"))


def test_rotated_mnist_rotation_flag_rotates_with_pil(monkeypatch):
    from reprolab.methods.domain_invariance.domains import rotate_pil

    x, y = _fake_mnist(monkeypatch)
    shard = x[np.random.default_rng(0).permutation(len(y))][5::6]             # the 75-degree shard, data_seed 0
    pil = fresh_task("rotated_mnist_75", rotation="pil").target.x_all
    assert np.array_equal(pil, rotate_pil(shard, 75, "bicubic"))
    with pytest.raises(ValueError, match="rotation must be"):
        fresh_task("rotated_mnist_75", rotation="torchvision")


def _domainbed_split(n: int, first: int, trial_seed: int, env_i: int) -> tuple[np.ndarray, np.ndarray]:
    """DomainBed's split_dataset(env, first, seed_hash(trial_seed, env_i)) as row indices, written out from its
    misc.py: the md5 of str((trial_seed, env_i)) mod 2^31 seeds a RandomState that shuffles the list 0..n-1."""
    keys = list(range(n))
    seed = int(hashlib.md5(str((trial_seed, env_i)).encode("utf-8")).hexdigest(), 16) % (2**31)
    np.random.RandomState(seed).shuffle(keys)
    return np.array(keys[:first], dtype=int), np.array(keys[first:], dtype=int)


def test_split_seed_splits_every_domain_as_domainbeds_trial_seed_does():
    """Trial 2, floor rounding: source i (= its angle's index) is split by DomainBed's split_dataset of its fixed-split
    rows (validation first), int(0.2 n) out; the 299-image target (index 5) gives 59 out, then of the 240 in, a
    second shuffle with the same seed sets apart 48 unlabelled ones (int and round agree on 0.2 * 240)."""
    fixed = fresh_task("rotated_digits", holdout_rounding="floor")
    trial = fresh_task("rotated_digits", holdout_rounding="floor", uda_fraction=0.2,
                                   target_split="domainbed", split_seed=2)
    for i, (f, t) in enumerate(zip(fixed.sources, trial.sources)):
        rows_x, rows_y = np.concatenate([f.x_val, f.x_train]), np.concatenate([f.y_val, f.y_train])
        out, in_ = _domainbed_split(len(rows_y), int(len(rows_y) * 0.2), 2, i)
        assert np.array_equal(t.x_val, rows_x[out]) and np.array_equal(t.y_val, rows_y[out])
        assert np.array_equal(t.x_train, rows_x[in_]) and np.array_equal(t.y_train, rows_y[in_])
    rows_x, rows_y = fixed.target.x_all, fixed.target.y_all
    out, in_ = _domainbed_split(299, 59, 2, 5)
    uda, scored = _domainbed_split(240, 48, 2, 5)
    assert np.array_equal(trial.target.y_val, rows_y[out])
    assert np.array_equal(trial.unlabeled, rows_x[in_[uda]])
    assert np.array_equal(trial.target.x_train, rows_x[in_[scored]])


def test_split_seed_draws_a_split_per_trial_the_same_for_the_same_trial():
    fixed = fresh_task("rotated_digits")
    first, again, second = (fresh_task("rotated_digits", split_seed=s) for s in (0, 0, 1))
    assert not np.array_equal(first.sources[0].x_val, second.sources[0].x_val)
    assert not np.array_equal(first.sources[0].x_val, fixed.sources[0].x_val)
    assert np.array_equal(first.sources[0].x_val, again.sources[0].x_val)
    assert [len(d.y_val) for d in first.sources] == [len(d.y_val) for d in fixed.sources]
    assert np.array_equal(np.sort(first.target.y_train), np.sort(fixed.target.y_train))    # all of it scored
    rng = np.random.default_rng(0)
    own = from_arrays("own", {"a": (rng.random((10, 1, 4, 4)), np.arange(10) % 3)},
                      ("t", rng.random((5, 1, 4, 4)), np.arange(5) % 3), 3, unlabeled=rng.random((4, 1, 4, 4)))
    split = split_per_trial(own, 1, 0, uda_fraction=0.5)    # unlabelled images of their own: kept, none cut
    assert split.unlabeled is own.unlabeled and len(split.target.y_train) == 5


def test_each_tasks_target_index_is_its_place_in_domainbeds_environment_order():
    import typing

    from reprolab.methods.domain_invariance.domains import TaskName, target_angle, target_index

    assert {name: target_index(name) for name in typing.get_args(TaskName)} == {
        "rotated_digits": 5, "rotated_digits_shift": 5, "rotated_mnist_0": 0, "rotated_mnist_75": 5,
        "rotated_mnist_shift": 5, "rotated_fashion_mnist_75": 5, "colored_mnist": 2, "digits_to_usps": 1,
        "digits_to_mnist": 0, "digits_to_uci": 2}
    rotated = ("rotated_digits", "rotated_digits_shift", "rotated_mnist_0", "rotated_mnist_75", "rotated_mnist_shift",
               "rotated_fashion_mnist_75")
    assert [target_angle(name) for name in rotated] == [75, 75, 0, 75, 75, 75]
