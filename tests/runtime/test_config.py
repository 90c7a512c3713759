import dataclasses
import re
from typing import Annotated, Literal

import pytest

from reprolab.runtime.config import (Bounds, ConfigError, apply_overrides, config_to_dict, resolve_device,
                                     validate_config)


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


def test_a_cpu_only_method_refuses_cuda(tmp_path):
    from reprolab.launch import run_method

    with pytest.raises(ValueError, match="runs on cpu only"):
        run_method("balanced_q", "quick", out=tmp_path / "bq", device="cuda")
    assert not (tmp_path / "bq").exists()


def test_on_a_gpu_machine_a_run_whose_cells_all_use_the_cpu_records_the_cpu(tmp_path, monkeypatch):
    # CUDA "available" without a GPU: a run that put a tensor on cuda would crash, so finishing shows where the
    # tensors were, and the record must say cpu (mbec's classic-control cells run on the CPU whatever is asked)
    import torch

    from reprolab.launch import run_method

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    result = run_method("mbec", "quick", out=tmp_path, device="auto", progress=False,
                        overrides=("envs=maze3", "frames=600", "seeds=1", "ablation_envs=", "equivalence_frames=300",
                                   "replay_start=200", "mbec.warmup_episodes=2", "bins=3", "workers=1"))
    assert result.device == "cpu"


@dataclasses.dataclass(frozen=True)
class BoundedInner:
    lr: Annotated[float, Bounds(low=0, open_low=True)] = 0.1
    steps: Annotated[int, Bounds(low=1)] = 10


@dataclasses.dataclass(frozen=True)
class BoundedOuter:
    workers: Annotated[int, Bounds(low=1, high=64)] = 2
    depths: Annotated[tuple[int, ...], Bounds(low=1)] = (1, 3)
    loss: Literal["mse", "ce"] = "mse"
    filter: BoundedInner = dataclasses.field(default_factory=BoundedInner)


@pytest.mark.parametrize("override, message", [
    ("filter.lr=-1", "config key 'filter.lr' must be > 0, got -1.0"),
    ("filter.lr=0", "config key 'filter.lr' must be > 0, got 0.0"),
    ("filter.steps=-5", "config key 'filter.steps' must be >= 1, got -5"),
    ("workers=0", "config key 'workers' must be >= 1, got 0"),
    ("workers=65", "config key 'workers' must be <= 64, got 65"),
    ("depths=1,0,3", "config key 'depths' must be >= 1, got 0"),
])
def test_declared_bounds_are_checked_on_every_nested_field(override, message):
    cfg = apply_overrides(BoundedOuter(), [override])          # overrides parse through the Annotated hint
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(cfg)
    validate_config(apply_overrides(BoundedOuter(), ["filter.lr=1e-4", "workers=64", "depths=2"]))


def test_validation_also_checks_literal_options_of_configs_built_in_code():
    with pytest.raises(ConfigError, match=r"config key 'loss': 'hinge' is not one of \['mse', 'ce'\]"):
        validate_config(dataclasses.replace(BoundedOuter(), loss="hinge"))


def test_check_choice_names_the_argument_its_options_and_the_value():
    from typing import Literal

    from reprolab.runtime.config import check_choice

    check_choice("mode", "b", Literal["a", "b"])
    check_choice("mode", 2, (1, 2))
    with pytest.raises(ValueError, match=r"^mode must be one of \('a', 'b'\), got 'c'$"):
        check_choice("mode", "c", Literal["a", "b"])
    with pytest.raises(ValueError, match=r"^mode must be one of \(1, 2\), got 3$"):
        check_choice("mode", 3, (1, 2))
