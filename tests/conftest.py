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


@pytest.fixture(autouse=True)
def torch_threads():
    """Each test starts with the thread count a run uses (`cpu_threads`, also under `pytest -n 2`, one worker per
    core); trained numbers depend on it, so no test leaves another test its own."""
    from reprolab.runtime.config import cpu_threads

    torch.set_num_threads(cpu_threads())
    yield
    torch.set_num_threads(cpu_threads())


@pytest.fixture
def host_reads(monkeypatch) -> list[str]:
    """The tensor values read into Python (`item`, `float`, `bool`, `tolist`; on a GPU each waits for the device)
    while the test runs, by name, in order."""
    reads: list[str] = []
    for name in ("item", "__float__", "__bool__", "tolist"):
        def counted(self, *args, _name=name, _own=getattr(torch.Tensor, name)):
            reads.append(_name)
            return _own(self, *args)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return reads


@pytest.fixture
def loop_reads(monkeypatch, host_reads) -> list[str]:
    """`host_reads` of a training loop: progress off, and Adam's per-parameter read of its step counter, a CPU
    tensor (no device to wait for), left out of the count."""
    import importlib

    monkeypatch.setenv("REPROLAB_PROGRESS", "0")
    monkeypatch.setattr(importlib.import_module("torch.optim.adam"), "_get_value",
                        lambda x: x.numpy().item() if isinstance(x, torch.Tensor) else x)
    return host_reads
