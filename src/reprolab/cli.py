"""`reprolab list | run | report | data verify`. Thin: parses arguments and calls the library."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Reproductions of ten published ML methods.")
data_app = typer.Typer(no_args_is_help=True, help="Dataset checks.")
app.add_typer(data_app, name="data")


@app.command("list")
def list_methods() -> None:
    """Every method with its paper and status."""
    from reprolab.registry import methods

    for entry in methods().values():
        status = "implemented" if entry.implemented else "planned"
        typer.echo(f"{entry.name:<18} {status:<12} {entry.paper}")


@app.command()
def run(
    method: str = typer.Argument(..., help="a method name from `reprolab list`, or `all`"),
    scale: str = typer.Option("quick", help="quick (CPU, minutes) | paper (the paper's settings, GPU)"),
    seed: int = typer.Option(0, help="base seed"),
    out: Optional[Path] = typer.Option(None, help="output folder (default runs/<method>/<UTC time>; with `all`, "
                                                  "one sub-folder per method)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    resume: bool = typer.Option(False, help="continue an interrupted run in --out from its checkpoints"),
    set_: List[str] = typer.Option([], "--set", help="config override key=value (repeatable)"),
    quiet: bool = typer.Option(False, help="no progress output"),
    executor: str = typer.Option("local", help="where independent runs of a grid execute: local (process pool) | "
                                               "ray (a Ray cluster; needs the `cluster` extra)"),
    ray_address: Optional[str] = typer.Option(None, help="address of an existing Ray cluster (default with "
                                                         "--executor ray: start a local Ray instance)"),
    gpus_per_stage: float = typer.Option(0.0, help="GPUs Ray reserves for each run of a grid (--executor ray)"),
) -> None:
    """Run a method's reproduction; prints its claims table. Failed claims are findings: exit code 0."""
    from reprolab import launch, registry

    try:
        names = launch.runnable_quick_methods() if method == "all" else [registry.get(method).name]
        results = []
        for name in names:
            target = (out / name if method == "all" else out) if out is not None else None
            results.append(launch.run_method(name, scale, seed=seed, out=target, device=device, resume=resume,
                                             overrides=tuple(set_), progress=not quiet, executor=executor,
                                             ray_address=ray_address, gpus_per_stage=gpus_per_stage))
            typer.echo(launch.summary(results[-1]))
        if len(results) > 1:
            typer.echo(launch.time_table(results))
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None          # launch printed what was kept and how to resume


@app.command()
def report(runs_dir: Path = typer.Argument(Path("runs"), help="folder holding result.json files"),
           readme_table: bool = typer.Option(False, "--readme-table",
                                             help="print the top README's results table instead"),
           method_table: bool = typer.Option(False, "--method-table",
                                             help="print each method's README results table instead"),
           write_readmes: bool = typer.Option(False, "--write-readmes",
                                              help="write both tables into README.md and each method's README "
                                                   "(between their results markers)")) -> None:
    """Render runs_dir/report.md and a self-contained runs_dir/report.html from the newest result per method."""
    from reprolab import report as reports

    try:
        if readme_table or method_table or write_readmes:
            results, skipped = reports.collect_results(runs_dir)
            for reason in skipped:
                typer.echo(f"warning: skipped {reason}", err=True)
            if write_readmes:
                root = Path(__file__).resolve().parents[2]
                for path in reports.write_readmes(results, root / "README.md", Path(__file__).parent / "methods"):
                    typer.echo(f"wrote {path}")
            elif readme_table:
                typer.echo(reports.readme_table(results))
            else:
                typer.echo("\n\n".join(reports.method_table(*found) for found in results))
            return
        written = reports.write_report(runs_dir)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for skipped in written.skipped:
        typer.echo(f"warning: skipped {skipped}", err=True)
    typer.echo(f"wrote {written.markdown} and {written.html}")


@data_app.command("verify")
def data_verify(dataset: List[str] = typer.Argument(None, help="datasets to check (default: all)")) -> None:
    """Load every split, check checksums, sizes and class histograms; exit 1 if any check fails."""
    from reprolab.data.verify import format_rows, verify_all

    try:
        rows = verify_all(dataset or None)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(format_rows(rows))
    if not all(r.ok for r in rows):
        raise typer.Exit(1)


def _mount_method_commands() -> None:
    """Each method's own commands (its registry entry's typer app) as `reprolab <method> ...`."""
    from reprolab.registry import methods

    for entry in methods().values():
        if entry.commands:
            app.add_typer(entry.load_commands(), name=entry.name)


_mount_method_commands()

if __name__ == "__main__":
    app()
