"""The paper's claims about the two representations, checked on the measured grid.

Thresholds: the RotatedDigits levels were measured by a 2-core CPU prototype of this setting (ERM source 0.93,
target 0.79, probe 0.85; 0.04-0.05 source loss at lambda = 10; chance at lambda = 100). RotatedMNIST: DomainBed's
published ERM result (97.9, mean over test domains). ColoredMNIST: colour agrees with the label 90% and 80% of the
time in the sources and 10% in the "-90%" target, so a model that uses colour scores far below chance there (<= 0.30,
a design threshold). Each claim is built only when its task and algorithms were run.
"""

from __future__ import annotations

from typing import Any

from reprolab.runtime.claims import Claim

ERM_SOURCE_MIN, ERM_TARGET_MIN, ERM_PROBE_MIN = 0.90, 0.75, 0.80     # RotatedDigits, 300 steps
PROBE_MAX_AT_HIGH = 0.60              # probe at lambda = 10
SOURCE_DROP_MAX = 0.06                # source accuracy for lambda <= 10 stays within this of ERM
COLLAPSE_SOURCE_MAX = 0.20            # lambda = 100
ROTATED_MNIST_ERM_MIN = 0.97          # DomainBed: ERM 97.9 on RotatedMNIST (mean over test domains)
COLORED_MNIST_ERM_MAX = 0.30          # design: ERM learns colour, "-90%" accuracy far below chance
HIGH, COLLAPSE = 10.0, 100.0


def _key(lam: float) -> str:
    return f"{lam:g}"


def _stat(block: dict, lam: float | None, name: str) -> float:
    return block["by_lambda"]["-" if lam is None else _key(lam)][name]["mean"]


def erm_reference(tasks: dict) -> list[Claim]:
    if "rotated_digits" not in tasks or "erm" not in tasks["rotated_digits"]:
        return []
    erm = tasks["rotated_digits"]["erm"]
    obs = {"source": _stat(erm, None, "source_val_mean"), "target": _stat(erm, None, "target"),
           "probe": _stat(erm, None, "probe")}
    return [Claim("erm_reference_rotated_digits",
                  f"ERM on balanced RotatedDigits reaches source accuracy >= {ERM_SOURCE_MIN}, target (75 degrees) "
                  f">= {ERM_TARGET_MIN}, and its features reveal the source domain to a fresh probe (>= "
                  f"{ERM_PROBE_MIN})", obs, f"source >= {ERM_SOURCE_MIN}, target >= {ERM_TARGET_MIN}, probe >= "
                  f"{ERM_PROBE_MIN}", obs["source"] >= ERM_SOURCE_MIN and obs["target"] >= ERM_TARGET_MIN
                  and obs["probe"] >= ERM_PROBE_MIN)]


def _penalised(block: dict) -> list[str]:
    return [n for n in ("general", "compressed") if n in block]


def invariance_rises(tasks: dict, lambdas: tuple[float, ...]) -> list[Claim]:
    low = min(lambdas)
    if "rotated_digits" not in tasks or HIGH not in lambdas or low >= HIGH:
        return []
    block = tasks["rotated_digits"]
    obs = {name: {f"probe_at_{_key(low)}": _stat(block[name], low, "probe"),
                  f"probe_at_{_key(HIGH)}": _stat(block[name], HIGH, "probe")} for name in _penalised(block)}
    if not obs:
        return []
    holds = all(v[f"probe_at_{_key(HIGH)}"] <= PROBE_MAX_AT_HIGH and v[f"probe_at_{_key(HIGH)}"]
                < v[f"probe_at_{_key(low)}"] for v in obs.values())
    return [Claim("invariance_rises_with_lambda",
                  f"on balanced RotatedDigits, raising lambda makes both representations more domain-invariant: a "
                  f"fresh domain probe's accuracy at lambda = {HIGH:g} is <= {PROBE_MAX_AT_HIGH} and below its "
                  f"accuracy at lambda = {low:g}", obs,
                  f"probe at {HIGH:g} <= {PROBE_MAX_AT_HIGH} and < probe at {low:g}", holds)]


def source_accuracy_holds(tasks: dict, lambdas: tuple[float, ...]) -> list[Claim]:
    moderate = [lam for lam in lambdas if lam <= HIGH]
    if "rotated_digits" not in tasks or "erm" not in tasks["rotated_digits"] or not moderate:
        return []
    block = tasks["rotated_digits"]
    erm_source = _stat(block["erm"], None, "source_val_mean")
    obs = {name: {f"drop_at_{_key(lam)}": erm_source - _stat(block[name], lam, "source_val_mean")
                  for lam in moderate} for name in _penalised(block)}
    if not obs:
        return []
    obs["erm_source"] = erm_source
    holds = all(drop <= SOURCE_DROP_MAX for name in _penalised(block) for drop in obs[name].values())
    return [Claim("source_accuracy_holds_up_to_lambda_10",
                  f"on balanced RotatedDigits, both representations keep their source validation accuracy within "
                  f"{SOURCE_DROP_MAX} of ERM's for every lambda <= {HIGH:g} (the invariance is nearly free before "
                  f"the collapse)", obs, f"every drop <= {SOURCE_DROP_MAX}", holds)]


