"""The text API: raw strings, any black box (a plain function, a scikit-learn pipeline, a HuggingFace classifier),
configurable tokenization, special tokens never ranked, and a clear error for every kind of bad input."""

import dataclasses

import numpy as np
import pytest
import torch

from reprolab.methods.aim.explainer import AIMConfig
from reprolab.methods.aim.modules import ModuleSizes
from reprolab.methods.aim.text import (HuggingFaceTokenizer, RegexTokenizer, TextAIM, huggingface_classifier,
                                       keeps_label, sklearn_classifier, whitespace_tokenizer)

SMALL = AIMConfig(sizes=ModuleSizes(embed=16, selector_hidden=16, explainer_hidden=32, approximator_hidden=32),
                  epochs=8, batch_size=25)
TRIGGERS = {"neg": ("awful", "dull", "poor"), "pos": ("great", "superb", "moving")}
FILLER = ("the", "film", "plot", "actor", "scene", "story", "music", "ending", "camera", "cast", "it", "was")


def reviews(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts of 5-9 filler words and one trigger word of the label at a random place; the trigger words."""
    rng = np.random.default_rng(seed)
    texts, triggers = [], []
    for _ in range(n):
        words = list(rng.choice(FILLER, rng.integers(5, 10)))
        trigger = str(rng.choice(TRIGGERS["neg" if rng.random() < 0.5 else "pos"]))
        words.insert(int(rng.integers(len(words) + 1)), trigger)
        texts.append(" ".join(words))
        triggers.append(trigger)
    return texts, triggers


def rule(texts: list[str]) -> np.ndarray:
    """P(neg), P(pos) = softmax of +-3 x (#positive - #negative trigger words)."""
    score = np.array([sum((w in TRIGGERS["pos"]) - (w in TRIGGERS["neg"]) for w in t.split()) for t in texts])
    p = 1 / (1 + np.exp(-6.0 * score))
    return np.stack([1 - p, p], axis=1)


@pytest.fixture(scope="module")
def fitted():
    texts, _ = reviews(300)
    return TextAIM(whitespace_tokenizer(), length=12, config=SMALL, classes=("neg", "pos")).fit(texts, rule)


def test_aim_on_raw_strings_ranks_the_trigger_word_first_for_the_label(fitted):
    """Known answer: the word that decides the rule is AIM's top word for the rule's label, and the other class's
    list holds words with their weights, best first."""
    texts, triggers = reviews(60, seed=1)
    explained = fitted.explain(texts, k=3)
    top = [e.top[e.label][0][0] for e in explained]
    assert np.mean([t == w for t, w in zip(top, triggers)]) >= 0.9
    first = explained[0]
    assert first.tokens == tuple(texts[0].split()) and set(first.top) == {"neg", "pos"}
    assert first.label == ("pos" if triggers[0] in TRIGGERS["pos"] else "neg")
    assert first.probabilities == pytest.approx(tuple(rule([texts[0]])[0]), abs=1e-6)
    other = [weight for _, weight in first.top["neg" if first.label == "pos" else "pos"]]
    assert len(other) == 3 and other == sorted(other, reverse=True)
    labels = [fitted.classes.index(e.label) for e in explained]
    assert keeps_label(rule, labels, [[w] for w in top], fitted.tokenizer).mean() >= 0.9


def test_a_repeated_word_is_listed_once_and_unknown_words_are_never_ranked(fitted):
    explained = fitted.explain(["great great zzz film", "qqq awful"], k=4)
    assert [w for w, _ in explained[0].top["pos"]] == ["great", "film"]      # zzz: never seen in fit
    assert "qqq" not in [w for w, _ in explained[1].top["neg"]]


def test_bad_input_is_a_value_error_that_names_the_problem(fitted):
    with pytest.raises(ValueError, match=r"texts\[1\] \('   '\) is empty"):
        fitted.explain(["great film", "   "])
    with pytest.raises(ValueError, match=r"texts\[0\] \('zzz qqq'\) has no word the explainer knows"):
        fitted.explain(["zzz qqq", "great film"])
    with pytest.raises(ValueError, match="list of strings"):
        fitted.explain("great film")
    with pytest.raises(ValueError, match="k must be >= 1"):
        fitted.explain(["great film"], k=0)
    texts, _ = reviews(20)
    logits = lambda batch: np.log(rule(batch)) + 2.0                         # noqa: E731
    with pytest.raises(ValueError, match="logits"):
        TextAIM(whitespace_tokenizer(), config=SMALL).fit(texts, logits)
    three = lambda batch: np.full((len(batch), 3), 1 / 3)                     # noqa: E731
    with pytest.raises(ValueError, match="returned 3 columns, but the explainer has 2 classes"):
        TextAIM(whitespace_tokenizer(), config=SMALL, classes=("neg", "pos")).fit(texts, three)
    with pytest.raises(ValueError, match="call fit"):
        TextAIM().explain(["great film"])


def test_regex_tokenizer_and_the_scikit_learn_adapter():
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline

    assert RegexTokenizer().tokenize("It's a must-see!") == ["it's", "a", "must", "-", "see", "!"]
    assert RegexTokenizer(pattern=r"[A-Za-z]+", lowercase=False).tokenize("Great, ok") == ["Great", "ok"]
    texts, _ = reviews(200)
    labels = rule(texts).argmax(1)
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    predict_proba = sklearn_classifier(pipeline)
    assert predict_proba(texts[:3]).shape == (3, 2)
    explained = TextAIM(config=SMALL).fit(texts, predict_proba).explain(texts[:2], k=2)
    assert explained[0].label in (0, 1) and set(explained[0].top) == {0, 1}
    with pytest.raises(ValueError, match="has no predict_proba"):
        sklearn_classifier(make_pipeline(TfidfVectorizer(), LinearRegression()).fit(texts, labels))

    class Transposed:
        classes_ = np.array([0, 1])

        def predict_proba(self, batch):
            return pipeline.predict_proba(batch).T

    with pytest.raises(ValueError, match=r"shape \(texts, classes\) = \(3, 2\), got \(2, 3\)"):
        sklearn_classifier(Transposed())(texts[:3])


def tiny_bert(num_labels: int = 2, token_classifier: bool = False):
    """A randomly initialised one-layer BERT and a word-level tokenizer over the test's words (no download)."""
    transformers = pytest.importorskip("transformers")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *FILLER, *TRIGGERS["neg"], *TRIGGERS["pos"]]
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=64, num_labels=num_labels)
    torch.manual_seed(0)
    model = (transformers.BertForTokenClassification if token_classifier
             else transformers.BertForSequenceClassification)(config)
    return model, tokenizer


