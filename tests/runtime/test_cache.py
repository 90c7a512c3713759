"""The shared cache of trained networks: an entry's file name is the documented digest of its key, a hit restores
the trained weights and extras without training, a changed key misses, a damaged or foreign entry, or one whose
extras fail the caller's check, is retrained (the networks it was loaded into left as they were), a write is
atomic, and an entry linked into another folder is the same file (a copy across file systems)."""

import errno
import hashlib
import json
import os

import pytest
import torch
from torch import nn

from reprolab.runtime import cache
from reprolab.runtime.cache import entry_path, link_entry, load_or_train, restore, store


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path))
    return tmp_path


def linear(seed, inputs=3):
    torch.manual_seed(seed)
    return {"net": nn.Linear(inputs, 2)}


class Trainer:
    """Trains (here: initialises with seed 7) and counts its calls; the extra payload is the call number."""

    def __init__(self, inputs=3):
        self.calls, self.inputs = 0, inputs

    def __call__(self):
        self.calls += 1
        return linear(7, self.inputs), {"train_seconds": float(self.calls)}


def test_the_file_name_is_the_sha256_of_the_key_and_blobs(cache_root):
    key, blob = {"b": [1, 2.5], "a": "x"}, b"\x00\x01"
    text = json.dumps(key)
    assert entry_path("nets", "model", key) == cache_root / "nets" / \
        f"model-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pt"
    assert entry_path("nets", "model", key, [blob], digits=12) == cache_root / "nets" / \
        f"model-{hashlib.sha256(text.encode() + blob).hexdigest()[:12]}.pt"
    assert entry_path("nets", "model", key, sort_keys=True).name == \
        f"model-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.pt"
    assert entry_path("nets", "model", {**key, "a": "y"}) != entry_path("nets", "model", key)


def test_a_hit_restores_the_trained_weights_and_extras_without_training(cache_root):
    path, train = entry_path("nets", "model", {"lr": 0.1}), Trainer()
    trained, extra, cached = load_or_train(path, lambda: linear(0), train, ("train_seconds",))
    restored, extra_again, cached_again = load_or_train(path, lambda: linear(0), train, ("train_seconds",))
    assert (cached, cached_again, train.calls) == (False, True, 1)
    assert extra == extra_again == {"train_seconds": 1.0}
    assert torch.equal(restored["net"].weight, trained["net"].weight)
    assert torch.equal(restored["net"].bias, trained["net"].bias)
    assert not torch.equal(linear(0)["net"].weight, trained["net"].weight)


def test_a_changed_key_misses_and_trains_into_its_own_entry(cache_root):
    train = Trainer()
    first = entry_path("nets", "model", {"lr": 0.1})
    other = entry_path("nets", "model", {"lr": 0.2})
    load_or_train(first, lambda: linear(0), train, ("train_seconds",))
    assert load_or_train(other, lambda: linear(0), train, ("train_seconds",))[2] is False and train.calls == 2
    assert first.exists() and other.exists()


def test_a_damaged_entry_is_removed_and_retrained(cache_root):
    path, train = cache_root / "nets" / "entry.pt", Trainer()
    load_or_train(path, lambda: linear(0), train, ("train_seconds",))
    path.write_bytes(path.read_bytes()[:40])                                       # truncated
    _, extra, cached = load_or_train(path, lambda: linear(0), train, ("train_seconds",))
    assert (cached, extra, train.calls) == (False, {"train_seconds": 2.0}, 2)
    path.write_bytes(b"not a checkpoint")
    assert load_or_train(path, lambda: linear(0), train, ("train_seconds",))[2] is False and train.calls == 3
    assert load_or_train(path, lambda: linear(0), train, ("train_seconds",))[2] is True   # the retrained entry


