"""Canonical outcomes of a call: exact, NaN-aware and type-aware comparison through a JSON
form; generators and other iterators are listified (up to `max_items`). Standard library only (used in the
sandbox worker and by the parent on trusted code)."""

from __future__ import annotations

import json
import types


def canonical(value, max_items: int, depth: int = 0):
    """A JSON form that compares equal exactly when the values are equal (NaN-aware, type-aware)."""
    if depth > 50:
        return ["deep"]
    if value is None:
        return ["None"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", repr(value)]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, (bytes, bytearray)):
        return [type(value).__name__, value.hex()]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [canonical(v, max_items, depth + 1) for v in value]]
    if isinstance(value, dict):
        items = [[canonical(k, max_items, depth + 1), canonical(v, max_items, depth + 1)] for k, v in value.items()]
        return ["dict", sorted(items, key=json.dumps)]
    if isinstance(value, (set, frozenset)):
        return [type(value).__name__, sorted((canonical(v, max_items, depth + 1) for v in value), key=json.dumps)]
    if isinstance(value, (types.GeneratorType, map, filter, zip, enumerate, reversed)) or (
            hasattr(value, "__next__") and hasattr(value, "__iter__")):
        items = []
        for item in value:
            items.append(canonical(item, max_items, depth + 1))
            if len(items) >= max_items:
                items.append(["truncated"])
                break
        return ["iter", items]
    return [type(value).__name__, str(value)]
