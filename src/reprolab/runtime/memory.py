"""glibc's allocator settings for a process that trains on the CPU.

A training step allocates and frees the same large activations every step. Under glibc's defaults a block over the
mmap threshold (128 KiB, raised dynamically up to the largest block freed so far) is mapped fresh from the kernel
and unmapped on free, and free memory at the top of the heap beyond the trim threshold is handed back; either way
the next step touches new pages, each a minor page fault that the kernel zero-fills. `keep_freed_memory` sets
(glibc's `mallopt`, parameters from `<malloc.h>`):
- M_MMAP_THRESHOLD = 32 MiB, the largest value glibc accepts on a 64-bit system: blocks up to it come from the heap;
- M_TRIM_THRESHOLD = 1 GiB: freed heap memory is kept for the next step, up to 1 GiB per process;
- M_TOP_PAD = 64 MiB: the heap grows in steps of at least 64 MiB.
The numbers computed do not change (only where memory comes from). `python -m benchmarks memory` runs safl's light
training step in a process with and one without these settings (docs/benchmarks.md: 56,354 -> 128 minor page faults
per 10 steps, 1.20x, identical weights, on a 2-core AMD EPYC with AVX2 kernels). Other C libraries (musl, macOS) are
left alone.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3    # <malloc.h>
SETTINGS = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 1 << 30, M_TOP_PAD: 64 << 20}


def keep_freed_memory() -> bool:
    """Apply `SETTINGS` to this process's glibc allocator; True if every one was accepted, False elsewhere."""
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all([mallopt(param, value) == 1 for param, value in SETTINGS.items()])
