import gzip
import shutil

import numpy as np
import pytest

from reprolab.data import (ChecksumError, DataNotFoundError, first_n_per_class, fixed_split, load_cifar10,
                           load_digits, load_fashion_mnist, load_mnist, load_usps)
from reprolab.data.idx import read_idx
from tests.conftest import FASHION_INSTALLED, SHARED_ROOT


def test_mnist_shapes_and_histogram():
    train, test = load_mnist("train"), load_mnist("test")
    assert train.x.shape == (60000, 28, 28) and train.x.dtype == np.uint8
    assert test.x.shape == (10000, 28, 28) and test.y.dtype == np.int64
    assert train.x.max() == 255 and train.x.min() == 0
    # the canonical MNIST class histograms
    assert train.class_counts().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert test.class_counts().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(not FASHION_INSTALLED, reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_balanced():
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    assert train.x.shape == (60000, 28, 28)
    assert (train.class_counts() == 6000).all() and (test.class_counts() == 1000).all()
    assert train.classes[9] == "Ankle boot"


def test_cifar10_jpeg_copy():
    train, test = load_cifar10("train"), load_cifar10("test")
    assert train.x.shape == (50000, 32, 32, 3) and train.x.dtype == np.uint8
    assert (train.class_counts() == 5000).all() and (test.class_counts() == 1000).all()
    # grouped by class, in class order
    assert (np.diff(train.y) >= 0).all() and train.classes[0] == "airplane"
    # real images, not blanks: every image has spread
    assert train.x[:100].reshape(100, -1).std(axis=1).min() > 5


def test_usps_and_digits():
    train, test = load_usps("train"), load_usps("test")
    assert train.x.shape == (7291, 16, 16) and test.x.shape == (2007, 16, 16)
    assert train.x.dtype == np.float32 and 0.0 <= train.x.min() and train.x.max() <= 1.0
    digits = load_digits()
    assert digits.x.shape == (1797, 8, 8) and digits.x.max() == 16


def test_bad_split_is_named():
    with pytest.raises(ValueError, match="split must be"):
        load_mnist("validation")


def test_missing_root_gives_paths_url_and_variable(isolated_data):
    with pytest.raises(DataNotFoundError) as info:
        load_mnist("train")
    message = str(info.value)
    assert str(isolated_data / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert "https://" in message and "REPROLAB_DATA" in message


def test_corrupted_copy_is_rejected(isolated_data):
    src = SHARED_ROOT / "mnist"
    (isolated_data / "mnist").mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(src / name, isolated_data / "mnist" / name)
    assert load_mnist("test").x.shape == (10000, 28, 28)  # the intact copy loads
    labels = isolated_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        load_mnist("test")


def test_recompressed_gzip_with_canonical_bytes_is_accepted(isolated_data):
    src = SHARED_ROOT / "mnist"
    (isolated_data / "mnist").mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        raw = gzip.decompress((src / name).read_bytes())
        (isolated_data / "mnist" / name).write_bytes(gzip.compress(raw, compresslevel=1))
    assert load_mnist("test").class_counts()[1] == 1135


def test_damaged_cache_entry_is_rebuilt(isolated_data):
    from reprolab.data.root import cache_dir

    (isolated_data / "usps").mkdir()
    shutil.copy(SHARED_ROOT / "usps" / "usps.h5", isolated_data / "usps" / "usps.h5")
    load_usps("test")
    (entry,) = cache_dir().glob("usps-test-*.npz")
    entry.write_bytes(b"not a zip")
    assert load_usps("test").x.shape == (2007, 16, 16)


def test_read_idx_rejects_malformed(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")  # says 5 values, holds 3
    with pytest.raises(ValueError, match="header says"):
        read_idx(bad)
    (tmp_path / "text.idx").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        read_idx(tmp_path / "text.idx")


def test_first_n_per_class_takes_first_in_order():
    labels = np.array([0, 1, 0, 2, 1, 0, 2, 2])
    idx = first_n_per_class(labels, [2, 1, 3])
    assert idx.tolist() == [0, 1, 2, 3, 6, 7]
    with pytest.raises(ValueError, match="class 1 has 2 samples"):
        first_n_per_class(labels, [1, 5, 1])


def test_fixed_split_is_seeded_and_disjoint():
    a_train, a_val = fixed_split(100, 0.2, seed=3)
    b_train, b_val = fixed_split(100, 0.2, seed=3)
    assert (a_val == b_val).all() and len(a_val) == 20
    assert set(a_train).isdisjoint(a_val) and len(set(a_train) | set(a_val)) == 100
    assert not (fixed_split(100, 0.2, seed=4)[1] == a_val).all()
