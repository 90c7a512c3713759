"""AIM on raw strings, with any black box: `TextAIM(tokenizer).fit(texts, predict_proba).explain(texts, k)`.

- The black box is any function from a list of strings to class probabilities (N, C); adapters make one from a
  scikit-learn pipeline (`sklearn_classifier`: its `predict_proba` on strings) or a HuggingFace sequence classifier
  (`huggingface_classifier`: the tokenizer's ids and attention mask in, softmax of the logits out). Every output is
  checked: a wrong shape, values that are not probabilities (logits) or a class count that changes is a ValueError
  that names the problem.
- Tokenizers: `RegexTokenizer` (by default the corpus's lower-case words-and-punctuation regex; `whitespace_tokenizer()`
  splits on white space) or `HuggingFaceTokenizer(tokenizer)` (word pieces); `detokenize` joins tokens back into
  the string the black box reads.
- AIM reads token ids of a vocabulary of every token of the fit texts (PAD = 0, UNK = 1), cut to `length` tokens;
  the black box reads the kept tokens joined by the tokenizer (masked tokens are left out). `explain` ranks, for
  every class, the item's words by W_x[c] (one pass for all classes); PAD, UNK (a word AIM never saw, which it
  cannot weigh) and the tokenizer's special tokens are never ranked; a word that occurs twice is listed once (W_x
  depends on the word only).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch

from reprolab.methods.aim.blackbox import callable_black_box, check_probabilities
from reprolab.methods.aim.corpus import PAD, TOKEN, UNK, Vocabulary, split_indices
from reprolab.methods.aim.explainer import AIM, AIMConfig
from reprolab.methods.aim.modules import FeatureKind

PredictProba = Callable[[list[str]], Any]


class Tokenizer(Protocol):
    special: frozenset[str]

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: Sequence[str]) -> str: ...


@dataclasses.dataclass(frozen=True)
class RegexTokenizer:
    """Tokens = the regex's matches (lower-cased first with `lowercase`); joined back with spaces."""
    pattern: str = TOKEN.pattern
    lowercase: bool = True
    special: frozenset[str] = frozenset()

    def tokenize(self, text: str) -> list[str]:
        return re.findall(self.pattern, text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)


def whitespace_tokenizer() -> RegexTokenizer:
    """Tokens = the runs of non-space characters, case kept."""
    return RegexTokenizer(pattern=r"\S+", lowercase=False)


class HuggingFaceTokenizer:
    """A HuggingFace tokenizer's word pieces (`tokenize`, no special tokens added), joined back with
    `convert_tokens_to_string`; its special tokens ([CLS], [SEP], ...) are never ranked."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.special = frozenset(tokenizer.all_special_tokens)

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self.tokenizer.convert_tokens_to_string(list(tokens))


def sklearn_classifier(model: Any) -> PredictProba:
    """`model.predict_proba` on a list of strings (e.g. a fitted TF-IDF + logistic regression pipeline)."""
    if not hasattr(model, "predict_proba"):
        raise ValueError(f"{type(model).__name__} has no predict_proba: AIM needs class probabilities (use a "
                         "probabilistic classifier such as LogisticRegression)")
    classes = getattr(model, "classes_", None)

    def predict_proba(texts: list[str]) -> np.ndarray:
        p = np.asarray(model.predict_proba(list(texts)))
        if p.ndim != 2 or p.shape[0] != len(texts) or (classes is not None and p.shape[1] != len(classes)):
            expected = len(classes) if classes is not None else "C"
            raise ValueError(f"the scikit-learn model's predict_proba must return an array of shape (texts, classes) "
                             f"= ({len(texts)}, {expected}), got {p.shape}")
        return p

    return predict_proba


def huggingface_classifier(model: Any, tokenizer: Any, batch_size: int = 32, max_length: int = 512,
                           device: str = "cpu") -> PredictProba:
    """A HuggingFace sequence classifier: the tokenizer's input ids and attention mask (padded, truncated to
    `max_length`) in, the softmax of its logits (batch, num_labels) out; the model is put in eval mode."""
    model.eval()
    labels = getattr(getattr(model, "config", None), "num_labels", None)

    @torch.no_grad()
    def predict_proba(texts: list[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start:start + batch_size])
            encoded = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            logits = getattr(model(input_ids=encoded["input_ids"].to(device),
                                   attention_mask=encoded["attention_mask"].to(device)), "logits", None)
            if logits is None or logits.dim() != 2 or logits.shape[0] != len(chunk) or \
                    (labels is not None and logits.shape[1] != labels):
                shape = None if logits is None else tuple(logits.shape)
                raise ValueError(f"the HuggingFace model must return logits of shape (batch, num_labels) = "
                                 f"({len(chunk)}, {labels}), got {shape}: use a *ForSequenceClassification model")
            out.append(torch.softmax(logits.float(), dim=-1).cpu())
        return torch.cat(out).numpy()

    return predict_proba


def probabilities(predict_proba: PredictProba, texts: list[str], classes: int | None) -> torch.Tensor:
    """The black box's output on `texts`, checked: probabilities of shape (texts, classes)."""
    p = check_probabilities(predict_proba(texts), len(texts))
    if classes is not None and p.shape[1] != classes:
        raise ValueError(f"predict_proba returned {p.shape[1]} columns, but the explainer has {classes} classes")
    return p


def keeps_label(predict_proba: PredictProba, labels: Sequence[int], kept: Sequence[Sequence[str]],
                tokenizer: Tokenizer) -> np.ndarray:
    """Per item, 1 where the black box gives the kept words (joined by the tokenizer) the item's label: with K
    kept words, faithfulness@K (post-hoc accuracy)."""
    p = probabilities(predict_proba, [tokenizer.detokenize(words) for words in kept], None)
    return (p.argmax(1).numpy() == np.asarray(labels)).astype(float)


