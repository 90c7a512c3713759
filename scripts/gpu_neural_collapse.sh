#!/usr/bin/env bash
# Trimmed `--scale paper` runs of neural_collapse on one GPU machine.
# Parts (arguments; default all):
#   synthetic   the UFM table at paper settings (d = 64, 30k iterations, M up to 9) on the machine's CPU cores
#   balanced    CIFAR-10 (JPEG copy), official BN MLP width 2048, M in {1, 3}, 30 of the 200 epochs, on the GPU
#   imbalanced  CIFAR-10 (JPEG copy), the official imbalanced recipe in full (12 000 full-batch epochs), M in {1,3,6}
# Expects the CIFAR tar under $REPROLAB_DATA/cifar10/ (default .gpu/data, git-ignored). Writes into $OUT.
set -uo pipefail
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1 REPROLAB_DATA=${REPROLAB_DATA:-.gpu/data} REPROLAB_CACHE=/tmp/reprolab-cache
parts=${*:-synthetic balanced imbalanced}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, numpy, sys; print(sys.version, torch.__version__, numpy.__version__)" >> "$OUT/gpu.txt"
run() {  # run NAME DEVICE THREADS OVERRIDES...
    local name=$1 device=$2 threads=$3; shift 3
    OMP_NUM_THREADS=$threads python3 -m reprolab.cli run neural_collapse --scale paper --device "$device" \
        --out "/tmp/nc_$name" "$@" > "$OUT/$name.log" 2>&1
    echo "$name exit $?" >> "$OUT/gpu.txt"
    cp "/tmp/nc_$name/result.json" "$OUT/${name}_result.json"
    cp /tmp/nc_"$name"/*.png "$OUT/" 2>/dev/null || true
}
pids=()
for part in $parts; do
    case $part in
        synthetic) run synthetic cpu 1 --quiet --set run_real=false --set workers=12 & pids+=($!) ;;
        balanced) run balanced cuda 4 --set run_synthetic=false --set imbalanced.counts= --set balanced.depths=1,3 \
                      --set balanced.epochs=30 ;;
        imbalanced) run imbalanced cuda 4 --set run_synthetic=false --set balanced.counts= ;;
        *) echo "unknown part $part (synthetic | balanced | imbalanced)" >&2; exit 2 ;;
    esac
done
for pid in "${pids[@]}"; do wait "$pid"; done
exit 0