def test_a_foreign_entry_is_retrained_and_leaves_the_networks_unchanged(cache_root):
    path = cache_root / "entry.pt"
    store(path, {"net": nn.Linear(4, 2), "head": nn.Linear(2, 2)}, {"train_seconds": 1.0})
    networks = {"net": nn.Linear(4, 2), "head": nn.Linear(2, 3)}                   # head: other shapes
    before = {name: {k: v.clone() for k, v in net.state_dict().items()} for name, net in networks.items()}
    assert restore(path, networks, ("train_seconds",)) is None and not path.exists()
    assert all(torch.equal(before[name][k], v) for name, net in networks.items()
               for k, v in net.state_dict().items())                              # "net" loaded, then rolled back
    for stored, extra, extra_keys in (({"net": nn.Linear(3, 2), "other": nn.Linear(3, 2)}, {}, ()),
                                      (linear(0), {}, ("train_seconds",)),
                                      (linear(0), {"train_seconds": 1.0}, ())):
        store(path, stored, extra)
        assert restore(path, linear(1), extra_keys) is None and not path.exists()  # other names or extras


def test_an_entry_whose_extras_fail_the_check_is_retrained_and_leaves_the_networks_unchanged(cache_root):
    path, train = cache_root / "nets" / "entry.pt", Trainer()
    load_or_train(path, lambda: linear(0), train, ("train_seconds",))
    networks = linear(1)
    before = networks["net"].weight.clone()
    assert restore(path, networks, ("train_seconds",), check=lambda extra: extra["train_seconds"] > 5) is None
    assert not path.exists() and torch.equal(networks["net"].weight, before)
    load_or_train(path, lambda: linear(0), train, ("train_seconds",))
    _, extra, cached = load_or_train(path, lambda: linear(0), train, ("train_seconds",),
                                     check=lambda extra: extra["train_seconds"] > 5)
    assert (cached, extra, train.calls) == (False, {"train_seconds": 3.0}, 3)
    assert load_or_train(path, lambda: linear(0), train, ("train_seconds",), check=lambda extra: True)[2]


def test_a_write_is_atomic_and_a_failed_one_keeps_the_last_good_entry(cache_root, monkeypatch):
    path = cache_root / "nets" / "entry.pt"
    store(path, linear(7), {"train_seconds": 1.0})
    good = path.read_bytes()

    def crash(obj, file):
        with open(file, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(cache.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        store(path, linear(8), {"train_seconds": 2.0})
    assert path.read_bytes() == good and [p.name for p in path.parent.iterdir()] == ["entry.pt"]


def test_without_a_path_it_always_trains_and_wrong_extras_are_refused(cache_root):
    train = Trainer()
    assert load_or_train(None, lambda: linear(0), train, ("train_seconds",))[2] is False
    assert load_or_train(None, lambda: linear(0), train, ("train_seconds",))[2] is False and train.calls == 2
    assert list(cache_root.iterdir()) == []
    with pytest.raises(ValueError, match="expected"):
        load_or_train(cache_root / "entry.pt", lambda: linear(0), train, ("record",))
    with pytest.raises(ValueError, match="must differ"):
        store(cache_root / "entry.pt", linear(0), {"net": 1.0})


def test_a_linked_entry_is_the_same_file_and_outlives_the_entry(cache_root, tmp_path):
    path = cache_root / "nets" / "entry.pt"
    store(path, linear(7), {"train_seconds": 1.0})
    dest = link_entry(path, tmp_path / "run" / "net.pt")
    assert os.path.samefile(dest, path)                                          # no second copy of the bytes
    link_entry(path, dest)                                                        # again (a resumed stage)
    assert os.path.samefile(dest, path) and sorted(p.name for p in dest.parent.iterdir()) == ["net.pt"]
    good = path.read_bytes()
    store(path, linear(8), {"train_seconds": 2.0})                                # replaced: a new file
    path.unlink()
    assert dest.read_bytes() == good


def test_an_entry_is_copied_where_no_link_can_be_made(cache_root, tmp_path, monkeypatch):
    path = cache_root / "nets" / "entry.pt"
    store(path, linear(7), {"train_seconds": 1.0})

    def other_file_system(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", other_file_system)
    dest = link_entry(path, tmp_path / "run" / "net.pt")
    assert not os.path.samefile(dest, path) and dest.read_bytes() == path.read_bytes()
    with pytest.raises(FileNotFoundError):
        link_entry(cache_root / "missing.pt", tmp_path / "run" / "other.pt")
    assert sorted(p.name for p in dest.parent.iterdir()) == ["net.pt"]
