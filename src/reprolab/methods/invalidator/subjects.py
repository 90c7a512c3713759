"""Benchmark subjects: deterministic pure-Python functions of the CPython standard library.

A subject's source is the module's `.py` file (never the runtime object, which may be C code), with each top-level
`try` block that imports a C accelerator (`_bisect`, `_heapq`, `_json`, ...) replaced by its `except ImportError`
fallback, re-printed with `ast.unparse` and compiled under the filename `<subject:MODULE>`. The unmodified
function is the developer fix D.
Each subject has its CPython test module (the developer tests are harvested from it, see harvest.py) and a seeded
input generator for the oracle (`random.Random(seed)`).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import random
from pathlib import Path
from typing import Callable

from reprolab.methods.invalidator.mutation import find_function

Input = tuple[tuple, dict]


@dataclasses.dataclass(frozen=True)
class Subject:
    module: str
    function: str
    test_module: str
    generate: Callable[[random.Random], Input]
    quick: bool = True            # fast test module: part of --scale quick

    @property
    def name(self) -> str:
        return f"{self.module}.{self.function}"

    @property
    def filename(self) -> str:
        return f"<subject:{self.module}>"


def module_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise FileNotFoundError(f"the standard-library module {module!r} has no .py source here "
                                f"({spec.origin if spec else 'not found'})")
    return Path(spec.origin)


def _imports_accelerator(node: ast.stmt) -> bool:
    return any(isinstance(n, ast.ImportFrom) and (n.module or "").startswith("_") for n in ast.walk(node))


def _pure_python_fallback(node: ast.Try) -> list[ast.stmt]:
    """The body of the `except ImportError` handler of an accelerator import (e.g. `c_scanstring = None`)."""
    for handler in node.handlers:
        if isinstance(handler.type, ast.Name) and handler.type.id in ("ImportError", "ModuleNotFoundError"):
            return handler.body
    return []


def subject_module(module: str) -> ast.Module:
    """The module's AST with each top-level `try` block importing a C accelerator replaced by its pure-Python
    fallback (the `except ImportError` body)."""
    tree = ast.parse(module_path(module).read_text(encoding="utf-8"))
    body = []
    for node in tree.body:
        body += _pure_python_fallback(node) if isinstance(node, ast.Try) and _imports_accelerator(node) else [node]
    tree.body = body
    return tree


@dataclasses.dataclass(frozen=True)
class Program:
    """The subject module as source lines, with the target function's span: a version of the program is the
    module with that span replaced by another function. The sandbox runs it as the module executed once, with the
    version's function compiled at the same line in a copy of its namespace."""

    lines: tuple[str, ...]
    start: int
    end: int
    function: ast.FunctionDef

    @classmethod
    def load(cls, subject: "Subject") -> "Program":
        text = ast.unparse(subject_module(subject.module)) + "\n"
        tree = ast.parse(text)
        func = find_function(tree, subject.function)
        start = min([func.lineno] + [d.lineno for d in func.decorator_list]) - 1
        return cls(tuple(text.splitlines(keepends=True)), start, func.end_lineno, func)

    @property
    def text(self) -> str:
        """The developer-fixed module's source."""
        return "".join(self.lines)

    @property
    def function_line(self) -> int:
        return self.start + 1


# ----------------------------------------------------------------------------------------------------------------
# Seeded input generators, one per domain (the benchmark's "generated inputs").

def _ints(rng: random.Random, n: int, lo: int = -10, hi: int = 10) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _sorted_list(rng):
    return sorted(_ints(rng, rng.randint(0, 10)))


def _bisect(rng):
    a, x = _sorted_list(rng), rng.randint(-12, 12)
    if rng.random() < 0.3:
        lo = rng.randint(0, len(a))
        return (a, x, lo, rng.randint(lo, len(a))), {}
    return (a, x), {}


def _heap(rng):
    return sorted(_ints(rng, rng.randint(0, 10)))


def _unit(rng) -> float:
    return rng.choice([0.0, 1.0, 0.5, round(rng.random(), 3), round(rng.random(), 6)])


def _rgb(rng):
    return (_unit(rng), _unit(rng), _unit(rng)), {}


def _year(rng) -> int:
    return rng.choice([rng.randint(1, 3000), 100 * rng.randint(1, 30), 4 * rng.randint(1, 700)])


def _text(rng, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))


def _indented(rng) -> str:
    lines = []
    for _ in range(rng.randint(0, 5)):
        indent = rng.choice(["", " ", "  ", "    ", "\t", " \t"]) * rng.randint(0, 2)
        lines.append(indent + _text(rng, "ab c", 6))
    return "\n".join(lines) + rng.choice(["", "\n"])


def _bytes(rng, n: int = 12) -> bytes:
    kind = rng.random()
    if kind < 0.2:
        return bytes(rng.randint(0, 8))
    if kind < 0.3:
        return b" " * rng.randint(0, 8)
    return bytes(rng.randint(0, 255) for _ in range(rng.randint(0, n)))


def _a85(rng):
    kwargs = {k: v for k, v in (("foldspaces", rng.random() < 0.3), ("pad", rng.random() < 0.3),
                                ("adobe", rng.random() < 0.3), ("wrapcol", rng.choice([0, 0, 2, 5])))
              if v}
    return (_bytes(rng),), kwargs


