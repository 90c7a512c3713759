"""Loader speed: first call on a cold cache (decode + checksum) vs a warm call (checksum + cached arrays).

Targets (issue 2): cold < 60 s, warm < 2 s for every dataset; the ratio cold / warm shows what the cache buys.
"""

import os
import tempfile
import time

from reprolab.data import LOADERS


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        previous = os.environ.get("REPROLAB_CACHE")
        os.environ["REPROLAB_CACHE"] = cache
        try:
            print(f"{'dataset':<14} {'split':<6} {'cold s':>8} {'warm s':>8} {'cold/warm':>10}  targets")
            for name, (loader, splits) in LOADERS.items():
                for split in splits:
                    start = time.perf_counter()
                    loader(split)
                    cold = time.perf_counter() - start
                    start = time.perf_counter()
                    loader(split)
                    warm = time.perf_counter() - start
                    ok = "ok" if cold < 60 and warm < 2 else "MISSED"
                    print(f"{name:<14} {split:<6} {cold:8.2f} {warm:8.3f} {cold / warm:10.1f}  {ok}")
        finally:
            if previous is None:
                os.environ.pop("REPROLAB_CACHE")
            else:
                os.environ["REPROLAB_CACHE"] = previous
