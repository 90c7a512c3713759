"""The WordNet folder NLTK reads is prepared by several worker processes at once: every file arrives by a rename and
a file already in place is not rewritten, so no process reads a half-written `lexnames` or data file."""

import multiprocessing

import pytest

from reprolab.methods.aim import wordnet as wordnet_module
from reprolab.methods.aim.wordnet import wordnet_root


def test_the_folder_is_written_by_renames_and_left_alone_when_in_place(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    debian.mkdir()
    (debian / "data.noun").write_text("x" * 1000)
    monkeypatch.setattr(wordnet_module, "WORDNET_DIR", debian)
    monkeypatch.setattr(wordnet_module, "cache_dir", lambda: tmp_path / "cache" / "arrays")
    root = wordnet_root()
    assert (root / "data.noun").read_text() == "x" * 1000 and (root / "data.noun").stat().st_nlink == 1
    lexnames = root / "lexnames"
    lines = lexnames.read_text().splitlines()
    assert len(lines) == 45 and lines[3] == "03 noun.Tops 1" and lines[44] == "44 adj.ppl 3"
    files = {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in root.iterdir()}
    wordnet_root()
    assert {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in root.iterdir()} == files  # untouched
    lexnames.write_text("00 adj.all 3\n")                                          # a truncated table
    wordnet_root()
    assert lexnames.read_text().splitlines() == lines
    assert lexnames.stat().st_ino != files["lexnames"][0]                            # replaced by a rename
    assert sorted(path.name for path in root.iterdir()) == ["data.noun", "lexnames"]


WORDS = ("good", "bad", "movie", "film", "great", "run", "fast", "slow", "happy", "sad", "light", "dark", "play",
         "story", "actor", "plot", "funny", "boring", "love", "hate") * 40


def synset_names(_: int) -> list[str | None]:
    return [s.name() if s is not None else None for w in WORDS for s in wordnet_module.wordnet().synsets(w)]


@pytest.mark.skipif(not wordnet_module.wordnet_available(), reason="WordNet 3.0 (Debian wordnet-base) not installed")
def test_forked_workers_read_wordnet_as_their_parent_did():
    """Workers forked after the parent read WordNet look up words at the same time: each opens its own files (with a
    shared file offset, a read at a sibling's offset finds no synset and NLTK fails)."""
    wordnet_module.wordnet().synsets("good")         # the parent opens the data files (and caches only these)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        read = pool.map(synset_names, range(4))
    expected = synset_names(0)
    assert None not in expected and read == [expected] * 4
