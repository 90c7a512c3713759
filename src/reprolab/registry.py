"""The ten methods: each implemented method registers itself.

A method package `reprolab.methods.<name>` defines `ENTRY = MethodEntry(...)` in its `__init__.py`: its paper, the
module of its experiment (`CONFIGS`, `run(config, ctx)`, `NEEDS_EXTRA_DATA`, optionally `DEVICES`) and, when it
has them, its own CLI commands (a typer app mounted as `reprolab <name> ...`). The registry finds the packages;
`PLANNED` lists the papers whose package does not exist yet. A package's public API loads lazily (`lazy_api`), so
reading every entry stays cheap and `reprolab list` stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
from types import ModuleType
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class MethodEntry:
    name: str
    paper: str
    experiment_module: str | None        # None: not implemented yet
    commands: str | None = None          # "module:attribute" of a typer app, mounted as `reprolab <name>`

    @property
    def implemented(self) -> bool:
        return self.experiment_module is not None

    def load(self) -> ModuleType:
        if self.experiment_module is None:
            raise ValueError(f"method {self.name!r} is not implemented yet; implemented: {implemented_names()}")
        return importlib.import_module(self.experiment_module)

    def load_commands(self) -> Any:
        module, attribute = self.commands.split(":")
        return getattr(importlib.import_module(module), attribute)


PLANNED: tuple[MethodEntry, ...] = ()


@functools.cache
def methods() -> dict[str, MethodEntry]:
    """Every method: the registered packages (in name order), then the planned ones."""
    import reprolab.methods as package

    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        entry = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "ENTRY", None)
        if not isinstance(entry, MethodEntry) or entry.name != info.name:
            raise ValueError(f"reprolab.methods.{info.name} must define ENTRY = MethodEntry({info.name!r}, ...)")
        found[entry.name] = entry
    return {**found, **{e.name: e for e in PLANNED if e.name not in found}}


def implemented_names() -> list[str]:
    return [name for name, entry in methods().items() if entry.implemented]


def get(name: str) -> MethodEntry:
    if name not in methods():
        planned = [n for n, entry in methods().items() if not entry.implemented]
        raise ValueError(f"unknown method {name!r}; implemented: {', '.join(implemented_names())}"
                         + (f" (planned, not runnable yet: {', '.join(planned)})" if planned else ""))
    return methods()[name]


def lazy_api(package: str, api: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for a package whose public names load on first use (PEP 562):
    api[name] = "module:attribute", or "module" for a submodule."""
    def __getattr__(name: str) -> Any:
        if name not in api:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = api[name].partition(":")
        loaded = importlib.import_module(module)
        return getattr(loaded, attribute) if attribute else loaded

    def __dir__() -> list[str]:
        return sorted(api)

    return __getattr__, __dir__
