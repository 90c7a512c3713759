"""Render result.json files into report.md and a self-contained report.html (plots embedded as base64)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from reprolab.runtime.claims import format_observed
from reprolab.runtime.io import atomic_write
from reprolab.runtime.results import RunResult


def collect_results(runs_dir: Path) -> list[tuple[Path, RunResult]]:
    """The newest result (by finished_at) of each method found under runs_dir."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs folder {runs_dir} does not exist")
    newest: dict[str, tuple[Path, RunResult]] = {}
    for path in sorted(runs_dir.rglob("result.json")):
        result = RunResult.load(path)
        if result.method not in newest or result.finished_at > newest[result.method][1].finished_at:
            newest[result.method] = (path.parent, result)
    if not newest:
        raise FileNotFoundError(f"no result.json under {runs_dir}; run `reprolab run METHOD --out {runs_dir}` first")
    return [newest[m] for m in sorted(newest)]


def _header(result: RunResult) -> str:
    held = sum(c.holds for c in result.claims)
    return (f"scale {result.scale}, device {result.device}, seeds {result.seeds}, "
            f"{result.timings.get('total_s', 0.0):.0f} s, {held}/{len(result.claims)} claims hold, "
            f"finished {result.finished_at}")


def render_markdown(results: list[tuple[Path, RunResult]], base: Path) -> str:
    lines = ["# reprolab report", ""]
    for folder, result in results:
        lines += [f"## {result.method}", "", _header(result), "",
                  "| claim | verdict | observed | expected |", "|---|---|---|---|"]
        for c in result.claims:
            verdict = "holds" if c.holds else "**fails**"
            cells = (c.name, verdict, format_observed(c.observed), c.expected)
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        lines.append("")
        for artifact in result.artifacts:
            if artifact.endswith(".png"):
                path = folder / artifact
                rel = path.relative_to(base) if path.is_relative_to(base) else path
                lines.append(f"![{artifact}]({rel.as_posix()})")
        lines.append("")
    return "\n".join(lines)


def render_html(results: list[tuple[Path, RunResult]]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>reprolab report</title><style>",
             "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}",
             "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}.holds{color:#186a1e}",
             ".fails{color:#b00020;font-weight:bold}img{max-width:100%;margin:8px 0}</style></head><body>",
             "<h1>reprolab report</h1>"]
    for folder, result in results:
        parts.append(f"<h2 id='{html.escape(result.method)}'>{html.escape(result.method)}</h2>")
        parts.append(f"<p>{html.escape(_header(result))}</p>")
        parts.append("<table><tr><th>claim</th><th>verdict</th><th>statement</th><th>observed</th>"
                     "<th>expected</th></tr>")
        for c in result.claims:
            cls, verdict = ("holds", "holds") if c.holds else ("fails", "fails")
            parts.append(f"<tr><td>{html.escape(c.name)}</td><td class='{cls}'>{verdict}</td>"
                         f"<td>{html.escape(c.statement)}</td><td>{html.escape(format_observed(c.observed))}</td>"
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


def write_report(runs_dir: Path) -> tuple[Path, Path]:
    runs_dir = Path(runs_dir)
    results = collect_results(runs_dir)
    md_path, html_path = runs_dir / "report.md", runs_dir / "report.html"
    markdown, page = render_markdown(results, runs_dir), render_html(results)
    atomic_write(md_path, lambda tmp: tmp.write_text(markdown))
    atomic_write(html_path, lambda tmp: tmp.write_text(page))
    return md_path, html_path
