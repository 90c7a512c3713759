"""Developer-test inputs harvested from CPython's own test suite, cached per Python version.

`harvest_inputs(subjects)` runs each needed `test.test_<module>` once in a subprocess (`harvest_worker.py`, the
original standard library only, the tests' `random` seeded, a time cap), keeps up to `cap` inputs per function
(seeded sample, deduplicated by repr) and caches them under `$REPROLAB_CACHE/invalidator` (default
`~/.cache/reprolab/arrays/invalidator`). Two harvests on any machine with the same CPython give the same inputs.
When the `test` package is missing (Debian / Ubuntu ship it as `libpython3.X-testsuite`; minimal builds omit it),
or a test module fails or times out, it says so, and the subject falls back to generated inputs
(`source = "generated"`); `require_cpython_tests=True` turns that into an error.
"""

from __future__ import annotations

import importlib.util
import pickle
import platform
import random
import subprocess
import sys
import warnings
from pathlib import Path

from reprolab.data.root import cache_dir
from reprolab.methods.invalidator.sandbox import SCRUBBED_ENV
from reprolab.methods.invalidator.subjects import Input, Subject, module_path
from reprolab.runtime.io import atomic_write

WORKER = Path(__file__).with_name("harvest_worker.py")


class MissingTestSuite(RuntimeError):
    """CPython's `test` package (or one test module) is not available."""


HARVEST_FORMAT = 2      # 2: the tests' global random generator is seeded (harvest_worker.py); older caches differ


def _cache_path(module: str) -> Path:
    return cache_dir() / "invalidator" / f"harvest{HARVEST_FORMAT}-py{platform.python_version()}-{module}.pkl"


def _run_test_module(module: str, test_module: str, names: list[str], timeout_s: float) -> dict[str, list[Input]]:
    if importlib.util.find_spec("test") is None or importlib.util.find_spec(test_module) is None:
        raise MissingTestSuite(
            f"CPython's test module {test_module!r} is not installed for {sys.executable} (Python "
            f"{platform.python_version()}). Debian / Ubuntu ship it as the package "
            f"libpython{sys.version_info.major}.{sys.version_info.minor}-testsuite; minimal builds omit it.")
    cmd = [sys.executable, "-I", str(WORKER), str(module_path(module)), test_module, *names]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, env=SCRUBBED_ENV, check=False)
    except subprocess.TimeoutExpired as err:
        raise MissingTestSuite(f"harvesting {test_module} took more than {timeout_s:.0f} s") from err
    if done.returncode != 0:
        raise MissingTestSuite(f"harvesting {test_module} failed: {done.stderr.decode()[-500:]}")
    return pickle.loads(done.stdout)


def harvest_inputs(chosen: list[Subject], cap: int = 300, seed: int = 0, timeout_s: float = 300.0,
                   require_cpython_tests: bool = False, max_repr: int = 400) -> dict[str, tuple[list[Input], str]]:
    """subject name -> (harvested inputs, source: "cpython-tests" | "generated"). Inputs whose repr is longer than
    `max_repr` characters (the stress tests' big data) are left out: a developer test is a small case, and every
    program version runs every test."""
    by_module: dict[tuple[str, str], list[Subject]] = {}
    for s in chosen:
        by_module.setdefault((s.module, s.test_module), []).append(s)
    out: dict[str, tuple[list[Input], str]] = {}
    for (module, test_module), group in by_module.items():
        path = _cache_path(module)
        names = sorted({s.function for s in group})
        cached = pickle.loads(path.read_bytes()) if path.exists() else {}
        missing = [n for n in names if n not in cached]
        if missing:
            try:
                cached.update(_run_test_module(module, test_module, missing, timeout_s))
            except MissingTestSuite as err:
                if require_cpython_tests:
                    raise
                warnings.warn(f"{err}; falling back to generated inputs for {', '.join(missing)}", stacklevel=2)
                for s in group:
                    out.setdefault(s.name, ([], "generated"))
                continue
            atomic_write(path, lambda tmp: tmp.write_bytes(pickle.dumps(cached)))
        for s in group:
            inputs = [i for i in cached.get(s.function, []) if len(repr(i)) <= max_repr]
            random.Random(f"{s.name}:{seed}").shuffle(inputs)
            out.setdefault(s.name, (inputs[:cap], "cpython-tests" if inputs else "generated"))
    return out
