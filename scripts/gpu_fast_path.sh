#!/usr/bin/env bash
# The fast-path benchmark (benchmarks/fast_path.py) on one GPU machine: plain eager float32 against compile + bf16
# + channels-last + CUDA graphs on the CIFAR-10 ResNet-18, batch 128, 300 steps each, in one process. Not yet run
# on a GPU: at the 7.7 ms a plain batch-128 step took on an H200 (torch 2.11), 2 x 303 steps are about 5 s, so
# compiling dominates (about a minute on 2 CPU cores); a 600 s limit leaves room. Without CUDA it runs the short
# CPU case. Expects the CIFAR tar under $REPROLAB_DATA/cifar10/ (default .gpu/data, git-ignored: copy the data
# root's cifar10/ there and carry .gpu to the GPU machine). Writes gpu.txt (card, driver, versions) and
# fast_path.log to $OUT.
set -uo pipefail
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1 REPROLAB_DATA=${REPROLAB_DATA:-.gpu/data} REPROLAB_CACHE=/tmp/reprolab-cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, numpy, sys; print(sys.version, torch.__version__, numpy.__version__)" >> "$OUT/gpu.txt"
python3 benchmarks/fast_path.py 2>&1 | tee "$OUT/fast_path.log"
echo "fast_path exit ${PIPESTATUS[0]}" >> "$OUT/gpu.txt"
