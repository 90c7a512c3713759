"""MAD's claims, checked on the summarised runs: the teachers reach their reference accuracy, the EMA generator
drifts less, MAD forgets less and is at least as accurate as its base method, at a bounded cost."""

from __future__ import annotations

from reprolab.methods.mad.teachers import RECIPES
from reprolab.runtime.claims import Claim

TEACHER_MIN_ACCURACY = {"digits": 0.98, "mnist": 0.985, "cifar10": 0.90}   # DFAD-level teachers; CIFAR: design


def claims(metrics: dict) -> list[Claim]:
    cases, teachers = metrics["cases"], metrics["teachers"]
    result = []
    teacher_ok = {c: {"accuracy": r["test_accuracy"], "minimum": TEACHER_MIN_ACCURACY[RECIPES[r["name"]].dataset]}
                  for c, r in teachers.items()}
    result.append(Claim("teachers_reach_reference_accuracy", "each teacher reaches their reference test accuracy "
                        "(digits >= 0.98, MNIST >= 0.985)", teacher_ok, "accuracy >= minimum",
                        all(v["accuracy"] >= v["minimum"] for v in teacher_ok.values())))
    drift = {c: {"ratio": b["mad"]["js_ratio"], "js_G": b["mad"]["js_step_G"]["mean"],
                 "js_G_ema": b["mad"]["js_step_G_ema"]["mean"]} for c, b in cases.items()}
    result.append(Claim("ema_generator_drifts_less", "the EMA generator's samples shift less per generator step than "
                        "the generator's: mean JS(T(G_t(z)), T(G_{t-1}(z))) over that of G~, alpha = 0.95 (MAD runs, "
                        "mean of seeds)", drift, "ratio > 1.5 in every case",
                        all(v["ratio"]["mean"] > 1.5 for v in drift.values())))
    forget = {c: {"mad_drop": b["mad"]["forgetting_drop"], "base_drop": b["base"]["forgetting_drop"],
                  "mad_old_agreement": b["mad"]["old_agreement"]["mean"],
                  "base_old_agreement": b["base"]["old_agreement"]["mean"],
                  "mad_forgets_less": bool(b["mad"]["forgetting_drop"]["mean"] < b["base"]["forgetting_drop"]["mean"])}
              for c, b in cases.items()}
    result.append(Claim("mad_forgets_less", "MAD forgets less than its base: a smaller drop of the student's agreement "
                        "with the teacher on the generator's samples from 60 iterations earlier (mean of seeds)",
                        forget, "mad_forgets_less in every case", all(v["mad_forgets_less"] for v in forget.values())))
    acc = {}
    for c, b in cases.items():
        m, d = b["mad"]["last_k_accuracy"], b["base"]["last_k_accuracy"]
        gap = m["mean"] - d["mean"]
        acc[c] = {"mad": m, "base": d, "gap": gap, "gap_exceeds_seed_std": bool(abs(gap) > max(m["std"], d["std"])),
                  "mad_ge_base": bool(gap >= 0)}
    result.append(Claim("mad_accuracy_ge_base", "MAD's student accuracy (mean of the last 5 evaluations, mean of "
                        "seeds) is >= its base method's at equal student updates and samples", acc,
                        "mad_ge_base in every case", all(v["mad_ge_base"] for v in acc.values())))
    cost = {c: b["mad"]["seconds_per_iteration"]["mean"] / b["base"]["seconds_per_iteration"]["mean"]
            for c, b in cases.items()}
    result.append(Claim("mad_cost_within_2_5x", "MAD's wall time per iteration is at most 2.5x its base's (check "
                        "9)", cost, "ratio <= 2.5 in every case", all(v <= 2.5 for v in cost.values())))
    return result
