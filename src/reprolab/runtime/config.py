"""Typed experiment configs, `--set key=value` overrides, seeding and device choice.

Each experiment has one dataclass config; `--scale quick` and `--scale paper` are two instances of it.
`apply_overrides` changes fields by name (dotted names reach nested dataclasses), converts the text to the
field's declared type and rejects unknown keys with the list of valid ones.
"""

from __future__ import annotations

import dataclasses
import os
import random
import types
import typing
from typing import Any, Literal

import numpy as np
import torch

Scale = Literal["quick", "paper"]
SCALES: tuple[str, ...] = typing.get_args(Scale)


class ConfigError(ValueError):
    """A config override names an unknown field or gives a value of the wrong type."""


def config_to_dict(config: Any) -> dict[str, Any]:
    """Every field of a (possibly nested) dataclass config as JSON-ready values."""
    return _jsonable(dataclasses.asdict(config))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def field_names(config: Any, prefix: str = "") -> list[str]:
    """All overridable keys of a config, nested dataclass fields as `outer.inner`."""
    names = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            names.extend(field_names(value, f"{prefix}{f.name}."))
        else:
            names.append(prefix + f.name)
    return names


def apply_overrides(config: Any, overrides: list[str] | tuple[str, ...]) -> Any:
    """Return a copy of `config` with every `key=value` override applied (type-checked). All overrides of one
    (nested) config are applied together, so its `__post_init__` checks see the final combination, whatever the
    order of the overrides."""
    tree: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, text = (part.strip() for part in item.split("=", 1))
        *parents, leaf = key.split(".")
        node = tree
        for i, name in enumerate(parents):
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key {key!r}: {'.'.join(parents[:i + 1])!r} has no sub-fields")
        if isinstance(node.get(leaf), dict):
            raise ConfigError(f"config key {key!r} is a group; set one of its fields")
        node[leaf] = text
    return _replace_tree(config, tree, "")


def _replace_tree(config: Any, tree: dict[str, Any], prefix: str) -> Any:
    by_name = {f.name: f for f in dataclasses.fields(config)}
    changes = {}
    for name, value in tree.items():
        full_key = prefix + name
        if name not in by_name:
            valid = ", ".join(field_names(config, prefix))
            raise ConfigError(f"unknown config key {full_key!r}; valid keys: {valid}")
        current = getattr(config, name)
        if isinstance(value, dict):
            if not dataclasses.is_dataclass(current):
                raise ConfigError(f"config key {full_key!r} has no sub-fields")
            changes[name] = _replace_tree(current, value, full_key + ".")
            continue
        if dataclasses.is_dataclass(current):
            raise ConfigError(f"config key {full_key!r} is a group; set one of its fields: "
                              + ", ".join(field_names(current, full_key + ".")))
        hint = typing.get_type_hints(type(config))[name]
        try:
            changes[name] = parse_value(value, hint)
        except (ValueError, TypeError) as exc:
            if _literal_options(hint) is not None:
                raise ConfigError(f"config key {full_key!r} got {value!r}: {exc}") from None
            raise ConfigError(f"config key {full_key!r} expects {_type_name(hint)}, got {value!r}: {exc}") from None
    try:
        return dataclasses.replace(config, **changes)
    except ConfigError as exc:
        if not prefix:
            raise
        raise ConfigError(f"in {prefix.rstrip('.')!r}: {exc}") from None


def _literal_options(hint: Any) -> tuple | None:
    """The options of a Literal hint, or of the items of a tuple / list of Literals; None for any other hint."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (tuple, list) and args:
        hint = args[0]
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else None


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def parse_value(text: str, hint: Any) -> Any:
    """Convert override text to `hint`: bool, int, float, str, Literal, Optional, tuple/list of those."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return parse_value(text, arg)
            except (ValueError, TypeError) as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        for option in args:
            if str(option) == text:
                return option
        raise ValueError(f"must be one of {list(args)}")
    if origin in (tuple, list):
        items = [t for t in text.strip("()[] ").split(",") if t.strip()]
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            parsed = [parse_value(t.strip(), args[0]) for t in items]
        elif origin is tuple:
            if len(items) != len(args):
                raise ValueError(f"needs {len(args)} comma-separated values")
            parsed = [parse_value(t.strip(), a) for t, a in zip(items, args)]
        else:
            parsed = [parse_value(t.strip(), args[0] if args else str) for t in items]
        return tuple(parsed) if origin is tuple else parsed
    if hint is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("not a boolean (true/false)")
    if hint is int:
        return int(text)
    if hint is float:
        return float(text)
    if hint is str:
        return text
    raise TypeError(f"unsupported field type {hint!r}")


