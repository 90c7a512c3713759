import math
import random
from collections import Counter

from reprolab.methods.invalidator.composition import cap_overfitting_per_module, invariants_equal_dev, module_cap


def test_the_cap_is_the_largest_count_that_keeps_every_module_within_the_share():
    # the earlier quick benchmark: calendar supplied 27 of 47 overfitting patches
    counts = {"calendar": 27, "bisect": 6, "heapq": 5, "base64": 5, "textwrap": 4}
    assert module_cap(counts, 0.25) == 6           # 6 <= (6 + 6 + 5 + 5 + 4) / 4 = 6.5; 7 > (7 + 6 + 5 + 5 + 4) / 4
    assert module_cap({"a": 3, "b": 3, "c": 3, "d": 3}, 0.25) == 3             # already within the share: no cut
    assert module_cap({"a": 3, "b": 3, "c": 2, "d": 2}, 0.25) == 2             # 3 of 10 is above a quarter
    assert module_cap({"a": 5, "b": 5, "c": 5}, 0.25) == 0          # three modules cannot stay within a quarter
    assert module_cap({}, 0.25) == 0


def test_the_cap_is_maximal_on_random_counts():
    rng = random.Random(0)
    for _ in range(500):
        counts = {f"m{i}": rng.randint(0, 30) for i in range(rng.randint(1, 8))}
        share = rng.choice((0.2, 0.25, 0.5))
        cap = module_cap(counts, share)
        kept = [min(n, cap) for n in counts.values()]
        assert max(kept, default=0) <= share * sum(kept)
        if cap < max(counts.values()):                       # one more would break the share
            assert cap + 1 > share * sum(min(n, cap + 1) for n in counts.values())


def benchmark(counts: dict[str, tuple[int, ...]], correct: int = 2) -> list[dict]:
    """module -> overfitting patches per subject; every subject also has `correct` correct patches."""
    out = []
    for module, per_subject in counts.items():
        for k, n in enumerate(per_subject):
            subject = f"{module}.f{k}"
            patches = [{"subject": subject, "module": module, "bug": 0, "source": f"{subject}:{i}",
                        "correct": i >= n} for i in range(n + correct)]
            out.append({"subject": subject, "module": module, "bugs": [], "patches": patches})
    return out


def overfitting_by(bench: list[dict], key: str) -> Counter:
    return Counter(p[key] for s in bench for p in s["patches"] if not p["correct"])


def test_capping_cuts_only_overfitting_patches_of_the_large_modules_over_their_subjects():
    bench = benchmark({"calendar": (12, 10, 5), "bisect": (7,), "heapq": (3, 2), "base64": (4,), "difflib": (1,)})
    capped, record = cap_overfitting_per_module(bench, 0.25, seed=0)
    per_module = overfitting_by(capped, "module")
    assert record == {"share": 0.25, "cap": 5}             # 5 <= (5 + 5 + 5 + 4 + 1) / 4; 6 > (6 + 6 + 5 + 4 + 1) / 4
    assert per_module == {"calendar": 5, "bisect": 5, "heapq": 5, "base64": 4, "difflib": 1}
    assert max(per_module.values()) <= 0.25 * sum(per_module.values())
    per_subject = overfitting_by(capped, "subject")
    assert [per_subject[f"calendar.f{k}"] for k in range(3)] == [2, 2, 1]     # round-robin over the subjects
    for before, after in zip(bench, capped):                                  # correct patches all stay
        assert [p for p in before["patches"] if p["correct"]] == [p for p in after["patches"] if p["correct"]]
        assert sorted(p["source"] for p in after["patches"] + after["capped_patches"]) == sorted(
            p["source"] for p in before["patches"])
        assert all(not p["correct"] for p in after["capped_patches"])


def test_capping_is_seeded():
    bench = benchmark({"calendar": (30,), "a": (3,), "b": (3,), "c": (3,), "d": (3,)})
    kept = [[p["source"] for p in cap_overfitting_per_module(bench, 0.25, seed)[0][0]["patches"]] for seed in (0, 0, 1)]
    assert kept[0] == kept[1] != kept[2]


def test_the_share_of_overfitting_patches_with_the_developer_fixs_invariants():
    d = {"P": {"f:::EXIT": ["x > 0"], "f:::LOOP0": ["i >= 0"]}, "F": {"f:::EXIT": ["return == 1"]}}
    differs_at_loop = {"P": {"f:::EXIT": ["x > 0"], "f:::LOOP0": []}, "F": d["F"]}
    only_unshared_points_differ = {"P": {"f:::EXIT": ["x > 0"], "g:::ENTER": ["y == 2"]}, "F": d["F"]}
    patches = [(d, False, "m"), (differs_at_loop, False, "m"), (only_unshared_points_differ, False, "n"),
               (differs_at_loop, True, "n"), (None, False, "n")]        # a correct one and an untraced one: out
    bench = [{"subject": "m.f", "bugs": [{"bug": 0, "invariants_fixed": d}],
              "patches": [{"subject": "m.f", "module": module, "bug": 0, "invariants": inv, "correct": ok}
                          for inv, ok, module in patches]}]
    assert invariants_equal_dev(bench) == {"n": 2, "of": 3, "share": 2 / 3, "per_module": {
        "m": {"n": 1, "of": 2}, "n": {"n": 1, "of": 1}}}
    bench[0]["bugs"][0]["invariants_fixed"] = None                     # D untraced: nothing to compare
    assert invariants_equal_dev(bench)["of"] == 0 and math.isnan(invariants_equal_dev(bench)["share"])
