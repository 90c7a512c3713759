"""Markdown + HTML reports of result.json files."""

from reprolab.report.render import (Report, collect_results, method_table, readme_table, render_html,
                                    render_markdown, write_readmes, write_report)

__all__ = ["Report", "collect_results", "method_table", "readme_table", "render_html", "render_markdown",
           "write_readmes", "write_report"]
