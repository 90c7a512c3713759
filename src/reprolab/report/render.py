"""Render result.json files into report.md and a self-contained report.html (plots embedded as base64).

Both open with an overview (method, scale, device, reproductions by verdict, checks held / total, wall time, a link
to the method's section); each section lists the claims with their kind, their statement in words, the verdict,
the observed numbers as a small nested table (HTML) or one line per record (Markdown), and the expectation, then the
plots. `readme_table` renders the same overview as the Markdown table of the top README.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from pathlib import Path
from typing import Any

import numpy as np

from reprolab.runtime.claims import Claim, format_observed, observed_lines
from reprolab.runtime.io import atomic_write
from reprolab.runtime.results import RunResult


@dataclasses.dataclass(frozen=True)
class Report:
    markdown: Path
    html: Path
    skipped: list[str]          # "path: why" for every result.json that could not be read


def collect_results(runs_dir: Path) -> tuple[list[tuple[Path, RunResult]], list[str]]:
    """The newest result (by finished_at) of each method found under runs_dir, and the files skipped as unreadable
    ("path: why")."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs folder {runs_dir} does not exist")
    newest: dict[str, tuple[Path, RunResult]] = {}
    skipped = []
    for path in sorted(runs_dir.rglob("result.json")):
        try:
            result = RunResult.load(path)
        except (ValueError, KeyError, TypeError, OSError) as exc:   # json.JSONDecodeError is a ValueError
            reason = str(exc) if str(exc).startswith(str(path)) else f"{path}: {type(exc).__name__}: {exc}"
            skipped.append(reason)
            continue
        if result.method not in newest or result.finished_at > newest[result.method][1].finished_at:
            newest[result.method] = (path.parent, result)
    if not newest:
        raise FileNotFoundError(f"no readable result.json under {runs_dir}; run `reprolab run METHOD --out "
                                f"{runs_dir}` first" + "".join(f"\n  skipped {s}" for s in skipped))
    return [newest[m] for m in sorted(newest)], skipped


def _wall(result: RunResult) -> str:
    seconds = result.wall_s
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _header(result: RunResult) -> str:
    return (f"scale {result.scale}, device {result.device}, seeds {result.seeds}, {_wall(result)}, "
            f"{result.claims_summary}, finished {result.finished_at}")


def _reproductions(result: RunResult) -> str:
    r = result.claim_counts["reproductions"]
    return f"{r['holds']} / {r['fails']} / {r['inconclusive']} / {r['no_signal']}"


def _checks(result: RunResult) -> str:
    counts = result.claim_counts
    return f"{counts['checks_held']}/{counts['checks']}"


def overview_rows(results: list[tuple[Path, RunResult]]) -> list[tuple[str, ...]]:
    """(method, scale, device, reproductions hold / fail / inconclusive / no signal, checks held / total, wall
    time) per method."""
    return [(r.method, r.scale, r.device, _reproductions(r), _checks(r), _wall(r)) for _, r in results]


OVERVIEW_COLUMNS = ("method", "scale", "device", "reproductions: hold / fail / inconclusive / no signal",
                    "checks held", "wall time")
VERDICT_CLASS = {"holds": "holds", "fails": "fails", "inconclusive": "inconclusive", "no_signal": "nosignal"}


def readme_table(results: list[tuple[Path, RunResult]]) -> str:
    """The top README's Markdown table: per method its run's date, device, wall time, reproductions by verdict and
    checks, and a totals line."""
    lines = ["| method | reproductions: hold / fail / inconclusive / no signal | checks held | wall time | device "
             "| finished (UTC) |", "|---|---|---|---|---|---|"]
    all_claims = []
    for _, r in results:
        all_claims += r.claims
        lines.append(f"| {r.method} | {_reproductions(r)} | {_checks(r)} | {_wall(r)} | {_md_cell(r.device)} | "
                     f"{r.finished_at[:16].replace('T', ' ')} |")
    total = RunResult(method="all", scale="", seeds=[], config={}, claims=all_claims,
                      timings={"total_s": sum(r.wall_s for _, r in results)})
    lines.append(f"| **all** | {_reproductions(total)} | {_checks(total)} | {_wall(total)} | | |")
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _arm_mean(value: Any) -> float | None:
    """The mean of an arm in a claim's `observed`: a list of per-unit numbers, or its summary {mean, sd, n}."""
    if isinstance(value, list) and value and all(isinstance(x, (int, float)) for x in value):
        return float(np.mean(value))
    if isinstance(value, dict) and set(value) == {"mean", "sd", "n"}:
        return float(value["mean"])
    return None


