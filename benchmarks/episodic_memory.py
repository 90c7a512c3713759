"""Episodic-memory kNN read (MBEC's memory, batch 32 x 7 actions = 224 queries of dimension 8): faiss-cpu brute
force against torch.cdist, at the official capacity (10k) and at larger ones.

Speed: torch time / faiss time per read. Quality: both are exact, so the neighbour sets must agree.
"""

import time

import torch

from reprolab.rl.memory import EpisodicMemory


def _time_reads(memory: EpisodicMemory, queries: torch.Tensor, repeats: int) -> float:
    memory.read(queries)
    start = time.perf_counter()
    for _ in range(repeats):
        memory.read(queries)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    queries = torch.randn(224, 8, generator=gen)
    for size in (10_000, 100_000, 500_000):
        keys, values = torch.randn(size, 8, generator=gen), torch.randn(size, generator=gen)
        timings, neighbours = {}, {}
        for index in ("torch", "faiss"):
            memory = EpisodicMemory(8, capacity=size, k=7, index=index)
            memory.insert(keys, values)
            timings[index] = _time_reads(memory, queries, repeats=20 if size <= 100_000 else 5)
            neighbours[index] = memory.neighbours(queries)[0].sort(dim=1).values
        agree = bool(torch.equal(neighbours["torch"], neighbours["faiss"]))
        print(f"{size:>7} keys: torch {timings['torch'] * 1e3:7.2f} ms, faiss {timings['faiss'] * 1e3:7.2f} ms, "
              f"speed-up {timings['torch'] / timings['faiss']:.2f}x; identical neighbours: {agree}")
