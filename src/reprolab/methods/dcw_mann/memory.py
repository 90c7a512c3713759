"""The DNC memory (Graves et al. 2016) as DeepProcess runs it: N slots of width W, one write head, R read heads,
batched over B independent memories (no Python loop over samples or slots).

Interface vector xi (size W*R + 3W + 5R + 3), sliced in this order [official code]:
    read keys k_i (W x R, laid out word-major), read strengths beta_i = 1 + softplus (R), write key k_w (W),
    write strength beta_w = 1 + softplus (1), erase e = sigmoid (W), write vector v (W), free gates
    f_i = sigmoid (R), allocation gate g_a = sigmoid, write gate g_w = sigmoid, read modes (pi_b, pi_c, pi_f)_i =
    softmax over the 3 modes (3 x R, laid out mode-major)
Content weighting:  c(M, k, beta)[n] = softmax_n(beta * cos(M[n], k))
Write (uses the previous step's read and write weightings):
    psi = prod_i (1 - f_i w^r_{t-1,i})                                   retention
    u_t = (u_{t-1} + w^w_{t-1} - u_{t-1} o w^w_{t-1}) o psi              usage
    phi = argsort(u_t) ascending;  a[phi_j] = (1 - u_t[phi_j]) prod_{i<j} u_t[phi_i]   allocation
    w^w_t = g_w (g_a a + (1 - g_a) c(M_{t-1}, k_w, beta_w))
    M_t = M_{t-1} o (1 - w^w_t e^T) + w^w_t v^T
    L_t[i, j] = (1 - w^w_t[i] - w^w_t[j]) L_{t-1}[i, j] + w^w_t[i] p_{t-1}[j],  L_t[i, i] = 0   (old p)
    p_t = (1 - sum_n w^w_t[n]) p_{t-1} + w^w_t
Read (after the write: new M and L, previous read weightings):
    f_i = L_t w^r_{t-1,i},  b_i = L_t^T w^r_{t-1,i}
    w^r_{t,i} = pi_b b_i + pi_c c(M_t, k_i, beta_i) + pi_f f_i,   r_i = M_t^T w^r_{t,i}
Initial state [official code]: M = 1e-6, u = p = 0, L = 0, w^w = w^r = r = 1e-6.
Write protection (DCw-MANN) skips the write: M, u, L, p and w^w pass through unchanged; only the read runs.

`compiled_step` is `step` compiled by TorchInductor: the same equations in fused kernels, which round differently
(states and gradients through three steps agree to float32 rounding, `tests/methods/dcw_mann/test_memory.py`). A
step is a few dozen operations on small tensors (N 16, W 32 in the quick design), so eager PyTorch spends most of
its time calling them; `python -m benchmarks dcw_mann` times a training iteration both ways.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import torch
from torch.nn import functional as F

INIT_VALUE = 1e-6          # official code: initial memory, write and read weightings, read vectors
NORM_EPS = 1e-12           # TF l2_normalize: x / sqrt(max(sum x^2, eps))


class Interface(NamedTuple):
    """One step's parsed interface vector; shapes for a batch of B, R read heads, word width W."""
    read_keys: torch.Tensor          # (B, R, W)
    read_strengths: torch.Tensor     # (B, R), >= 1
    write_key: torch.Tensor          # (B, W)
    write_strength: torch.Tensor     # (B,), >= 1
    erase: torch.Tensor              # (B, W), in (0, 1)
    write_vector: torch.Tensor       # (B, W)
    free_gates: torch.Tensor         # (B, R), in (0, 1)
    allocation_gate: torch.Tensor    # (B,), in (0, 1)
    write_gate: torch.Tensor         # (B,), in (0, 1)
    read_modes: torch.Tensor         # (B, R, 3): [backward, content, forward], sums to 1


