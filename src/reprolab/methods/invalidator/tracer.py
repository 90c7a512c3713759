"""A Daikon-style front end for Python: records variable values at program points of the
code compiled from one subject file.

Program points, for the target and every helper of the subject (recursion included):
- `f:::ENTER`: the parameters on entry;
- `f:::EXIT`: the parameters' post-state, `orig(v)` (the entry value of each entry variable v) and `return`, on a
  normal return (an exception leaving f records no EXIT sample);
- `f:::LOOPk`: the locals at each arrival at the k-th loop header of f (`for` / `while`, in source order);
- `f:::CALL g#n` (call sites): the arguments (`arg0`, `arg1`, ..., keyword arguments by name) and the `return` of
  the n-th call in f, in source order, whose callee is written `g` (`ast.unparse` of the called expression), on a
  normal return; C functions and methods included (`len`, `max`, `a.insert`, ...). These points exist only in code
  compiled through `instrument_calls`, which rewrites each such call `g(a, b)` as `CALL_SITE("f:::CALL g#n", g, a,
  b)` (the same evaluation order: the callee, then the arguments) with `CALL_SITE` bound to `Tracer.call_site`.
  Numbering by callee keeps a point of D and of a patch aligned when the patch adds or drops another call. Calls
  that need the caller's frame (`super()`, `locals()`, `vars()`, `globals()`, `dir()`, `eval`, `exec`) and calls
  in generator functions are left as they are.
Variables: finite int / float as scalars (bool as int); `size(x)` for str / bytes / list / tuple / dict; numeric
lists and tuples also as sequences (tuples of numbers); str and bytes of at most MAX_STRING items also as
themselves (string invariants). At most `max_samples` samples are kept per point (the first
ones: deterministic). Only functions whose `co_filename` is the subject's file are traced (`sys.settrace`,
Python 3.11); module bodies, comprehensions, lambdas and generators are not program points.

This module uses the standard library only: it runs inside the sandbox worker.
"""

from __future__ import annotations

import ast
import math
import sys
from collections import defaultdict

MAX_SEQUENCE = 64            # longer sequences are summarised by their size only
MAX_STRING = 64              # longer strings too
CO_GENERATOR_LIKE = 0x20 | 0x80 | 0x200   # CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR
CALL_SITE = "__reprolab_call_site__"     # the global name instrumented code calls (bound to Tracer.call_site)
NEEDS_CALLER_FRAME = frozenset({"super", "locals", "vars", "globals", "dir", "eval", "exec"})


def loop_headers(source: str) -> dict[tuple[str, int], dict[int, int]]:
    """(function name, first line) -> {line of the k-th loop header: k}, loops in source order, nested functions
    excluded (they get their own entry)."""
    headers: dict[tuple[str, int], dict[int, int]] = {}

    def visit(node: ast.AST, loops: list[int]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                own: list[int] = []
                visit(child, own)
                first = child.lineno
                if not isinstance(child, ast.Lambda) and child.decorator_list:
                    first = min(d.lineno for d in child.decorator_list)
                headers[(getattr(child, "name", "<lambda>"), first)] = {line: k for k, line in enumerate(own)}
            else:
                if isinstance(child, (ast.For, ast.While, ast.AsyncFor)):
                    loops.append(child.lineno)
                visit(child, loops)

    visit(ast.parse(source), [])
    return headers


def _is_generator(func: ast.FunctionDef) -> bool:
    """Whether `yield` occurs in the function's own body (not in a nested function or lambda)."""
    stack = list(func.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def call_points(tree: ast.Module) -> dict[int, str]:
    """id(call node) -> its program point `f:::CALL g#n`, for the calls in the bodies of the (non-generator)
    functions of the module; a call in a nested function belongs to that function, one in a lambda or a
    comprehension to the enclosing function."""
    points: dict[int, str] = {}

    def calls_of(func: ast.FunctionDef) -> list[ast.Call]:
        found, stack = [], list(func.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                stack.extend(node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d])
                continue
            if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name)
                                                   and node.func.id in NEEDS_CALLER_FRAME):
                found.append(node)
            stack.extend(ast.iter_child_nodes(node))
        return sorted(found, key=lambda n: (n.lineno, n.col_offset, n.end_lineno, n.end_col_offset))

    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef) and not _is_generator(func):
            seen: dict[str, int] = {}
            for call in calls_of(func):
                callee = ast.unparse(call.func)
                points[id(call)] = f"{func.name}:::CALL {callee}#{seen.get(callee, 0)}"
                seen[callee] = seen.get(callee, 0) + 1
    return points


class _CallSiteRewriter(ast.NodeTransformer):
    def __init__(self, points: dict[int, str]):
        self.points = points

    def visit_Call(self, node: ast.Call) -> ast.AST:
        point = self.points.get(id(node))
        self.generic_visit(node)
        if point is None:
            return node
        site = ast.Call(func=ast.Name(CALL_SITE, ast.Load()), args=[ast.Constant(point), node.func, *node.args],
                        keywords=node.keywords)
        return ast.fix_missing_locations(ast.copy_location(site, node))


