import dataclasses

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from reprolab.methods.invalidator.evaluate import (EvalConfig, classifier_diagnostics, convergence, deduplicated,
                                                   distance_aucs, embedding_hash, evaluate, fold_scores,
                                                   fold_thresholds, no_false_positive_threshold, scores,
                                                   syntactic_probabilities)
from reprolab.methods.invalidator.syntactic import features, fit_classifier

PERTURBATION = 1e-7


def synthetic_benchmark(seed: int = 0, n_modules: int = 4, bugs: int = 2, patches: int = 8, dim: int = 384,
                        norm: float = 300.0) -> tuple[list[dict], dict[str, np.ndarray], np.ndarray]:
    """A benchmark skeleton (modules, bugs, patches) and embeddings for it, in `embed_sides`' format. Per bug, a
    buggy side b and a fixed side (b plus noise); each patch is overfitting (b plus noise) or correct (the fixed side
    plus noise) at random. Rows are scaled to `norm`: the larger the spread of the features, the less the optimum
    itself moves when the embeddings do (at norm 300 a 1e-7 change moved the converged scores by about 2e-7)."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(8, dim))
    benchmark, emb, labels = [], {side: [] for side in ("b", "p", "g", "dev_b", "dev_p")}, []
    for m in range(n_modules):
        for _ in range(bugs):
            buggy = rng.normal(size=8) @ topics + 0.3 * rng.normal(size=dim)
            fixed = buggy + 0.2 * rng.normal(size=dim)
            emb["dev_b"].append(buggy)
            emb["dev_p"].append(fixed)
            for _ in range(patches):
                overfitting = bool(rng.random() < 0.5)
                emb["b"].append(buggy)
                emb["p"].append((buggy if overfitting else fixed) + 0.1 * rng.normal(size=dim))
                emb["g"].append(fixed)
                labels.append(overfitting)
        benchmark.append({"subject": f"m{m}.f", "module": f"m{m}", "bugs": [{"bug": k} for k in range(bugs)],
                          "patches": [{"module": f"m{m}"} for _ in range(bugs * patches)]})
    emb = {side: norm * np.array(rows) / np.linalg.norm(rows, axis=1, keepdims=True) for side, rows in emb.items()}
    return benchmark, emb, np.array(labels)


def test_a_tiny_change_of_the_embeddings_leaves_every_score_within_1e_6():
    """The classifier is fitted to convergence, so its scores are a function of the embeddings, not of where the
    optimiser stopped: a 1e-7 change of every embedding (float noise of another CPU or thread count is far smaller)
    moves no leave-one-program-out score by more than 1e-6. Fitted as the official code does (lbfgs, sklearn's
    default tol), the same change moved scores by 7e-6 to 1.5e-4 on these data (seeds 0-2)."""
    benchmark, emb, y = synthetic_benchmark()
    semantic = np.zeros(len(y), bool)
    cfg = EvalConfig(encoder="tfidf-svd")
    base = syntactic_probabilities(benchmark, emb, y, semantic, cfg)
    rng = np.random.default_rng(1)
    for _ in range(3):
        moved = {side: v + PERTURBATION * rng.standard_normal(v.shape) for side, v in emb.items()}
        other = syntactic_probabilities(benchmark, moved, y, semantic, cfg)
        for variant in ("gt", "no_gt"):
            assert np.abs(other[variant]["prob"] - base[variant]["prob"]).max() < 1e-6, variant
    assert convergence(base)["converged"]


def test_convergence_counts_the_fits_and_a_capped_fit_is_not_converged(monkeypatch):
    benchmark, emb, y = synthetic_benchmark(n_modules=3, patches=4)
    syn = syntactic_probabilities(benchmark, emb, y, np.zeros(len(y), bool), EvalConfig(encoder="tfidf-svd"))
    record = convergence(syn)
    assert record["converged"] and record["gt"]["fits"] == 3 + 3 * 2      # 3 outer folds, 2 inner folds each
    assert 0 < record["gt"]["iterations_max"] < record["max_iter"]
    monkeypatch.setattr("reprolab.methods.invalidator.syntactic.MAX_ITER", 1)
    x = np.random.default_rng(0).normal(size=(40, 5))
    _, iterations, converged = fit_classifier(x, x[:, 0] + x[:, 1] > 0)
    assert iterations == 1 and not converged


def test_fold_scores_are_per_program_and_undefined_where_nothing_is_flagged():
    y = np.array([1, 1, 0, 0, 1, 0], bool)
    pred = np.array([1, 0, 0, 0, 0, 0], bool)
    groups = np.array(["b", "b", "b", "a", "a", "a"])
    per_fold = fold_scores(y, pred, groups)                     # folds in sorted order: a, b
    assert per_fold["accuracy"] == [2 / 3, 2 / 3]
    assert np.isnan(per_fold["precision"][0]) and per_fold["precision"][1] == 1.0
    assert per_fold["recall"] == [0.0, 0.5]
    assert per_fold["f1"] == [0.0, 2 / 3]


def test_the_embedding_hash_changes_with_any_embedding():
    emb = {"b": np.zeros((2, 3)), "p": np.ones((2, 3))}
    assert embedding_hash(emb) == embedding_hash({"p": np.ones((2, 3)), "b": np.zeros((2, 3))})
    moved = {"b": emb["b"], "p": emb["p"] + np.array([[0, 0, 1e-12], [0, 0, 0]])}
    assert embedding_hash(moved) != embedding_hash(emb)


def test_classifier_diagnostics_of_a_known_benchmark():
    """Each outer fit trains on the other 2 modules' 16 patches and 4 developer patches, and with 1540 features
    (770 without GT) it fits all of them."""
    benchmark, emb, y = synthetic_benchmark(n_modules=3, patches=4)
    syn = syntactic_probabilities(benchmark, emb, y, np.zeros(len(y), bool), EvalConfig(encoder="tfidf-svd"))
    results = {f"syntactic_{v}@chosen": {"all": scores(y, syn[v]["prob"] > 0.5, syn[v]["prob"])} for v in syn}
    record = classifier_diagnostics(syn, results, y, np.ones(len(y), bool))
    assert record["gt"]["oof_auc"] == roc_auc_score(y, syn["gt"]["prob"])
    assert record["no_gt"]["oof_auc"] == roc_auc_score(y, syn["no_gt"]["prob"])
    for name, variant, side in (("gt_distance", "gt", "g"), ("buggy_distance", "no_gt", "b")):
        assert np.array_equal(syn[variant]["distance"], np.linalg.norm(emb[side] - emb["p"], axis=1))
        assert record[f"{name}_auc"]["all"] == roc_auc_score(y, syn[variant]["distance"])
    assert record["gt"]["features"] == 2 * (2 * 384 + 2) and record["no_gt"]["features"] == 2 * 384 + 2
    assert len(syn["gt"]["outer_fits"]) == 3 and record["gt"]["train_rows_median"] == 2 * 8 + 2 * 2
    assert record["gt"]["train_accuracy_min"] == 1.0
    positives = sorted(int(y[np.repeat(np.arange(3), 8) != m].sum()) for m in range(3))
    assert record["gt"]["train_positives_median"] == positives[1]


def test_the_distance_aucs_rank_patches_by_their_embedding_distances():
    """|g - p| = 0, 1 (correct), 3, 5 (overfitting): AUC 1; |b - p| = 3, 3.16 (correct), 3, 0 (overfitting): one
    tie in four pairs, AUC 0.125; without the first patch: 1 and 0."""
    emb = {"g": np.zeros((4, 2)), "p": np.array([[0, 0], [0, 1], [3, 0], [0, 5]], float),
           "b": np.array([[3, 0], [3, 0], [0, 0], [0, 5]], float)}
    y = np.array([False, False, True, True])
    distances = {"gt_distance": features(emb["b"], emb["p"], emb["g"])[:, -1],       # the features' last columns
                 "buggy_distance": features(emb["b"], emb["p"], None)[:, -1]}
    record = distance_aucs(distances, y, np.array([False, True, True, True]))
    assert record["gt_distance_auc"] == {"all": 1.0, "without_same_as_dev": 1.0}
    assert record["buggy_distance_auc"] == {"all": 0.125, "without_same_as_dev": 0.0}


def test_official_symbol_tokens_keep_every_operator_that_word_tokens_drop():
    """The official `read_patch` splits on `([^\\w_])` and keeps each symbol, so a comparison swap changes the text
    the encoder reads; the default word tokens drop it. Comments are dropped either way."""
    from reprolab.methods.invalidator.syntactic import normalise, patch_sides

    lines = ["if a <= b:  # note", "    return a+b", "# dropped"]
    assert normalise(lines, symbols=True) == "if a < = b : return a + b"
    assert normalise(lines) == "if a b return a b"
    before = "def f(a, b):\n    if a < b:\n        return a\n    return b\n"
    after = before.replace("a < b", "a <= b")
    buggy_side, patched_side = patch_sides(before, after, symbols=True)
    assert buggy_side != patched_side and "< =" in patched_side and "< =" not in buggy_side
    assert patch_sides(before, after)[0] == patch_sides(before, after)[1]


def test_the_official_rule_takes_the_lowest_t_without_a_false_positive():
    """Correct patches at 0.9 and 0.975: at p > T the lowest i/200 that flags neither is 0.975; at the official
    p >= T it is 0.98. A correct patch at 1.0 leaves a false positive at every T: 0.995. No correct patch: 0.005."""
    y = np.array([True, False, True, False])
    prob = np.array([0.99, 0.9, 0.5, 0.975])
    assert no_false_positive_threshold(y, prob) == 0.975
    assert no_false_positive_threshold(y, prob, ge=True) == 0.98
    assert no_false_positive_threshold(y, np.array([0.99, 1.0, 0.5, 0.2])) == 0.995
    assert no_false_positive_threshold(np.ones(2, bool), np.array([0.3, 0.9])) == 0.005


def test_threshold_rule_chooses_both_ts_of_a_training_fold():
    """Overfitting at 0.8 and 0.6, correct at 0.7 and 0.1. F1 of the classifier alone: 0.8 for T in [0.1, 0.6)
    (ties: the highest, 0.595); with the rule on the patch at 0.6, 1.0 for T in [0.7, 0.8): 0.795. The official
    rule: both at 0.7, the lowest T that flags no correct patch."""
    y = np.array([True, True, False, False])
    prob = np.array([0.8, 0.6, 0.7, 0.1])
    semantic = np.array([False, True, False, False])
    assert fold_thresholds(y, semantic, prob, EvalConfig()) == (0.795, 0.595)
    assert fold_thresholds(y, semantic, prob, EvalConfig(threshold_rule="no_false_positive")) == (0.7, 0.7)


def test_official_ge_flags_the_classifier_alone_at_p_equal_t_and_leaves_invalidator_strict(monkeypatch):
    """Probabilities on the thresholds themselves (0.5, 0.975, the fold-chosen 0.7): the classifier alone flags
    them with `official_ge`, INVALIDATOR (rules OR p > T, strict in the official code) never does."""
    prob = np.array([0.5, 0.975, 0.93, 0.7, 0.2])
    overfitting = [True, True, True, False, False]
    n = len(prob)
    benchmark = [{"patches": [{"correct": not o, "same_as_dev": False, "module": f"m{i % 2}"}
                              for i, o in enumerate(overfitting)]}]
    block = {"prob": prob, "threshold": np.full(n, 0.7), "threshold_syntactic": np.full(n, 0.7), "fits": [],
             "outer_fits": [], "features": 1, "distance": prob}
    module = "reprolab.methods.invalidator.evaluate"
    monkeypatch.setattr(f"{module}.make_encoder", lambda name, seed: None)
    monkeypatch.setattr(f"{module}.side_texts", lambda benchmark, symbols: ([], [], []))
    monkeypatch.setattr(f"{module}.embed_sides", lambda benchmark, encoder, symbols, texts: {})
    monkeypatch.setattr(f"{module}.semantic_columns", lambda benchmark: {
        "semantic": np.zeros(n, bool), "rule": np.array([""] * n), "naive": np.zeros(n, bool),
        "traced": np.ones(n, bool)})
    monkeypatch.setattr(f"{module}.syntactic_probabilities", lambda *args: {"gt": block, "no_gt": block})
    counts = {ge: {name: (r["all"]["tp"], r["all"]["fp"])
                   for name, r in evaluate(benchmark, EvalConfig(official_ge=ge))["methods"].items()}
              for ge in (False, True)}
    assert [counts[False][k] for k in ("syntactic_gt@0.5", "syntactic_gt@0.975", "syntactic_gt@chosen")] == [
        (2, 1), (0, 0), (2, 0)]
    assert [counts[True][k] for k in ("syntactic_gt@0.5", "syntactic_gt@0.975", "syntactic_gt@chosen")] == [
        (3, 1), (1, 0), (2, 1)]
    for ge in (False, True):
        assert counts[ge]["invalidator_gt@0.975"] == (0, 0) and counts[ge]["invalidator_gt@chosen"] == (2, 0)


def test_official_solver_fits_the_official_lbfgs_at_its_default_tol():
    """The official code fits LogisticRegression(solver='lbfgs', max_iter=10000): `official_solver` gives exactly its
    probabilities, which differ from the default Newton-CG optimum on 300 features of 40 rows (lbfgs stops at
    tol 1e-4 before the optimum); the convergence record names the solver that ran."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 300))
    y = x[:, 0] + 0.5 * rng.normal(size=40) > 0
    official = LogisticRegression(solver="lbfgs", max_iter=10000).fit(x, y).predict_proba(x)[:, 1]
    flagged_model, _, converged = fit_classifier(x, y, official_unscaled=True, official_solver=True)
    assert np.array_equal(flagged_model.predict_proba(x)[:, 1], official) and converged
    default_model = fit_classifier(x, y, official_unscaled=True)[0]
    assert np.abs(default_model.predict_proba(x)[:, 1] - official).max() > 1e-4
    assert convergence({}, official_solver=True)["solver"] == "lbfgs"
    assert convergence({}, official_solver=True)["tol"] == 1e-4
    assert convergence({})["solver"] == "newton-cg"


