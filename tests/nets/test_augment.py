import pytest
import torch

from reprolab.nets.augment import crop_windows, flip_where, random_crop_flip


def test_each_image_is_its_window_of_the_padded_image_flipped_as_drawn():
    x = torch.rand(16, 3, 8, 8)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=2)
    ref = torch.Generator().manual_seed(0)                   # the documented draws: columns, rows, then flips
    dx, dy = torch.randint(0, 5, (2, 16), generator=ref)
    flip = torch.rand(16, generator=ref) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        window = padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8]
        assert torch.equal(out[i], window.flip(-1) if flip[i] else window)
    assert 0 < int(flip.sum()) < 16 and len(set(zip(dx.tolist(), dy.tolist()))) > 1


def test_without_padding_only_the_flip_is_left_and_bad_inputs_are_named():
    x = torch.rand(16, 1, 4, 4)
    same = random_crop_flip(x, torch.Generator().manual_seed(0), padding=0)
    assert all(torch.equal(same[i], x[i]) or torch.equal(same[i], x[i].flip(-1)) for i in range(16))
    assert not torch.equal(same, x)
    with pytest.raises(ValueError, match="padding >= 0"):
        random_crop_flip(x, torch.Generator(), padding=-1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        random_crop_flip(x[0], torch.Generator(), padding=2)


def test_crop_windows_and_flip_where_take_each_images_own_window_and_flip():
    padded = torch.arange(2 * 1 * 4 * 5.).view(2, 1, 4, 5)
    # image 0 at column 3, row 1; image 1 at column 0, row 2: 2 x 2 windows (by hand)
    windows = crop_windows(padded, torch.tensor([[3, 0], [1, 2]]), 2, 2)
    assert torch.equal(windows, torch.tensor([[[[8., 9.], [13., 14.]]], [[[30., 31.], [35., 36.]]]]))
    flipped = flip_where(windows, torch.tensor([True, False]))
    assert torch.equal(flipped[0], windows[0].flip(-1)) and torch.equal(flipped[1], windows[1])