class MemoryState(NamedTuple):
    memory: torch.Tensor             # M (B, N, W)
    usage: torch.Tensor              # u (B, N)
    precedence: torch.Tensor         # p (B, N)
    link: torch.Tensor               # L (B, N, N)
    write_weighting: torch.Tensor    # w^w (B, N)
    read_weightings: torch.Tensor    # w^r (B, R, N)
    read_vectors: torch.Tensor       # r (B, R, W)


def interface_size(word_size: int, read_heads: int) -> int:
    """W*R + 3W + 5R + 3."""
    return word_size * read_heads + 3 * word_size + 5 * read_heads + 3


def parse_interface(xi: torch.Tensor, word_size: int, read_heads: int) -> Interface:
    """Slice xi (B, W*R + 3W + 5R + 3) in the official order and map each part into its range."""
    b, w, r = xi.shape[0], word_size, read_heads
    if xi.shape[1] != interface_size(w, r):
        raise ValueError(f"interface vector has {xi.shape[1]} entries, expected W*R + 3W + 5R + 3 = "
                         f"{interface_size(w, r)} for W={w}, R={r}")
    sizes = [w * r, r, w, 1, w, w, r, 1, 1, 3 * r]
    keys, strengths, wkey, wstrength, erase, vector, free, alloc, gate, modes = torch.split(xi, sizes, dim=1)
    return Interface(read_keys=keys.reshape(b, w, r).transpose(1, 2),
                     read_strengths=1 + F.softplus(strengths),
                     write_key=wkey,
                     write_strength=1 + F.softplus(wstrength[:, 0]),
                     erase=torch.sigmoid(erase),
                     write_vector=vector,
                     free_gates=torch.sigmoid(free),
                     allocation_gate=torch.sigmoid(alloc[:, 0]),
                     write_gate=torch.sigmoid(gate[:, 0]),
                     read_modes=torch.softmax(modes.reshape(b, 3, r), dim=1).transpose(1, 2))


