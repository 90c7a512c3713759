"""INVALIDATOR's sandbox: versions of bisect.bisect_left judged per second by the fork server (one forked child per
version, the module executed once in the server) against a fresh `python -I` interpreter per version running the
whole module (the simple way to give every version its own process).

Speed: the fresh-interpreter time / the fork-server time per version. Quality: both give the same outcomes.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reprolab.methods.invalidator.mutation import mutants
from reprolab.methods.invalidator.sandbox import Sandbox
from reprolab.methods.invalidator.subjects import Program, generated_inputs, subjects

RUNNER = '''
import json, sys
sys.path.insert(0, sys.argv[2])
from outcomes import canonical
ns = {"__name__": "subject"}
exec(compile(open(sys.argv[1]).read(), "<subject:bisect>", "exec"), ns)
out = []
for args, kwargs in json.loads(sys.stdin.read()):
    try:
        out.append(["ok", canonical(ns["bisect_left"](*args, **kwargs), 20000)])
    except Exception as err:
        out.append(["raise", type(err).__name__])
print(json.dumps(out))
'''


def main(n_versions: int = 40) -> None:
    import ast
    import random

    subject = subjects(("bisect.bisect_left",))[0]
    program = Program.load(subject)
    inputs = [(list(a), k) for a, k in generated_inputs(subject, 5, 0)]
    funcs = [f for _, f in mutants(program.function, random.Random(0), 3 * n_versions)]
    with Sandbox() as box:
        def judge(versions):
            return box.run(subject.filename, subject.function, program.text, program.function_line,
                           [ast.unparse(f) for f in versions], inputs)

        first = judge(funcs)                       # keep the versions that load and never time out
        funcs = [f for f, r in zip(funcs, first) if r["status"] == "ok" and
                 all(o[0] in ("ok", "raise") for o in r["outcomes"])][:n_versions]
        start = time.perf_counter()
        fork = judge(funcs)
        fork_s = (time.perf_counter() - start) / len(funcs)
    package = Path(__file__).resolve().parents[1] / "src" / "reprolab" / "methods" / "invalidator"
    fresh = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "runner.py"
        script.write_text(RUNNER)
        for func in funcs:
            lines = list(program.lines)
            lines[program.start:program.end] = [ast.unparse(func) + "\n"]
            module = Path(tmp) / "version.py"
            module.write_text("".join(lines))
            done = subprocess.run([sys.executable, "-I", str(script), str(module), str(package)],
                                  input=json.dumps(inputs), capture_output=True, text=True, timeout=60, check=True)
            fresh.append(json.loads(done.stdout))
    fresh_s = (time.perf_counter() - start) / len(funcs)
    same = all([o[:2] for o in r["outcomes"]] == f for r, f in zip(fork, fresh))
    print(f"{len(funcs)} versions x {len(inputs)} inputs: fork server {fork_s * 1e3:.1f} ms / version, fresh "
          f"interpreter {fresh_s * 1e3:.1f} ms / version, speed-up {fresh_s / fork_s:.1f}x; same outcomes: {same}")
