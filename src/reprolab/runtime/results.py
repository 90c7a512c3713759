"""The result record `result.json` (schema in DESIGN.md) and the run context every experiment receives."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from reprolab import __version__
from reprolab.runtime.claims import Claim, counts_text, verdict_counts
from reprolab.runtime.config import config_to_dict, cpu_threads
from reprolab.runtime.executors import Executor, timed
from reprolab.runtime.grid import GridResults, checkpoint_file, grid_results, grid_stages
from reprolab.runtime.io import read_json, write_json

REQUIRED_KEYS = ("method", "scale", "seeds", "device", "config", "metrics", "claims", "timings", "versions",
                 "started_at", "finished_at", "artifacts")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name with its family and model numbers (Linux: `cpuinfo`, e.g. "AMD EPYC (family 26, model
    2)": hosts that report one name can be CPU generations of different speed), else what `platform` knows."""
    try:
        first_processor = cpuinfo.read_text().split("\n\n")[0]
    except OSError:
        first_processor = ""
    fields = {key.strip(): value.strip()
              for key, value in (line.split(":", 1) for line in first_processor.splitlines() if ":" in line)}
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        return f"{fields['model name']} (family {fields['cpu family']}, model {fields['model']})"
    return fields["model name"]


def versions() -> dict[str, str]:
    import numpy
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "reprolab": __version__, "platform": platform.platform(), "cpu": cpu_model(),
            "cpu_kernels": torch.backends.cpu.get_cpu_capability()}


@dataclasses.dataclass
class RunResult:
    method: str
    scale: str
    seeds: list[int]
    config: dict[str, Any]
    device: str = ""              # written by the runtime (launch.run_method): the device the run used
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    claims: list[Claim] = dataclasses.field(default_factory=list)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    versions: dict[str, str] = dataclasses.field(default_factory=versions)
    started_at: str = dataclasses.field(default_factory=utc_now)
    finished_at: str = ""
    artifacts: list[str] = dataclasses.field(default_factory=list)

    @property
    def claim_counts(self) -> dict[str, Any]:
        """Reproductions by verdict and checks held / total (`runtime.claims.verdict_counts`)."""
        return verdict_counts(self.claims)

    @property
    def claims_summary(self) -> str:
        """E.g. "reproductions: 2 hold, 1 fail, 3 inconclusive, 0 no signal; checks 4/5"."""
        return counts_text(self.claims)

    @property
    def wall_s(self) -> float:
        """The run's wall time in seconds (0 before the runtime has recorded it)."""
        return self.timings.get("total_s", 0.0)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["claims"] = [c.to_dict() for c in self.claims]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise ValueError(f"result record lacks keys {missing}")
        fields = {k: data[k] for k in REQUIRED_KEYS}
        fields["claims"] = [Claim.from_dict(c) for c in data["claims"]]
        return cls(**fields)

    def save(self, out_dir: str | Path) -> Path:
        return write_json(Path(out_dir) / "result.json", self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "RunResult":
        path = Path(path)
        if path.is_dir():
            path = path / "result.json"
        return cls.from_dict(read_json(path))


@dataclasses.dataclass
class RunContext:
    """Where a run writes, on which device, with which seed, and whether it resumes finished work.

    `stage(name, fn)` runs `fn()` once and keeps its JSON-ready result in `out_dir/stages/name.json`; with
    `resume=True` a finished stage is read back instead of recomputed, so an interrupted run loses nothing
    it had finished. Long stages also checkpoint inside (see `runtime.train.run_loop`).
    """

    out_dir: Path
    scale: str = "quick"
    device: str = "cpu"
    seed: int = 0
    resume: bool = False
    progress: bool = True
    executor: str = "local"             # runtime.executors: "local" or "ray"
    ray_address: str | None = None
    gpus_per_stage: float = 0.0
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.executor_for(1)                # validates the executor settings before any work
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def executor_for(self, workers: int) -> Executor:
        return Executor(self.executor, workers, self.ray_address, self.gpus_per_stage, cpu_threads(),
                        str(self.out_dir) if self.executor == "ray" else None)

    def _stage_path(self, name: str) -> Path:
        return self.out_dir / "stages" / f"{name}.json"

    def _finished_stage(self, name: str) -> tuple[bool, Any]:
        path = self._stage_path(name)
        if not (self.resume and path.exists()):
            return False, None
        record = read_json(path)
        self.timings[name] = record["seconds"]
        self.log(f"{name}: finished earlier, read from {path}")
        return True, record["value"]

    def _save_stage(self, name: str, value: Any, seconds: float) -> Any:
        """Keep the value and return it as a resumed run would read it back (JSON types, NaN as "nan"), so a
        fresh and a resumed run compute their claims from the same data."""
        path = write_json(self._stage_path(name), {"value": value, "seconds": seconds})
        self.timings[name] = seconds
        self.log(f"{name}: done in {seconds:.1f} s")
        return read_json(path)["value"]

    def stage(self, name: str, fn: Callable[[], Any]) -> Any:
        done, value = self._finished_stage(name)
        if done:
            return value
        self.log(f"{name}: started")
        return self._save_stage(name, *timed(fn))

    def stages(self, jobs: dict[str, tuple[Callable[..., Any], tuple]], workers: int = 1) -> dict[str, Any]:
        """Independent stages `name -> (fn, args)`, each run once and kept like `stage`; the pending ones run on
        this context's executor (`runtime.executors`: locally in `workers` processes, or on Ray), so fn and args
        must be picklable when workers > 1 or on Ray."""
        results, pending = {}, {}
        for name, (fn, args) in jobs.items():
            done, value = self._finished_stage(name)
            if done:
                results[name] = value
            else:
                pending[name] = (fn, args)
        if pending:
            executor = self.executor_for(workers)
            self.log(f"{len(pending)} stages on {executor.describe()} ({len(jobs) - len(pending)} finished earlier)")
            for name, value, seconds in executor.run(pending):
                results[name] = self._save_stage(name, value, seconds)
        return {name: results[name] for name in jobs}

    def grid(self, prefix: str, cells: list[dict[str, Any]], fn: Callable[..., Any], *args: Any,
             workers: int = 1) -> GridResults:
        """Run `fn(cell, *args)` for every cell (see `runtime.grid`) as stages named `cell_name(prefix, cell)`:
        finished cells are read back under `--resume`, pending ones run in `workers` processes."""
        return grid_results(prefix, cells, self.stages(grid_stages(prefix, cells, fn, *args), workers=workers))

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Record the seconds the `with` block takes as timing `name` (e.g. "plots")."""
        start = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - start

    def result(self, method: str, config: Any, seeds: list[int], metrics: dict[str, Any], claims: list[Claim],
               artifacts: list[str]) -> RunResult:
        """The run's record at this context's scale, with the config as `config_to_dict` writes it; the runtime
        (`launch.run_method`) adds the device, the timings and the finishing time."""
        return RunResult(method=method, scale=self.scale, seeds=list(seeds), config=config_to_dict(config),
                         metrics=metrics, claims=claims, artifacts=artifacts)

    def checkpoint_path(self, name: str) -> Path:
        return checkpoint_file(self.out_dir, name)

    def log(self, message: str) -> None:
        if self.progress:
            print(f"[{dt.datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
