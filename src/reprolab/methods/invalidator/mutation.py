"""First-order AST mutants of one function inside a module: the bug injector and the
generate-and-validate repair search both draw from these operators.

Operators: comparison swap (< <= > >= == != is in, two alternatives each); arithmetic / bitwise operator swap
(also in augmented assignments); and / or swap; negated if / while test; int constant +-1; name swap (a loaded
local replaced by another local of the function); swapped arguments of a 2-argument call; argument +-1; one
operand of a binary operation dropped; one statement deleted from a block of more than one.
A mutant is a copy of the function's AST with exactly one change (the module around it is spliced back by
`subjects.Program`). Nodes are numbered in `ast.walk` order, so the same (node, alternative) applies to a copy.
"""

from __future__ import annotations

import ast
import copy
import random
from typing import Iterator

COMPARE_SWAPS = {ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt),
                 ast.GtE: (ast.Gt, ast.LtE), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,),
                 ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,)}
BINOP_SWAPS = {ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.FloorDiv, ast.Add), ast.Div: (ast.Mult,),
               ast.FloorDiv: (ast.Div, ast.Mult), ast.Mod: (ast.FloorDiv,), ast.Pow: (ast.Mult,),
               ast.LShift: (ast.RShift,), ast.RShift: (ast.LShift,), ast.BitAnd: (ast.BitOr,),
               ast.BitOr: (ast.BitAnd, ast.BitXor), ast.BitXor: (ast.BitOr,)}


def find_function(module: ast.Module, name: str) -> ast.FunctionDef:
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise ValueError(f"no top-level function {name!r} in the module")


def _locals(func: ast.FunctionDef) -> list[str]:
    names = {a.arg for a in func.args.posonlyargs + func.args.args + func.args.kwonlyargs}
    names |= {n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return sorted(names)


def _plus(node: ast.expr, delta: int) -> ast.expr:
    return ast.BinOp(node, ast.Add() if delta > 0 else ast.Sub(), ast.Constant(1))


def mutations(func: ast.FunctionDef) -> list[tuple[int, str, object]]:
    """(node index in ast.walk(func), operator name, alternative) for every first-order mutation site."""
    names = _locals(func)
    sites = []
    for i, node in enumerate(ast.walk(func)):
        if isinstance(node, ast.Compare):
            for j, op in enumerate(node.ops):
                sites += [(i, "compare", (j, alt)) for alt in COMPARE_SWAPS.get(type(op), ())]
        elif isinstance(node, (ast.BinOp, ast.AugAssign)):
            sites += [(i, "binop", alt) for alt in BINOP_SWAPS.get(type(node.op), ())]
            if isinstance(node, ast.BinOp):
                sites += [(i, "drop_operand", side) for side in ("left", "right")]
        elif isinstance(node, ast.BoolOp):
            sites.append((i, "boolop", ast.Or if isinstance(node.op, ast.And) else ast.And))
        elif isinstance(node, (ast.If, ast.While)):
            sites.append((i, "negate", None))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            sites += [(i, "constant", d) for d in (1, -1)]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names:
            sites += [(i, "name", other) for other in names if other != node.id]
        elif isinstance(node, ast.Call):
            if len(node.args) == 2 and not node.keywords:
                sites.append((i, "swap_args", None))
            sites += [(i, "arg", (j, d)) for j, a in enumerate(node.args)
                      if isinstance(a, (ast.Name, ast.Constant)) and not isinstance(a, ast.Starred) for d in (1, -1)]
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if isinstance(block, list) and len(block) > 1 and all(isinstance(s, ast.stmt) for s in block):
                sites += [(i, "delete", (field, k)) for k in range(len(block))]
    return sites


def _apply(node: ast.AST, kind: str, alt) -> None:
    if kind == "compare":
        j, op = alt
        node.ops[j] = op()
    elif kind == "binop":
        node.op = alt()
    elif kind == "boolop":
        node.op = alt()
    elif kind == "negate":
        node.test = ast.UnaryOp(ast.Not(), node.test)
    elif kind == "constant":
        node.value += alt
    elif kind == "name":
        node.id = alt
    elif kind == "swap_args":
        node.args.reverse()
    elif kind == "arg":
        j, d = alt
        node.args[j] = _plus(node.args[j], d)
    elif kind == "delete":
        field, k = alt
        del getattr(node, field)[k]
    else:
        raise ValueError(f"unknown mutation kind {kind!r}")


def _drop_operand(func: ast.FunctionDef, index: int, side: str) -> None:
    """Replace the BinOp at `index` by one of its operands (needs the parent)."""
    nodes = list(ast.walk(func))
    target = nodes[index]
    for parent in nodes:
        for field, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, field, getattr(target, side))
                return
            if isinstance(value, list):
                for k, item in enumerate(value):
                    if item is target:
                        value[k] = getattr(target, side)
                        return


def mutate(func: ast.FunctionDef, site: tuple[int, str, object]) -> ast.FunctionDef:
    """A deep copy of the function with one mutation applied."""
    out = copy.deepcopy(func)
    index, kind, alt = site
    if kind == "drop_operand":
        _drop_operand(out, index, alt)
    else:
        _apply(list(ast.walk(out))[index], kind, alt)
    return ast.fix_missing_locations(out)


def function_key(func: ast.FunctionDef) -> str:
    """ast.dump of the function without its docstring: equal for syntactically identical versions."""
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        func = copy.copy(func)
        func.body = body[1:] or [ast.Pass()]
    return ast.dump(func)


def describe(site: tuple[int, str, object]) -> str:
    index, kind, alt = site
    return f"{kind}@{index}:{getattr(alt, '__name__', alt)}"


def interleaved(sites: list, rng: random.Random) -> list:
    """Sites shuffled within each operator kind (a site's second item), then taken round-robin over the kinds: a
    capped sample is not dominated by the most numerous operator (name swaps outnumber the rest several-fold).
    Any (item, kind) pairs work the same way (composition.py takes patches round-robin over their subjects)."""
    by_kind: dict[str, list] = {}
    for site in sites:
        by_kind.setdefault(site[1], []).append(site)
    groups = [by_kind[k] for k in sorted(by_kind)]
    for group in groups:
        rng.shuffle(group)
    out = []
    for i in range(max(map(len, groups), default=0)):
        out += [g[i] for g in groups if i < len(g)]
    return out


def mutants(func: ast.FunctionDef, rng: random.Random | None = None,
            cap: int | None = None) -> Iterator[tuple[str, ast.FunctionDef]]:
    """(description, mutant function) for the first-order mutation sites of the function: all of them in order,
    or, with `rng`, at most `cap` of them in a seeded order interleaving the operators (only those are built)."""
    sites = mutations(func) if rng is None else interleaved(mutations(func), rng)
    for site in sites[:cap]:
        yield describe(site), mutate(func, site)
