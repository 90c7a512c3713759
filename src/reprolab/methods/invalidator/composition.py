"""The benchmark's composition (issue 38 item 2): a cap on the overfitting patches one module supplies, and the
share of overfitting patches whose invariants cannot be told from the developer fix's.

- Cap: no module supplies more than `share` of the overfitting patches (a quarter at quick and paper scale: in an
  earlier quick benchmark, calendar supplied 27 of 47). The cap c is the largest count such that, with every
  module's overfitting patches cut to at most c, c <= share x (their total); a module above c keeps c of them, taken
  round-robin over its subjects in a seeded order (`mutation.interleaved`), and the rest move to the subject's
  `capped_patches` (kept in benchmark.json, never scored). Correct patches are not capped. With fewer than
  1 / share modules supplying overfitting patches, c is 0.
- Indistinguishable by invariants: an overfitting patch whose invariant maps equal D's at every program point
  they share, over T_P and over T_F (`baselines.naive_diff` does not flag it). A plausible patch reproduces D's
  outcome and argument state on every test, so its ENTER / EXIT samples of the patched function are D's; only loop
  headers, call sites and helpers can differ. No invariant rule can flag such a patch.
"""

from __future__ import annotations

import random
from collections import Counter

from reprolab.methods.invalidator.baselines import naive_diff
from reprolab.methods.invalidator.mutation import interleaved


def module_cap(counts: dict[str, int], share: float) -> int:
    """The largest c with c <= share * sum(min(n, c) over the modules' counts n); the largest count itself when
    no module is above `share` (nothing is cut)."""
    for c in range(max(counts.values(), default=0), 0, -1):
        if c <= share * sum(min(n, c) for n in counts.values()):
            return c
    return 0


def cap_overfitting_per_module(benchmark: list[dict], share: float, seed: int) -> tuple[list[dict], dict]:
    """The benchmark with every module's overfitting patches cut to the cap (the cut ones in each subject's
    `capped_patches`), and {"share", "cap"}."""
    flat = [(s["subject"], p) for s in benchmark for p in s["patches"]]
    overfitting = [k for k, (_, p) in enumerate(flat) if not p["correct"]]
    counts = Counter(flat[k][1]["module"] for k in overfitting)
    cap = module_cap(counts, share)
    kept: set[int] = set()
    for module in sorted(counts):
        mine = [(k, flat[k][0]) for k in overfitting if flat[k][1]["module"] == module]
        kept |= {k for k, _ in interleaved(mine, random.Random(f"module_cap:{module}:{seed}"))[:cap]}
    capped, k = [], 0
    for s in benchmark:
        keep = [p["correct"] or k + j in kept for j, p in enumerate(s["patches"])]
        k += len(keep)
        capped.append({**s, "patches": [p for p, ok in zip(s["patches"], keep) if ok],
                       "capped_patches": [p for p, ok in zip(s["patches"], keep) if not ok]})
    return capped, {"share": share, "cap": cap}


def invariants_equal_dev(benchmark: list[dict]) -> dict:
    """The overfitting patches whose invariant maps equal D's at every shared program point, over T_P and T_F:
    their number, the overfitting patches with invariants for D and the patch ("of"), the share, and per module."""
    fixed = {(s["subject"], b["bug"]): b["invariants_fixed"] for s in benchmark for b in s["bugs"]}
    per_module: dict[str, list[int]] = {}
    for s in benchmark:
        for p in s["patches"]:
            d = fixed[(p["subject"], p["bug"])]
            if p["correct"] or d is None or p["invariants"] is None:
                continue
            counts = per_module.setdefault(p["module"], [0, 0])
            counts[0] += not naive_diff(d, p["invariants"])
            counts[1] += 1
    equal, of = sum(c[0] for c in per_module.values()), sum(c[1] for c in per_module.values())
    return {"n": equal, "of": of, "share": equal / of if of else float("nan"),
            "per_module": {m: {"n": c[0], "of": c[1]} for m, c in sorted(per_module.items())}}