@pytest.mark.filterwarnings("ignore:AIM. no epoch")      # a tiny training on random inputs: nothing to select
def test_huggingface_classifier_and_tokenizer_with_special_tokens_never_ranked():
    """Logits -> probabilities with the attention mask: a padded batch gives each text the probabilities it gets
    alone; the tokenizer's special tokens ([SEP] typed into a text) are never ranked."""
    model, tokenizer = tiny_bert()
    predict_proba = huggingface_classifier(model, tokenizer, batch_size=4)
    texts, _ = reviews(40)
    batch = predict_proba(texts[:4])
    assert batch.shape == (4, 2) and np.allclose(batch.sum(1), 1)
    alone = np.concatenate([predict_proba([t]) for t in texts[:4]])
    assert np.allclose(batch, alone, atol=1e-5)                                 # padding is masked out
    one_epoch = dataclasses.replace(SMALL, epochs=1)
    aim = TextAIM(HuggingFaceTokenizer(tokenizer), length=12, config=one_epoch).fit(texts, predict_proba)
    explained = aim.explain(["great [SEP] film [SEP]"], k=5)[0]
    assert "[SEP]" in explained.tokens
    assert all(w != "[SEP]" for c in explained.top for w, _ in explained.top[c])
    assert {w for w, _ in explained.top[0]} == {"great", "film"}
    with pytest.raises(ValueError, match="special"):
        aim.explain(["[SEP] [CLS]"])


def test_huggingface_adapter_rejects_a_model_without_sequence_logits():
    model, tokenizer = tiny_bert(token_classifier=True)                         # logits (batch, tokens, labels)
    with pytest.raises(ValueError, match=r"logits of shape \(batch, num_labels\) = \(2, 2\), got \(2, \d+, 2\)"):
        huggingface_classifier(model, tokenizer)(["great film", "dull"])


@pytest.mark.parametrize("snippets, own_range", [(7, (4, 7)), (20, (12, 20))])
def test_a_long_document_takes_the_spec_share_of_snippets_from_its_label(snippets, own_range):
    """Spec 5: 4-7 of a document's 7 snippets carry its label; a 20-snippet document keeps that share (12-20), so
    its label is the majority of what it says."""
    from reprolab.methods.aim.corpus import long_document_task

    texts = [f"w{i}" for i in range(600)]                    # one distinct word per snippet, its class known
    labels = [i % 2 for i in range(600)]
    task = long_document_task("docs", texts, labels, ("a", "b"), (40, 5, 5), length=snippets, seed=0,
                              snippets=snippets, min_freq=1)
    owns = []
    for part in (task.train, task.val, task.test):
        for text, label in zip(part.texts, part.labels.tolist()):
            words = text.split()
            owns.append(sum(int(w[1:]) % 2 == label for w in words))
            assert len(words) == snippets
    assert (min(owns), max(owns)) == own_range                 # both ends of the range are drawn
