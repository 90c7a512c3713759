"""The allocator settings of `runtime.memory.keep_freed_memory` against glibc's defaults.

Each side runs in a fresh process (glibc's settings cannot be undone in a process), one thread, for two workloads:
safl's light model (channels-last) takes 10 untimed and then 10 timed training steps on one batch of 32;
trojan_filter's VIF trains on MNIST as its benchmark does (`benchmarks/trojan_filter.py`), once untimed and once
timed. The process
reports the seconds and minor page faults of the timed part and a digest of the trained weights. The two sides
alternate twice; the ratio is of the faster run of each side, and the digests must be equal (the settings change
where memory comes from, not what is computed).
"""

import hashlib
import json
import resource
import subprocess
import sys
import time

from typing import Callable

import torch

from benchmarks.safl import LightSetup
from benchmarks.trojan_filter import DEFENDER, STEPS
from reprolab.data import load_mnist
from reprolab.methods.trojan_filter.data import as_images
from reprolab.methods.trojan_filter.classifier import make_classifier
from reprolab.methods.trojan_filter.filters import FilterConfig, VariationalFilter, train_filter
from reprolab.runtime.memory import keep_freed_memory


def safl_steps(steps: int = 10) -> tuple[Callable[[], None], Callable[[], list[torch.Tensor]]]:
    setup = LightSetup.build()
    x, targets = setup.batch(32)

    def train() -> None:
        for _ in range(steps):
            setup.step(x, targets)

    return train, lambda: list(setup.model.parameters())


def trojan_filter_steps() -> tuple[Callable[[], None], Callable[[], list[torch.Tensor]]]:
    test = load_mnist("test")
    x, y = as_images(test.x[:DEFENDER]), torch.from_numpy(test.y[:DEFENDER]).long()
    torch.manual_seed(0)
    classifier, filt = make_classifier("mnist"), VariationalFilter(1, 32, 16)
    return lambda: train_filter(filt, classifier, x, y, FilterConfig(steps=STEPS), seed=1), lambda: list(
        filt.parameters())


WORKLOADS = {"safl": safl_steps, "trojan_filter": trojan_filter_steps}


def child(workload: str, keep: bool) -> dict:
    torch.set_num_threads(1)
    applied = keep_freed_memory() if keep else False
    train, weights = WORKLOADS[workload]()
    train()
    faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    train()
    seconds = time.perf_counter() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    digest = hashlib.sha256(b"".join(p.detach().contiguous().numpy().tobytes() for p in weights())).hexdigest()
    return {"applied": applied, "seconds": seconds, "faults": faults, "digest": digest[:16]}


def run_child(workload: str, keep: bool) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.memory", workload, "keep" if keep else "default"],
                         stdout=subprocess.PIPE, text=True, check=True)       # the child's errors reach stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    for workload in WORKLOADS:
        runs: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(2):
            for keep in (False, True):
                runs[keep].append(run_child(workload, keep))
        best = {keep: min(side, key=lambda r: r["seconds"]) for keep, side in runs.items()}
        digests = {r["digest"] for side in runs.values() for r in side}
        print(f"{workload}, one thread: glibc defaults {best[False]['seconds']:.2f} s ({best[False]['faults']} minor "
              f"faults), keep_freed_memory {best[True]['seconds']:.2f} s ({best[True]['faults']} faults, applied "
              f"{best[True]['applied']}): {best[False]['seconds'] / best[True]['seconds']:.2f}x; weights "
              f"{'identical' if len(digests) == 1 else 'DIFFERENT'}")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(json.dumps(child(sys.argv[1], sys.argv[2] == "keep")))
    else:
        main()
