import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from reprolab.runtime.config import ConfigError, check_options
from reprolab.runtime.grid import GridResults, cell_name, grid_results, grid_stages, product
from reprolab.runtime.results import RunContext


def test_product_and_cell_names():
    cells = product(a=[1, 2], b=["x", "y"])
    assert cells == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    assert cell_name("run", {"task": "t", "lam": 0.1, "seed": 0}) == "run__task=t__lam=0.1__seed=0"
    with pytest.raises(ValueError, match="non-empty list"):
        product(a=[])
    assert cell_name("run", {"env": "ALE/Pong-v5"}) == "run__env=ALE_Pong-v5"
    with pytest.raises(ValueError, match="must not contain"):
        cell_name("run", {"name": "a__b"})


def test_results_are_selected_by_axis_values():
    grid = GridResults([({"algo": "a", "seed": 0}, 1), ({"algo": "b", "seed": 0}, 2), ({"algo": "a", "seed": 1}, 3)])
    assert grid.values(algo="a") == [1, 3] and grid.values(seed=0) == [1, 2]
    assert grid.axis("algo") == ["a", "b"] and len(grid) == 3


def _record_call(cell: dict, log: Path) -> dict:
    with open(log, "a") as fh:
        fh.write(f"{cell['x']}\n")
    return {"square": cell["x"] ** 2}


@pytest.mark.parametrize("workers", [1, 2])
def test_grid_runs_each_cell_once_and_resume_skips_finished_cells(tmp_path, workers):
    log = tmp_path / "calls.txt"
    ctx = RunContext(tmp_path / "run", progress=False)
    grid = ctx.grid("g", product(x=[1, 2, 3]), _record_call, log, workers=workers)
    assert grid.values() == [{"square": 1}, {"square": 4}, {"square": 9}]
    (tmp_path / "run" / "stages" / "g__x=2.json").unlink()                    # as if interrupted before cell 2
    resumed = RunContext(tmp_path / "run", resume=True, progress=False)
    again = resumed.grid("g", product(x=[1, 2, 3]), _record_call, log, workers=workers)
    assert again.values() == grid.values()
    assert sorted(log.read_text().split()) == ["1", "2", "2", "3"]             # only cell 2 ran again
    with pytest.raises(ValueError, match="repeated cells"):
        ctx.grid("g", [{"x": 1}, {"x": 1}], _record_call, log)


def _other_stage(tag: str) -> str:
    return tag


@pytest.mark.parametrize("workers", [1, 2])
def test_a_grid_beside_other_stages_in_one_pool_gives_each_its_own_value(tmp_path, workers):
    log = tmp_path / "calls.txt"
    cells = product(x=[3, 1])
    jobs = {"other": (_other_stage, ("kept",)), **grid_stages("g", cells, _record_call, log)}
    assert list(jobs) == ["other", "g__x=3", "g__x=1"]
    values = RunContext(tmp_path / "run", progress=False).stages(jobs, workers=workers)
    assert values["other"] == "kept"
    assert list(grid_results("g", cells, values)) == [({"x": 3}, {"square": 9}), ({"x": 1}, {"square": 1})]
    with pytest.raises(ValueError, match="repeated cells"):
        grid_stages("g", [{"x": 1}, {"x": 1}], _record_call, log)


@dataclasses.dataclass(frozen=True)
class _Options:
    mode: Literal["a", "b"] = "a"
    modes: tuple[Literal["a", "b"], ...] = ("a",)

    def __post_init__(self):
        check_options(self)


def test_check_options_names_the_key_and_the_choices():
    _Options("b", ("a", "b"))
    with pytest.raises(ConfigError, match=r"config key 'mode': 'c' is not one of \['a', 'b'\]"):
        _Options("c")
    with pytest.raises(ConfigError, match="config key 'modes'"):
        _Options("a", ("a", "z"))