def untraced_call(point: str, function, /, *args, **kwargs):
    """`function(*args, **kwargs)`, recording nothing: `CALL_SITE` while no tracer is bound (a module body that
    calls its own functions as it loads)."""
    return function(*args, **kwargs)


def instrument_calls(source: str) -> ast.Module:
    """The module of `source` with every call site of its functions routed through `CALL_SITE` (see the module
    docstring); line numbers are kept, so loop headers and tracebacks stay where they were."""
    tree = ast.parse(source)
    return _CallSiteRewriter(call_points(tree)).visit(tree)


def _number(value) -> int | float | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def variables(name: str, value) -> dict[str, object]:
    """The Daikon variables derived from one Python variable: a scalar, size(x), a numeric sequence, a string."""
    out: dict[str, object] = {}
    number = _number(value)
    if number is not None:
        out[name] = number
    elif isinstance(value, (str, bytes, list, tuple, dict)):
        out[f"size({name})"] = len(value)
        if isinstance(value, (str, bytes)) and len(value) <= MAX_STRING:
            out[name] = value
        if isinstance(value, (list, tuple)) and len(value) <= MAX_SEQUENCE:
            items = [_number(v) for v in value]
            if all(v is not None for v in items):
                out[name] = tuple(items)
    return out


def snapshot(names, frame_locals: dict) -> dict[str, object]:
    """The variables of the named locals that are bound."""
    sample: dict[str, object] = {}
    for name in names:
        if name in frame_locals:
            sample.update(variables(name, frame_locals[name]))
    return sample


class Tracer:
    """`with Tracer(filename) as t: ...` then `t.samples`: program point -> list of {variable: value}."""

    def __init__(self, filename: str, source: str | None, max_samples: int = 400,
                 headers: dict[tuple[str, int], dict[int, int]] | None = None):
        """`headers`: the `loop_headers` of the traced code when the caller already has them (read only; tracers
        of the same code may share them); else those of `source`."""
        self.filename, self.max_samples = filename, max_samples
        self.headers = loop_headers(source) if headers is None else headers
        self.samples: dict[str, list[dict]] = defaultdict(list)
        self._entry: dict[int, dict] = {}
        self._raising: set[int] = set()
        self._previous = None

    def _record(self, point: str, sample: dict) -> None:
        bucket = self.samples[point]
        if len(bucket) < self.max_samples:
            bucket.append(sample)

    def call_site(self, point: str, function, /, *args, **kwargs):
        """`function(*args, **kwargs)`, recording its arguments and its result at `point` (instrumented code calls
        this for every call site); a call that raises records nothing."""
        if len(self.samples.get(point, ())) >= self.max_samples:
            return function(*args, **kwargs)
        sample: dict[str, object] = {}
        for i, value in enumerate(args):
            sample.update(variables(f"arg{i}", value))
        for name, value in kwargs.items():
            sample.update(variables(name, value))
        result = function(*args, **kwargs)
        sample.update(variables("return", result))
        self._record(point, sample)
        return result

    def _params(self, code) -> tuple[str, ...]:
        n = code.co_argcount + code.co_kwonlyargcount
        n += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)          # *args, **kwargs
        return code.co_varnames[:n]

    def _local_trace(self, frame, event, arg):
        code = frame.f_code
        key = id(frame)
        if event == "line":
            self._raising.discard(key)                 # an exception caught inside f
            loops = self.headers.get((code.co_name, code.co_firstlineno), {})
            k = loops.get(frame.f_lineno)
            if k is not None:
                self._record(f"{code.co_name}:::LOOP{k}", snapshot(code.co_varnames, frame.f_locals))
        elif event == "exception":
            self._raising.add(key)
        elif event == "return":
            entry = self._entry.pop(key, None)
            if key in self._raising:
                self._raising.discard(key)
                return self._local_trace
            if entry is not None:
                params = self._params(code)
                sample = snapshot(params, frame.f_locals)
                sample.update({f"orig({k})": v for k, v in entry.items()})
                sample.update(variables("return", arg))
                self._record(f"{code.co_name}:::EXIT", sample)
        return self._local_trace

    def _global_trace(self, frame, event, arg):
        code = frame.f_code
        if (event != "call" or code.co_filename != self.filename or code.co_flags & CO_GENERATOR_LIKE
                or code.co_name.startswith("<")):        # module body, comprehensions, lambdas
            return None
        entry = snapshot(self._params(code), frame.f_locals)
        self._entry[id(frame)] = entry
        self._record(f"{code.co_name}:::ENTER", dict(entry))
        return self._local_trace

    def __enter__(self) -> "Tracer":
        self._previous = sys.gettrace()
        sys.settrace(self._global_trace)
        return self

    def __exit__(self, *exc) -> None:
        sys.settrace(self._previous)
        self._entry.clear()
        self._raising.clear()
