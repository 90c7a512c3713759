"""Harvest the developer tests' inputs, run as a separate process on the ORIGINAL standard
library only (trusted code): `python -I harvest_worker.py MODULE_FILE TEST_MODULE NAME [NAME ...]`.

Runs the CPython test module under `sys.setprofile` and records deep copies of the arguments of every call to a
code object named NAME whose file is MODULE_FILE (fresh module copies the tests import are caught too). Arguments
built from None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset, Fraction, Decimal and ipaddress
objects are kept, deduplicated by repr. Writes a pickle {name: [(args, kwargs)]} to stdout.

The global `random` generator is seeded (TEST_SEED) before the test module is imported: CPython's test_bisect and
test_heapq draw their data from it unseeded, so without the seed every harvest (a fresh cache, another machine)
held other inputs, and the benchmark built from them differed (99 vs 102 plausible patches at quick).
"""

from __future__ import annotations

import copy
import decimal
import fractions
import io
import ipaddress
import os
import pickle
import random
import sys
import unittest

ALLOWED = (type(None), bool, int, float, str, bytes, fractions.Fraction, decimal.Decimal, ipaddress.IPv4Address,
           ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network)
MAX_PER_FUNCTION = 5000
TEST_SEED = 0


def allowed(value, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if type(value) in ALLOWED:
        return True
    if type(value) in (list, tuple, set, frozenset):
        return all(allowed(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(allowed(k, depth + 1) and allowed(v, depth + 1) for k, v in value.items())
    return False


def main() -> None:
    module_file, test_module, names = os.path.realpath(sys.argv[1]), sys.argv[2], set(sys.argv[3:])
    seen: dict[str, dict[str, tuple]] = {n: {} for n in names}

    def profile(frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        if code.co_name not in names or os.path.realpath(code.co_filename) != module_file:
            return
        bucket = seen[code.co_name]
        if len(bucket) >= MAX_PER_FUNCTION:
            return
        loc = frame.f_locals
        n_pos = code.co_argcount
        pos = [loc[v] for v in code.co_varnames[:n_pos] if v in loc]
        kw = {v: loc[v] for v in code.co_varnames[n_pos:n_pos + code.co_kwonlyargcount] if v in loc}
        if code.co_flags & 0x04:                                   # *args
            pos += list(loc.get(code.co_varnames[n_pos + code.co_kwonlyargcount], ()))
        try:
            if not (allowed(pos) and allowed(kw)):
                return
            args = copy.deepcopy((tuple(pos), kw))
            key = repr(args)
        except Exception:
            return
        bucket.setdefault(key, args)

    random.seed(TEST_SEED)
    suite = unittest.defaultTestLoader.loadTestsFromName(test_module)
    runner = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0)
    sys.setprofile(profile)
    try:
        runner.run(suite)
    finally:
        sys.setprofile(None)
    out = {n: list(b.values()) for n, b in seen.items()}
    sys.stdout.buffer.write(pickle.dumps(out))


if __name__ == "__main__":
    main()
