"""Property-style developer tests: inputs drawn with a fixed seed from the types and ranges of the arguments a
function received in CPython's own tests (issue 38 item 2: four harvested passing tests on arithmetic one-liners
let many first-order mutants through, and small test modules give a function only a handful of inputs, e.g. 5 for
calendar.leapdays).

Every argument position (a positional index or a keyword name; the elements of a list or tuple at a position form
a position of their own) is summarised over the harvested inputs. A drawn input copies the shape of one harvested
input (a seeded choice: its positional count, keyword names and each position's type) and redraws every value from
its position's summary of that type:
- bool: either value;
- int: with equal chances an observed value, an observed value +-1 or +-2, uniform between the smallest and the
  largest observed, or a random int of at most the largest observed bit length (negative half the time when a
  negative value was observed);
- float: an observed value or uniform between the smallest and the largest observed (finite values only);
- str / bytes: a length (with equal chances an observed one or uniform in [0, the longest observed]), items from
  the observed alphabet;
- list / tuple: a length as for strings, each element drawn from the position's elements (the template of each: a
  seeded choice among the observed elements);
- anything else (None, Fraction, Decimal, ipaddress objects, dict, set): the template's value.
Drawn inputs are deduplicated by repr, among themselves and against the harvested ones. Deterministic given the
harvested inputs and the seed.
"""

from __future__ import annotations

import copy
import math
import random
from collections import defaultdict

from reprolab.methods.invalidator.subjects import Input

ELEMENTS = "[]"          # the path step from a list / tuple position to its elements
DRAWS_PER_INPUT = 10     # draws tried per wanted input before giving up (duplicates are dropped)


class ArgumentSummary:
    """The harvested values at every argument position, grouped by exact type (a bool is not an int here), with the
    ranges and alphabets a draw needs."""

    def __init__(self, inputs: list[Input]):
        self.inputs = list(inputs)
        self.values: dict[tuple, list] = defaultdict(list)        # (path, type) -> observed values
        self.elements: dict[tuple, list] = defaultdict(list)      # path of a list / tuple -> its observed elements
        for args, kwargs in self.inputs:
            for i, value in enumerate(args):
                self._visit(("arg", i), value)
            for name in sorted(kwargs):
                self._visit(("kw", name), kwargs[name])
        self.ints = {path: sorted(set(v)) for (path, kind), v in self.values.items() if kind is int}
        self.alphabets = {key: sorted({item for text in v for item in text})
                          for key, v in self.values.items() if key[1] in (str, bytes)}

    def _visit(self, path: tuple, value) -> None:
        self.values[(path, type(value))].append(value)
        if type(value) in (list, tuple):
            for item in value:
                self.elements[path].append(item)
                self._visit(path + (ELEMENTS,), item)

    def draw(self, value, path: tuple, rng: random.Random):
        """A new value of `value`'s type from the position's summary."""
        kind = type(value)
        if kind is bool:
            return rng.random() < 0.5
        if kind is int:
            return self._draw_int(path, rng)
        if kind is float and math.isfinite(value):
            finite = [v for v in self.values[(path, float)] if math.isfinite(v)]
            return rng.choice(finite) if rng.random() < 0.5 else rng.uniform(min(finite), max(finite))
        if kind in (str, bytes):
            items = self.alphabets[(path, kind)]
            drawn = [rng.choice(items) for _ in range(self._length(path, kind, rng))] if items else []
            return "".join(drawn) if kind is str else bytes(drawn)
        if kind in (list, tuple):
            elements = self.elements.get(path, [])
            n = self._length(path, kind, rng) if elements else 0
            return kind(self.draw(rng.choice(elements), path + (ELEMENTS,), rng) for _ in range(n))
        return copy.deepcopy(value)

    def _length(self, path: tuple, kind: type, rng: random.Random) -> int:
        observed = self.values[(path, kind)]
        return len(rng.choice(observed)) if rng.random() < 0.5 else rng.randint(0, max(map(len, observed)))

    def _draw_int(self, path: tuple, rng: random.Random) -> int:
        values = self.ints[path]
        lo, hi = values[0], values[-1]
        bits = max(abs(lo).bit_length(), abs(hi).bit_length())
        pick = rng.randrange(4)
        if pick == 0:
            return rng.choice(values)
        if pick == 1:
            return rng.choice(values) + rng.choice((-2, -1, 1, 2))
        if pick == 2:
            return rng.randint(lo, hi)
        magnitude = rng.getrandbits(rng.randint(0, bits))
        return -magnitude if lo < 0 and rng.random() < 0.5 else magnitude

    def draw_input(self, rng: random.Random) -> Input:
        args, kwargs = rng.choice(self.inputs)
        return (tuple(self.draw(v, ("arg", i), rng) for i, v in enumerate(args)),
                {name: self.draw(kwargs[name], ("kw", name), rng) for name in sorted(kwargs)})


def drawn_inputs(harvested: list[Input], n: int, seed: int | str) -> list[Input]:
    """Up to `n` property-style inputs drawn from the harvested ones' argument types (none without harvested
    inputs), distinct by repr from each other and from the harvested inputs."""
    if not harvested or n <= 0:
        return []
    summary, rng = ArgumentSummary(harvested), random.Random(f"drawn:{seed}")
    seen, out = {repr(i) for i in harvested}, []
    for _ in range(n * DRAWS_PER_INPUT):
        candidate = summary.draw_input(rng)
        key = repr(candidate)
        if key not in seen:
            seen.add(key)
            out.append(candidate)
            if len(out) == n:
                break
    return out
