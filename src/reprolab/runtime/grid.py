"""A grid of independent runs: each cell is a dict of axis values (e.g. {"task": ..., "algorithm": ...,
"seed": 0}); `RunContext.grid` runs `fn(cell, *args)` once per cell as a stage named after the cell, so `--resume`
skips finished cells, and returns the results keyed by the cells, never by parsing names back.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from reprolab.runtime.executors import Stage

Cell = Mapping[str, Any]


def product(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, in axis order: product(a=[1, 2], b=["x"]) ->
    [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]."""
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid axis {name!r} needs a non-empty list of values, got {values!r}")
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def cell_name(prefix: str, cell: Cell) -> str:
    """The stage name of a cell, prefix__key=value__... ('/' in a value becomes '_': the name is a file name);
    values may not contain '__', which separates the parts."""
    parts = [f"{key}={str(value).replace('/', '_')}" for key, value in cell.items()]
    bad = [p for p in parts if "__" in p]
    if bad:
        raise ValueError(f"grid cell values must not contain '__' (it separates the parts of a name): {bad}")
    return "__".join([prefix, *parts])


def checkpoint_file(out_dir: Path, name: str) -> Path:
    """Where a run keeps the in-run checkpoint of its stage `name`."""
    return Path(out_dir) / "checkpoints" / f"{name}.pt"


def cell_checkpoint(out_dir: Path, prefix: str, cell: Cell) -> Path:
    """The checkpoint file of a grid cell (its stage name, in the run's checkpoint folder)."""
    return checkpoint_file(out_dir, cell_name(prefix, cell))


def grid_stages(prefix: str, cells: Sequence[Cell], fn: Callable[..., Any], *args: Any) -> dict[str, Stage]:
    """The grid's stages `cell_name(prefix, cell) -> (fn, (cell, *args))`, for `RunContext.stages`: alone
    (`RunContext.grid`) or beside other stages in one pool; a repeated cell is refused."""
    names = [cell_name(prefix, cell) for cell in cells]
    if len(set(names)) != len(names):
        raise ValueError(f"grid {prefix!r} has repeated cells")
    return {name: (fn, (cell, *args)) for name, cell in zip(names, cells)}


def grid_results(prefix: str, cells: Sequence[Cell], values: Mapping[str, Any]) -> GridResults:
    """The cells' results, in cell order, from the stage values `values` (keyed by stage name)."""
    return GridResults([(dict(cell), values[cell_name(prefix, cell)]) for cell in cells])


class GridResults:
    """The results of a grid, in cell order; `select(**fixed)` keeps the cells that match every fixed value."""

    def __init__(self, runs: list[tuple[dict[str, Any], Any]]):
        self.runs = runs

    def __iter__(self) -> Iterator[tuple[dict[str, Any], Any]]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def select(self, **fixed: Any) -> list[tuple[dict[str, Any], Any]]:
        return [(cell, value) for cell, value in self.runs if all(cell.get(k) == v for k, v in fixed.items())]

    def values(self, **fixed: Any) -> list[Any]:
        return [value for _, value in self.select(**fixed)]

    def axis(self, name: str) -> list[Any]:
        """The distinct values an axis takes, in first-seen order."""
        return list(dict.fromkeys(cell[name] for cell, _ in self.runs if name in cell))
