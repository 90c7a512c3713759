"""Re-drawing a network's initialisation."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def redraw_parameters(module: nn.Module, hint: str = "") -> None:
    """Re-draw every parameter of `module` in place from torch's global generator: each submodule's
    `reset_parameters`, in registration order. For an `nn.Sequential` of Conv2d / Linear layers this draws what
    building the network anew would draw. A submodule with parameters of its own and no `reset_parameters` is a
    ValueError (its initialisation cannot be re-drawn), whose message ends with `hint`."""
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
        elif any(True for _ in sub.parameters(recurse=False)):
            raise ValueError(f"{type(sub).__name__} has parameters but no reset_parameters: cannot re-draw them"
                             + (f"; {hint}" if hint else ""))
