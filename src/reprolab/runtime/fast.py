"""An opt-in fast path for the image methods' training steps on a GPU: torch.compile, bf16 autocast, channels-last
memory format and CUDA graphs.

Every switch is off by default: the plain eager float32 step runs, and a CPU run gives the same numbers as before
for the same seed. A method config that derives from `FastPath` takes them as `--set compile=true` and so on:
- compile: `nn.Module.compile` (TorchInductor). The state_dict keys stay the same, so checkpoints load either way;
  the first steps of each shape pay the compilation (tens of seconds).
- bf16: forward passes and losses under `torch.autocast(dtype=torch.bfloat16)`; parameters, gradients and
  optimizer states stay float32. Results change at the bf16 rounding level, not bit-identical to float32.
- channels_last: models and 4-d image batches in NHWC memory format (the layout cuDNN's fastest convolutions use);
  the convolutions may round differently from NCHW ones.
- cuda_graphs: compile with mode="reduce-overhead", which replays fixed-shape steps as CUDA graphs (CUDA only,
  and only with compile).
Images stay on the device the method loaded them to; the helpers add no host transfers.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
from torch import nn

from reprolab.runtime.config import ConfigError


@dataclasses.dataclass(frozen=True)
class FastPath:
    compile: bool = False
    bf16: bool = False
    channels_last: bool = False
    cuda_graphs: bool = False


def fast_settings(config: FastPath) -> FastPath:
    """The four switches of a method config that derives from FastPath, alone."""
    return FastPath(**{field.name: getattr(config, field.name) for field in dataclasses.fields(FastPath)})


def check_fast_path(fast: FastPath, device: str | torch.device) -> None:
    """Reject combinations that cannot run, before any work starts."""
    if fast.cuda_graphs and not fast.compile:
        raise ConfigError("cuda_graphs=true needs compile=true (CUDA graphs come from torch.compile's "
                          "reduce-overhead mode)")
    if fast.cuda_graphs and torch.device(device).type != "cuda":
        raise ConfigError(f"cuda_graphs=true needs a CUDA device, got {str(device)!r}")


def fast_model(model: nn.Module, fast: FastPath) -> nn.Module:
    """The model in place: channels-last parameters, compiled (optimizers keep their parameter objects)."""
    if fast.channels_last:
        model.to(memory_format=torch.channels_last)
    if fast.compile:
        model.compile(mode="reduce-overhead" if fast.cuda_graphs else None)
    return model


def fast_batch(x: torch.Tensor, fast: FastPath) -> torch.Tensor:
    """An image batch (N, C, H, W) in channels-last format when asked; anything else unchanged."""
    return x.contiguous(memory_format=torch.channels_last) if fast.channels_last and x.ndim == 4 else x


def autocast(fast: FastPath, device: str | torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on the device when asked; otherwise a context that changes nothing."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=fast.bf16)
