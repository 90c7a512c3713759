"""Where datasets are looked for and where decoded arrays are cached.

Data root: `$REPROLAB_DATA`, else `../shared/data` beside the repository (or beside the working directory)
when it exists, else `~/.cache/reprolab/data`. Decoded-array cache: `$REPROLAB_CACHE`, else
`~/.cache/reprolab/arrays`.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA = "REPROLAB_DATA"
ENV_CACHE = "REPROLAB_CACHE"
_REPO_ROOT = Path(__file__).resolve().parents[3]


def data_root_candidates() -> list[Path]:
    """Every data root that would be tried, in order."""
    if os.environ.get(ENV_DATA):
        return [Path(os.environ[ENV_DATA]).expanduser()]
    shared = [(_REPO_ROOT / ".." / "shared" / "data").resolve(), (Path.cwd() / ".." / "shared" / "data").resolve()]
    return list(dict.fromkeys(shared)) + [Path.home() / ".cache" / "reprolab" / "data"]


def data_root() -> Path:
    """The first existing candidate; the last one (the user cache) when none exists yet."""
    candidates = data_root_candidates()
    for path in candidates:
        if path.is_dir():
            return path
    return candidates[-1]


def cache_dir() -> Path:
    path = Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "reprolab" / "arrays").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
