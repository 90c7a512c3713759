from tests.examples import load_example


def test_the_digits_to_usps_example_trains_both_models_above_the_majority_class(capsys):
    example = load_example("domain_invariance_digits_to_usps")
    task = example.digits_to_usps_task(n_mnist=300, n_usps=200)
    assert [d.name for d in task.sources] == ["mnist", "uci_digits"] and task.input_shape == (1, 28, 28)
    assert len(task.sources[0].y_all) == 300 and len(task.target.y_all) == 200
    accuracies = example.main(steps=100, n_mnist=300, n_usps=200)
    majority = max(sum(task.target.y_all == c) for c in range(10)) / 200
    assert set(accuracies) == {"erm", "compressed"}
    assert all(a > majority + 0.2 for a in accuracies.values()), (accuracies, majority)
    printed = capsys.readouterr().out
    assert "erm: USPS accuracy" in printed and "compressed: USPS accuracy" in printed
