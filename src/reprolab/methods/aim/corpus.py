"""Text items as AIM reads them: lower-case regex tokens, a vocabulary, fixed-length id rows, a seeded split.

Tokens (the prototype's): words with apostrophes, or one punctuation mark each. Ids: PAD = 0, UNK = 1, then the
vocabulary (tokens seen >= min_freq times in the training texts, most frequent first, ties alphabetical). Rows are
cut or right-padded to L. Split: shuffle with a seed, 80 / 10 / 10 (train / validation / test).
Long documents [design, spec 5]: 7 snippets of one part of the split, 4-7 of them from the document's label,
shuffled; a document of n snippets takes the same share, ceil(4 n / 7) to n of them from its label (12-20 of 20).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Sequence

import numpy as np
import torch

PAD, UNK = 0, 1
TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-case words (with inner apostrophes) and single punctuation marks."""
    return TOKEN.findall(text.lower())


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Token ids: PAD = 0, UNK = 1, then the kept tokens."""
    tokens: tuple[str, ...]             # id i >= 2 is tokens[i - 2]

    @classmethod
    def build(cls, texts: Sequence[str], min_freq: int = 2) -> "Vocabulary":
        return cls.from_tokens([tokenize(text) for text in texts], min_freq)

    @classmethod
    def from_tokens(cls, token_lists: Sequence[Sequence[str]], min_freq: int = 2) -> "Vocabulary":
        """The tokens seen >= min_freq times, most frequent first, ties alphabetical."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        kept = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        return cls(tuple(kept))

    def __len__(self) -> int:
        return len(self.tokens) + 2

    @property
    def index(self) -> dict[str, int]:
        return {t: i + 2 for i, t in enumerate(self.tokens)}

    def encode(self, texts: Sequence[str], length: int) -> torch.Tensor:
        """(N, length) ids; an empty text is an error (nothing to explain)."""
        return self.encode_tokens([tokenize(text) for text in texts], length, texts)

    def encode_tokens(self, token_lists: Sequence[Sequence[str]], length: int,
                      texts: Sequence[str] | None = None) -> torch.Tensor:
        """(N, length) ids of tokenized texts (unknown tokens: UNK); a text without tokens is an error that quotes
        it (from `texts`)."""
        index, rows = self.index, torch.zeros((len(token_lists), length), dtype=torch.long)
        for row, tokens in enumerate(token_lists):
            ids = [index.get(t, UNK) for t in tokens][:length]
            if not ids:
                quoted = f" ({texts[row]!r})" if texts is not None else ""
                raise ValueError(f"text {row}{quoted} has no token: an empty text cannot be explained")
            rows[row, :len(ids)] = torch.tensor(ids)
        return rows

    def decode(self, ids: Sequence[int]) -> list[str]:
        return ["<pad>" if i == PAD else "<unk>" if i == UNK else self.tokens[i - 2] for i in ids]


@dataclasses.dataclass(frozen=True)
class TextSplit:
    """Ids (N, L), labels and texts of one part."""
    ids: torch.Tensor
    labels: torch.Tensor
    texts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int]) -> "TextSplit":
        index = list(index)
        return TextSplit(self.ids[index], self.labels[index], tuple(self.texts[i] for i in index))


@dataclasses.dataclass(frozen=True)
class TextTask:
    name: str
    vocab: Vocabulary
    classes: tuple[str, ...]
    length: int
    train: TextSplit
    val: TextSplit
    test: TextSplit


def split_indices(n: int, seed: int, fractions: tuple[float, float] = (0.8, 0.1)) -> tuple[list[int], ...]:
    order = np.random.default_rng(seed).permutation(n).tolist()
    a, b = int(n * fractions[0]), int(n * (fractions[0] + fractions[1]))
    return order[:a], order[a:b], order[b:]


def build_task(name: str, texts: Sequence[str], labels: Sequence[int], classes: tuple[str, ...], length: int,
               seed: int = 0, min_freq: int = 2) -> TextTask:
    """Split, build the vocabulary on the training texts, encode every part."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    parts = split_indices(len(texts), seed)
    train_texts = [texts[i] for i in parts[0]]
    vocab = Vocabulary.build(train_texts, min_freq)
    splits = [TextSplit(vocab.encode([texts[i] for i in p], length), torch.tensor([labels[i] for i in p]),
                        tuple(texts[i] for i in p)) for p in parts]
    return TextTask(name, vocab, classes, length, *splits)


def long_document_task(name: str, texts: Sequence[str], labels: Sequence[int], classes: tuple[str, ...],
                       counts: tuple[int, int, int], length: int, seed: int = 0, snippets: int = 7,
                       min_freq: int = 2) -> TextTask:
    """Documents of `snippets` snippets [design, spec 5]: split the snippets first (80 / 10 / 10), then build
    counts[i] documents from each part, so no snippet is shared between parts. A document takes a label, between
    ceil(4 snippets / 7) and `snippets` snippets of it (spec 5: 4-7 of 7, so the label is always the majority) and the
    rest from the other classes, shuffled."""
    own_range = (-(-4 * snippets // 7), snippets)
    rng = np.random.default_rng(seed)
    parts = []
    for index, count in zip(split_indices(len(texts), seed), counts):
        part_labels = np.asarray([labels[i] for i in index])
        by_class = {c: [index[j] for j in np.flatnonzero(part_labels == c)] for c in range(len(classes))}
        docs, doc_labels = [], []
        for _ in range(count):
            label = int(rng.integers(len(classes)))
            own = int(rng.integers(own_range[0], own_range[1] + 1))
            others = [i for c, members in by_class.items() if c != label for i in members]
            chosen = [*rng.choice(by_class[label], own, replace=False), *rng.choice(others, snippets - own,
                                                                                     replace=False)]
            rng.shuffle(chosen)
            docs.append(" ".join(texts[i] for i in chosen))
            doc_labels.append(label)
        parts.append((docs, doc_labels))
    vocab = Vocabulary.build(parts[0][0], min_freq)
    splits = [TextSplit(vocab.encode(d, length), torch.tensor(y), tuple(d)) for d, y in parts]
    return TextTask(name, vocab, classes, length, *splits)
