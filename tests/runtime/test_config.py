import dataclasses
from typing import Literal

import pytest

from reprolab.runtime.config import ConfigError, apply_overrides, config_to_dict, resolve_device


@dataclasses.dataclass(frozen=True)
class Inner:
    lr: float = 0.1
    steps: int = 10


@dataclasses.dataclass(frozen=True)
class Outer:
    depths: tuple[int, ...] = (1, 3)
    loss: Literal["mse", "ce"] = "mse"
    bias: bool = False
    decay: float | None = None
    name: str = "x"
    opt: Inner = dataclasses.field(default_factory=Inner)


def test_overrides_are_type_converted():
    cfg = apply_overrides(Outer(), ["depths=1,3,6", "loss=ce", "bias=true", "decay=1e-4", "opt.steps=5",
                                    "name=run=a"])
    assert cfg.depths == (1, 3, 6) and cfg.loss == "ce" and cfg.bias is True
    assert cfg.decay == 1e-4 and cfg.opt.steps == 5 and cfg.name == "run=a"
    assert apply_overrides(Outer(), ["decay=none"]).decay is None
    assert Outer().opt.steps == 10  # the original is untouched


@pytest.mark.parametrize("override, message", [
    ("lr=0.1", "unknown config key 'lr'; valid keys: depths, loss, bias, decay, name, opt.lr, opt.steps"),
    ("opt.steps=2.5", "expects int"),
    ("loss=hinge", "one of"),
    ("bias=maybe", "not a boolean"),
    ("depths", "key=value"),
    ("opt=3", "is a group"),
])
def test_bad_overrides_are_rejected(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        apply_overrides(Outer(), [override])


def test_config_to_dict_is_json_ready():
    assert config_to_dict(Outer()) == {"depths": [1, 3], "loss": "mse", "bias": False, "decay": None,
                                       "name": "x", "opt": {"lr": 0.1, "steps": 10}}


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")


def test_a_cpu_only_method_refuses_cuda_and_auto_picks_the_cpu():
    assert resolve_device("auto", supported=("cpu",)).type == "cpu"
    with pytest.raises(ValueError, match="runs on cpu only"):
        resolve_device("cuda", supported=("cpu",))


def test_the_runtime_records_the_device_a_run_used(tmp_path):
    from reprolab.launch import run_method

    with pytest.raises(ValueError, match="runs on cpu only"):
        run_method("balanced_q", "quick", out=tmp_path / "bq", device="cuda")
    result = run_method("domain_invariance", "quick", out=tmp_path / "di", device="auto", progress=False,
                        overrides=("tasks=rotated_digits", "algorithms=erm", "seeds=1", "train.steps=2",
                                   "train.eval_every=1", "workers=1"))
    import torch

    assert result.device.startswith("cuda") if torch.cuda.is_available() else result.device == "cpu"
