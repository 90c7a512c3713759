"""Trained networks kept in the data cache (`reprolab.data.cache_dir() / <folder>`), keyed by everything their
training depends on, so that a later run with the same key loads them instead of training them again.

An entry is one file `<folder>/<stem>-<digest>.pt`: `digest` is the first `digits` hex digits of
sha256(json(key) + blobs), where `key` is a JSON-ready value (a config as a dict, the seed, the torch version, ...)
and `blobs` raw bytes the training also depends on (e.g. the encoded training items). The file holds one state
dict per named network and the `extra` payload beside them (e.g. the training seconds, a record), written
atomically (temp file + rename) and read with `weights_only=True`. An entry that is unreadable, holds other names
than the networks and extras asked for, whose extras fail the caller's check, or whose states a strict
`load_state_dict` rejects (keys or shapes differ) is removed and trained anew, never trusted; the networks it was
loaded into are left as they were.
`link_entry` puts an entry into another folder (a run's) as a hard link, so the bytes are written once.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from reprolab.data.root import cache_dir
from reprolab.runtime.io import atomic_write

Networks = dict[str, nn.Module]
# what a damaged or foreign entry raises on load: a truncated or garbled file (RuntimeError, EOFError,
# UnpicklingError), an unreadable one (OSError), a state dict of other keys or shapes (RuntimeError), a payload of
# other types (TypeError, KeyError); a missing file raises FileNotFoundError (an OSError)
_DAMAGED = (RuntimeError, EOFError, OSError, pickle.UnpicklingError, TypeError, KeyError)


def entry_path(folder: str, stem: str, key: Any, blobs: Iterable[bytes] = (), digits: int = 16,
               sort_keys: bool = False) -> Path:
    """The cache file `cache_dir() / folder / f"{stem}-{digest}.pt"` of `key` (JSON-ready) and `blobs`: digest =
    sha256(json.dumps(key, sort_keys=sort_keys), then every blob) in its first `digits` hex digits."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=sort_keys).encode())
    for blob in blobs:
        digest.update(blob)
    return cache_dir() / folder / f"{stem}-{digest.hexdigest()[:digits]}.pt"


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> tuple[bytes, ...]:
    """The raw bytes of each tensor (on the CPU, in row-major order): key blobs for weights or training items, e.g.
    `tensor_bytes(net.state_dict().values())`."""
    return tuple(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() for t in tensors)


def store(path: Path, networks: Networks, extra: dict[str, Any] | None = None) -> None:
    """Write the networks' states (on the CPU) and `extra` (weights_only-loadable values) to `path` atomically."""
    extra = extra or {}
    _check_disjoint(networks, extra)
    states = {name: {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
              for name, net in networks.items()}
    atomic_write(path, lambda tmp: torch.save({**states, **extra}, tmp))


def restore(path: Path, networks: Networks, extra_keys: tuple[str, ...] = (),
            check: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any] | None:
    """Load the networks' states from `path` (strict) and return its extra payload (`extra_keys`); None, with the
    entry removed and the networks unchanged, when it is missing, unreadable, holds other networks or extras, or its
    extras fail `check` (values the caller will use, such as a generator state, that must have their type and
    size)."""
    _check_disjoint(networks, extra_keys)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or set(payload) != {*networks, *extra_keys}:
            raise KeyError(f"{path} holds other networks or extras than {sorted({*networks, *extra_keys})}")
        extra = {k: payload[k] for k in extra_keys}
        if check is not None and not check(extra):
            raise TypeError(f"{path} holds extras that are not usable")
        load_states(networks, payload)
    except _DAMAGED:
        path.unlink(missing_ok=True)
        return None
    return extra


def load_states(networks: Networks, states: dict[str, Any]) -> None:
    """`load_state_dict(states[name], strict=True)` for every network; all of them or none: on an error every
    network gets its own states back before the error propagates."""
    before = {name: {k: v.clone() for k, v in net.state_dict().items()} for name, net in networks.items()}
    try:
        for name, net in networks.items():
            net.load_state_dict(states[name])
    except BaseException:
        for name, net in networks.items():
            net.load_state_dict(before[name])
        raise


def load_or_train(path: Path | None, fresh: Callable[[], Networks],
                  train: Callable[[], tuple[Networks, dict[str, Any]]], extra_keys: tuple[str, ...] = (),
                  check: Callable[[dict[str, Any]], bool] | None = None) -> tuple[Networks, dict[str, Any], bool]:
    """The networks restored from `path` into `fresh()` ones with their extra payload, or `train()`ed (networks and
    extra payload) and stored there; and whether they came from the cache. `extra_keys`: the extras an entry must
    hold (`train()` returns exactly these); `check`: what a stored entry's extras must pass (`restore`). `path`
    None: always trained, nothing stored."""
    if path is not None and path.exists():
        networks = fresh()
        extra = restore(path, networks, extra_keys, check)
        if extra is not None:
            return networks, extra, True
    networks, extra = train()
    if set(extra) != set(extra_keys):
        raise ValueError(f"train() returned the extras {sorted(extra)}; expected {sorted(extra_keys)}")
    if path is not None:
        store(path, networks, extra)
    return networks, extra, False


def link_entry(path: Path, dest: Path) -> Path:
    """`dest` (replaced atomically) holds the entry at `path`: a hard link to it, which writes no bytes, or a copy
    where a link cannot be made (another file system, or one without hard links). An entry is never changed in
    place (`store` renames a new file over it, `restore` unlinks a damaged one), so the link keeps the bytes it was
    made with."""
    if dest.exists() and os.path.samefile(dest, path):      # already linked (rename(2) of one file onto itself
        return dest                                           # does nothing, and would leave the temp link behind)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")   # linked as it is: no chmod of the shared entry
    try:
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _check_disjoint(networks: Networks, extra: Iterable[str]) -> None:
    shared = set(networks) & set(extra)
    if shared:
        raise ValueError(f"network names and extra keys must differ; both hold {sorted(shared)}")
