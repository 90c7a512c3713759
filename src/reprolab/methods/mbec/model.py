"""MBEC++ networks (official code defaults).

- Encoder phi: vector observations Linear(obs, 32)-ReLU-Linear(32, 64)-ReLU; images (C, H, W), uint8 scaled to
  [0, 1], Conv(32, 8x8, s4)-Conv(64, 4x4, s2)-Conv(64, 3x3, s1)-Conv(1024, 3x3, s1), ReLU after each.
- Habitual value Q_theta(s, .) = Linear(feat, 512)-ReLU-Linear(512, |A|) on phi(s). `habitual_network` builds
  encoder + head alone: the DQN baseline. `MBECNetwork` builds it FIRST, so under the same torch seed the DQN
  baseline and MBEC++ start from identical habitual weights.
- Projection x = proj(phi(s)) in R^32.
- Trajectory model: a 1-layer LSTM over [x, onehot(a)], hidden 16, learned initial state (h0, c0) ~ 0.05 N(0, 1)
  (the official code never trains it: `MBECConfig.official_h0_frozen`);
  trj_out: Linear(16 -> 32 + |A| + 1) predicts [x_{t+1}, onehot(a_t)] from the LSTM output (the role of the last
  unit is not confirmed; it is not used).
- Reward model r_hat([x, onehot(a), h]): widths 4-4-1 (the official code reuses `batch_size_reward` = 4).
- beta(h) = sigmoid(Linear(16 -> 1)(h)).
- random_map: a FROZEN random Linear(16 -> 8) giving the memory key of a trajectory state.
Initialisation [official `weights_init` and `LSTMController.reset_parameters`]: every Linear and Conv2d (habitual
network, projection, trj_out, reward model, beta, random_map) Kaiming-normal (ReLU gain, fan-in) with zero bias; the
LSTM's weights uniform in +-5 / sqrt(inputs + hidden), its biases 0. `init="pytorch"` keeps torch's defaults.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Init = Literal["official", "pytorch"]

PROJ_DIM, HIDDEN, KEY_DIM, REWARD_WIDTH, HEAD_WIDTH = 32, 16, 8, 4, 512


class ScaleImage(nn.Module):
    """uint8 pixels -> float in [0, 1]; float inputs pass unchanged."""

    elementwise = True   # acts on each element alone: seed batching (`reprolab.rl.seeds`) applies it as is

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float() / 255.0 if obs.dtype == torch.uint8 else obs.float()


def encoder_for(obs_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    """phi and its output width for vector (D,) or image (C, H, W) observations."""
    if len(obs_shape) == 1:
        return nn.Sequential(ScaleImage(), nn.Linear(obs_shape[0], 32), nn.ReLU(), nn.Linear(32, 64), nn.ReLU()), 64
    if len(obs_shape) == 3:
        conv = nn.Sequential(ScaleImage(), nn.Conv2d(obs_shape[0], 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2),
                             nn.ReLU(), nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Conv2d(64, 1024, 3, 1), nn.ReLU(),
                             nn.Flatten())
        with torch.no_grad():
            width = conv(torch.zeros(1, *obs_shape)).shape[1]
        return conv, width
    raise ValueError(f"observations must be vectors (D,) or images (C, H, W), got shape {tuple(obs_shape)}")


def official_init_(*modules: nn.Module) -> None:
    """Kaiming-normal weights (ReLU gain, fan-in) and zero biases for every Linear and Conv2d of the modules."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)


def official_lstm_init_(cell: nn.LSTMCell) -> None:
    """Weights uniform in +-5 / sqrt(inputs + hidden), biases 0."""
    bound = 5 / math.sqrt(cell.input_size + cell.hidden_size)
    with torch.no_grad():
        for name, p in cell.named_parameters():
            p.zero_() if name.startswith("bias") else p.uniform_(-bound, bound)


def habitual_network(obs_shape: tuple[int, ...], n_actions: int, init: Init = "official") -> nn.Sequential:
    """Q_theta = head(phi(s)): Sequential(encoder, head). Alone, it is the DQN baseline's network."""
    if n_actions < 1:
        raise ValueError(f"n_actions must be >= 1, got {n_actions}")
    encoder, width = encoder_for(tuple(obs_shape))
    head = nn.Sequential(nn.Linear(width, HEAD_WIDTH), nn.ReLU(), nn.Linear(HEAD_WIDTH, n_actions))
    network = nn.Sequential(encoder, head)
    if init == "official":
        official_init_(network)
    return network


class MBECNetwork(nn.Module):
    """Q_theta plus the trajectory model. `forward(obs)` is Q_theta, so DQN code can use it as is."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, proj_dim: int = PROJ_DIM, hidden: int = HIDDEN,
                 key_dim: int = KEY_DIM, reward_width: int = REWARD_WIDTH, init: Init = "official"):
        super().__init__()
        self.n_actions, self.proj_dim, self.hidden = n_actions, proj_dim, hidden
        self.habitual = habitual_network(obs_shape, n_actions, init)
        width = self.habitual[1][0].in_features
        self.proj = nn.Linear(width, proj_dim)
        self.lstm = nn.LSTMCell(proj_dim + n_actions, hidden)   # one step of the 1-layer LSTM
        self.h0 = nn.Parameter(0.05 * torch.randn(1, hidden))
        self.c0 = nn.Parameter(0.05 * torch.randn(1, hidden))
        self.trj_out = nn.Linear(hidden, proj_dim + n_actions + 1)
        self.reward_model = nn.Sequential(nn.Linear(proj_dim + n_actions + hidden, reward_width), nn.ReLU(),
                                          nn.Linear(reward_width, reward_width), nn.ReLU(),
                                          nn.Linear(reward_width, 1))
        self.beta_net = nn.Linear(hidden, 1)
        self.random_map = nn.Linear(hidden, key_dim)
        if init == "official":
            official_init_(self.proj, self.trj_out, self.reward_model, self.beta_net, self.random_map)
            official_lstm_init_(self.lstm)
        self.random_map.requires_grad_(False)
        self.register_buffer("identity", torch.eye(n_actions), persistent=False)   # row a is onehot(a)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.habitual(obs)

    def q_and_embedding(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Q_theta(s, .) and x = proj(phi(s)) from one encoder pass."""
        features = self.habitual[0](obs)
        return self.habitual[1](features), self.proj(features)

    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        return self.proj(self.habitual[0](obs))

    def onehot(self, actions: torch.Tensor) -> torch.Tensor:
        """Row i is onehot(a_i), row a_i of the identity (a per-row lookup, never a shared column index)."""
        return self.identity[actions.long()]

    def step(self, x: torch.Tensor, a_onehot: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """(h', c') = LSTM([x, onehot(a)], (h, c)) for a batch (B, .)."""
        return self.lstm(torch.cat([x, a_onehot], dim=1), (h, c))

    def initial_state(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        return self.h0.expand(batch, -1), self.c0.expand(batch, -1)

    def reward(self, x: torch.Tensor, a_onehot: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """r_hat([x, onehot(a), h]) -> (B,)."""
        return self.reward_model(torch.cat([x, a_onehot, h], dim=1)).squeeze(1)

    def beta(self, h: torch.Tensor) -> torch.Tensor:
        """beta(h) = sigmoid(W_beta h + b_beta) -> (B,)."""
        return torch.sigmoid(self.beta_net(h)).squeeze(1)

    def key(self, h: torch.Tensor) -> torch.Tensor:
        """Memory key random_map(h) (frozen)."""
        return self.random_map(h)
