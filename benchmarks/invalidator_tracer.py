"""INVALIDATOR's Daikon-style tracer against a plain `sys.settrace` collector, per executed line of subject code.

The tracer filters at the call event (only the subject file's functions get a local tracer) and snapshots
variables only at program points (entry, exit, loop headers). The plain collector is the straightforward way:
one trace function for every frame of every file, a snapshot of all locals at every event, and the program points
picked out of the event log afterwards. Workload: the quick subjects' target functions on 200 generated inputs
each. Speed: seconds per executed subject line, collector / tracer. Equality: both give the same samples at
every program point.
Third, the cost of the call-site points: the tracer on the modules compiled with every call site instrumented
(`instrument_calls`, as the sandbox traces a version), against the tracer on the plain modules; equality: the same
samples at every entry, exit and loop-header point, and the call-site points on top."""

import copy
import sys
import time
from collections import defaultdict

from reprolab.methods.invalidator.subjects import Program, generated_inputs, subjects
from reprolab.methods.invalidator.tracer import (CALL_SITE, CO_GENERATOR_LIKE, Tracer, instrument_calls, loop_headers,
                                                 snapshot, untraced_call, variables)

INPUTS = 200


class PlainCollector:
    """Every event of every frame, with a snapshot of all its locals; program points derived afterwards."""

    def __init__(self, filename: str, source: str, max_samples: int = 400):
        self.filename, self.headers, self.max_samples = filename, loop_headers(source), max_samples
        self.events: list[tuple] = []

    def _trace(self, frame, event, arg):
        code = frame.f_code
        self.events.append((event, id(frame), code, frame.f_lineno, snapshot(code.co_varnames, frame.f_locals),
                            variables("return", arg) if event == "return" else None))
        return self._trace

    def __enter__(self):
        sys.settrace(self._trace)
        return self

    def __exit__(self, *exc):
        sys.settrace(None)

    def lines(self) -> int:
        return sum(e[0] == "line" and e[2].co_filename == self.filename for e in self.events)

    def samples(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = defaultdict(list)
        entries: dict[int, dict] = {}
        raising: set[int] = set()

        def record(point, sample):
            if len(out[point]) < self.max_samples:
                out[point].append(sample)

        for event, key, code, line, local, returned in self.events:
            if (code.co_filename != self.filename or code.co_flags & CO_GENERATOR_LIKE
                    or code.co_name.startswith("<")):
                continue
            n = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
            params = code.co_varnames[:n]
            if event == "call":
                entries[key] = {k: v for k, v in local.items() if k.split("(")[-1].rstrip(")") in params}
                record(f"{code.co_name}:::ENTER", dict(entries[key]))
            elif event == "line":
                raising.discard(key)
                k = self.headers.get((code.co_name, code.co_firstlineno), {}).get(line)
                if k is not None:
                    record(f"{code.co_name}:::LOOP{k}", local)
            elif event == "exception":
                raising.add(key)
            elif event == "return":
                entry = entries.pop(key, None)
                if key in raising:
                    raising.discard(key)
                elif entry is not None:
                    sample = {k: v for k, v in local.items() if k.split("(")[-1].rstrip(")") in params}
                    sample.update({f"orig({k})": v for k, v in entry.items()})
                    sample.update(returned)
                    record(f"{code.co_name}:::EXIT", sample)
        return dict(out)


def run_all(collector, subject, program, inputs, instrumented: bool = False) -> float:
    """Seconds to call the subject's function on fresh copies of the inputs in a freshly executed module (some
    subjects mutate their arguments, some fill module caches on the first call); `instrumented`: the module compiled
    with its call sites routed to the collector (a Tracer)."""
    namespace = {"__name__": "subject", CALL_SITE: untraced_call}
    code = instrument_calls(program.text) if instrumented else program.text
    exec(compile(code, subject.filename, "exec"), namespace)
    if instrumented:
        namespace[CALL_SITE] = collector.call_site
    function, inputs = namespace[subject.function], copy.deepcopy(inputs)
    start = time.perf_counter()
    with collector:
        for args, kwargs in inputs:
            try:
                function(*args, **kwargs)
            except Exception:
                pass
    return time.perf_counter() - start


def main() -> None:
    tracer_s = plain_s = calls_s = 0.0
    lines, same, same_calls, call_points = 0, True, True, 0
    for subject in subjects(quick_only=True):
        program = Program.load(subject)
        inputs = generated_inputs(subject, INPUTS, 0)
        tracer = Tracer(subject.filename, program.text)
        plain = PlainCollector(subject.filename, program.text)
        calls = Tracer(subject.filename, program.text)
        tracer_s += run_all(tracer, subject, program, inputs)
        plain_s += run_all(plain, subject, program, inputs)
        calls_s += run_all(calls, subject, program, inputs, instrumented=True)
        lines += plain.lines()
        same &= dict(tracer.samples) == plain.samples()
        same_calls &= {p: rows for p, rows in calls.samples.items() if ":::CALL " not in p} == dict(tracer.samples)
        call_points += sum(":::CALL " in p for p in calls.samples)
    print(f"{lines} executed subject lines: tracer {1e6 * tracer_s / lines:.2f} us/line, plain settrace collector "
          f"{1e6 * plain_s / lines:.2f} us/line, speed-up {plain_s / tracer_s:.1f}x; samples "
          f"{'identical' if same else 'DIFFERENT'}")
    print(f"call sites instrumented ({call_points} call-site points): {1e6 * calls_s / lines:.2f} us/line, "
          f"{calls_s / tracer_s:.2f}x the tracer's time; entry, exit and loop samples "
          f"{'identical' if same_calls else 'DIFFERENT'}")
