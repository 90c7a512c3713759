"""The claims, on the measured runs (means over seeds).

- Spec check 8a: the pipeline learns: memorising 64 images reaches >= 80 % training word accuracy.
- Spec check 8b: on random strings the NLL loss of the last 100 steps is <= 40 % of the first 5 steps' (no NaN).
- The rectifier learns: it gets a non-zero gradient at the first step, and after training its control points on
  curved test images have left the zoom-out initialisation (mean |shift| >= 0.005 in [0, 1] units).
- The paper (focal loss): SAFL with focal loss >= SAFL with NLL in word accuracy on the rare-character test set
  (the prototype saw NLL >= focal at small budgets).
- The rectifier helps on irregular text: with STN >= without, in word accuracy on the curved test set.
- The abstract (better than the compared methods): SAFL (NLL) >= CRNN-CTC on the uniform held-out test set.
Comparisons use word accuracy; when both models read under 1 % of the words they use 1-NED (and say so), and
when both are under 1 % there too the claim does not hold (no signal). Each is built only when its runs were made.
"""

from __future__ import annotations

from typing import Any

from reprolab.runtime.claims import Claim

MEMORISE_MIN = 0.8
LOSS_RATIO_MAX = 0.4
SHIFT_MIN = 0.005


SIGNAL_FLOOR = 0.01          # below this word accuracy for both, the comparison falls back to 1-NED


def _acc(runs: dict, run: str, part: str, metric: str = "word_accuracy") -> float:
    return runs[run][part][metric]["mean"]


def at_least(runs: dict, better: str, worse: str, part: str) -> tuple[bool, dict[str, Any]]:
    """better >= worse on `part`: in word accuracy, or in 1-NED when both read under 1 % of the words; no signal
    (both 1-NED under 1 % too) does not count as holding."""
    obs: dict[str, Any] = {run: {m: _acc(runs, run, part, m) for m in ("word_accuracy", "one_minus_ned")}
                           for run in (better, worse)}
    for metric in ("word_accuracy", "one_minus_ned"):
        a, b = obs[better][metric], obs[worse][metric]
        if max(a, b) >= SIGNAL_FLOOR:
            obs["decided_on"] = metric
            return a >= b, obs
    obs["decided_on"] = "no signal: both models read (almost) nothing of this set"
    return False, obs


def claims(metrics: dict[str, Any], cfg: Any) -> list[Claim]:
    runs, out = metrics["runs"], []
    if "memorise" in runs:
        acc = _acc(runs, "memorise", "train")
        out.append(Claim("memorises_small_set", f"SAFL memorises {cfg.memorise_images} images to >= "
                         f"{MEMORISE_MIN:.0%} training word accuracy in {cfg.memorise.steps} steps",
                         {"train_word_accuracy": acc,
                          "one_minus_ned": _acc(runs, "memorise", "train", "one_minus_ned")},
                         f">= {MEMORISE_MIN}", acc >= MEMORISE_MIN))
    if "nll" in runs:
        first, last = runs["nll"]["loss_first5"]["mean"], runs["nll"]["loss_last100"]["mean"]
        obs = {"first_5_steps": first, "last_100_steps": last, "ratio": last / first,
               **({"focal_ratio": runs["focal"]["loss_last100"]["mean"] / runs["focal"]["loss_first5"]["mean"]}
                  if "focal" in runs else {})}
        out.append(Claim("random_string_loss_falls", f"on random strings the NLL loss of the last 100 of "
                         f"{cfg.train.steps} steps is <= {LOSS_RATIO_MAX:.0%} of the first 5 steps'", obs,
                         f"ratio <= {LOSS_RATIO_MAX}", last / first <= LOSS_RATIO_MAX))
        if "control_point_shift" in runs["nll"]:
            obs = {"first_step_gradient_norm": runs["nll"]["rectifier_grad_norm"]["mean"],
                   "control_point_shift": runs["nll"]["control_point_shift"]["mean"]}
            out.append(Claim("rectifier_learns", "the rectifier gets gradient and its control points leave the "
                             "zoom-out initialisation", obs, f"gradient > 0 and shift >= {SHIFT_MIN}",
                             obs["first_step_gradient_norm"] > 0 and obs["control_point_shift"] >= SHIFT_MIN))
    if {"nll", "focal"} <= set(runs):
        holds, obs = at_least(runs, "focal", "nll", "test_rare")
        out.append(Claim("focal_ge_nll_on_rare_characters", "SAFL with focal loss reads strings of rare characters "
                         "at least as well as with NLL (held-out fonts)", obs,
                         f"focal >= nll (word accuracy; 1-NED when both < {SIGNAL_FLOOR})", holds))
    if {"nll", "nll_no_stn"} <= set(runs):
        holds, obs = at_least(runs, "nll", "nll_no_stn", "test_curved")
        obs["straight"] = {run: _acc(runs, run, "test_straight", "one_minus_ned") for run in ("nll", "nll_no_stn")}
        out.append(Claim("rectifier_helps_on_curved_text", "SAFL with the rectifier >= without it on curved held-out "
                         "text (straight text's 1-NED shown for contrast)", obs,
                         f"with >= without (word accuracy; 1-NED when both < {SIGNAL_FLOOR})", holds))
    if {"nll", "crnn_ctc"} <= set(runs):
        holds, obs = at_least(runs, "nll", "crnn_ctc", "test_uniform")
        out.append(Claim("safl_ge_crnn_ctc", "SAFL (NLL) >= CRNN-CTC on the uniform held-out test set, same budget",
                         obs, f"safl >= crnn (word accuracy; 1-NED when both < {SIGNAL_FLOOR})", holds))
    return out
