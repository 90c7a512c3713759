"""INVALIDATOR's claims, decided on the leave-one-program-out folds.

The benchmark is built from one seed, so the paired unit is the fold (one program's patches, `evaluation.group_by`):
every method is scored on the same folds (`evaluate.fold_scores`), and a comparison is decided on the per-fold
differences with a 95 % t interval (`runtime.claims`). Overfitting is the positive class. A fold where a score is
undefined (precision with nothing flagged, recall without an overfitting patch) drops out of that comparison.

Reproductions. The paper compares INVALIDATOR with its baselines on accuracy, precision, recall and F1 and
reports it ahead on accuracy, recall and F1 (in the official logs its precision, 0.966, equals the rules'); it
reports the rules alone as precise.
- `invalidator@{official,chosen}_{metric}_above_{baseline}`, 24 claims: INVALIDATOR with GT (rules OR p_syn > T, T
  the official 0.975 or the one chosen in the training folds) has a higher per-fold {accuracy, precision, recall,
  F1} than each baseline: the paper's `rules` (the semantic rules alone) and `syntactic` (the classifier alone at
  the same kind of threshold: 0.975, or its own fold-chosen one), and the spec's `naive_diff` (the naive invariant
  diff). delta = 0: the paper states no minimum effect. All-overfitting is in `observed` (pooled scores)
  as a reference, not as an arm.
- `rules_high_precision`: the rules' per-fold precision lies above 0.9 (threshold: spec, acceptance check 4).
- `rules_beat_syntactic_precision`: the rules' per-fold precision is above the syntactic classifier's (GT, at 0.5);
  delta = 0 (the spec's claim states no size).
Every claim that involves the classifier is gated by its signal: its out-of-fold accuracy (GT, p > 0.5) must beat
the majority class's accuracy, else `no_signal`.

Checks: `benchmark_is_large_enough` (>= `min_functions` functions and >= `min_patches` patches, config) and
`classifier_converged` (every fit of the classifier reached max |gradient| <= its tol within its iteration cap).

Not claims, since they hold by construction (tests/methods/invalidator/test_rules.py): the rules never flag a patch
identical to the developer fix (the metric `developer_fix_as_patch` still counts it), and INVALIDATOR flags every
patch the rules flag, so its recall is never below theirs.
"""

from __future__ import annotations

from reprolab.methods.invalidator.evaluate import FOLD_METRICS, OFFICIAL_T
from reprolab.runtime.claims import Claim, Signal, compare, reaches

HEADLINE = "invalidator_gt@chosen"
SIGNAL_MODEL = "syntactic_gt@0.5"
RULES_PRECISION = 0.9                   # spec, acceptance check 4: semantic precision >= 0.9
NO_SIZE = "the paper states no minimum effect"
# setting -> (INVALIDATOR, the syntactic classifier alone at the same kind of threshold, description)
SETTINGS = {
    "official": (f"invalidator_gt@{OFFICIAL_T['gt']}", f"syntactic_gt@{OFFICIAL_T['gt']}",
                 f"T = {OFFICIAL_T['gt']}, the official threshold"),
    "chosen": ("invalidator_gt@chosen", "syntactic_gt@chosen", "T chosen in each training fold"),
}
BASELINES = {"rules": "the semantic rules alone", "syntactic": "the syntactic classifier alone (with GT, its own T)",
             "naive_diff": "the naive invariant diff"}


def baseline_arm(baseline: str, setting: str) -> str:
    """The method key of a baseline in `evaluation.methods`."""
    return {"rules": "rules", "syntactic": SETTINGS[setting][1], "naive_diff": "naive_invariant_diff"}[baseline]


def classifier_signal(metrics: dict) -> Signal:
    """The syntactic classifier (GT, p > 0.5, out-of-fold) against the majority class, on accuracy."""
    bench = metrics["benchmark"]
    majority = max(bench["n_overfitting"], bench["n_correct"]) / bench["n_patches"]
    accuracy = metrics["evaluation"]["methods"][SIGNAL_MODEL]["all"]["accuracy"]
    return Signal(f"{SIGNAL_MODEL} accuracy", accuracy, "majority class accuracy", majority)


