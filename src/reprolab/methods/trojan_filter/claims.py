"""The claims of Do et al. (ECCV 2022) checked on the measured attacks and defenses: the attacks work, the filters
keep clean accuracy, VIF and AIF cut the attacks, filtering beats the mitigation baselines and STRIP, and the
defenses hold with small defender sets and large-norm triggers."""

from __future__ import annotations

from reprolab.methods.trojan_filter.metrics import filtered_asr
from reprolab.runtime.claims import Claim


def _value(block: dict, *keys, default=float("nan")) -> float:
    for key in keys:
        if not isinstance(block, dict) or key not in block:
            return default
        block = block[key]
    return float(block)


def claims(metrics: dict, cfg) -> list[Claim]:
    attacks, benign = metrics["attacks"], metrics["benign"]["clean_accuracy"]
    result = []
    a1 = {a: {"asr": b["no_defense"]["asr"]["mean"], "clean_accuracy": b["no_defense"]["clean_accuracy"],
              "benign_accuracy": benign} for a, b in attacks.items()}
    result.append(Claim("attacks_are_effective", "every attack reaches ASR >= 90 % with clean accuracy within 2 "
                        "points of the benign classifier", a1, "asr >= 0.9 and clean drop <= 0.02",
                        all(v["asr"] >= 0.9 and benign - v["clean_accuracy"] <= 0.02 for v in a1.values())))
    ca = {f"{a}/{d}": {"held_out": b[d].get("held_out_filtered_accuracy"), "test": b[d]["filtered_clean_accuracy"],
                       "collapsed": b[d]["collapsed"]} for a, b in attacks.items() for d in cfg.defenses}
    result.append(Claim("filtered_clean_accuracy_ge_90", "every filter keeps clean accuracy >= 90 % on MNIST "
                        "(a collapsed filter is reported, never scored)", ca, "not collapsed and test >= 0.9",
                        all(not v["collapsed"] and v["test"] >= 0.9 for v in ca.values())))
    if "badnet_plus" in attacks and {"IF", "VIF"} <= set(cfg.defenses):
        b = attacks["badnet_plus"]
        vif, plain = _value(b, "VIF", "asr_filtered", "mean"), _value(b, "IF", "asr_filtered", "mean")
        obs = {"vif_asr": vif, "if_asr": plain, "vif_per_trigger": b["VIF"].get("asr_filtered", {}).get("per_trigger"),
               "vif_clean_drop": b["no_defense"]["clean_accuracy"] - b["VIF"]["filtered_clean_accuracy"]}
        result.append(Claim("vif_cuts_badnet", "on BadNet+, VIF cuts the attack success to <= 5 % and to at most "
                            "half of IF's", obs, "vif_asr <= 0.05 and vif_asr <= if_asr / 2",
                            vif <= 0.05 and vif <= plain / 2))
    if {"IF", "AIF"} <= set(cfg.defenses):
        cmp = {a: {d: _value(b, d, "asr_filtered", "mean") for d in cfg.defenses} for a, b in attacks.items()}
        result.append(Claim("aif_beats_if", "AIF (filter trained against a trigger generator) leaves a lower attack "
                            "success than the plain filter IF on every attack (VIF shown for comparison; a collapsed "
                            "filter counts as NaN)", cmp, "AIF asr < IF asr everywhere",
                            all(v["AIF"] < v["IF"] for v in cmp.values())))
    best = {}
    for a, b in attacks.items():
        top, top_asr = best_filter(b, cfg.defenses)
        best[a] = {"best_filter": top, "filter_asr": top_asr,
                   "neural_cleanse_asr": b["NeuralCleanse"]["asr"]["mean"],
                   "neural_cleanse_flagged": b["NeuralCleanse"]["flagged"],
                   "fine_pruning_asr": b["FinePruning"]["asr"]["mean"], "februus_asr": b["Februus"]["asr"]["mean"]}
    result.append(Claim("filtering_beats_mitigation_baselines", "the best non-collapsed filter (IF / VIF / AIF) leaves "
                        "a lower attack success than each mitigation baseline (Neural Cleanse with unlearning, "
                        "Fine-Pruning, Februus-like GradCAM + inpainting), on every attack", best,
                        "filter_asr < every baseline's asr everywhere",
                        all(v["filter_asr"] < min(v["neural_cleanse_asr"], v["fine_pruning_asr"], v["februus_asr"])
                            for v in best.values())))
    if "wanet" in attacks:
        w = attacks["wanet"]
        ftc = {d: w[d]["ftc"] for d in cfg.defenses if "ftc" in w[d]}
        best = min(ftc, key=lambda d: ftc[d]["fnr"]) if ftc else None
        obs = {"strip": {k: w["STRIP"][k] for k in ("fpr", "fnr", "fnr_on_hits")}, "ftc": ftc, "best_filter": best}
        holds = best is not None and w["STRIP"]["fnr"] >= 0.8 and ftc[best]["fnr"] <= 0.15 and ftc[best]["fpr"] <= 0.05
        result.append(Claim("wanet_strip_misses_filter_catches", "on WaNet, STRIP misses most Trojan inputs "
                            "(FNR >= 80 %) while a filter with FtC has FNR <= 15 % at FPR <= 5 %", obs,
                            "STRIP fnr >= 0.8; best FtC fnr <= 0.15 and fpr <= 0.05", holds))
    result += sweep_claims(metrics, cfg)
    return result


def best_filter(block: dict, defenses) -> tuple[str | None, float]:
    """The non-collapsed filter with the lowest ASR after filtering, and that ASR (None, NaN if all collapsed)."""
    scored = {d: filtered_asr(block[d]) for d in defenses if "asr_filtered" in block[d]}
    top = min(scored, key=scored.get) if scored else None
    return top, scored.get(top, float("nan"))


def sweep_claims(metrics: dict, cfg, limit: float = 0.1) -> list[Claim]:
    """The abstract's robustness claims, when the sweeps ran: small defender sets and large-norm triggers."""
    result = []
    swept = {a: b["defender_sweep"] for a, b in metrics["attacks"].items() if "defender_sweep" in b}
    if swept:
        obs = {}
        for a, sweep in swept.items():
            smallest = min(sweep, key=int)
            obs[a] = dict(zip(("best_filter", "asr"), best_filter(sweep[smallest], cfg.defenses)),
                          defender_size=int(smallest))
        result.append(Claim("robust_to_small_defender_set", "with the smallest swept defender set, the best "
                            "non-collapsed filter still leaves ASR <= 10 % on every swept attack", obs,
                            f"best asr <= {limit} everywhere", all(v["asr"] <= limit for v in obs.values())))
    if metrics.get("norm_sweep"):
        largest = max(metrics["norm_sweep"], key=float)
        top, asr = best_filter(metrics["norm_sweep"][largest], cfg.defenses)
        obs = {"alpha": float(largest), "best_filter": top, "asr": asr,
               "asr_no_defense": metrics["norm_sweep"][largest]["no_defense"]["asr"]["mean"],
               "per_alpha": {a: best_filter(b, cfg.defenses) for a, b in metrics["norm_sweep"].items()}}
        result.append(Claim("robust_to_large_norm_triggers", "image-BI+ at the largest swept blend weight: the best "
                            "non-collapsed filter leaves ASR <= 10 %", obs, f"asr <= {limit}", asr <= limit))
    return result
