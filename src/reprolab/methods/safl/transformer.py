"""The Transformer encoder-decoder over the CNN sequence [official code, `SAFL_pytorch`'s model].

d_model 512, 8 heads, FFN 2048, ReLU, dropout 0.1, post-LN, a final LayerNorm on both stacks, Xavier-uniform init of
every matrix (torch's nn.Transformer); 4 encoder and 4 decoder layers. Official quirks, faithful defaults:
- `enc_pos_enc=False`: no positional encoding on the CNN features;
- `enc_causal_mask=True`: a causal mask on the encoder self-attention (cross-attention unmasked, no padding masks).
Decoder input: Embedding(98, d) (row 97 = BOS), N(0, 0.01), not scaled by sqrt(d), + sinusoids over the time steps,
dropout 0.2; causal self-attention. Output Linear(d, 97), weight N(0, 0.01), bias 0.
`official_decoder_pe=True` reproduces the official decoder's positional encoding instead: it adds `pe[:x.size(0)]`
(a table of 5000 sinusoid rows) to a batch-first (B, T, d) tensor, so sample b gets row b at every time step (an
encoding of its slot in the batch, none over time).
Masks are boolean, True = blocked (torch's convention; the official PyTorch 1.2 code used additive -inf floats).
Dropout (every `nn.Dropout` of the layers, and the embedding's): `UniformDropout`, the law of `nn.Dropout` (each
element kept with probability 1 - p and scaled by 1 / (1 - p)) with its mask drawn as float32 uniforms u >= p. The
attention weights' dropout inside `nn.MultiheadAttention` stays torch's. `torch_dropout=True` keeps torch's
`nn.Dropout` everywhere, as the official code.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from reprolab.methods.safl.vocab import NUM_CLASSES

OFFICIAL_PE_ROWS = 5000           # the official PositionalEncoding's max_len


def sinusoid(length: int, dim: int) -> torch.Tensor:
    position = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)
    return table


class UniformDropout(nn.Dropout):
    """nn.Dropout's law, x * [u >= p] / (1 - p) with u ~ U[0, 1) float32 drawn by `torch.rand_like`: torch's Bernoulli
    kernel draws a double per element on CPUs where it does not use MKL's generator (AMD ones), which takes longer
    (`python -m benchmarks safl` times both)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = (torch.rand_like(x) >= self.p).to(x.dtype).mul_(1 / (1 - self.p))
        return x * keep


def uniform_dropouts(module: nn.Module) -> None:
    """Replace every `nn.Dropout` inside `module` by a `UniformDropout` of the same p."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, UniformDropout(child.p))


def causal_mask(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, n) boolean, True above the diagonal (blocked)."""
    return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)


class SeqTransformer(nn.Module):
    def __init__(self, d_model: int = 512, heads: int = 8, ffn: int = 2048, encoder_layers: int = 4,
                 decoder_layers: int = 4, dropout: float = 0.1, embed_dropout: float = 0.2, max_len: int = 128,
                 enc_pos_enc: bool = False, enc_causal_mask: bool = True, official_decoder_pe: bool = False,
                 torch_dropout: bool = False):
        super().__init__()
        self.core = nn.Transformer(d_model, heads, encoder_layers, decoder_layers, ffn, dropout, batch_first=True)
        self.embedding = nn.Embedding(NUM_CLASSES + 1, d_model)
        self.head = nn.Linear(d_model, NUM_CLASSES)
        nn.init.normal_(self.embedding.weight, std=0.01)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)
        rows = max(max_len, OFFICIAL_PE_ROWS) if official_decoder_pe else max_len
        self.register_buffer("positions", sinusoid(rows, d_model), persistent=False)
        # torch_dropout: torch's Bernoulli masks (nn.Dropout, as the official code); else the same law from float32
        # uniforms (UniformDropout)
        self.embed_dropout = nn.Dropout(embed_dropout) if torch_dropout else UniformDropout(embed_dropout)
        if not torch_dropout:
            uniform_dropouts(self.core)
        self.enc_pos_enc, self.enc_causal_mask = enc_pos_enc, enc_causal_mask
        self.official_decoder_pe = official_decoder_pe

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        n = features.shape[1]
        if self.enc_pos_enc:
            features = features + self.positions[:n]
        mask = causal_mask(n, features.device) if self.enc_causal_mask else None
        return self.core.encoder(features, mask=mask)

    def decoder_positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """Added to the token embeddings (B, T, d): row t of the table at step t, or with `official_decoder_pe` row b
        for every step of sample b."""
        batch, steps = tokens.shape
        if not self.official_decoder_pe:
            return self.positions[:steps]
        if batch > len(self.positions):
            raise ValueError(f"official_decoder_pe indexes its {len(self.positions)}-row table by batch slot; got a "
                             f"batch of {batch}")
        return self.positions[:batch, None]

    def decode(self, tokens: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, 97) for decoder inputs (B, T) (BOS first)."""
        x = self.embed_dropout(self.embedding(tokens) + self.decoder_positions(tokens))
        return self.head(self.core.decoder(x, memory, tgt_mask=causal_mask(tokens.shape[1], tokens.device)))
