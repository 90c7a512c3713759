"""Likely invariants from program-point samples (Daikon-style templates).

A variable missing from a sample is "nonsensical" there: an invariant is evaluated on the samples that have all
its variables and is kept when at least `MIN_SAMPLES` (3) such samples exist and none falsifies it.
Templates (canonical strings, so that equal invariants compare equal as strings; they replace Daikon's Z3 check):
- scalar x: `x == c`; else `x one of {a, b[, c]}` (<= 3 distinct values and samples >= 2x distinct values); and,
  when x is not constant, the strongest of `x > 0`, `x >= 0`, `x < 0`, `x <= 0`, `x != 0`;
- scalar pairs (x, y not both constant; names in sorted order): `x == y`, else the first of `x < y`, `x <= y`,
  `x > y`, `x >= y`, `x != y` that holds; and `y == k*x + c` (k in {1, -1, 2, -2}, c != 0, >= 3 distinct x);
- a sequence s (>= 2 samples of length >= 2): `s sorted`, `s no duplicates`, `s elements >= 0`;
- sequence pairs: `s == t`, else `s permutation of t`; `s subset of t`; a scalar in a sequence: `x in s`;
- a string (str or bytes) x: `x == c`, else `x one of {a, b[, c]}` (as scalars);
- string pairs of one type (not both constant): `x == y`, else `x prefix of y`, `x suffix of y`, else
  `x substring of y` (each way; the contained side is not always empty).
Constants are written with `repr`. Standard library only (runs inside the sandbox worker).
"""

from __future__ import annotations

import itertools

MIN_SAMPLES = 3
LINEAR_K = (1, -1, 2, -2)


def _is_seq(v) -> bool:
    return isinstance(v, tuple)


def _is_text(v) -> bool:
    return isinstance(v, (str, bytes))


def _columns(samples: list[dict]) -> tuple[dict[str, list[int]], dict[str, list]]:
    """variable -> indices of the samples that have it, and -> its values there."""
    idx: dict[str, list[int]] = {}
    vals: dict[str, list] = {}
    for i, s in enumerate(samples):
        for k, v in s.items():
            idx.setdefault(k, []).append(i)
            vals.setdefault(k, []).append(v)
    return idx, vals


def constant_or_one_of(x: str, values: list) -> list[str]:
    """`x == c`, else `x one of {a, b[, c]}` (<= 3 distinct values, samples >= 2x distinct values)."""
    distinct = sorted(set(values))
    if len(distinct) == 1:
        return [f"{x} == {distinct[0]!r}"]
    if len(distinct) <= 3 and len(values) >= 2 * len(distinct):
        return [f"{x} one of {{{', '.join(repr(v) for v in distinct)}}}"]
    return []


def scalar_invariants(x: str, values: list) -> list[str]:
    if len(values) < MIN_SAMPLES:
        return []
    distinct = sorted(set(values))
    out = constant_or_one_of(x, values)
    if len(distinct) == 1:
        return out
    lo, hi = distinct[0], distinct[-1]
    if lo > 0:
        out.append(f"{x} > 0")
    elif lo >= 0:
        out.append(f"{x} >= 0")
    elif hi < 0:
        out.append(f"{x} < 0")
    elif hi <= 0:
        out.append(f"{x} <= 0")
    elif 0 not in distinct:
        out.append(f"{x} != 0")
    return out


def pair_invariants(x: str, y: str, xs: list, ys: list) -> list[str]:
    """x, y in sorted name order; xs[i], ys[i] from the same sample."""
    if len(xs) < MIN_SAMPLES or (len(set(xs)) == 1 and len(set(ys)) == 1):
        return []
    out = []
    for op, holds in (("==", lambda a, b: a == b), ("<", lambda a, b: a < b), ("<=", lambda a, b: a <= b),
                      (">", lambda a, b: a > b), (">=", lambda a, b: a >= b), ("!=", lambda a, b: a != b)):
        if all(holds(a, b) for a, b in zip(xs, ys)):
            out.append(f"{x} {op} {y}")
            break
    if len(set(xs)) >= MIN_SAMPLES or len(set(ys)) >= MIN_SAMPLES:
        for (u, us), (v, vs) in (((y, ys), (x, xs)), ((x, xs), (y, ys))):   # u == k*v + c
            if len(set(vs)) < MIN_SAMPLES:
                continue
            for k in LINEAR_K:
                c = us[0] - k * vs[0]
                if c != 0 and all(a == k * b + c for a, b in zip(us, vs)):
                    out.append(f"{u} == {k}*{v} + {c!r}")
    return out


