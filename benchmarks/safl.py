"""SAFL decoding and training speed on this CPU.

Decoding: the official decoder (`SAFL.greedy_recompute`) computes the rectifier and CNN once and reruns the whole
Transformer (encoder and decoder) for each of its 101 steps; `SAFL.greedy` computes the encoder memory once and stops
when every sequence has emitted EOS (at most `max_len` steps). Same model and batch; the token ids are checked
identical (all 101 when both run 101 steps).
Training: images per second of one optimisation step (forward, backward, Adam) of the official model, one thread;
then one setup of the light model (channels-last) for its measurements: the step at the quick run's batch (32 images
of 5 characters) split into its parts, each timed forward and backward alone: the rectifier, the CNN, the Transformer
with the loss, and Adam, with their sum beside the whole step; and one step of a batch three times as large against
three steps, the most that training three seeds as one batch could gain when the kernels bound the step.
Rewrites of the step, each against its plain form in the same process with an equality check: the TPS grid as one
product (max difference), the fused Adam (max weight difference after the timed steps), and dropout's mask from
float32 uniforms (the kept fraction of both, the same law with other draws).
"""

import dataclasses
import time

import torch
from torch.nn import functional as F

from benchmarks import timed
from reprolab.methods.safl.loss import focal_loss
from reprolab.methods.safl.model import SAFL, SAFLConfig
from reprolab.methods.safl.recognizer import TrainConfig, adam
from reprolab.methods.safl.stn import TPSGrid
from reprolab.methods.safl.transformer import UniformDropout
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
    optimizer = adam(model, TrainConfig())
    x = torch.rand(batch, 3, *model.cfg.input_size) * 2 - 1
    targets, _ = encode(["sample"] * batch, 25)

    def step():
        loss = focal_loss(model(x, targets), targets, 1.0, 0.99)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    seconds = timed(step, steps)
    print(f"{size} model, batch {batch}: {seconds:.3f} s per training step, {batch / seconds:.0f} images/s")


