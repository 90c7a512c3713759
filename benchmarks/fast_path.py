"""The opt-in fast path (`reprolab.runtime.fast`) against the plain eager float32 step, on one model and batch:
the CIFAR ResNet-18 (MAD's CIFAR-10 student) trained with SGD on CIFAR-10 (the JPEG copy), images kept on the
device. On a GPU: batch 128, 300 steps, and the fast path is compile + bf16 + channels-last + CUDA graphs. On a CPU:
batch 64, 8 steps, and the fast path is compile + channels-last (bf16 has no fast CPU kernels here, CUDA graphs
need CUDA); compiling ResNet-18's training step takes about a minute on 2 cores, so the CPU case is kept short.
Both paths start from the same weights and see the same batches. Prints the median step time after warm-up
(compilation excluded, reported apart) and the test accuracy (2,000 test images) after the same number of steps:
the fast path must train as well, not bit for bit. The accuracy is measured on an eager float32 copy of the
trained weights, so that evaluation does not compile a second graph."""

import os
import statistics
import time

import numpy as np
import torch
from torch.nn import functional as F

from reprolab.data import load_cifar10
from reprolab.methods.mad.teachers import build_network
from reprolab.nets.scoring import accuracy
from reprolab.runtime.fast import FastPath, autocast, fast_batch, fast_model

WARMUP, TEST = 3, 2000


def images(split: str, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """n images drawn at random (the copy is stored class by class), normalised per channel."""
    data = load_cifar10(split)
    pick = np.sort(np.random.default_rng(0).permutation(len(data.y))[:n])
    x = torch.from_numpy(np.ascontiguousarray(data.x[pick])).permute(0, 3, 1, 2).float().div(255)
    mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True)
    return ((x - mean) / std).to(device), torch.from_numpy(data.y[pick]).long().to(device)


def eager_accuracy(model: torch.nn.Module, x_test: torch.Tensor, y_test: torch.Tensor) -> float:
    """Test accuracy of the trained weights in a plain (uncompiled, NCHW) ResNet-18."""
    eager = build_network("resnet18").to(x_test.device)
    eager.load_state_dict(model.state_dict())
    with torch.no_grad():
        return accuracy(eager, x_test, y_test.cpu())


def train(fast: FastPath, steps: int, batch: int, x, y, x_test, y_test, device) -> dict:
    torch.manual_seed(0)
    model = fast_model(build_network("resnet18").to(device), fast).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1)).to(device)
    times = []
    for step in range(WARMUP + steps):
        idx = order[(step * batch) % len(y):][:batch]
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast(fast, device):
            loss = F.cross_entropy(model(fast_batch(x[idx], fast)), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {"step_s": statistics.median(times[WARMUP:]), "first_steps_s": sum(times[:WARMUP]),
            "test_acc": eager_accuracy(model, x_test, y_test)}


def main() -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(os.cpu_count())     # every core: the benchmarks before it in make bench set 1 thread
    if device.type == "cuda":
        fast, steps, batch = FastPath(compile=True, bf16=True, channels_last=True, cuda_graphs=True), 300, 128
    else:
        fast, steps, batch = FastPath(compile=True, channels_last=True), 8, 64
    x, y = images("train", batch * (WARMUP + steps), device)
    x_test, y_test = images("test", TEST, device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    plain = train(FastPath(), steps, batch, x, y, x_test, y_test, device)
    quick = train(fast, steps, batch, x, y, x_test, y_test, device)
    print(f"ResNet-18, CIFAR-10, batch {batch}, {steps} steps on {name}: plain {1e3 * plain['step_s']:.1f} ms/step, "
          f"fast ({', '.join(k for k, v in vars(fast).items() if v)}) {1e3 * quick['step_s']:.1f} ms/step, speed-up "
          f"{plain['step_s'] / quick['step_s']:.2f}x (first {WARMUP} steps {plain['first_steps_s']:.1f} s vs "
          f"{quick['first_steps_s']:.1f} s, compilation included); test accuracy {plain['test_acc']:.3f} vs "
          f"{quick['test_acc']:.3f}")
