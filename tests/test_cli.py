import hashlib

import pytest
from typer.testing import CliRunner

from reprolab.cli import app
from tests.conftest import SHARED_ROOT

runner = CliRunner()


def test_list_shows_all_ten_methods():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    assert len(result.output.strip().splitlines()) == 10 and "neural_collapse    implemented" in result.output


def test_unknown_method_is_an_error():
    result = runner.invoke(app, ["run", "nonsense"])
    assert result.exit_code == 2 and "unknown method 'nonsense'" in result.output
    implemented = result.output.split("implemented: ")[1]
    assert all(name in implemented for name in ("neural_collapse", "aim", "safl", "dcw_mann"))
    assert "planned" not in result.output                        # all ten methods are implemented


def test_unknown_override_is_an_error(tmp_path):
    result = runner.invoke(app, ["run", "neural_collapse", "--out", str(tmp_path), "--set", "nope=1"])
    assert result.exit_code == 2 and "unknown config key 'nope'" in result.output and "valid keys" in result.output


def test_planned_method_is_an_error(monkeypatch):
    from reprolab import registry

    monkeypatch.setattr(registry, "PLANNED", (registry.MethodEntry("future", "a paper to come", None),))
    registry.methods.cache_clear()
    try:
        result = runner.invoke(app, ["run", "future"])
    finally:
        monkeypatch.undo()
        registry.methods.cache_clear()
    assert result.exit_code == 2 and "not implemented yet" in result.output


def test_data_verify_fails_without_data(isolated_data):
    result = runner.invoke(app, ["data", "verify", "mnist", "usps"])
    assert result.exit_code == 1 and "DataNotFoundError" in result.output


def test_data_verify_refuses_an_unknown_dataset():
    result = runner.invoke(app, ["data", "verify", "nosuch"])
    assert result.exit_code == 2 and "unknown dataset(s) ['nosuch']; choose from" in result.output


def test_a_damaged_gzip_fails_its_checksum_with_path_and_digests(isolated_data):
    (isolated_data / "mnist").mkdir()
    for f in (SHARED_ROOT / "mnist").glob("t10k-*.gz"):                  # the test split only: fast
        (isolated_data / "mnist" / f.name).write_bytes(f.read_bytes())
    damaged = isolated_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF                                          # one byte flipped: the gzip CRC fails
    damaged.write_bytes(bytes(data))
    result = runner.invoke(app, ["data", "verify", "mnist"])
    assert result.exit_code == 1 and "BadGzipFile" not in result.output
    test_row = next(line for line in result.output.splitlines() if line.startswith("mnist          test"))
    assert f"ChecksumError: checksum mismatch for {damaged}: expected sha256 b91679a0acfe" in test_row
    assert f"got {hashlib.sha256(bytes(data)).hexdigest()}" in test_row and "download it again from https" in test_row


def test_data_verify_passes_on_shared_data():
    result = runner.invoke(app, ["data", "verify", "mnist", "usps", "digits"])
    assert result.exit_code == 0, result.output
    assert result.output.count(" ok") == 5
    assert "0b367032e93c+1787548bbe0b" in result.output  # the verified sha256 of MNIST's train files