@dataclasses.dataclass
class LightSetup:
    """The light model (channels-last, training mode) and its Adam, shared by the light measurements."""

    model: SAFL
    optimizer: torch.optim.Optimizer

    @classmethod
    def build(cls) -> "LightSetup":
        torch.manual_seed(0)
        model = SAFL(SAFLConfig(size="light")).train().to(memory_format=torch.channels_last)
        return cls(model, adam(model, TrainConfig(schedule="constant")))

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (channels-last) and the targets of 5-character labels, as in the quick run."""
        x = (torch.rand(size, 3, *self.model.cfg.input_size) * 2 - 1).contiguous(memory_format=torch.channels_last)
        return x, encode(["12345"] * size, 25)[0]

    def step(self, x: torch.Tensor, targets: torch.Tensor) -> None:
        """One NLL training step (focal loss at gamma 0) on the batch."""
        self.optimizer.zero_grad()
        focal_loss(self.model(x, targets), targets, 0.0, 1.0).backward()
        self.optimizer.step()

    def step_seconds(self, x: torch.Tensor, targets: torch.Tensor, repeats: int) -> float:
        return timed(lambda: self.step(x, targets), repeats)


def step_parts(setup: LightSetup, batch: int = 32, repeats: int = 5) -> float:
    """Prints the step's parts; returns the whole step's seconds."""
    model, (x, targets) = setup.model, setup.batch(batch)
    rectified = model.rectify(x)[0].detach()
    features = model.backbone(rectified).detach()
    inputs = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)
    parts = {"rectifier": lambda: model.rectify(x)[0].sum().backward(),
             "CNN": lambda: model.backbone(rectified).sum().backward(),
             "Transformer + loss": lambda: focal_loss(model.transformer.decode(inputs, model.transformer.encode(
                 features)), targets, 0.0, 1.0).backward(),
             "Adam": setup.optimizer.step}
    step_s = setup.step_seconds(x, targets, repeats)
    seconds = {name: timed(fn, repeats) for name, fn in parts.items()}
    shares = ", ".join(f"{name} {s:.3f} s ({s / step_s:.0%})" for name, s in seconds.items())
    print(f"light model, batch {batch}, one training step {step_s:.3f} s ({batch / step_s:.0f} images/s): {shares}; "
          f"the parts sum to {sum(seconds.values()):.3f} s")
    return step_s


def batch_scaling(setup: LightSetup, step_s: float, batch: int = 32, seeds: int = 3, repeats: int = 5) -> None:
    large_s = setup.step_seconds(*setup.batch(seeds * batch), repeats)
    print(f"light model: one step of batch {seeds * batch} {large_s:.3f} s, {seeds} steps of batch {batch} "
          f"{seeds * step_s:.3f} s ({large_s / (seeds * step_s):.2f})")


def tps_grid(batch: int = 32, repeats: int = 20) -> None:
    """The TPS source points, forward and backward: a batched product of the (H*W, n + 3) map with each image's
    padded points (the plain form) against one product with the points side by side."""
    grid = TPSGrid(32, 100)
    control = torch.rand(batch, 20, 2, requires_grad=True)

    def batched() -> torch.Tensor:
        return grid.map @ torch.cat([control, control.new_zeros(batch, 3, 2)], dim=1)

    plain_s = timed(lambda: batched().sum().backward(), repeats)
    one_s = timed(lambda: grid.source_points(control).sum().backward(), repeats)
    with torch.no_grad():
        diff = (batched() - grid.source_points(control)).abs().max().item()
    print(f"TPS source points, batch {batch}: batched product {plain_s * 1e3:.2f} ms, one product {one_s * 1e3:.2f} "
          f"ms ({plain_s / one_s:.1f}x; max difference {diff:.1e})")


def adam_kernels(setup: LightSetup, repeats: int = 20) -> None:
    """Adam over the light model's parameters: the per-parameter loop against the fused kernel, from the same
    weights and gradients; the weights' largest difference after the timed steps."""
    torch.manual_seed(1)
    weights = [p.detach().clone() for p in setup.model.parameters()]
    grads = [torch.randn_like(w) * 1e-2 for w in weights]
    results = {}
    for kind in ("loop", "fused"):
        params = [w.clone().requires_grad_() for w in weights]
        for p, g in zip(params, grads):
            p.grad = g
        optimizer = torch.optim.Adam(params, 1e-3, betas=(0.9, 0.98), eps=1e-9,
                                     fused=kind == "fused", foreach=False)
        results[kind] = (timed(optimizer.step, repeats), params)
    (loop_s, loop), (fused_s, fused) = results["loop"], results["fused"]
    diff = max((a - b).abs().max().item() for a, b in zip(loop, fused))
    print(f"Adam, light model ({len(weights)} tensors): per-parameter loop {loop_s * 1e3:.2f} ms, fused "
          f"{fused_s * 1e3:.2f} ms ({loop_s / fused_s:.1f}x; after {repeats + 1} steps max difference {diff:.1e})")


def dropout_masks(shape: tuple[int, ...] = (32, 25, 512), repeats: int = 20) -> None:
    """Dropout (p 0.1) forward and backward on the encoder's widest activation: torch's Bernoulli kernel against
    `UniformDropout`; both keep 1 - p of the elements (the same law, other draws)."""
    x = torch.randn(*shape, requires_grad=True)
    uniform = UniformDropout(0.1)
    bernoulli_s = timed(lambda: F.dropout(x, 0.1, True).sum().backward(), repeats)
    uniform_s = timed(lambda: uniform(x).sum().backward(), repeats)
    with torch.no_grad():
        kept = [(F.dropout(x, 0.1, True) != 0).float().mean().item(), (uniform(x) != 0).float().mean().item()]
    print(f"dropout {tuple(shape)}: torch's Bernoulli {bernoulli_s * 1e3:.2f} ms, uniform mask {uniform_s * 1e3:.2f} "
          f"ms ({bernoulli_s / uniform_s:.1f}x); kept {kept[0]:.4f} and {kept[1]:.4f} (1 - p = 0.9)")


def main() -> None:
    torch.set_num_threads(1)
    decoding("light", 32)
    decoding("official", 4)
    training("official", 8, 2)
    setup = LightSetup.build()
    batch_scaling(setup, step_parts(setup))
    tps_grid()
    adam_kernels(setup)
    dropout_masks()
