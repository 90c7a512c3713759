"""The device a result records is the device the run's tensors were on, for every method.

torch is told a GPU exists (`torch.cuda.is_available` patched to True) and each method's tiny smoke config runs
with `--device auto`. This CPU build of torch cannot place a tensor on CUDA, so a run whose record would say
"cuda" must fail with torch's CUDA error (its work did go to the GPU), and a run whose record says "cpu" must
finish without touching CUDA. A method that records a GPU it never used (or the reverse) fails the test."""

import importlib

import pytest
import torch

from reprolab import launch, registry


def tiny_overrides(method: str) -> tuple[str, ...]:
    """The overrides of the method's own smoke run (tests/methods/<method>/test_experiment.py)."""
    return tuple(importlib.import_module(f"tests.methods.{method}.test_experiment").TINY)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only torch: a real GPU would take the tensors")
@pytest.mark.parametrize("method", registry.implemented_names())
def test_recorded_device_is_where_the_tensors_went(method, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "a patched GPU")
    overrides = tiny_overrides(method)
    module = registry.get(method).load()
    config = launch.apply_overrides(module.CONFIGS["quick"], list(overrides))
    recorded = launch.run_device(module, config, "auto")
    if recorded.type == "cuda":
        with pytest.raises((AssertionError, RuntimeError), match="not compiled with CUDA"):
            launch.run_method(method, "quick", out=tmp_path, device="auto", overrides=overrides, progress=False)
    else:
        result = launch.run_method(method, "quick", out=tmp_path, device="auto", overrides=overrides,
                                   progress=False)
        assert result.device == "cpu"