def check_options(config: Any) -> None:
    """Raise ConfigError when a `Literal` field (or a tuple / list of `Literal`s) of the dataclass `config` holds a
    value outside its options; the message names the field and the valid choices. Call from `__post_init__`."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        _check_option(f.name, hints[f.name], getattr(config, f.name))


def check_choice(name: str, value: Any, options: Any) -> None:
    """Raise ValueError ("{name} must be one of (...), got ...") when `value` is not among `options`, a `Literal`
    type or a tuple: the check of a function argument (a config field's is `check_options`)."""
    choices = typing.get_args(options) if typing.get_origin(options) is Literal else tuple(options)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_option(key: str, hint: Any, value: Any) -> None:
    """Raise ConfigError when `value` (or an item of it, for a tuple / list of `Literal`s) is outside the options of
    the `Literal` hint; other hints pass."""
    options = _literal_options(hint)
    if options is None:
        return
    values = list(value) if typing.get_origin(hint) in (tuple, list) else [value]
    bad = [v for v in values if v not in options]
    if bad:
        raise ConfigError(f"config key {key!r}: {bad[0]!r} is not one of {list(options)}")


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The declared range of a numeric config field, written once beside the field:
    `steps: Annotated[int, Bounds(low=1)] = 100`, `lr: Annotated[float, Bounds(low=0, open_low=True)] = 1e-3`.
    A tuple or list field's bounds apply to each item. `validate_config` checks them before any work."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def violation(self, value: Any) -> str | None:
        """Why `value` is out of range, or None."""
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return f"must be {'>' if self.open_low else '>='} {self.low:g}, got {value}"
        if self.high is not None and (value >= self.high if self.open_high else value > self.high):
            return f"must be {'<' if self.open_high else '<='} {self.high:g}, got {value}"
        return None


POSITIVE = Bounds(low=0, open_low=True)
AT_LEAST_ONE = Bounds(low=1)
NON_NEGATIVE = Bounds(low=0)
PROBABILITY = Bounds(low=0, high=1)
BELOW_ONE = Bounds(low=0, high=1, open_high=True)                   # [0, 1): Adam's betas
OPEN_UNIT = Bounds(low=0, high=1, open_low=True, open_high=True)    # (0, 1): a rate that must be neither 0 nor 1


def validate_config(config: Any, prefix: str = "") -> None:
    """Check every field of a (nested) dataclass config against its `Literal` options and declared `Bounds`; raise
    ConfigError naming the dotted key. `launch.run_method` calls it before any folder or worker exists."""
    hints = typing.get_type_hints(type(config), include_extras=True)
    for f in dataclasses.fields(config):
        value, key = getattr(config, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            validate_config(value, key + ".")
            continue
        hint = hints[f.name]
        bounds = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Bounds)]
        _check_option(key, typing.get_args(hint)[0] if bounds else hint, value)
        items = list(value) if isinstance(value, (tuple, list)) else [value]
        for bound in bounds:
            for item in items:
                problem = None if item is None else bound.violation(item)
                if problem:
                    raise ConfigError(f"config key {key!r} {problem}")


def check_at_least(config: Any, minimum: float, keys: tuple[str, ...]) -> None:
    """Raise ConfigError naming the first of `keys` whose value in `config` is below `minimum`."""
    for key in keys:
        value = getattr(config, key)
        if value < minimum:
            raise ConfigError(f"config key {key!r} must be >= {minimum}, got {value}")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) so that a run is repeatable on one machine."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str = "auto", supported: tuple[str, ...] = ("cpu", "cuda")) -> torch.device:
    """`auto` picks CUDA when available and supported, else the CPU; `cuda` without a GPU, or a device type that
    `supported` does not list (a CPU-only method), is an error, never a silent fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() and "cuda" in supported else "cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if torch.device(device).type not in supported:
        raise ValueError(f"this method runs on {' or '.join(supported)} only, got --device {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but torch sees no CUDA device (torch {torch.__version__})")
    return torch.device(device)


def cpu_threads() -> int:
    """Threads for torch on CPU: OMP_NUM_THREADS when set, else 1 (small ops on shared cores run fastest)."""
    return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
