from typer.testing import CliRunner

from reprolab.cli import app

runner = CliRunner()


def test_list_shows_all_ten_methods():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    assert len(result.output.strip().splitlines()) == 10 and "neural_collapse    implemented" in result.output


def test_unknown_method_is_an_error():
    result = runner.invoke(app, ["run", "nonsense"])
    assert result.exit_code == 2 and "unknown method 'nonsense'" in result.output


def test_unknown_override_is_an_error(tmp_path):
    result = runner.invoke(app, ["run", "neural_collapse", "--out", str(tmp_path), "--set", "nope=1"])
    assert result.exit_code == 2 and "unknown config key 'nope'" in result.output and "valid keys" in result.output


def test_planned_method_is_an_error():
    result = runner.invoke(app, ["run", "aim"])
    assert result.exit_code == 2 and "not implemented yet" in result.output


def test_data_verify_fails_without_data(isolated_data):
    result = runner.invoke(app, ["data", "verify", "mnist", "usps"])
    assert result.exit_code == 1 and "DataNotFoundError" in result.output


def test_data_verify_passes_on_shared_data():
    result = runner.invoke(app, ["data", "verify", "mnist", "usps", "digits"])
    assert result.exit_code == 0, result.output
    assert result.output.count(" ok") == 5
    assert "0b367032e93c+1787548bbe0b" in result.output  # the verified sha256 of MNIST's train files
