import os
import signal
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """An empty data root and cache: loaders must find nothing there."""
    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv("REPROLAB_DATA", str(root))
    monkeypatch.setenv("REPROLAB_CACHE", str(cache))
    return root


def _shared_data_root() -> Path:
    from reprolab.data.root import data_root

    return data_root()


SHARED_ROOT = _shared_data_root()  # resolved before any test changes REPROLAB_DATA


FASHION_INSTALLED = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists() or \
    (Path(os.environ.get("REPROLAB_DATA", "/nonexistent")) / "fashion-mnist").exists()


def tiny_quick_run(tmp_path_factory, method: str, overrides: tuple[str, ...]):
    """A method's quick experiment shrunk by `overrides`, run once into a fresh folder: (folder, RunResult)."""
    from reprolab.launch import run_method

    out = tmp_path_factory.mktemp(method)
    return out, run_method(method, "quick", out=out, device="cpu", overrides=overrides, progress=False)


def read_record(out: Path) -> dict:
    """The result.json a run wrote into `out`."""
    import json

    return json.loads((out / "result.json").read_text())


def default_sigint() -> None:
    """Ctrl-C as on a terminal, also when the tests themselves run in the background (where a shell ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