def claim_arms(observed: dict[str, Any]) -> list[str]:
    """The arms an interval claim records: `compare` and `equivalent` put their two arms (`reaches` its metric, then
    the threshold) first in `observed`, before the interval's `mean_difference`; what follows (the interval, the
    signals, the extras) is not an arm. Keys whose values are not per-unit numbers (the threshold) are left out."""
    keys = list(observed)
    return [k for k in keys[:keys.index("mean_difference")] if _arm_mean(observed[k]) is not None]


def claim_numbers(claim: Claim) -> str:
    """The numbers that decide a claim, short: for an interval claim each arm's mean, the mean difference, its 95 %
    interval, the number of seeds (and the seeds a decision would need); else the whole observed record."""
    obs = claim.observed
    if not (isinstance(obs, dict) and "ci95" in obs):
        return "; ".join(observed_lines(obs))
    keys = list(obs)
    # the interval's count of paired units follows it: n_seeds, n_folds, n_subjects
    unit = next(k[2:] for k in keys[keys.index("ci95"):] if k.startswith("n_"))
    means = [f"{k} {format_observed(_arm_mean(obs[k]))}" for k in claim_arms(obs)]
    low, high = obs["ci95"]
    parts = means + [f"difference {format_observed(obs['mean_difference'], 3)} "
                     f"[{format_observed(low, 3)}, {format_observed(high, 3)}] over {obs[f'n_{unit}']} {unit}"]
    if obs.get(f"{unit}_needed"):
        parts.append(f"{obs[f'{unit}_needed']} {unit} would decide")
    for signal in obs.get("signal", []):
        if not signal.get("beats_trivial", True):
            parts.append("no signal: " + format_observed({k: v for k, v in signal.items() if k != "beats_trivial"}))
    return "; ".join(parts)


def cpu_line(versions: dict[str, str]) -> str:
    """The CPU and the instruction set of torch's CPU kernels (records before that field name the CPU only)."""
    kernels = versions.get("cpu_kernels")
    return f"{versions.get('cpu', '')}, {kernels} kernels" if kernels else versions.get("cpu", "")


def method_table(folder: Path, result: RunResult) -> str:
    """A method README's results table from one result record: when, where and how long it ran, then each claim's
    kind, verdict and deciding numbers."""
    finished = result.finished_at[:16].replace("T", " ")
    head = (f"`reprolab run {result.method} --scale {result.scale}`, finished {finished} UTC on {result.device} "
            f"({cpu_line(result.versions)}), {_wall(result)}; {result.claims_summary}.")
    lines = [head, "", "| claim | kind | verdict | numbers | expected |", "|---|---|---|---|---|"]
    for c in result.claims:
        lines.append(f"| `{c.name}` | {c.kind} | {c.verdict} | {_md_cell(claim_numbers(c))} | "
                     f"{_md_cell(c.expected)} |")
    return "\n".join(lines)


RESULTS_START, RESULTS_END = "<!-- results: generated by reprolab report --write-readmes -->", "<!-- end of results -->"


def replace_results(text: str, table: str, where: str) -> str:
    """`text` with the block between the results markers replaced by `table`; ValueError naming `where` when the
    markers are missing."""
    start, end = text.find(RESULTS_START), text.find(RESULTS_END)
    if start < 0 or end < start:
        raise ValueError(f"{where} has no results block: add the lines {RESULTS_START!r} and {RESULTS_END!r}")
    return text[:start] + f"{RESULTS_START}\n{table}\n" + text[end:]


def write_readmes(results: list[tuple[Path, RunResult]], top_readme: Path, methods_dir: Path) -> list[Path]:
    """Write the generated tables into the top README (`readme_table`) and into each method README that has a
    result (`method_table`); returns the files written."""
    written = []
    for path, table in [(top_readme, readme_table(results))] + [
            (methods_dir / r.method / "README.md", method_table(folder, r)) for folder, r in results]:
        text = replace_results(path.read_text(), table, str(path))
        atomic_write(path, lambda tmp, text=text: tmp.write_text(text))
        written.append(path)
    return written


