"""examples/safl_own_images.py end to end on a tiny folder: renders, trains 20 steps, saves, loads and reads every
file, naming the ones it cannot read."""

import os
import subprocess
import sys
from pathlib import Path

import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "safl_own_images.py"


def test_the_example_trains_saves_loads_and_reads_a_folder(tmp_path):
    folder = tmp_path / "words"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "empty.jpg").write_bytes(b"")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(EXAMPLE), "--folder", str(folder), "--render", "6", "--steps", "20",
                           "--batch-size", "6", "--model", str(tmp_path / "model.pt")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "training on 6 images; skipped: none"       # the bad files are in the folder, not labelled
    predictions = [line.split("\t")[0] for line in lines[1:] if "\t" in line]
    assert predictions == [f"word_{i:03d}.png" for i in range(6)]
    assert [line.split(":")[0] for line in lines if line.startswith("skipped ")] == ["skipped broken.png",
                                                                                     "skipped empty.jpg"]
    assert "Traceback" not in done.stderr
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert saved["version"] == 1 and saved["config"]["size"] == "light"