def collapse_flagged(tasks: dict, lambdas: tuple[float, ...]) -> list[Claim]:
    if "rotated_digits" not in tasks or COLLAPSE not in lambdas:
        return []
    block = tasks["rotated_digits"]
    obs, holds = {}, True
    for name in _penalised(block):
        stats = block[name]["by_lambda"][_key(COLLAPSE)]
        seeds = len(stats["per_seed_source"])
        obs[name] = {"source": stats["source_val_mean"]["mean"], "collapsed_seeds": stats["collapsed_seeds"],
                     "seeds": seeds}
        holds &= stats["source_val_mean"]["mean"] < COLLAPSE_SOURCE_MAX and stats["collapsed_seeds"] == seeds
    if not obs:
        return []
    return [Claim("collapse_at_large_lambda",
                  f"at lambda = {COLLAPSE:g} both penalties compress away the classes: source accuracy falls below "
                  f"{COLLAPSE_SOURCE_MAX} and every such run is flagged as collapsed and kept in the results", obs,
                  f"source < {COLLAPSE_SOURCE_MAX}, all seeds flagged", holds)]


def compressed_under_label_shift(tasks: dict, claim_lambdas: tuple[float, ...]) -> list[Claim]:
    task = next((t for t in ("rotated_digits_shift", "rotated_mnist_shift") if t in tasks), None)
    if task is None or not {"general", "compressed"} <= set(tasks[task]):
        return []
    block = tasks[task]
    sel = {name: block[name]["selection_claim_lambdas"] for name in ("general", "compressed")}
    obs = {"oracle": {n: {"target": s["oracle"]["mean"], "se": s["oracle"]["se"], "lambda": s["oracle"]["chosen"]}
                      for n, s in sel.items()},
           "training_domain": {n: {"target": s["training_domain"]["mean"], "se": s["training_domain"]["se"]}
                               for n, s in sel.items()},
           "seeds": len(block["general"]["by_lambda"][_key(claim_lambdas[0])]["per_seed_target"])}
    if "erm" in block:
        obs["erm_target"] = _stat(block["erm"], None, "target")
    lams = ", ".join(_key(v) for v in claim_lambdas)
    return [Claim("compressed_ge_general_under_label_shift",
                  f"with label-shifted sources ({task}), the compressed representation's best mean target accuracy "
                  f"over lambda in {{{lams}}} is at least the general one's (ORACLE selection on the target; "
                  f"training-domain-selected numbers reported beside it)", obs,
                  "oracle: compressed >= general", obs["oracle"]["compressed"]["target"]
                  >= obs["oracle"]["general"]["target"])]


def paper_references(tasks: dict) -> list[Claim]:
    out = []
    rotated = [t for t in ("rotated_mnist_0", "rotated_mnist_75") if t in tasks and "erm" in tasks[t]]
    if rotated:
        obs = {t: _stat(tasks[t]["erm"], None, "target") for t in rotated}
        mean = sum(obs.values()) / len(obs)
        out.append(Claim("erm_reaches_published_rotated_mnist",
                         f"ERM with DomainBed's MNIST_CNN reaches the published RotatedMNIST level: mean target "
                         f"accuracy over the test domains run >= {ROTATED_MNIST_ERM_MIN}", {**obs, "mean": mean},
                         f"mean >= {ROTATED_MNIST_ERM_MIN}", mean >= ROTATED_MNIST_ERM_MIN))
    if "colored_mnist" in tasks and "erm" in tasks["colored_mnist"]:
        target = _stat(tasks["colored_mnist"]["erm"], None, "target")
        out.append(Claim("erm_learns_colour_on_colored_mnist",
                         f"ERM on ColoredMNIST learns the colour: accuracy on the '-90%' domain <= "
                         f"{COLORED_MNIST_ERM_MAX} (no lambda to select: training-domain selection is the only run)",
                         {"target": target}, f"<= {COLORED_MNIST_ERM_MAX}", target <= COLORED_MNIST_ERM_MAX))
    return out


def claims(metrics: dict[str, Any], cfg) -> list[Claim]:
    tasks = metrics["tasks"]
    return (erm_reference(tasks) + invariance_rises(tasks, cfg.lambdas) + source_accuracy_holds(tasks, cfg.lambdas)
            + collapse_flagged(tasks, cfg.lambdas)
            + compressed_under_label_shift(tasks, cfg.claim_lambdas) + paper_references(tasks))
