"""A Februus-like input purifier (Doan et al., ACSAC 2020): GradCAM on the classifier's
last convolution marks the pixels that drive its decision; pixels whose normalised heat reaches
`heat_threshold` are removed and inpainted. The original inpaints with a GAN; here a small inpainting
autoencoder trained on the defender's clean set with random rectangular holes (a declared deviation).

GradCAM: a_k = mean_{ij} d y_c / d A_k[i, j] for the predicted class c; cam = ReLU(sum_k a_k A_k), upsampled to the
input size and divided by its per-image maximum (`heat="minmax"`: (cam - min) / (max - min), as the official code).
A is the last convolution's output, or its input (`layer="conv_input"`): the official code takes the ReLU after the
BatchNorm of its last convolution; NetCMNIST and PreActResNet18 have no BatchNorm after their last convolution, and
the input of that convolution is their last ReLU(BatchNorm(.)).
Purified input: x (1 - m) + inpaint(x (1 - m) + f m, m) m, the holes filled with f = 0 (`Inpainter(fill="mean")`:
the mean pixel of the defender set it is trained on, as the official code fills them with the dataset's mean
pixel value).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.runtime.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, PROBABILITY, check_choice
from reprolab.methods.trojan_filter.baselines.fine_pruning import last_conv
from reprolab.methods.trojan_filter.filters import (LATENT_CHANNELS, decoder_block, encoder_block, log_record,
                                                    log_steps, reconstruction_nll)
from reprolab.runtime.train import LoopCheckpoints, StepLosses, run_loop

Heat = Literal["max", "minmax"]
Fill = Literal["zero", "mean"]
Layer = Literal["conv", "conv_input"]


@dataclasses.dataclass(frozen=True)
class FebruusConfig:
    """Settings of the Februus-like purifier: `heat_threshold`, the normalised GradCAM heat from which a pixel is
    removed and inpainted (`FebruusFilter`), and the inpainter's training (`train_inpainter`: `steps` Adam steps at
    `lr` on batches of `batch_size` defender images, each with 1 to `max_holes` random rectangular holes whose
    sides lie in `hole_size`). `heat`, how GradCAM's map is normalised, `layer`, the activation it weighs
    (`gradcam`), and `fill`, what the holes hold in the inpainter's input (the experiment builds
    `Inpainter(fill=fill)`): 0, or "mean", the mean pixel per channel of the images it is trained on."""

    heat_threshold: Annotated[float, PROBABILITY] = 0.7
    steps: Annotated[int, AT_LEAST_ONE] = 512
    batch_size: Annotated[int, AT_LEAST_ONE] = 64
    lr: Annotated[float, POSITIVE] = 1e-3
    max_holes: Annotated[int, NON_NEGATIVE] = 3
    hole_size: Annotated[tuple[int, int], AT_LEAST_ONE] = (4, 12)
    heat: Heat = "max"                         # official "minmax": (cam - min) / (max - min)
    fill: Fill = "zero"                        # official "mean": the holes hold the mean pixel
    # GradCAM on the last convolution's output; "conv_input": its input, the ReLU after the last BatchNorm in both
    # classifiers (the official code: the ReLU after its last convolution's BatchNorm)
    layer: Layer = "conv"


def gradcam(classifier: nn.Module, x: torch.Tensor, heat: Heat = "max", layer: Layer = "conv") -> torch.Tensor:
    """Normalised GradCAM heat maps (N, 1, H, W) in [0, 1] for the predicted classes (`normalise_heat`), on the last
    convolution's output (`layer="conv"`) or input ("conv_input")."""
    check_choice("heat", heat, Heat)
    check_choice("layer", layer, Layer)
    conv = last_conv(classifier)
    store = {}
    if layer == "conv":
        handle = conv.register_forward_hook(lambda _m, _i, out: store.update(act=out))
    else:
        handle = conv.register_forward_pre_hook(lambda _m, inputs: store.update(act=inputs[0]))
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        logits = classifier(x)
        chosen = logits.gather(1, logits.argmax(1, keepdim=True)).sum()
        grads, = torch.autograd.grad(chosen, store["act"])
    handle.remove()
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * store["act"]).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return normalise_heat(cam, heat)


def normalise_heat(cam: torch.Tensor, heat: Heat) -> torch.Tensor:
    """Per map of cam (N, 1, H, W) >= 0: cam / max ("max"), or (cam - min) / (max - min) ("minmax", the official
    code's); a map with no spread (max - min = 0, where the official division gives NaN) becomes 0."""
    if heat == "minmax":
        cam = cam - cam.flatten(1).amin(1).view(-1, 1, 1, 1)
    return cam / cam.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)


