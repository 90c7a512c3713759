"""Balanced Q-learning's claims (a)-(d), checked on the measured runs: beta = 1 is Q-learning, the official beta
rule equals its closed form, the preferred bias depends on the problem, and Balanced Q does as well as the better
of the optimistic and pessimistic learners (tabular, and deep from `deep_claim_min_frames` on)."""

from __future__ import annotations

import numpy as np

from reprolab.runtime.claims import Claim

OPTIMISTIC = ("q_learning",)
PESSIMISTIC = ("double_q", "maxmin_2", "maxmin_8")


def _scenarios(metrics: dict) -> dict[str, tuple[str, str, bool]]:
    """scenario -> (metric block, statistic, higher_is_better)."""
    out = {}
    for key in metrics:
        if key.startswith(("sb_mu", "official_mu")):
            window = "left_window" if key.startswith("official") else "left_all"
            out[key] = (key, window, float(key.split("mu")[1]) > 0)
    out["cliff"] = ("cliff", "greedy", True)
    out["frozenlake"] = ("frozenlake", "greedy", True)
    return out


def _deep_as_good(metrics: dict, cfg) -> dict:
    """Claim (d) on the deep runs: Balanced DQN's AUC against the best of the other learners."""
    best = {}
    for env_key, block in metrics.get("deep", {}).items():
        if "balanced_dqn" not in block or len(block) < 2:
            continue
        others = {n: v for n, v in block.items() if n != "balanced_dqn"}
        top = max(others, key=lambda n: others[n]["auc_mean"])
        bal = block["balanced_dqn"]
        margin = cfg.tolerance_se * float(np.hypot(bal["auc_se"], others[top]["auc_se"]))
        top_value = others[top]["auc_mean"]
        best[f"deep:{env_key}"] = {"balanced": bal["auc_mean"], "best": top, "best_value": top_value,
                                   "margin": margin, "as_good": bool(bal["auc_mean"] >= top_value - margin)}
    return best


def claims(metrics: dict, cfg) -> list[Claim]:
    result = []
    b1 = metrics["beta_one"]
    result.append(Claim("beta_one_is_q_learning", "(a) Balanced with beta fixed at 1 reproduces Q-learning exactly "
                        "(same seed: same tables, same actions)", b1, "max |Q diff| = 0, identical actions",
                        b1["max_abs_q_diff"] == 0.0 and b1["identical_actions"]))
    rc = metrics["rule_check"]
    result.append(Claim("official_rule_equals_closed_form", "(b) the official beta rule equals clip(betabar + "
                        "eta delta_n / (gamma (M - m)), 0, 1) and its TD error the clipped momentum TD error", rc,
                        "both differences < 1e-12", rc["max_beta_diff"] < 1e-12 and rc["max_td_diff"] < 1e-12))
    sign = {}
    for key in (k for k in metrics if k.startswith("sb_mu")):
        block, stat, higher = metrics[key], "left_all", float(key.split("mu")[1]) > 0
        q = block["q_learning"][stat]["mean"]
        pess = {p: block[p][stat]["mean"] for p in PESSIMISTIC}
        sign[key] = {"q_learning": q, **pess, "optimism_wins": q > max(pess.values()) if higher else None,
                     "pessimism_wins": min(pess.values()) < q if not higher else None}
    holds_c = all((v["optimism_wins"] if v["optimism_wins"] is not None else v["pessimism_wins"])
                  for v in sign.values()) and len(sign) >= 2
    result.append(Claim("preferred_bias_depends_on_problem", "(c) pessimistic learners (Double, Maxmin) choose the "
                        "bad action less than Q-learning at mu < 0, Q-learning chooses the good one more at mu > 0 "
                        f"(Sutton & Barto MDP, {cfg.sb_runs} runs)", sign, "both hold", holds_c))
    best = {}
    for scenario, (key, stat, higher) in _scenarios(metrics).items():
        block = metrics[key]
        candidates = {n: block[n][stat] for n in OPTIMISTIC + PESSIMISTIC}
        pick = max if higher else min
        best_name = pick(candidates, key=lambda n: candidates[n]["mean"])
        bal, top = block["balanced"][stat], candidates[best_name]
        margin = cfg.tolerance_se * np.hypot(bal["se"], top["se"])
        ok = bal["mean"] >= top["mean"] - margin if higher else bal["mean"] <= top["mean"] + margin
        best[scenario] = {"balanced": bal["mean"], "best": best_name, "best_value": top["mean"],
                          "margin": float(margin), "as_good": bool(ok)}
    if cfg.deep_frames >= cfg.deep_claim_min_frames:
        best.update(_deep_as_good(metrics, cfg))
    scope = "tabular and deep" if cfg.deep_frames >= cfg.deep_claim_min_frames else "tabular"
    result.append(Claim("balanced_best_of_both", "(d) Balanced Q does as well as the better of the optimistic and "
                        f"pessimistic learners in every {scope} scenario (within {cfg.tolerance_se:g} standard "
                        "errors; deep: area under the learning curve)", best,
                        "as_good in every scenario", all(v["as_good"] for v in best.values())))
    betas = [b for key in metrics if isinstance(metrics[key], dict) and "balanced" in metrics[key]
             for b in metrics[key]["balanced"].get("beta_trace", [])]
    deep = metrics.get("deep", {})
    deep_ranges = [v["beta_range"] for block in deep.values() for v in block.values() if v.get("beta_range")]
    deep_finite = all(v["losses_finite"] and v["n_loss_logs"] > 0 for block in deep.values() for v in block.values())
    lo = min([float(np.min(betas))] + [r[0] for r in deep_ranges])
    hi = max([float(np.max(betas))] + [r[1] for r in deep_ranges])
    result.append(Claim("balanced_beta_in_range", "beta stays in [0, 1] (tabular and deep) and every deep learner's "
                        "loss stays finite", {"beta_min": lo, "beta_max": hi, "tabular_updates": len(betas),
                                              "deep_losses_finite": deep_finite},
                        "0 <= beta <= 1, finite losses",
                        bool(np.isfinite(betas).all() and lo >= 0 and hi <= 1 and deep_finite)))
    return result
