"""The sandbox worker (security): a fork server that runs every program version in a process
of its own. Standard library only; started by `sandbox.Sandbox` as `python -I -S -B worker.py` in a temporary
directory with a scrubbed environment.

Protocol on stdin / stdout: a 4-byte big-endian length, then a pickled job (from the trusted parent) / a JSON
reply (the child's output is untrusted, so it never comes back as a pickle). A job: {"filename", "function",
"base_source" (the developer-fixed module, trusted), "function_line" (the target's first line in it), "inputs":
[[args, kwargs], ...], "versions": [function source, or None for the original, ...], "trace_groups": {name:
[input indices]} or None, and the `Limits` fields}. With trace groups every version is a source (the sandbox
checks it): the traced source is compiled through `tracer.instrument_calls`, so its call sites are program
points. With "base_source" None, each version is a whole module source, executed in the child.
For each version the server forks; the child sets RLIMIT_AS / RLIMIT_CPU / RLIMIT_FSIZE, moves to a fresh
temporary directory, closes the protocol pipes, installs an audit hook that blocks (and records) writes outside
that directory, reads under /proc, process creation, signals, sockets and ctypes, then executes the version's
function source (at its original line) in a copy of the module namespace, so that the program is the module with
the target replaced, and calls the function on deep copies of each input (with `count_lines`, reply "lines": the
Python lines each call executed).
Each call has its own timer (`trace_call_timeout_s` under the tracer): outcome "timeout", and after
`max_timeouts` of them the remaining inputs are "not_run". The server kills a child that outlives
`version_timeout_s` (status "timeout") and reports SIGXCPU as "cpu_limit". Outcomes are canonical JSON:
["ok", value, arguments after the call] | ["raise", type] | ["timeout"] | ["not_run"].
This is process isolation with resource limits and an audit hook, not a security boundary like a container: it
contains the mistakes a mutated program makes, not a determined attacker (ctypes is blocked, but C extensions
already imported are not audited).
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import resource
import select
import signal
import struct
import sys
import tempfile
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from invariants import invariant_map  # noqa: E402
from outcomes import canonical  # noqa: E402
from tracer import CALL_SITE, Tracer, instrument_calls, loop_headers, untraced_call  # noqa: E402

# Modules the subjects import, loaded once here so that children start warm.
for _name in ("re", "math", "struct", "binascii", "functools", "itertools", "collections", "fractions", "decimal",
              "numbers", "operator", "string", "ipaddress", "unicodedata", "locale", "datetime", "enum", "io",
              "warnings", "random", "bisect", "heapq", "textwrap", "shlex", "fnmatch", "posixpath", "colorsys",
              "calendar", "base64", "difflib", "urllib.parse", "json.decoder", "statistics", "_pydecimal"):
    try:
        __import__(_name)
    except ImportError:
        pass

BLOCKED_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                  "os.forkpty", "os.kill", "os.killpg", "socket.connect", "socket.bind", "socket.sendto",
                  "socket.sendmsg", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "os.putenv", "os.unsetenv",
                  "pty.spawn", "shutil.rmtree")
PATH_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link", "os.symlink",
               "os.truncate", "os.utime", "os.replace")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class CallTimeout(BaseException):
    """Raised in the child by the per-call timer."""


def install_audit_hook(workdir: str, violations: list) -> None:
    root = os.path.realpath(workdir) + os.sep

    def inside(path) -> bool:
        if isinstance(path, int):
            return True
        full = os.path.realpath(os.path.join(workdir, os.fsdecode(path)))
        return (full + os.sep).startswith(root)

    def hook(event, args):
        blocked = None
        if event == "open":
            path, mode, flags = args
            if isinstance(path, (str, bytes)) and os.path.realpath(os.fsdecode(path)).startswith("/proc"):
                blocked = f"read of {os.fsdecode(path)}"
            writing = (mode is not None and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & WRITE_FLAGS)
            if writing and not inside(path):
                blocked = f"write to {os.fsdecode(path)}"
        elif event.startswith(BLOCKED_EVENTS):
            blocked = event
        elif event in PATH_EVENTS and args and not inside(args[0]):
            blocked = f"{event} on {args[0]!r}"
        if blocked is not None:
            violations.append(blocked)
            raise PermissionError(f"sandbox: {blocked} is not allowed")

    sys.addaudithook(hook)


_BASES: dict[int, dict] = {}
_BASE_HEADERS: dict[int, dict] = {}


def base_namespace(job: dict) -> dict:
    """The developer-fixed module (trusted: the original standard-library source) executed once per server, in
    the parent of the forks. A version replaces the target function inside a copy of this namespace, so every
    helper that calls the target by name calls the version."""
    if job["base_source"] is None:
        return {}
    return once_per_base(_BASES, job, lambda: executed_module(job["base_source"], job["filename"]))


def base_loop_headers(job: dict) -> dict:
    """The base module's `loop_headers`, parsed once per server in the parent of the forks (every child inherits
    them); {} without a base module."""
    if not job["base_source"]:
        return {}
    return once_per_base(_BASE_HEADERS, job, lambda: loop_headers(job["base_source"]))


def once_per_base(cache: dict, job: dict, build: Callable[[], Any]) -> Any:
    """`build()` for the job's base module, kept in `cache` until a job of another base module comes."""
    key = hash((job["filename"], job["base_source"]))
    if key not in cache:
        value = build()
        cache.clear()
        cache[key] = value
    return cache[key]