def test_methods_register_themselves_and_their_entries_load_cheaply():
    import subprocess
    import sys

    code = ("import sys; from reprolab import registry; m = registry.methods(); "
            "print(len(m), sorted(registry.implemented_names()), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert out[0] == "10" and out[1].strip().endswith("False")            # no torch import to list the methods
    assert "domain_invariance" in out[1] and "invalidator" in out[1]


def test_a_method_package_api_loads_lazily_and_commands_are_mounted():
    from reprolab.methods import mad

    assert mad.ENTRY.name == "mad" and "Distiller" in dir(mad) and mad.Distiller.__name__ == "Distiller"
    result = runner.invoke(app, ["invalidator", "--help"])
    assert result.exit_code == 0 and "assess" in result.output


@pytest.mark.parametrize("method, override, choices", [
    ("trojan_filter", "classifier_optimizer=adamw", "['adam', 'sgd']"),
    ("mad", "digits.student_optimizer=adamw", "['sgd', 'adam']"),
    ("neural_collapse", "balanced.optimizer=rmsprop", "['adam', 'sgd']"),
    ("balanced_q", "deep_prev_nets=latest", "['consistent', 'official']"),
    ("mbec", "agents=dqn,ddpg", "'dqn', 'mbec'"),
    ("invalidator", "evaluation.group_by=file", "['module', 'subject']"),
    ("domain_invariance", "train.penalty_features=cosine", "['l2norm', 'raw']"),
])
def test_a_bad_option_is_refused_with_its_choices_before_any_work(tmp_path, method, override, choices):
    result = runner.invoke(app, ["run", method, "--out", str(tmp_path / "run"), "--set", override])
    assert result.exit_code == 2 and choices in result.output and override.split("=")[0] in result.output
    assert not (tmp_path / "run").exists()                                 # nothing was started or written


@pytest.mark.parametrize("method, override, message", [
    ("neural_collapse", "ufm_steps=-5", "config key 'ufm_steps' must be >= 1, got -5"),
    ("trojan_filter", "filter.lr=-1", "config key 'filter.lr' must be > 0, got -1.0"),
    ("trojan_filter", "filter.steps=-5", "config key 'filter.steps' must be >= 1, got -5"),
    ("invalidator", "workers=0", "config key 'workers' must be >= 1, got 0"),
    ("invalidator", "n_seeds=0", "config key 'n_seeds' must be >= 1, got 0"),
    ("invalidator", "benchmark.n_bugs=-3", "config key 'benchmark.n_bugs' must be >= 1, got -3"),
    ("trojan_filter", "neural_cleanse.unlearn_fraction=1.5", "config key 'neural_cleanse.unlearn_fraction' must be "
                                                            "<= 1, got 1.5"),
    ("trojan_filter", "neural_cleanse.betas=0.9,1.0", "config key 'neural_cleanse.betas' must be < 1, got 1.0"),
    ("trojan_filter", "strip_fpr=0", "config key 'strip_fpr' must be > 0, got 0.0"),
    ("trojan_filter", "fine_pruning.prune_count=64", "config key 'fine_pruning.prune_count' must be below the 64 "
                                                     "channels of the mnist classifier's last convolution, got 64"),
    ("trojan_filter", "wanet_warp_first=true", "config key 'wanet_warp_first' orders the warp before the "
                                               "augmentation, and 'augment' is false"),
    ("domain_invariance", "rotation=pil", "config key 'rotation': 'pil' rotates RotatedMNIST and "
                                          "RotatedFashionMNIST only"),
])
def test_a_value_out_of_range_names_its_key_before_any_work(tmp_path, method, override, message):
    result = runner.invoke(app, ["run", method, "--out", str(tmp_path / "run"), "--set", override])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("options, message", [
    (["--set", "cuda_graphs=true"], "cuda_graphs=true needs compile=true"),
    (["--executor", "slurm"], "executor must be one of ['local', 'ray'], got 'slurm'"),
    (["--gpus-per-stage", "1"], "--ray-address and --gpus-per-stage need --executor ray"),
])
def test_fast_path_and_executor_settings_are_refused_before_the_run_folder_exists(tmp_path, options, message):
    result = runner.invoke(app, ["run", "neural_collapse", "--out", str(tmp_path / "run"), *options])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_a_run_on_a_damaged_data_file_names_it_without_a_traceback(isolated_data, tmp_path):
    (isolated_data / "mnist").mkdir()
    for f in (SHARED_ROOT / "mnist").glob("*.gz"):
        (isolated_data / "mnist" / f.name).write_bytes(f.read_bytes())
    damaged = isolated_data / "mnist" / "train-labels-idx1-ubyte.gz"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    result = runner.invoke(app, ["run", "trojan_filter", "--quiet", "--out", str(tmp_path / "run"), "--set",
                                 "workers=1", "--set", "attacks=badnet_plus", "--set", "norm_sweep="])
    assert result.exit_code == 2 and isinstance(result.exception, (SystemExit, type(None)))
    assert f"error: checksum mismatch for {damaged}: expected sha256 1787548bbe0b" in result.output
    assert "Traceback" not in result.output


def test_a_bad_progress_interval_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_PROGRESS_EVERY", "often")
    result = runner.invoke(app, ["run", "neural_collapse", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "REPROLAB_PROGRESS_EVERY must be a number of seconds, got 'often'" in result.output
