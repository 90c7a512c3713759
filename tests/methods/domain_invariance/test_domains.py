import numpy as np
import pytest

from reprolab.methods.domain_invariance.domains import (ANGLES, DomainTask, build_task, colored_mnist,
                                                        digit_domain, from_arrays, label_shift_mask, rotate)


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
    again = build_task.__wrapped__("rotated_digits", data_seed=0)
    assert np.array_equal(again.sources[2].x_train, task.sources[2].x_train)
    other = build_task.__wrapped__("rotated_digits", data_seed=1)
    assert not np.array_equal(other.sources[0].y_train, task.sources[0].y_train)


def test_label_shift_keeps_the_favoured_classes_of_each_domain():
    y = np.repeat(np.arange(10), 1000)
    keep = label_shift_mask(y, 1, 0.8, np.random.default_rng(0))
    kept = np.bincount(y[keep], minlength=10) / 1000
    assert kept[2] == kept[3] == 1.0                                        # domain 1 favours {2, 3}
    assert all(0.15 < kept[c] < 0.25 for c in (0, 1, 4, 5, 6, 7, 8, 9))
    task = build_task.__wrapped__("rotated_digits_shift", data_seed=0)
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
    x, y = digit_domain("usps", "test", "mnist")
    assert x.shape == (2007, 1, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
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
