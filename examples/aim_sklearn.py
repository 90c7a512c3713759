"""AIM explains a scikit-learn text classifier: TF-IDF + logistic regression on the 2016 debates (3 parties).

Fits AIM on the training statements through the text API (`TextAIM`), explains the test statements, and prints
faithfulness@1 (does the top word alone keep the classifier's label?) for AIM, a random word and LIME's top word
on the same statements, beside the classifier's majority-class rate (a word that always gives the majority class
is faithful at that rate).

    python examples/aim_sklearn.py [--items 113] [--epochs 5] [--lime-samples 500]
"""

from __future__ import annotations

import argparse

import numpy as np

from reprolab.data.text import load_debates
from reprolab.methods.aim import AIMConfig, ModuleSizes, TextAIM, keeps_label, sklearn_classifier
from reprolab.methods.aim.corpus import split_indices


def lime_top_words(texts: list[str], labels: list[int], predict_proba, samples: int, seed: int) -> list[str]:
    """LIME's word with the largest weight for each text's label."""
    from lime.lime_text import LimeTextExplainer

    words = []
    for i, (text, label) in enumerate(zip(texts, labels)):
        explainer = LimeTextExplainer(random_state=seed + i)
        explanation = explainer.explain_instance(text, predict_proba, labels=(label,), num_samples=samples)
        best, _ = max(explanation.as_map()[label], key=lambda pair: pair[1])
        words.append(explanation.domain_mapper.indexed_string.word(best))
    return words


def main(train_items: int = 0, items: int = 113, epochs: int = 5, lime_samples: int = 500, seed: int = 0) -> dict:
    """Faithfulness@1 of AIM, random and LIME on the first `items` test statements (`train_items`: 0 = all)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    corpus = load_debates()
    train, _, test = split_indices(len(corpus.texts), seed)
    train = train[:train_items] if train_items else train
    texts = [corpus.texts[i] for i in train]
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
    pipeline.fit(texts, [corpus.labels[i] for i in train])
    predict_proba = sklearn_classifier(pipeline)

    config = AIMConfig(sizes=ModuleSizes(selector_hidden=32, explainer_hidden=128, approximator_hidden=128),
                       epochs=epochs)
    aim = TextAIM(length=50, config=config, classes=corpus.classes, seed=seed).fit(texts, predict_proba)
    explained = aim.explain([corpus.texts[i] for i in test[:items]], k=1)

    labels = [corpus.classes.index(e.label) for e in explained]
    seen = [aim.tokenizer.detokenize(e.tokens) for e in explained]             # the strings the classifier read
    rng = np.random.default_rng(seed)
    kept = {"AIM": [[e.top[e.label][0][0]] for e in explained],
            "random": [[e.tokens[rng.integers(len(e.tokens))]] for e in explained],
            "LIME": [[w] for w in lime_top_words(seen, labels, predict_proba, lime_samples, seed)]}
    scores = {name: float(keeps_label(predict_proba, labels, words, aim.tokenizer).mean())
              for name, words in kept.items()}
    scores["majority-class rate"] = max(np.bincount(labels, minlength=len(corpus.classes))) / len(labels)
    for name, value in scores.items():
        print(f"{name:>20}: {value:.3f}")
    print(f"{len(labels)} test statements; e.g. {explained[0].text[:60]!r} -> {explained[0].label}, "
          f"top words per party: {explained[0].top}")
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=113)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lime-samples", type=int, default=500)
    args = parser.parse_args()
    main(items=args.items, epochs=args.epochs, lime_samples=args.lime_samples)