@dataclasses.dataclass(frozen=True)
class TextExplanation:
    """One text's explanation: the black box's label and probabilities, and per class the top words."""
    text: str                                   # as given
    tokens: tuple[str, ...]                     # its tokens, cut to `length`; the black box read them joined
    label: Any                                  # the black box's class for them
    probabilities: tuple[float, ...]
    top: dict[Any, list[tuple[str, float]]]     # per class, the top-K distinct words and their W_x[c], best first


class TextAIM:
    """`TextAIM(tokenizer, length, config, classes).fit(texts, predict_proba).explain(texts, k)`; `classes`: the
    class names (default: 0 .. C - 1, C read from the black box's first answer)."""

    def __init__(self, tokenizer: Tokenizer | None = None, length: int = 64, config: AIMConfig = AIMConfig(),
                 classes: Sequence[Any] | None = None, device: str = "cpu", seed: int = 0):
        if length < 1:
            raise ValueError(f"length must be >= 1 token, got {length}")
        if classes is not None and len(classes) < 2:
            raise ValueError(f"need at least 2 classes, got {list(classes)}")
        self.tokenizer = tokenizer or RegexTokenizer()
        self.length, self.config, self.device, self.seed = length, config, device, seed
        self.classes = None if classes is None else list(classes)

    def _tokens(self, texts: Sequence[str], argument: str) -> list[list[str]]:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"{argument} must be a list of strings, got {type(texts).__name__}")
        if len(texts) == 0:
            raise ValueError(f"{argument} is empty: no text to fit or explain")
        tokens = [self.tokenizer.tokenize(t)[:self.length] for t in texts]
        for i, (text, row) in enumerate(zip(texts, tokens)):
            if not row:
                raise ValueError(f"{argument}[{i}] ({text!r}) is empty (no token): an empty text cannot be explained")
        return tokens

    def _query(self, ids: torch.Tensor) -> torch.Tensor:
        """The black box on id rows: each row's non-PAD tokens joined into a string."""
        texts = [self.tokenizer.detokenize(self.vocab.decode([i for i in row if i != PAD])) for row in ids.tolist()]
        return probabilities(self.predict_proba, texts, len(self.classes))

    def fit(self, texts: Sequence[str], predict_proba: PredictProba,
            val_texts: Sequence[str] | None = None) -> "TextAIM":
        """Learns AIM for the black box `predict_proba` on `texts`; `val_texts` select the epoch (default: a seeded
        10 % of `texts`, at least one)."""
        tokens = self._tokens(texts, "texts")
        if val_texts is None:
            if len(tokens) < 2:
                raise ValueError("texts needs at least 2 texts when no val_texts are given (one is held out)")
            train, _, val = split_indices(len(tokens), self.seed, (0.9, 0.0))
            train_tokens, val_tokens = [tokens[i] for i in train], [tokens[i] for i in val]
        else:
            train_tokens, val_tokens = tokens, self._tokens(val_texts, "val_texts")
        self.predict_proba = predict_proba
        first = probabilities(predict_proba, [self.tokenizer.detokenize(train_tokens[0])],
                              None if self.classes is None else len(self.classes))
        if self.classes is None:
            if first.shape[1] < 2:
                raise ValueError(f"predict_proba returned {first.shape[1]} column: need probabilities of >= 2 classes")
            self.classes = list(range(first.shape[1]))
        self.vocab = Vocabulary.from_tokens(train_tokens + val_tokens, min_freq=1)
        train_ids = self.vocab.encode_tokens(train_tokens, self.length)
        val_ids = self.vocab.encode_tokens(val_tokens, self.length)
        self.aim = AIM(callable_black_box(self._query), len(self.classes), FeatureKind(vocab=len(self.vocab)),
                       self.config, self.device, self.seed).fit(train_ids, val_ids, desc="TextAIM")
        return self

    def explain(self, texts: Sequence[str], k: int = 5) -> list[TextExplanation]:
        """For each text, the black box's label and, per class, the top-K words with their weights W_x[c]."""
        if not hasattr(self, "aim"):
            raise ValueError("call fit(texts, predict_proba) before explain")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        tokens = self._tokens(texts, "texts")
        ids = self.vocab.encode_tokens(tokens, self.length, texts)
        special = torch.tensor([[t in self.tokenizer.special for t in row] + [False] * (self.length - len(row))
                                for row in tokens])
        rankable = (ids > UNK) & ~special
        unknown = torch.nonzero(~rankable.any(1))[:, 0].tolist()
        if unknown:
            i = unknown[0]
            raise ValueError(f"texts[{i}] ({texts[i]!r}) has no word the explainer knows (all unknown or special "
                             "tokens): fit on texts that contain its words")
        p = probabilities(self.predict_proba, [self.tokenizer.detokenize(row) for row in tokens], len(self.classes))
        weights = self.aim.weights(ids)
        return [TextExplanation(text, tuple(row), self.classes[int(p[i].argmax())], tuple(p[i].tolist()),
                                {c: top_words(row, weights[i, j, :len(row)], rankable[i, :len(row)], k)
                                 for j, c in enumerate(self.classes)})
                for i, (text, row) in enumerate(zip(texts, tokens))]


def top_words(tokens: Sequence[str], weights: torch.Tensor, rankable: torch.Tensor, k: int) -> list[tuple[str, float]]:
    """The K distinct rankable tokens with the largest weights, best first."""
    order = torch.argsort(weights, descending=True, stable=True).tolist()
    out: dict[str, float] = {}
    for position in order:
        if rankable[position] and tokens[position] not in out:
            out[tokens[position]] = float(weights[position])
        if len(out) == k:
            break
    return list(out.items())