def test_deduplicated_drops_training_patches_whose_patched_text_was_seen():
    """Test texts a, b seen first; training rows 0..5 with texts a, c, c, b, d, d keep rows 1 and 4."""
    patched = ["a", "c", "c", "b", "d", "d", "a", "b"]
    assert deduplicated(np.arange(6), np.array([6, 7]), patched).tolist() == [1, 4]


@pytest.mark.filterwarnings("ignore:The line search algorithm did not converge")   # Newton-CG on 10 rows
def test_official_training_sets_hold_every_developer_patch_and_deduplicated_patches():
    """Three modules of 8 patches whose patched texts come in pairs t0 t0 t1 t1 ... (row 8 also reads t0): the
    official deduplication keeps 8, 7 and 8 training patches of the outer folds (m0: row 8 equals a test text;
    m1: rows 0 and 1 do; m2: row 8 equals the earlier kept row 0) and 4 or 3 per inner training module; the official
    developer patches are all 6 in every fit (default: the 4, then 2, of the programs not held out)."""
    benchmark, emb, y = synthetic_benchmark(n_modules=3, patches=4)
    patched = [f"t{i // 2}" for i in range(len(y))]
    patched[8] = "t0"
    semantic = np.zeros(len(y), bool)
    cfg = EvalConfig(encoder="tfidf-svd", official_dev_patches=True, official_dedup=True)
    fits = syntactic_probabilities(benchmark, emb, y, semantic, cfg, patched)["gt"]["fits"]
    assert [f["rows"] for f in fits] == [8 + 6, 4 + 6, 4 + 6, 7 + 6, 4 + 6, 3 + 6, 8 + 6, 4 + 6, 4 + 6]
    dev_only = dataclasses.replace(cfg, official_dedup=False)
    assert [f["rows"] for f in syntactic_probabilities(benchmark, emb, y, semantic, dev_only)["gt"]["fits"]] == \
        [16 + 6, 8 + 6, 8 + 6] * 3
    default = syntactic_probabilities(benchmark, emb, y, semantic, EvalConfig(encoder="tfidf-svd"))["gt"]["fits"]
    assert [f["rows"] for f in default] == [16 + 4, 8 + 2, 8 + 2] * 3
    with pytest.raises(ValueError, match="official_dedup"):
        syntactic_probabilities(benchmark, emb, y, semantic, cfg)