def _b85(rng):
    import base64

    encoded = base64.b85encode(_bytes(rng))
    if encoded and rng.random() < 0.2:
        i = rng.randrange(len(encoded))
        encoded = encoded[:i] + rng.choice([b"~", b" ", b"\x7f"]) + encoded[i + 1:]
    return (encoded,), {}


def _ipv4_number(rng) -> int:
    return rng.choice([0, rng.getrandbits(32), rng.getrandbits(16) << 16, 1 << rng.randint(0, 31)])


SUBJECTS: tuple[Subject, ...] = (
    Subject("bisect", "bisect_left", "test.test_bisect", _bisect),
    Subject("bisect", "bisect_right", "test.test_bisect", _bisect),
    Subject("bisect", "insort_left", "test.test_bisect", _bisect),
    Subject("bisect", "insort_right", "test.test_bisect", _bisect),
    Subject("heapq", "heappush", "test.test_heapq", lambda r: ((_heap(r), r.randint(-12, 12)), {})),
    Subject("heapq", "heappop", "test.test_heapq", lambda r: ((_heap(r),), {})),
    Subject("heapq", "heapify", "test.test_heapq", lambda r: ((_ints(r, r.randint(0, 12)),), {})),
    Subject("heapq", "nsmallest", "test.test_heapq", lambda r: ((r.randint(-1, 8), _ints(r, r.randint(0, 12))), {})),
    Subject("heapq", "nlargest", "test.test_heapq", lambda r: ((r.randint(-1, 8), _ints(r, r.randint(0, 12))), {})),
    Subject("colorsys", "rgb_to_hls", "test.test_colorsys", _rgb),
    Subject("colorsys", "hls_to_rgb", "test.test_colorsys", _rgb),
    Subject("colorsys", "rgb_to_hsv", "test.test_colorsys", _rgb),
    Subject("colorsys", "hsv_to_rgb", "test.test_colorsys", _rgb),
    Subject("calendar", "isleap", "test.test_calendar", lambda r: ((_year(r),), {})),
    Subject("calendar", "leapdays", "test.test_calendar", lambda r: ((_year(r), _year(r)), {})),
    Subject("calendar", "monthrange", "test.test_calendar",
            lambda r: ((_year(r), r.choice([r.randint(1, 12), r.randint(0, 13)])), {})),
    Subject("textwrap", "dedent", "test.test_textwrap", lambda r: ((_indented(r),), {})),
    Subject("textwrap", "indent", "test.test_textwrap", lambda r: ((_indented(r), r.choice(["  ", "> ", "\t"])), {})),
    Subject("shlex", "quote", "test.test_shlex", lambda r: ((_text(r, "ab c'\"$-_=/@%+,.:", 8),), {})),
    Subject("string", "capwords", "test.test_string",
            lambda r: ((_text(r, "aB c-", 12),) + ((r.choice(["-", " ", "c"]),) if r.random() < 0.3 else ()), {})),
    Subject("fnmatch", "translate", "test.test_fnmatch", lambda r: ((_text(r, "ab*?[]!-^.", 8),), {})),
    Subject("base64", "_b32encode", "test.test_base64",
            lambda r: ((b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _bytes(r)), {})),
    Subject("base64", "a85encode", "test.test_base64", _a85),
    Subject("base64", "b85decode", "test.test_base64", _b85),
    Subject("difflib", "_format_range_unified", "test.test_difflib",
            lambda r: ((r.randint(0, 20), r.randint(0, 20)), {})),
    Subject("ipaddress", "_count_righthand_zero_bits", "test.test_ipaddress",
            lambda r: ((_ipv4_number(r), r.choice([32, 32, 16, 8])), {})),
    # slower test modules (measured harvest: 22-171 s): paper scale only
    Subject("statistics", "median", "test.test_statistics", lambda r: ((_ints(r, r.randint(0, 9)),), {}), False),
    Subject("statistics", "mode", "test.test_statistics", lambda r: ((_ints(r, r.randint(0, 9), 0, 4),), {}), False),
    Subject("statistics", "variance", "test.test_statistics", lambda r: ((_ints(r, r.randint(0, 9)),), {}), False),
    Subject("urllib.parse", "unquote", "test.test_urlparse",
            lambda r: ((_text(r, "ab%2F41 +", 10),), {}), False),
    Subject("json.decoder", "py_scanstring", "test.test_json",
            lambda r: (('"' + _text(r, 'ab\\"nu0041 ', 10) + '"', 1), {}), False),
)


def subjects(names: tuple[str, ...] = (), quick_only: bool = False) -> list[Subject]:
    """The subjects named (module.function), or all (only the quick ones with `quick_only`)."""
    known = {s.name: s for s in SUBJECTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown subjects {unknown}; known: {', '.join(known)}")
    chosen = [known[n] for n in names] if names else list(SUBJECTS)
    return [s for s in chosen if s.quick or not quick_only]


def generated_inputs(subject: Subject, n: int, seed: int) -> list[Input]:
    rng = random.Random(f"{subject.name}:{seed}")
    return [subject.generate(rng) for _ in range(n)]
