"""MAD's claims, checked on the summarised runs. The reproductions are one claim per case, decided by
`reprolab.runtime.claims.compare` on paired per-seed values: seed s gives MAD and its base the same teacher
(`teacher_seed`), the same student and generator initialisation and the same main noise stream
(`experiment.make_distiller`).

- `teachers_reach_reference_accuracy` (check): each teacher's test accuracy is at least its minimum from spec §7
  check 7 (digits 0.98, MNIST 0.985); the CIFAR-10 teacher has no sourced minimum, so its accuracy is only reported.
- `ema_generator_drifts_less` (reproduction): in the MAD runs, the mean JS divergence per generator step of the EMA
  generator G~ is below the generator G's; delta 0 (the paper's Fig. 4 states no size, spec §4).
- `mad_forgets_less` (reproduction): MAD's drop of old-sample agreement is below its base's; delta 0 (the paper
  states no size, spec §4). no_signal when either student's accuracy does not beat chance (1 / num_classes).
- `mad_accuracy_ge_base` (reproduction): MAD's last-k test accuracy (with `selection="best"`, its best evaluation)
  is above its base's; delta 0 (the paper states no size for these teacher-student pairs, spec §4). The same
  chance gate.
- `mad_cost_within_2_5x` (check): MAD's wall time per iteration (training and evaluation; the drift probe, which
  only the MAD runs run, is left out) is at most 2.5x its base's in every case (spec §7 check 9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reprolab.methods.mad.baselines import base_name
from reprolab.methods.mad.teachers import RECIPES
from reprolab.runtime.claims import Claim, Signal, compare

if TYPE_CHECKING:
    from reprolab.methods.mad.config import CaseConfig, MADExperimentConfig

TEACHER_MIN_ACCURACY = {"digits": 0.98, "mnist": 0.985}     # spec §7 check 7
MAX_COST_RATIO = 2.5                                         # spec §7 check 9
NO_SIZE = "the paper states no size (spec §4)"


def teacher_check(teachers: dict) -> Claim:
    observed = {c: {"accuracy": r["test_accuracy"], "minimum": TEACHER_MIN_ACCURACY.get(RECIPES[r["name"]].dataset)}
                for c, r in teachers.items()}
    minima = ", ".join(f"{d} >= {m:g}" for d, m in TEACHER_MIN_ACCURACY.items())
    return Claim.check("teachers_reach_reference_accuracy", f"each teacher reaches its reference test accuracy "
                       f"({minima}; spec §7 check 7)", observed, "accuracy >= minimum where the spec gives one",
                       all(v["accuracy"] >= v["minimum"] for v in observed.values() if v["minimum"] is not None))


def chance_signals(block: dict, case: CaseConfig, base: str) -> list[Signal]:
    """Each student's mean reported (last-k or best) test accuracy against chance, 1 / num_classes."""
    metric = case.accuracy_selection.metric
    return [Signal(f"{arm} student accuracy", block[method][metric]["mean"], "chance", 1.0 / case.num_classes)
            for method, arm in (("mad", "MAD"), ("base", base))]


def drift_claim(name: str, block: dict, case: CaseConfig) -> Claim:
    mad = block["mad"]
    return compare("ema_generator_drifts_less", f"{name}: the EMA generator's samples (alpha = "
                   f"{case.distill.alpha:g}) shift less per generator step than the generator's: mean "
                   "JS(T(G_t(z)), T(G_{t-1}(z))) on a fixed z, MAD runs", mad["js_step_G_ema"]["per_seed"],
                   mad["js_step_G"]["per_seed"], arms=("G~", "G"), better="lower", source=NO_SIZE,
                   extra={"ratio_G_over_G_ema": mad["js_ratio"]["per_seed"]})


def forgetting_claim(name: str, block: dict, case: CaseConfig) -> Claim:
    base = base_name(case.distill)
    return compare("mad_forgets_less", f"{name}: MAD forgets less than {base}: a smaller drop of the student's "
                   f"agreement with the teacher on the generator's samples from {case.forgetting_lag} iterations "
                   "earlier", block["mad"]["forgetting_drop"]["per_seed"], block["base"]["forgetting_drop"]["per_seed"],
                   arms=("MAD", base), better="lower", source=NO_SIZE, signals=chance_signals(block, case, base))


def accuracy_claim(name: str, block: dict, case: CaseConfig) -> Claim:
    base, selection = base_name(case.distill), case.accuracy_selection
    return compare("mad_accuracy_ge_base", f"{name}: MAD's student test accuracy ({selection.description}) "
                   f"is above {base}'s at equal student updates and samples",
                   block["mad"][selection.metric]["per_seed"], block["base"][selection.metric]["per_seed"],
                   arms=("MAD", base), source="the paper states no size for this teacher-student pair (spec §4)",
                   signals=chance_signals(block, case, base))


def cost_check(cases: dict) -> Claim:
    ratios = {c: b["mad"]["seconds_per_iteration"]["mean"] / b["base"]["seconds_per_iteration"]["mean"]
              for c, b in cases.items()}
    return Claim.check("mad_cost_within_2_5x", f"MAD's wall time per iteration is at most {MAX_COST_RATIO:g}x its "
                       "base's (spec §7 check 9)", ratios, f"ratio <= {MAX_COST_RATIO:g} in every case",
                       all(r <= MAX_COST_RATIO for r in ratios.values()))


def claims(metrics: dict, cfg: MADExperimentConfig) -> list[Claim]:
    """The claims of a run's metrics; `cfg` gives each case's settings (alpha, k and the accuracy selection, the
    forgetting lag)."""
    cases = metrics["cases"]
    result = [teacher_check(metrics["teachers"])]
    for build in (drift_claim, forgetting_claim, accuracy_claim):
        result += [build(name, block, getattr(cfg, name)) for name, block in cases.items()]
    return result + [cost_check(cases)]
