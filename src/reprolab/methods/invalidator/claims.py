"""INVALIDATOR's claims checked on the leave-one-program-out scores: the rules' precision, the classifier's gain,
INVALIDATOR against its baselines, and the rules never flagging the developer fix."""

from __future__ import annotations

from reprolab.runtime.claims import Claim

HEADLINE = "invalidator_gt@chosen"
BASELINES = ("rules", "naive_invariant_diff", "syntactic_gt@0.5", "syntactic_no_gt@0.5", "all_overfitting")


def claims(metrics: dict, cfg) -> list[Claim]:
    m = metrics["evaluation"]["methods"]
    rules, head = m["rules"]["all"], m[HEADLINE]["all"]
    bench = metrics["benchmark"]
    ev = metrics["evaluation"]
    same_flagged = sum(s and d for s, d in zip(ev["semantic"], ev["same_as_dev"]))
    dev = metrics["developer_fix_as_patch"]
    out = [
        Claim("benchmark_is_large_enough", f"the benchmark has >= {cfg.min_functions} functions with plausible "
              f"patches and >= {cfg.min_patches} patches", {k: bench[k] for k in (
                  "n_functions", "n_patches", "n_overfitting", "n_correct", "n_same_as_dev")},
              f"n_functions >= {cfg.min_functions} and n_patches >= {cfg.min_patches}",
              bench["n_functions"] >= cfg.min_functions and bench["n_patches"] >= cfg.min_patches),
        Claim("rules_never_flag_developer_fix", "the rules never flag a patch identical to the "
              "developer fix (D judged against its own bug, and every benchmark patch with same_as_dev)",
              {"fixes_checked": dev["checked"], "fixes_flagged": dev["flagged"], "same_as_dev_flagged": same_flagged},
              "0 flagged", not dev["flagged"] and same_flagged == 0),
        Claim("rules_high_precision", "the semantic rules alone reach precision >= 0.9 (undefined precision, "
              "nothing flagged, fails)", rules, "precision >= 0.9", rules["precision"] >= 0.9),
        Claim("combined_recall_ge_rules", "INVALIDATOR (rules OR classifier, threshold chosen in the training "
              "folds) has recall >= the rules' recall", {"invalidator": head["recall"], "rules": rules["recall"]},
              "invalidator recall >= rules recall", head["recall"] >= rules["recall"]),
        Claim("syntactic_adds_recall", "the syntactic classifier adds recall: INVALIDATOR's recall is strictly "
              "above the rules' (did not reproduce in a 2-core prototype; reported either way)",
              {"invalidator": head["recall"], "rules": rules["recall"], "invalidator_at_0.975":
               m["invalidator_gt@0.975"]["all"]["recall"]}, "invalidator recall > rules recall",
              head["recall"] > rules["recall"]),
        Claim("rules_beat_syntactic_precision", "the rules are more precise than the syntactic classifier alone "
              "(with GT, at 0.5)", {"rules": rules["precision"], "syntactic": m["syntactic_gt@0.5"]["all"][
                  "precision"]}, "rules precision > syntactic precision",
              rules["precision"] > m["syntactic_gt@0.5"]["all"]["precision"]),
        Claim("invalidator_f1_beats_baselines", "INVALIDATOR's F1 vs each baseline (reported either way)",
              {name: m[name]["all"]["f1"] for name in (HEADLINE, *BASELINES)}, "invalidator F1 >= every baseline",
              all(head["f1"] >= m[name]["all"]["f1"] for name in BASELINES)),
    ]
    return out
