"""SAFL: rectifier (localisation net + TPS), ResNet-ASTER, Transformer encoder-decoder [official code].

Shapes (official size): image (B, 3, 64, 256) -> localisation input (B, 3, 32, 64) -> control points (B, 20, 2) ->
rectified (B, 3, 32, 100) -> CNN (B, 25, 512) -> logits (B, T, 97). The light size (CPU) takes 32 x 100 images and
rectifies them at the same size; its widths are halved or less (spec 6 design). `stn=False` resizes the input to
32 x 100 instead of rectifying it. `variant="clean"` switches on the encoder positional encoding and off the
causal encoder mask (both official quirks). The CNN's last width equals d_model in both sizes (512, 128): its
features go to the Transformer unprojected, as in the official code. Two official behaviours found in review are
flags that default off: `official_decoder_pe` (the decoder's positional encoding indexed by batch slot,
`transformer.py`) and `official_align_corners` (the TPS sampling of PyTorch 1.1, `stn.py`); `torch_dropout` draws
the Transformer's dropout masks with torch's Bernoulli kernel, as the official code, instead of float32 uniforms.

Decoding:
- `greedy`: the encoder memory is computed once, tokens are appended one at a time, and decoding stops once every
  sequence has emitted EOS (or at `max_len`);
- `greedy_recompute`: the official decoder, which computes the rectifier and CNN once and reruns the whole
  Transformer (encoder and decoder) at every step for a fixed number of steps; the same token ids in eval mode
  (tested, and timed in `make bench`);
- `beam`: beam search over summed log-probabilities, no length penalty; beam width 1 is greedy.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from reprolab.methods.safl.backbone import ResNetAster
from reprolab.methods.safl.stn import Rectifier
from reprolab.methods.safl.transformer import SeqTransformer
from reprolab.methods.safl.vocab import BOS, EOS
from reprolab.runtime.config import check_options

RECTIFIED = (32, 100)


@dataclasses.dataclass(frozen=True)
class SAFLConfig:
    """The SAFL model: `size` "official" (64 x 256 input, the official code's widths) or "light" (32 x 100, narrower, a
    CPU design); `stn`, the TPS rectifier (False: resize to 32 x 100); `variant="clean"`, encoder positional encoding
    on, causal mask off. Defaults follow the official code's behaviour, except `max_len` (25 decoding steps; official
    100 + 1) and the official behaviours `official_decoder_pe`, `official_align_corners` and `torch_dropout`, off by
    default."""

    size: Literal["official", "light"] = "official"
    stn: bool = True
    variant: Literal["official", "clean"] = "official"
    aster_lstm: bool = False          # the official code's dead BiLSTM (parameters only)
    max_len: int = 25                 # decoding steps; the official decoder runs 100 (+1)
    official_decoder_pe: bool = False   # official: True (positions indexed by batch slot, none over time)
    official_align_corners: bool = False  # official: True (grid_sample's default under PyTorch 1.1)
    torch_dropout: bool = False         # official: True (torch's Bernoulli dropout masks; default: the same law drawn
                                        # as float32 uniforms, `transformer.UniformDropout`)

    def __post_init__(self) -> None:
        check_options(self)

    @property
    def input_size(self) -> tuple[int, int]:
        return (64, 256) if self.size == "official" else RECTIFIED

    @property
    def sizes(self) -> dict:
        if self.size == "official":
            return {"stn": (32, 64, 128, 256, 256, 256), "cnn": (32, 64, 128, 256, 512), "blocks": (3, 4, 6, 6, 3),
                    "d_model": 512, "heads": 8, "ffn": 2048, "layers": 4}
        return {"stn": (16, 32, 64, 128, 128, 128), "cnn": (16, 32, 64, 96, 128), "blocks": (1, 1, 1, 1, 1),
                "d_model": 128, "heads": 4, "ffn": 512, "layers": 2}


class SAFL(nn.Module):
    def __init__(self, cfg: SAFLConfig = SAFLConfig()):
        super().__init__()
        s = cfg.sizes
        self.cfg = cfg
        self.rectifier = Rectifier(RECTIFIED, s["stn"], cfg.official_align_corners) if cfg.stn else None
        self.backbone = ResNetAster(s["cnn"], s["blocks"], cfg.aster_lstm)
        clean = cfg.variant == "clean"
        self.transformer = SeqTransformer(s["d_model"], s["heads"], s["ffn"], s["layers"], s["layers"],
                                          max_len=max(cfg.max_len, 100) + 2, enc_pos_enc=clean,
                                          enc_causal_mask=not clean, official_decoder_pe=cfg.official_decoder_pe,
                                          torch_dropout=cfg.torch_dropout)

    def check_images(self, images: torch.Tensor) -> None:
        expected = (3, *self.cfg.input_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images must be (B, {', '.join(map(str, expected))}) for the {self.cfg.size} model, "
                             f"got {tuple(images.shape)}")
        if not images.is_floating_point():
            raise ValueError(f"images must be float in [-1, 1] (use `as_model_input` on uint8), got {images.dtype}")

    def rectify(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.rectifier is None:      # a bilinear resize to the size the images have is the identity
            if tuple(images.shape[-2:]) == RECTIFIED:
                return images, None
            return F.interpolate(images, size=RECTIFIED, mode="bilinear", align_corners=False), None
        return self.rectifier(images)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The CNN sequence (B, 25, d_model) of the rectified images."""
        self.check_images(images)
        return self.backbone(self.rectify(images)[0])

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.transformer.encode(self.features(images))

    def forward(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: decoder input [BOS, y_1 .. y_{T-1}] -> logits (B, T, 97)."""
        inputs = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)
        return self.transformer.decode(inputs, self.encode(images))

    @torch.no_grad()
    def greedy(self, images: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
        """Token ids (B, <= max_len), the memory computed once, stopping when every row has emitted EOS."""
        max_len = max_len or self.cfg.max_len
        memory = self.encode(images)
        tokens = torch.full((images.shape[0], 1), BOS, dtype=torch.long, device=images.device)
        done = torch.zeros(images.shape[0], dtype=torch.bool, device=images.device)
        for _ in range(max_len):
            step = self.transformer.decode(tokens, memory)[:, -1].argmax(-1)
            tokens = torch.cat([tokens, step[:, None]], dim=1)
            done |= step == EOS
            if bool(done.all()):
                break
        return tokens[:, 1:]

    @torch.no_grad()
    def greedy_recompute(self, images: torch.Tensor, steps: int = 101) -> torch.Tensor:
        """The official decoder: the CNN features once, then the whole Transformer (encoder and decoder) rerun for
        every one of `steps` tokens, no early stop."""
        features = self.features(images)
        tokens = torch.full((images.shape[0], 1), BOS, dtype=torch.long, device=images.device)
        for _ in range(steps):
            step = self.transformer.decode(tokens, self.transformer.encode(features))[:, -1].argmax(-1)
            tokens = torch.cat([tokens, step[:, None]], dim=1)
        return tokens[:, 1:]

    @torch.no_grad()
    def beam(self, images: torch.Tensor, width: int = 5, max_len: int | None = None) -> torch.Tensor:
        """Beam search per image; the best finished (or longest-lived) hypothesis, by summed log-probability."""
        max_len = max_len or self.cfg.max_len
        memory = self.encode(images)
        results = []
        for b in range(images.shape[0]):
            mem = memory[b:b + 1]
            beams = [([BOS], 0.0)]
            finished: list[tuple[list[int], float]] = []
            for _ in range(max_len):
                tokens = torch.tensor([t for t, _ in beams], device=images.device)
                logp = F.log_softmax(self.transformer.decode(tokens, mem.expand(len(beams), -1, -1))[:, -1], -1)
                scores = torch.tensor([s for _, s in beams], device=images.device)[:, None] + logp
                top = scores.flatten().topk(width)
                beams = []
                for value, index in zip(top.values.tolist(), top.indices.tolist()):
                    parent, token = divmod(index, logp.shape[1])
                    (finished if token == EOS else beams).append(([*tokens[parent].tolist(), token], value))
                finished.sort(key=lambda h: -h[1])
                # log-probabilities only fall as a hypothesis grows: no live beam can overtake the best finished one
                if not beams or (finished and finished[0][1] >= max(s for _, s in beams)):
                    break
            best = max(finished or beams, key=lambda h: h[1])[0][1:]
            results.append(best)
        longest = max(len(r) for r in results)
        out = torch.full((len(results), longest), EOS, dtype=torch.long)
        for i, r in enumerate(results):
            out[i, :len(r)] = torch.tensor(r)
        return out
