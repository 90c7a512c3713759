"""Running a method's experiment: config + overrides, output folder, seeding, device, timing, result.json."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import torch

from reprolab import registry
from reprolab.runtime.claims import claims_table, verdict_counts
from reprolab.runtime.config import (SCALES, apply_overrides, config_to_dict, cpu_threads, resolve_device,
                                     seed_everything, validate_config)
from reprolab.runtime.executors import check_executor
from reprolab.runtime.fast import FastPath, check_fast_path, fast_settings
from reprolab.runtime.io import json_safe, read_json, write_json
from reprolab.runtime.memory import keep_freed_memory
from reprolab.runtime.progress import line_interval, set_progress
from reprolab.runtime.results import RunContext, RunResult, utc_now


def default_out_dir(method: str, resume: bool, runs: Path = Path("runs")) -> Path:
    """runs/<method>/<UTC timestamp>; with resume, the newest existing one."""
    if resume:
        previous = sorted(p for p in (runs / method).glob("*") if p.is_dir())
        if previous:
            return previous[-1]
    return runs / method / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def check_resumable(out_dir: Path, identity: dict, resume: bool) -> None:
    """Record what a run is (method, scale, seed, config) in out_dir/run.json; resuming under anything else is an
    error, since its checkpoints and finished stages belong to another run."""
    path = Path(out_dir) / "run.json"
    if resume and path.exists():
        previous = read_json(path)
        if previous != json_safe(identity):
            old, new = previous.get("config", {}), json_safe(identity["config"])
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            others = [k for k in ("method", "scale", "seed") if previous.get(k) != identity[k]]
            raise ValueError(f"cannot resume {out_dir}: it holds a run with different {others + changed}; "
                             "use another --out or drop --resume")
    write_json(path, identity)


def run_device(module: Any, config: Any, device: str) -> torch.device:
    """The device a method's run uses and records: `device` resolved against the method's `DEVICES` (default
    CPU and CUDA), then the method's own `run_device(config, device)` where a config uses no GPU."""
    torch_device = resolve_device(device, getattr(module, "DEVICES", ("cpu", "cuda")))
    if torch_device.type != "cpu" and hasattr(module, "run_device"):
        torch_device = module.run_device(config, torch_device)
    return torch_device


def run_method(name: str, scale: str = "quick", *, seed: int = 0, out: Path | None = None, device: str = "auto",
               resume: bool = False, overrides: tuple[str, ...] = (), progress: bool = True, executor: str = "local",
               ray_address: str | None = None, gpus_per_stage: float = 0.0) -> RunResult:
    """Run a method's experiment. Its independent stages (grid cells) run on `executor`: "local" (a process
    pool on this machine) or "ray" (a Ray cluster at `ray_address`, else a local Ray instance); the numbers are
    the same either way."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    module = registry.get(name).load()
    config = apply_overrides(module.CONFIGS[scale], list(overrides))
    validate_config(config)                  # every nested field's options and bounds, before any folder exists
    out_dir = Path(out) if out is not None else default_out_dir(name, resume)
    torch_device = run_device(module, config, device)
    if isinstance(config, FastPath):         # the fast path's combinations and the executor's settings, also
        check_fast_path(fast_settings(config), torch_device)   # before the folder exists
    check_executor(executor, ray_address, gpus_per_stage)
    keep_freed_memory()                      # the same numbers with fewer page faults (runtime/memory.py)
    if torch_device.type == "cpu":
        torch.set_num_threads(cpu_threads())
    else:
        torch.set_float32_matmul_precision("high")  # TF32 matrix products on CUDA; recorded in result.versions
    seed_everything(seed)
    set_progress(progress)                   # for this process and the workers it starts
    line_interval()                          # a bad REPROLAB_PROGRESS_EVERY is refused before any work
    check_resumable(out_dir, {"method": name, "scale": scale, "seed": seed, "config": config_to_dict(config)}, resume)
    ctx = RunContext(out_dir=out_dir, scale=scale, device=str(torch_device), seed=seed, resume=resume,
                     progress=progress, executor=executor, ray_address=ray_address, gpus_per_stage=gpus_per_stage)
    ctx.log(f"{name} --scale {scale} on {torch_device}, seed {seed}, writing {out_dir}")
    started_at, start = utc_now(), time.perf_counter()
    try:
        result = module.run(config, ctx)
    except KeyboardInterrupt:
        kept = len(list((out_dir / "stages").glob("*.json")))
        ctx.log(f"interrupted: {kept} finished stages are kept in {out_dir / 'stages'}; continue with "
                f"`reprolab run {name} --scale {scale} --out {out_dir} --resume` (same --seed and --set options)")
        raise
    result.started_at = started_at
    result.versions["executor"] = ctx.executor_for(getattr(config, "workers", 1)).describe()
    result.device = str(torch_device)        # the runtime, never the experiment, records the device
    if torch_device.type == "cuda":
        result.device = f"cuda ({torch.cuda.get_device_name(torch_device)})"
        result.versions["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    result.timings = {**ctx.timings, **result.timings, "total_s": time.perf_counter() - start}
    result.finished_at = utc_now()
    if int(os.environ.get("RANK", "0")) == 0:
        result.save(out_dir)
        ctx.log(f"wrote {out_dir / 'result.json'}")
    return result


def summary(result: RunResult) -> str:
    return (f"{result.method} ({result.scale}, {result.wall_s:.0f} s): "
            f"{result.claims_summary}\n{claims_table(result.claims)}")


def time_table(results: list[RunResult]) -> str:
    """One line per run (reproductions by verdict, checks held / total, wall time) and the totals: printed after
    `run all`."""
    head = f"{'method':<18} {'hold':>5} {'fail':>5} {'inconcl.':>9} {'no signal':>10} {'checks':>7} {'wall time':>10}"
    lines = [head] + [_count_line(r.method, r.claim_counts, r.wall_s) for r in results]
    lines.append(_count_line("total", verdict_counts([c for r in results for c in r.claims]),
                             sum(r.wall_s for r in results)))
    return "\n".join(lines)


def _count_line(label: str, counts: dict, seconds: float) -> str:
    verdicts, checks = counts["reproductions"], f"{counts['checks_held']}/{counts['checks']}"
    return (f"{label:<18} {verdicts['holds']:>5} {verdicts['fails']:>5} {verdicts['inconclusive']:>9} "
            f"{verdicts['no_signal']:>10} {checks:>7} {seconds:>8.0f} s")


def runnable_quick_methods() -> list[str]:
    """Implemented methods whose quick run needs no data beyond ../shared/data and installed packages."""
    return [n for n in registry.implemented_names() if not getattr(registry.get(n).load(), "NEEDS_EXTRA_DATA", False)]


__all__ = ["run_method", "summary", "time_table", "runnable_quick_methods", "default_out_dir"]
