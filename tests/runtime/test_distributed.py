import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from reprolab.runtime.distributed import init_distributed, shard


def test_two_process_ddp_keeps_ranks_identical(tmp_path):
    out = tmp_path / "ddp.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).with_name("ddp_worker.py")), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["world_size"] == 2 and result["mean_rank"] == 0.5
    assert result["moved"] > 1e-3  # training happened
    assert result["max_diff"] == 0.0  # gradients were averaged: both ranks hold the same weights


def test_single_process_is_plain(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_distributed("cpu")
    assert not info.enabled and info.is_main
    assert torch.equal(shard(torch.arange(5), info), torch.arange(5))