class Inpainter(nn.Module):
    """[x (1 - m), m] -> the whole image, with the filters' encoder/decoder blocks. `fill="mean"`: the holes hold
    the mean pixel instead, [x (1 - m) + mu m, m], mu (1, C, 1, 1) a buffer kept with the weights that
    `train_inpainter` sets to the per-channel mean of its training images (the official code's mean pixel value)."""

    def __init__(self, channels: int = 1, width: int = 32, latent: int = LATENT_CHANNELS, fill: Fill = "zero"):
        super().__init__()
        check_choice("fill", fill, Fill)
        self.encoder = encoder_block(channels + 1, latent, width)
        self.decoder = decoder_block(channels, latent, width)
        self.register_buffer("fill", torch.zeros(1, channels, 1, 1) if fill == "mean" else None)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        holed = x * (1 - m)
        if self.fill is not None:
            holed = holed + self.fill * m
        return self.decoder(self.encoder(torch.cat([holed, m], dim=1)))


def random_holes(n: int, size: tuple[int, int], cfg: FebruusConfig, gen: torch.Generator) -> torch.Tensor:
    h, w = size
    masks = torch.zeros(n, 1, h, w)
    lo, hi = cfg.hole_size
    for i in range(n):
        for _ in range(int(torch.randint(1, cfg.max_holes + 1, (1,), generator=gen))):
            dh, dw = (int(v) for v in torch.randint(lo, hi + 1, (2,), generator=gen))
            r, c = int(torch.randint(0, h - dh + 1, (1,), generator=gen)), int(torch.randint(0, w - dw + 1, (1,),
                                                                                            generator=gen))
            masks[i, :, r:r + dh, c:c + dw] = 1.0
    return masks


def train_inpainter(inpainter: Inpainter, x_def: torch.Tensor, cfg: FebruusConfig, seed: int = 0,
                    checkpoints: LoopCheckpoints = LoopCheckpoints()) -> list[dict]:
    """Train the inpainter to fill random holes of the defender's clean images (an `Inpainter(fill="mean")` first
    takes their mean pixel, per channel, as its fill). Returns a loss log (every `LOG_EVERY` steps and the last);
    `checkpoints`: where the loop keeps its checkpoint ("februus_inpainter")."""
    if inpainter.fill is not None:
        inpainter.fill.copy_(x_def.mean(dim=(0, 2, 3)).view_as(inpainter.fill))
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(inpainter.parameters(), lr=cfg.lr)
    inpainter.train()
    losses = StepLosses()

    def step(i: int) -> torch.Tensor:
        x = x_def[torch.randint(len(x_def), (cfg.batch_size,), generator=gen)]
        m = random_holes(len(x), x.shape[-2:], cfg, gen).to(x.device)
        loss = reconstruction_nll(inpainter(x, m), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.add(i, rec=loss)
        return loss.detach()

    log = run_loop(cfg.steps, step, objects={"inpainter": inpainter, "optimizer": optimizer, "gen": gen},
                   eval_fn=lambda done: log_record(done, losses), eval_steps=log_steps(cfg.steps),
                   desc="Februus inpainter", **checkpoints.of("februus_inpainter"))
    inpainter.eval()
    return log


class FebruusFilter(nn.Module):
    """x -> x (1 - m) + inpaint(x, m) m with m = [GradCAM(x) >= heat_threshold] (the heat normalised by `heat`, on
    the activation `layer`); usable as a filter."""

    variational = False

    def __init__(self, classifier: nn.Module, inpainter: Inpainter, heat_threshold: float = 0.7,
                 heat: Heat = "max", layer: Layer = "conv"):
        super().__init__()
        self.classifier, self.inpainter, self.heat_threshold, self.heat = classifier, inpainter, heat_threshold, heat
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = (gradcam(self.classifier, x, self.heat, self.layer) >= self.heat_threshold).float()
        with torch.no_grad():
            return x * (1 - m) + self.inpainter(x, m) * m


def februus_filter(classifier: nn.Module, inpainter: Inpainter, cfg: FebruusConfig) -> FebruusFilter:
    """The Februus-like purifier of `classifier` with its heat-map settings (`heat_threshold`, `heat`, `layer`)."""
    return FebruusFilter(classifier, inpainter, cfg.heat_threshold, cfg.heat, cfg.layer)
