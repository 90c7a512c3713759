"""Brevity and purity of a set of selected words [official code, `utils_eval.py`].

Brevity (lower is better): each distinct selected token gets a set of related words: for every lemma of the token
(lemminflect `getAllLemmas`, as the official code) and every WordNet synset of that lemma, the synset's lemma names
and those of its similar-to and also-see synsets [design: the official synonym table is not published]. One greedy
pass over the tokens in order: a token whose set intersects an earlier head's set joins that head (first match)
and is no head itself; brevity = the number of heads. The official code adds the string 'similar' to the set of
every token WordNet knows, so all of them merge into one head: brevity = unknown tokens + 1[any known]
(`official_bug=True`).
Purity (lower is better): |set(selected tokens) & (stopwords | punctuation)| / K, scikit-learn's English stopwords.

WordNet 3.0 comes from the Debian package `wordnet-base` (/usr/share/wordnet, installed by `make setup`). NLTK
reads it from a cache folder that links its files and adds the standard `lexnames` table the package lacks.
"""

from __future__ import annotations

import functools
import os
import shutil
import string
import warnings
from pathlib import Path
from typing import Sequence

from reprolab.data.root import cache_dir
from reprolab.runtime.io import atomic_write

WORDNET_DIR = Path("/usr/share/wordnet")
# WordNet 3.0's lexicographer files: number, name, syntactic category (the standard `lexnames` table).
LEXNAMES = ("adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
            "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
            "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
            "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
            "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
            "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
            "adj.ppl").split()
CATEGORY = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


def stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | frozenset(string.punctuation)


def purity(tokens: Sequence[str], k: int) -> float:
    """The number of distinct stopwords and punctuation marks among the selected tokens, over K."""
    return len(set(tokens) & stopwords()) / k


def wordnet_available() -> bool:
    return (WORDNET_DIR / "data.noun").exists()


def wordnet_root() -> Path:
    """The folder NLTK reads: copies of the package's files (NLTK refuses linked files; about 30 MB) and `lexnames`.
    Several worker processes prepare it at once, so every file is written to a temp file and renamed (a reader sees
    the old or the new file, never a part of one), and a file already in place is left alone."""
    root = cache_dir().parent / "wordnet"
    root.mkdir(parents=True, exist_ok=True)
    for path in WORDNET_DIR.iterdir():
        target = root / path.name
        if target.is_symlink() or (target.exists() and target.stat().st_nlink > 1):
            target.unlink(missing_ok=True)
        if path.is_file() and not target.exists():
            atomic_write(target, functools.partial(shutil.copyfile, path))
    lexnames = "".join(f"{i:02d} {name} {CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))
    target = root / "lexnames"
    if not target.exists() or target.read_text() != lexnames:
        atomic_write(target, lambda tmp: tmp.write_text(lexnames))
    return root


def wordnet():
    """NLTK's WordNet reader on the Debian copy of WordNet 3.0, opened by this process. NLTK keeps the data files
    open and seeks before each read; a forked worker that used its parent's reader would share those files' offsets
    with its siblings, and a read at a sibling's offset finds no synset (NLTK then returns None)."""
    return process_wordnet(os.getpid())


@functools.cache
def process_wordnet(pid: int):
    """`wordnet()` for the process `pid`."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    if not wordnet_available():
        raise FileNotFoundError(f"WordNet 3.0 not found in {WORDNET_DIR}: install the Debian package wordnet-base "
                                f"(`make setup` does when run as root), or skip brevity (brevity=False)")
    root = wordnet_root()
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))               # NLTK reads corpora only below its data path

    class Reader(WordNetCorpusReader):
        def map_wn(self, version="oewn"):          # no Open Multilingual WordNet mapping offline
            return None

    with warnings.catch_warnings():                    # "multilingual functions are not available": expected
        warnings.simplefilter("ignore", UserWarning)
        return Reader(str(root), None)


@functools.cache
def related_words(token: str, official_bug: bool = False) -> frozenset[str]:
    from lemminflect import getAllLemmas

    reader = wordnet()
    lemmas = {lemma for forms in getAllLemmas(token).values() for lemma in forms}
    words: set[str] = set()
    for lemma in lemmas:
        synsets = reader.synsets(lemma)
        for synset in synsets:
            for s in [synset, *synset.similar_tos(), *synset.also_sees()]:
                words.update(s.lemma_names())
        if synsets and official_bug:
            words.add("similar")
    return frozenset(words)


def brevity(tokens: Sequence[str], official_bug: bool = False) -> int:
    """The number of heads after the greedy merge of related tokens (distinct tokens, in order)."""
    sets = {t: related_words(t, official_bug) for t in dict.fromkeys(tokens)}
    heads: list[str] = []
    merged: set[str] = set()
    keys = list(sets)
    for i, head in enumerate(keys):
        if head in merged:
            continue
        heads.append(head)
        for other in keys[i + 1:]:
            if other not in merged and sets[head] & sets[other]:
                merged.add(other)
    return len(heads)