def initial_state(batch: int, slots: int, word_size: int, read_heads: int,
                  device: torch.device | str = "cpu") -> MemoryState:
    full = dict(device=device, dtype=torch.float32)
    return MemoryState(memory=torch.full((batch, slots, word_size), INIT_VALUE, **full),
                       usage=torch.zeros(batch, slots, **full),
                       precedence=torch.zeros(batch, slots, **full),
                       link=torch.zeros(batch, slots, slots, **full),
                       write_weighting=torch.full((batch, slots), INIT_VALUE, **full),
                       read_weightings=torch.full((batch, read_heads, slots), INIT_VALUE, **full),
                       read_vectors=torch.full((batch, read_heads, word_size), INIT_VALUE, **full))


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """x / sqrt(max(sum x^2, 1e-12)) over the last axis (TF's l2_normalize)."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True).clamp_min(NORM_EPS))


def content_weighting(memory: torch.Tensor, keys: torch.Tensor, strengths: torch.Tensor) -> torch.Tensor:
    """c[b, k, n] = softmax_n(beta[b, k] cos(M[b, n], key[b, k])); memory (B, N, W), keys (B, K, W)."""
    cosine = l2_normalize(keys) @ l2_normalize(memory).transpose(1, 2)            # (B, K, N)
    return torch.softmax(cosine * strengths.unsqueeze(-1), dim=-1)


def retention(read_weightings: torch.Tensor, free_gates: torch.Tensor) -> torch.Tensor:
    """psi = prod_i (1 - f_i w^r_{t-1,i}) -> (B, N)."""
    return torch.prod(1 - free_gates.unsqueeze(-1) * read_weightings, dim=1)


def updated_usage(usage: torch.Tensor, write_weighting: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """u_t = (u + w^w - u o w^w) o psi."""
    return (usage + write_weighting - usage * write_weighting) * psi


def allocation_weighting(usage: torch.Tensor) -> torch.Tensor:
    """a[phi_j] = (1 - u[phi_j]) prod_{i<j} u[phi_i], phi = usage sorted ascending (ties keep slot order, as TF's
    top_k on -u does)."""
    sorted_usage, free_list = torch.sort(usage, dim=-1, stable=True)
    exclusive = torch.cumprod(torch.cat([torch.ones_like(sorted_usage[:, :1]), sorted_usage[:, :-1]], dim=1), dim=1)
    return torch.zeros_like(usage).scatter(1, free_list, (1 - sorted_usage) * exclusive)


def write_weighting(content: torch.Tensor, allocation: torch.Tensor, write_gate: torch.Tensor,
                    allocation_gate: torch.Tensor) -> torch.Tensor:
    """w^w = g_w (g_a a + (1 - g_a) c); content and allocation (B, N), gates (B,)."""
    g_a, g_w = allocation_gate.unsqueeze(-1), write_gate.unsqueeze(-1)
    return g_w * (g_a * allocation + (1 - g_a) * content)


def written_memory(memory: torch.Tensor, weighting: torch.Tensor, erase: torch.Tensor,
                   vector: torch.Tensor) -> torch.Tensor:
    """M o (1 - w e^T) + w v^T."""
    w = weighting.unsqueeze(-1)
    return memory * (1 - w * erase.unsqueeze(1)) + w * vector.unsqueeze(1)


def updated_link(link: torch.Tensor, weighting: torch.Tensor, precedence: torch.Tensor) -> torch.Tensor:
    """L[i, j] = (1 - w_i - w_j) L[i, j] + w_i p_{t-1}[j], then L[i, i] = 0."""
    w_i, w_j = weighting.unsqueeze(2), weighting.unsqueeze(1)
    new = (1 - w_i - w_j) * link + w_i * precedence.unsqueeze(1)
    return new * (1 - torch.eye(link.shape[-1], device=link.device, dtype=link.dtype))


def updated_precedence(precedence: torch.Tensor, weighting: torch.Tensor) -> torch.Tensor:
    """p_t = (1 - sum_n w_n) p_{t-1} + w."""
    return (1 - weighting.sum(-1, keepdim=True)) * precedence + weighting


def write(state: MemoryState, iface: Interface) -> MemoryState:
    """The write half of a step: usage, allocation, write weighting, memory, link (old p), precedence."""
    usage = updated_usage(state.usage, state.write_weighting, retention(state.read_weightings, iface.free_gates))
    content = content_weighting(state.memory, iface.write_key.unsqueeze(1), iface.write_strength.unsqueeze(1))[:, 0]
    ww = write_weighting(content, allocation_weighting(usage), iface.write_gate, iface.allocation_gate)
    return state._replace(memory=written_memory(state.memory, ww, iface.erase, iface.write_vector), usage=usage,
                          link=updated_link(state.link, ww, state.precedence),
                          precedence=updated_precedence(state.precedence, ww), write_weighting=ww)


def read(state: MemoryState, iface: Interface) -> MemoryState:
    """The read half: directional weightings from the current L and the previous w^r, content weighting on the
    current M, mixed by the read modes; read vectors from the current M."""
    forward = state.read_weightings @ state.link.transpose(1, 2)     # f_i = L w_i, as rows: (B, R, N)
    backward = state.read_weightings @ state.link                    # b_i = L^T w_i
    content = content_weighting(state.memory, iface.read_keys, iface.read_strengths)
    modes = iface.read_modes
    weightings = modes[..., 0:1] * backward + modes[..., 1:2] * content + modes[..., 2:3] * forward
    return state._replace(read_weightings=weightings, read_vectors=weightings @ state.memory)


def step(state: MemoryState, iface: Interface, write_protected: bool = False) -> MemoryState:
    """One memory step: write then read; with `write_protected` the write is skipped (the state's M, u, L, p and
    w^w are the same tensors afterwards)."""
    return read(state if write_protected else write(state, iface), iface)


@functools.cache
def compiled_step() -> Callable[..., MemoryState]:
    """`step` compiled by TorchInductor for fixed shapes: one graph per batch size and write protection, each
    compiled on its first call (tens of seconds; TorchInductor's on-disk cache makes later processes reuse it)."""
    return torch.compile(step, dynamic=False)
