"""SAFL decoding and training speed on this CPU.

Decoding: the official decoder (`SAFL.greedy_recompute`) computes the rectifier and CNN once and reruns the whole
Transformer (encoder and decoder) for each of its 101 steps; `SAFL.greedy` computes the encoder memory once and stops
when every sequence has emitted EOS (at most `max_len` steps). Same model and batch; the token ids are checked
identical (all 101 when both run 101 steps).
Training: images per second of one optimisation step (forward, backward, Adam) of the light and the official
model, one thread; and the light model's step at the quick run's batch (32 images of 3-5 characters, channels-last)
split into its parts, each timed forward and backward alone: the rectifier, the CNN, the Transformer with the loss,
and Adam, with their sum beside the whole step; and one step of a batch three times as large against three steps,
the most that training three seeds as one batch could gain when the kernels bound the step.
"""

import time

import torch

from benchmarks import timed
from reprolab.methods.safl.loss import focal_loss
from reprolab.methods.safl.model import SAFL, SAFLConfig
from reprolab.methods.safl.vocab import BOS, encode


def decoding(size: str, batch: int) -> None:
    torch.manual_seed(0)
    model = SAFL(SAFLConfig(size=size)).eval()
    x = torch.rand(batch, 3, *model.cfg.input_size) * 2 - 1
    start = time.perf_counter()
    reference = model.greedy_recompute(x, 101)
    official_s = time.perf_counter() - start
    start = time.perf_counter()
    cached = model.greedy(x, 101)
    cached_s = time.perf_counter() - start
    same = torch.equal(cached, reference[:, :cached.shape[1]])
    short_s = timed(lambda: model.greedy(x, 25), 1)
    steps = model.greedy(x, 25).shape[1]
    print(f"{size} model (untrained), batch {batch}: official decoder (CNN once, Transformer rerun for 101 steps) "
          f"{official_s:.2f} s; memory cached, 101 steps {cached_s:.2f} s ({official_s / cached_s:.1f}x, ids "
          f"identical: {same}); cached with max_len 25 and the EOS stop ({steps} steps here) {short_s:.2f} s "
          f"({official_s / short_s:.1f}x)")


def training(size: str, batch: int, steps: int) -> None:
    torch.manual_seed(0)
    model = SAFL(SAFLConfig(size=size)).train()
    optimizer = torch.optim.Adam(model.parameters(), 1e-4, betas=(0.9, 0.98), eps=1e-9)
    x = torch.rand(batch, 3, *model.cfg.input_size) * 2 - 1
    targets, _ = encode(["sample"] * batch, 25)

    def step():
        loss = focal_loss(model(x, targets), targets, 1.0, 0.99)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    seconds = timed(step, steps)
    print(f"{size} model, batch {batch}: {seconds:.3f} s per training step, {batch / seconds:.0f} images/s")


def step_parts(batch: int = 32, repeats: int = 5) -> None:
    torch.manual_seed(0)
    model = SAFL(SAFLConfig(size="light")).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3, betas=(0.9, 0.98), eps=1e-9)
    x = (torch.rand(batch, 3, *model.cfg.input_size) * 2 - 1).contiguous(memory_format=torch.channels_last)
    targets, _ = encode(["12345"] * batch, 25)
    rectified = model.rectify(x)[0].detach()
    features = model.backbone(rectified).detach()
    inputs = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)

    def whole() -> None:
        optimizer.zero_grad()
        focal_loss(model(x, targets), targets, 0.0, 1.0).backward()
        optimizer.step()

    parts = {"rectifier": lambda: model.rectify(x)[0].sum().backward(),
             "CNN": lambda: model.backbone(rectified).sum().backward(),
             "Transformer + loss": lambda: focal_loss(model.transformer.decode(inputs, model.transformer.encode(
                 features)), targets, 0.0, 1.0).backward(),
             "Adam": optimizer.step}
    step_s = timed(whole, repeats)
    seconds = {name: timed(fn, repeats) for name, fn in parts.items()}
    shares = ", ".join(f"{name} {s:.3f} s ({s / step_s:.0%})" for name, s in seconds.items())
    print(f"light model, batch {batch}, one training step {step_s:.3f} s: {shares}; the parts sum to "
          f"{sum(seconds.values()):.3f} s")


def batch_scaling(batch: int = 32, seeds: int = 3, repeats: int = 5) -> None:
    seconds = {}
    for size in (batch, seeds * batch):
        torch.manual_seed(0)
        model = SAFL(SAFLConfig(size="light")).train().to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3, betas=(0.9, 0.98), eps=1e-9)
        x = (torch.rand(size, 3, *model.cfg.input_size) * 2 - 1).contiguous(memory_format=torch.channels_last)
        targets, _ = encode(["12345"] * size, 25)

        def step() -> None:
            optimizer.zero_grad()
            focal_loss(model(x, targets), targets, 0.0, 1.0).backward()
            optimizer.step()

        seconds[size] = timed(step, repeats)
    print(f"light model: one step of batch {seeds * batch} {seconds[seeds * batch]:.3f} s, {seeds} steps of batch "
          f"{batch} {seeds * seconds[batch]:.3f} s ({seconds[seeds * batch] / (seeds * seconds[batch]):.2f})")


def main() -> None:
    torch.set_num_threads(1)
    decoding("light", 32)
    decoding("official", 4)
    training("light", 32, 5)
    training("official", 8, 2)
    step_parts()
    batch_scaling()
