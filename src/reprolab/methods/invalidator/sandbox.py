"""Running untrusted program versions: the parent side of the fork-server worker.

`Sandbox` starts `python -I -S -B worker.py` in a fresh temporary directory with a scrubbed environment (a minimal
PATH, PYTHONHASHSEED=0, LC_ALL=C.UTF-8: nothing else of the caller's environment, so no secrets), and sends it jobs.
Every version runs in a forked process of its own with CPU and memory limits, a per-call timer, a wall-clock kill
and a fresh working directory (details in worker.py). A timeout, a limit or a blocked operation is reported as
such in the reply (`status`, outcome "timeout", `violations`), never turned into invariants.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

WORKER = Path(__file__).with_name("worker.py")
# the whole environment of every subprocess: nothing of the caller's (no secrets), a fixed hash seed
SCRUBBED_ENV = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"}


@dataclasses.dataclass(frozen=True)
class Limits:
    """The limits every program version runs under in the sandbox: per-call and per-version timeouts (traced and
    untraced), calls timed out before a version is stopped, and memory."""
    call_timeout_s: float = 0.1       # one call; the subjects' calls take microseconds to a millisecond, and
                                      # tracing slows them several-fold: 0.1 s is far above D's time
    trace_call_timeout_s: float = 5.0  # one call under the tracer (D is traced too: its invariants must not be lost)
    max_timeouts: int = 1             # calls timed out before the rest of a version's inputs are skipped
    version_timeout_s: float = 30.0   # the whole job of one version, then the child is killed
    memory_mb: int = 1024             # RLIMIT_AS
    cpu_s: int = 60                   # RLIMIT_CPU
    max_items: int = 20_000           # generators are listified up to this many items


class SandboxError(RuntimeError):
    """The worker itself failed (not a version: a version's failure is in its reply)."""


class Sandbox:
    """A fork-server worker in a scrubbed environment that runs program versions on inputs, each in its own forked
    process under `Limits`, and returns outcomes (and traces when asked); see the module docstring."""
    def __init__(self, limits: Limits = Limits()):
        self.limits = limits
        self._dir = tempfile.mkdtemp(prefix="reprolab-sandbox-")
        self._proc = subprocess.Popen([sys.executable, "-I", "-S", "-B", str(WORKER)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, cwd=self._dir, env=SCRUBBED_ENV)
        self._lock = threading.Lock()

    def run(self, filename: str, function: str, base_source: str, function_line: int, versions: list,
            inputs: list, trace_groups=None, count_lines: bool = False) -> list[dict]:
        """One reply per version: {"status", "outcomes", ["invariants"], "violations", "seconds"}.
        `base_source`: the developer-fixed module (trusted); `versions`: sources of the target function, placed at
        `function_line` of the module (None: the module's own function). `inputs`: [(args tuple, kwargs dict)];
        `trace_groups`: {name: [input indices]} to trace and infer invariants per group (every version then a
        source, compiled with its call sites instrumented). `count_lines` (without trace groups): the reply's
        "lines" hold the Python lines each call executed (None: not run)."""
        if trace_groups and None in versions:
            raise ValueError("a traced version must be given as source (None, the module's own function, would "
                             "have no call-site points)")
        job = {"filename": filename, "function": function, "base_source": base_source,
               "function_line": function_line, "inputs": [[tuple(a), dict(k)] for a, k in inputs],
               "versions": list(versions), "trace_groups": trace_groups, "count_lines": count_lines,
               **dataclasses.asdict(self.limits)}
        payload = pickle.dumps(job)
        with self._lock:
            try:
                self._proc.stdin.write(struct.pack(">I", len(payload)) + payload)
                self._proc.stdin.flush()
                header = self._proc.stdout.read(4)
                if len(header) < 4:
                    raise SandboxError(f"the sandbox worker exited (code {self._proc.poll()})")
                return json.loads(self._proc.stdout.read(struct.unpack(">I", header)[0]))
            except BrokenPipeError as err:
                raise SandboxError(f"the sandbox worker exited (code {self._proc.poll()})") from err

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
