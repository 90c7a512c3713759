"""examples/aim_sklearn.py end to end on a tiny version: 200 training statements, 20 test statements, one epoch,
LIME with 50 samples."""

import pytest

from tests.examples import load_example


def test_aim_sklearn_example_runs_on_a_tiny_version(capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("lime")
    scores = load_example("aim_sklearn").main(train_items=200, items=20, epochs=1, lime_samples=50)
    assert list(scores) == ["AIM", "random", "LIME", "majority-class rate"]
    assert all(abs(v * 20 - round(v * 20)) < 1e-9 for v in scores.values())          # shares of the 20 items
    assert scores["majority-class rate"] >= 7 / 20                                  # 3 classes: some class has 7
    printed = capsys.readouterr().out
    assert "AIM: " in printed and "20 test statements" in printed
