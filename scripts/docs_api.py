"""Write docs/api/<method>.md: one mkdocstrings entry per name the method's `__init__` exports (its `_API` map of
public name -> "module:attribute"), so the API reference lists exactly the public API. `make docs` runs it before
`mkdocs build`; the pages are build output (git-ignored)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from reprolab import registry

SHARED = {"runtime": ["reprolab.runtime.claims", "reprolab.runtime.stats", "reprolab.runtime.config",
                      "reprolab.runtime.results", "reprolab.runtime.grid", "reprolab.runtime.executors",
                      "reprolab.runtime.train", "reprolab.runtime.cache", "reprolab.runtime.memory"],
          "data": ["reprolab.data"], "nets": ["reprolab.nets"], "rl": ["reprolab.rl"]}


def method_page(name: str) -> str:
    package = importlib.import_module(f"reprolab.methods.{name}")
    lines = [f"# {name}", "", f"`from reprolab.methods.{name} import ...`", ""]
    for public, target in package._API.items():
        module, _, attribute = target.partition(":")
        lines += [f"## {public}", "", f"::: {module}.{attribute}" if attribute else f"::: {module}", ""]
    return "\n".join(lines)


def shared_page(title: str, modules: list[str]) -> str:
    return "\n".join([f"# {title}", ""] + [f"::: {m}\n" for m in modules])


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in registry.implemented_names():
        (out / f"{name}.md").write_text(method_page(name))
    for title, modules in SHARED.items():
        (out / f"{title}.md").write_text(shared_page(title, modules))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/api"))