def string_invariants(x: str, values: list) -> list[str]:
    """Equality to a constant, else one of <= 3 values."""
    return constant_or_one_of(x, values) if len(values) >= MIN_SAMPLES else []


def string_pair_invariants(x: str, y: str, xs: list, ys: list) -> list[str]:
    """x, y in sorted name order, values of one type (str or bytes)."""
    if len(xs) < MIN_SAMPLES or (len(set(xs)) == 1 and len(set(ys)) == 1):
        return []
    if all(a == b for a, b in zip(xs, ys)):
        return [f"{x} == {y}"]
    out = []
    for (u, us), (v, vs) in (((x, xs), (y, ys)), ((y, ys), (x, xs))):
        if not any(us):                                  # an always-empty string is in everything
            continue
        found = [rel for rel, holds in (("prefix of", lambda a, b: b.startswith(a)),
                                        ("suffix of", lambda a, b: b.endswith(a)))
                 if all(holds(a, b) for a, b in zip(us, vs))]
        if not found and all(a in b for a, b in zip(us, vs)):
            found = ["substring of"]
        out += [f"{u} {rel} {v}" for rel in found]
    return out


def sequence_invariants(s: str, values: list) -> list[str]:
    if sum(len(v) >= 2 for v in values) < 2 or len(values) < MIN_SAMPLES:
        return []
    out = []
    if all(all(a <= b for a, b in zip(v, v[1:])) for v in values):
        out.append(f"{s} sorted")
    if all(len(set(v)) == len(v) for v in values):
        out.append(f"{s} no duplicates")
    if all(all(e >= 0 for e in v) for v in values):
        out.append(f"{s} elements >= 0")
    return out


def sequence_pair_invariants(s: str, t: str, ss: list, ts: list) -> list[str]:
    if len(ss) < MIN_SAMPLES:
        return []
    if all(a == b for a, b in zip(ss, ts)):
        return [f"{s} == {t}"]
    out = []
    if all(sorted(a) == sorted(b) for a, b in zip(ss, ts)):
        out.append(f"{s} permutation of {t}")
    for (u, us), (v, vs) in (((s, ss), (t, ts)), ((t, ts), (s, ss))):
        if all(set(a) <= set(b) for a, b in zip(us, vs)) and any(len(a) for a in us):
            out.append(f"{u} subset of {v}")
    return out


def member_invariants(x: str, s: str, xs: list, ss: list) -> list[str]:
    if len(xs) >= MIN_SAMPLES and len(set(xs)) > 1 and all(a in b for a, b in zip(xs, ss)):
        return [f"{x} in {s}"]
    return []


def _shared(idx: dict, vals: dict, a: str, b: str) -> tuple[list, list]:
    pos_a = dict(zip(idx[a], vals[a]))
    pos_b = dict(zip(idx[b], vals[b]))
    common = sorted(pos_a.keys() & pos_b.keys())
    return [pos_a[i] for i in common], [pos_b[i] for i in common]


def infer(samples: list[dict]) -> list[str]:
    """The sorted invariant strings of one program point."""
    idx, vals = _columns(samples)
    names = sorted(vals)
    scalars = [n for n in names if not any(_is_seq(v) or _is_text(v) for v in vals[n])]
    seqs = [n for n in names if all(_is_seq(v) for v in vals[n])]
    texts = {kind: [n for n in names if all(isinstance(v, kind) for v in vals[n])] for kind in (str, bytes)}
    out: list[str] = []
    for x in scalars:
        out += scalar_invariants(x, vals[x])
    for x, y in itertools.combinations(scalars, 2):
        out += pair_invariants(x, y, *_shared(idx, vals, x, y))
    for s in seqs:
        out += sequence_invariants(s, vals[s])
    for s, t in itertools.combinations(seqs, 2):
        out += sequence_pair_invariants(s, t, *_shared(idx, vals, s, t))
    for x in scalars:
        for s in seqs:
            out += member_invariants(x, s, *_shared(idx, vals, x, s))
    for group in texts.values():
        for x in group:
            out += string_invariants(x, vals[x])
        for x, y in itertools.combinations(group, 2):
            out += string_pair_invariants(x, y, *_shared(idx, vals, x, y))
    return sorted(set(out))


def invariant_map(samples: dict[str, list[dict]]) -> dict[str, list[str]]:
    """program point -> sorted invariants, for every point with samples."""
    return {point: infer(rows) for point, rows in sorted(samples.items()) if rows}