def beats_baseline(methods: dict, setting: str, metric: str, baseline: str, unit: str, signal: Signal) -> Claim:
    head, _, threshold = SETTINGS[setting]
    arm = baseline_arm(baseline, setting)
    pooled = {name: methods[name]["all"][metric] for name in (head, arm, "all_overfitting")}
    return compare(f"invalidator@{setting}_{metric}_above_{baseline}",
                   f"INVALIDATOR with GT ({threshold}) has a higher {metric} than {BASELINES[baseline]}, per "
                   f"leave-one-{unit}-out fold, overfitting positive",
                   methods[head]["per_fold"][metric], methods[arm]["per_fold"][metric], arms=(head, arm),
                   delta=0.0, source=NO_SIZE, signals=[signal], unit="fold",
                   extra={"pooled (all_overfitting: reference)": pooled})


def rules_high_precision(methods: dict, unit: str) -> Claim:
    rules = methods["rules"]["all"]
    return reaches("rules_high_precision", f"the semantic rules alone reach precision > {RULES_PRECISION} per "
                   f"leave-one-{unit}-out fold (folds where they flag nothing have no precision)",
                   methods["rules"]["per_fold"]["precision"], threshold=RULES_PRECISION,
                   source="spec, acceptance check 4", metric="precision", unit="fold",
                   extra={"pooled": {k: rules[k] for k in ("precision", "tp", "fp")}})


def rules_beat_syntactic_precision(methods: dict, unit: str, signal: Signal) -> Claim:
    return compare("rules_beat_syntactic_precision", f"the semantic rules are more precise than the syntactic "
                   f"classifier alone (with GT, at 0.5), per leave-one-{unit}-out fold",
                   methods["rules"]["per_fold"]["precision"], methods[SIGNAL_MODEL]["per_fold"]["precision"],
                   arms=("rules", SIGNAL_MODEL), delta=0.0, source="the spec's claim states no size",
                   signals=[signal], unit="fold",
                   extra={"pooled": {k: methods[k]["all"]["precision"] for k in ("rules", SIGNAL_MODEL)}})


def benchmark_is_large_enough(bench: dict, cfg) -> Claim:
    return Claim.check("benchmark_is_large_enough", f"the benchmark has >= {cfg.min_functions} functions with "
                       f"plausible patches and >= {cfg.min_patches} patches",
                       {k: bench[k] for k in ("n_functions", "n_patches", "n_overfitting", "n_correct",
                                              "n_same_as_dev")},
                       f"n_functions >= {cfg.min_functions} and n_patches >= {cfg.min_patches}",
                       bench["n_functions"] >= cfg.min_functions and bench["n_patches"] >= cfg.min_patches)


def stopping_rule(classifier: dict) -> str:
    """What ends a fit of the solver that ran: Newton-CG only its gradient; lbfgs (the official solver) also a relative
    decrease of the loss below 64 machine epsilons (sklearn's `ftol`)."""
    if classifier["solver"] == "lbfgs":
        return (f"stopped at max |projected gradient| <= {classifier['tol']:g} or a relative decrease of the loss "
                f"below 64 machine epsilons")
    return f"reached max |gradient| <= {classifier['tol']:g}"


def classifier_converged(classifier: dict) -> Claim:
    return Claim.check("classifier_converged", f"every {classifier['solver']} fit of the syntactic classifier "
                       f"{stopping_rule(classifier)} within {classifier['max_iter']} iterations",
                       classifier, "no fit stopped early", classifier["converged"])


def claims(metrics: dict, cfg) -> list[Claim]:
    methods = metrics["evaluation"]["methods"]
    unit = cfg.evaluation.group_by
    signal = classifier_signal(metrics)
    return [benchmark_is_large_enough(metrics["benchmark"], cfg),
            classifier_converged(metrics["evaluation"]["classifier"]),
            rules_high_precision(methods, unit),
            rules_beat_syntactic_precision(methods, unit, signal),
            *(beats_baseline(methods, setting, metric, baseline, unit, signal)
              for setting in SETTINGS for baseline in BASELINES for metric in FOLD_METRICS)]
