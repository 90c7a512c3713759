"""Every name a method's `__init__` exports resolves and has its own docstring (the API reference of the docs site
is generated from them)."""

import dataclasses
import importlib
import inspect

import pytest

from reprolab import registry


def _exports():
    for method in registry.implemented_names():
        package = importlib.import_module(f"reprolab.methods.{method}")
        for name, target in package._API.items():
            yield method, name, target


@pytest.mark.parametrize("method, name, target", list(_exports()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_exported_name_has_a_docstring(method, name, target):
    module_name, _, attribute = target.partition(":")
    obj = importlib.import_module(module_name)
    if attribute:
        obj = getattr(obj, attribute)
    assert getattr(importlib.import_module(f"reprolab.methods.{method}"), name) is obj
    doc = inspect.getdoc(obj) or ""
    generated = dataclasses.is_dataclass(obj) and (obj.__doc__ or "").startswith(f"{obj.__name__}(")
    assert doc.strip() and not generated, f"reprolab.methods.{method}.{name} has no docstring of its own"