def render_markdown(results: list[tuple[Path, RunResult]], base: Path) -> str:
    lines = ["# reprolab report", "", "| " + " | ".join(OVERVIEW_COLUMNS) + " |", "|---" * len(OVERVIEW_COLUMNS) + "|"]
    for method, *rest in overview_rows(results):
        lines.append(f"| [{method}](#{method}) | " + " | ".join(_md_cell(c) for c in rest) + " |")
    lines.append("")
    for folder, result in results:
        lines += [f"## {result.method}", "", _header(result), "",
                  "| claim | kind | verdict | statement | observed | expected |", "|---|---|---|---|---|---|"]
        for c in result.claims:
            verdict = c.verdict if c.holds else f"**{c.verdict}**"
            observed = "<br>".join(_md_cell(line) for line in observed_lines(c.observed))
            lines.append(f"| {_md_cell(c.name)} | {c.kind} | {verdict} | {_md_cell(c.statement)} | {observed} | "
                         f"{_md_cell(c.expected)} |")
        lines.append("")
        for artifact in result.artifacts:
            if artifact.endswith(".png"):
                path = folder / artifact
                rel = path.relative_to(base) if path.is_relative_to(base) else path
                lines.append(f"![{artifact}]({rel.as_posix()})")
        lines.append("")
    return "\n".join(lines)


def observed_html(value: Any) -> str:
    """A record as a nested two-column table (key, value); a list or a number as text."""
    if isinstance(value, dict):
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{observed_html(v)}</td></tr>" for k, v in value.items())
        return f"<table class='obs'>{rows}</table>"
    return html.escape(format_observed(value))


STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
         "vertical-align:top;text-align:left}.holds{color:#186a1e}.fails{color:#b00020;font-weight:bold}"
         ".inconclusive{color:#8a6d00}.nosignal{color:#555;font-style:italic}"
         "table.obs{font-size:0.85em;margin:0}table.obs th{font-weight:normal;color:#555;background:#f6f6f6}"
         "img{max-width:100%;margin:8px 0}")


def render_html(results: list[tuple[Path, RunResult]]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>reprolab report</title>",
             f"<style>{STYLE}</style></head><body>", "<h1>reprolab report</h1>",
             "<table class='overview'><tr>" + "".join(f"<th>{c}</th>" for c in OVERVIEW_COLUMNS) + "</tr>"]
    for method, *rest in overview_rows(results):
        cells = [f"<a href='#{html.escape(method)}'>{html.escape(method)}</a>"] + [html.escape(c) for c in rest]
        parts.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    for folder, result in results:
        parts.append(f"<h2 id='{html.escape(result.method)}'>{html.escape(result.method)}</h2>")
        parts.append(f"<p>{html.escape(_header(result))}</p>")
        parts.append("<table><tr><th>claim</th><th>kind</th><th>verdict</th><th>statement</th><th>observed</th>"
                     "<th>expected</th></tr>")
        for c in result.claims:
            parts.append(f"<tr><td>{html.escape(c.name)}</td><td>{c.kind}</td>"
                         f"<td class='{VERDICT_CLASS[c.verdict]}'>{c.verdict}</td>"
                         f"<td>{html.escape(c.statement)}</td><td>{observed_html(c.observed)}</td>"
                         f"<td>{html.escape(c.expected)}</td></tr>")
        parts.append("</table>")
        for artifact in result.artifacts:
            path = folder / artifact
            if artifact.endswith(".png") and path.is_file():
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                parts.append(f"<figure><img alt='{html.escape(artifact)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{html.escape(artifact)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(runs_dir: Path) -> Report:
    runs_dir = Path(runs_dir)
    results, skipped = collect_results(runs_dir)
    md_path, html_path = runs_dir / "report.md", runs_dir / "report.html"
    markdown, page = render_markdown(results, runs_dir), render_html(results)
    atomic_write(md_path, lambda tmp: tmp.write_text(markdown))
    atomic_write(html_path, lambda tmp: tmp.write_text(page))
    return Report(md_path, html_path, skipped)