def executed_module(source: str, filename: str) -> dict:
    namespace = {"__name__": "subject", "__builtins__": __builtins__}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def run_child(job: dict, source: str | None, out_fd: int) -> None:
    """Inside the fork: limits, audit hook, run every input; write the JSON reply to `out_fd`."""
    memory = job["memory_mb"] * 2 ** 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (job["cpu_s"], job["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 ** 20, 2 ** 20))
    workdir = tempfile.mkdtemp(prefix="version-")
    os.chdir(workdir)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    violations: list[str] = []
    install_audit_hook(workdir, violations)

    def on_timer(signum, frame):
        raise CallTimeout()

    signal.signal(signal.SIGALRM, on_timer)
    reply: dict = {"violations": violations}
    if job["base_source"] is None:                     # a whole untrusted module: executed here, in the child
        namespace, padded = {"__name__": "subject", "__builtins__": __builtins__}, source
    else:                                              # a copy: the base module stays as the server loaded it
        namespace = dict(base_namespace(job))
        padded = "\n" * (job["function_line"] - 1) + source if source is not None else None
    groups = job.get("trace_groups")
    try:
        if padded is not None:
            code = padded
            if groups:                                  # call-site points only when tracing
                code, namespace[CALL_SITE] = instrument_calls(padded), untraced_call
            exec(compile(code, job["filename"], "exec"), namespace)
        function = namespace[job["function"]]
    except BaseException as err:                       # a version that does not load
        reply.update(status="load_error", error=f"{type(err).__name__}: {err}"[:500])
        os.write(out_fd, json.dumps(reply).encode())
        return

    timeouts, lines = [0], []
    limit = job["trace_call_timeout_s"] if job.get("trace_groups") else job["call_timeout_s"]
    count = job.get("count_lines") and not job.get("trace_groups")
    if count:
        reply["lines"] = lines

    def call(args, kwargs):
        if timeouts[0] >= job["max_timeouts"]:          # a looping version: the rest is not run
            if count:
                lines.append(None)
            return ["not_run"]
        args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        executed = [0]
        if count:
            sys.settrace(line_counter(executed))
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            value = function(*args, **kwargs)
            canon = canonical(value, job["max_items"])       # listify generators under the timer too
            return ["ok", canon, canonical([args, kwargs], job["max_items"])]
        except CallTimeout:
            timeouts[0] += 1
            return ["timeout"]
        except BaseException as err:
            return ["raise", type(err).__name__]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if count:
                sys.settrace(None)
                lines.append(executed[0])

    if groups:
        reply["invariants"], reply["outcomes"] = {}, [None] * len(job["inputs"])
        # the base module's loops, the traced version's own over them; the same for every group
        headers = {**base_loop_headers(job), **loop_headers(padded)}
        for name, indices in groups.items():
            tracer = Tracer(job["filename"], None, headers=headers)
            namespace[CALL_SITE] = tracer.call_site
            with tracer:
                for i in indices:
                    reply["outcomes"][i] = call(*job["inputs"][i])
            reply["invariants"][name] = invariant_map(tracer.samples)
            reply.setdefault("samples", {})[name] = {p: len(s) for p, s in tracer.samples.items()}
    else:
        reply["outcomes"] = [call(*inp) for inp in job["inputs"]]
    reply["status"] = "ok"
    data = json.dumps(reply).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(out_fd, view):]


def line_counter(executed: list[int]):
    """A trace function counting the Python lines a call executes (every frame, callees included, but not the
    worker's own canonicalisation of the result) into executed[0]: a cost that does not depend on the machine or
    its load (a C function counts as the one line that calls it)."""
    own = canonical.__code__.co_filename

    def trace(frame, event, arg):
        if event == "call" and frame.f_code.co_filename == own:
            return None
        if event == "line":
            executed[0] += 1
        return trace
    return trace


def run_version(job: dict, source: str | None) -> dict:
    """Fork, run the version (the target function's source; None = the base module's own) in the child, collect
    its reply within the wall-clock limit."""
    base_namespace(job)
    if job.get("trace_groups"):
        base_loop_headers(job)
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            run_child(job, source, write_fd)
        except BaseException as err:                    # the worker's own failure, not the version's
            os.write(write_fd, json.dumps({"status": "worker_error", "error": repr(err)[:500]}).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks, deadline, timed_out = [], start + job["version_timeout_s"], False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    seconds = time.monotonic() - start
    if timed_out:
        return {"status": "timeout", "seconds": seconds}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return {"status": "cpu_limit" if sig == signal.SIGXCPU else f"killed by signal {sig}", "seconds": seconds}
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError:
        return {"status": "crashed", "seconds": seconds}
    reply["seconds"] = seconds
    return reply


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = stdin.read(4)
        if len(header) < 4:
            return
        job = pickle.loads(stdin.read(struct.unpack(">I", header)[0]))
        try:
            replies = [run_version(job, source) for source in job["versions"]]
        except Exception as err:                         # the trusted base module itself failed to load
            replies = [{"status": "base_error", "error": f"{type(err).__name__}: {err}"[:500]}] * len(job["versions"])
        data = json.dumps(replies).encode()
        stdout.write(struct.pack(">I", len(data)) + data)
        stdout.flush()


if __name__ == "__main__":
    main()
