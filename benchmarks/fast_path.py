"""The opt-in fast path (`reprolab.runtime.fast`) against the plain eager float32 step, on one model and batch:
the CIFAR ResNet-18 (MAD's CIFAR-10 student) trained with SGD on CIFAR-10 (the JPEG copy), batch 128, images kept
on the device. On a GPU the fast path is compile + bf16 + channels-last + CUDA graphs; on a CPU compile +
channels-last (bf16 has no fast CPU kernels here, CUDA graphs need CUDA). Both start from the same weights and see
the same batches. Prints the median step time after warm-up (compilation excluded, reported apart) and the test
accuracy (2,000 test images) after the same number of steps: the fast path must train as well, not bit for bit."""

import statistics
import time

import numpy as np
import torch
from torch.nn import functional as F

from reprolab.data import load_cifar10
from reprolab.methods.mad.teachers import accuracy, build_network
from reprolab.runtime.fast import FastPath, autocast, fast_batch, fast_model

BATCH, WARMUP, TEST = 128, 3, 2000


def images(split: str, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_cifar10(split)
    x = torch.from_numpy(np.ascontiguousarray(data.x[:n])).permute(0, 3, 1, 2).float().div(255)
    mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True)
    return ((x - mean) / std).to(device), torch.from_numpy(data.y[:n]).long().to(device)


def train(fast: FastPath, steps: int, x, y, x_test, y_test, device) -> dict:
    torch.manual_seed(0)
    model = fast_model(build_network("resnet18").to(device), fast).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1)).to(device)
    times = []
    for step in range(WARMUP + steps):
        idx = order[(step * BATCH) % len(y):][:BATCH]
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
            "test_acc": accuracy(model, fast_batch(x_test, fast), y_test.cpu())}


def main() -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        fast, steps = FastPath(compile=True, bf16=True, channels_last=True, cuda_graphs=True), 300
    else:
        fast, steps = FastPath(compile=True, channels_last=True), 12
    x, y = images("train", BATCH * (WARMUP + steps), device)
    x_test, y_test = images("test", TEST, device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    plain = train(FastPath(), steps, x, y, x_test, y_test, device)
    quick = train(fast, steps, x, y, x_test, y_test, device)
    print(f"ResNet-18, CIFAR-10, batch {BATCH}, {steps} steps on {name}: plain {1e3 * plain['step_s']:.1f} ms/step, "
          f"fast ({', '.join(k for k, v in vars(fast).items() if v)}) {1e3 * quick['step_s']:.1f} ms/step, speed-up "
          f"{plain['step_s'] / quick['step_s']:.2f}x (first {WARMUP} steps {plain['first_steps_s']:.1f} s vs "
          f"{quick['first_steps_s']:.1f} s, compilation included); test accuracy {plain['test_acc']:.3f} vs "
          f"{quick['test_acc']:.3f}")
