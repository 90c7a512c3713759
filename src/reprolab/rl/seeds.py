"""Seeds as a batch dimension: N independent DQN runs (one per seed) trained in one process, in lock step.

The N online networks are one set of stacked parameters, theta[i] = the parameters of seed i's network
(`torch.func.stack_module_state`); one call Q(x)_i = f(theta[i], x[i]) evaluates every seed's network on its own batch
with grouped layers (a batched matrix product per Linear, an N-group convolution per Conv2d). The loss is the sum of
the per-seed mean Huber losses, so the gradient of seed i's parameters is exactly its own loss's gradient, and the
optimizer (RMSProp and Adam act element-wise) updates every seed as it would alone. Each seed keeps its own
environment (one sub-env of a gymnasium `SyncVectorEnv` with same-step autoreset, so a finished episode restarts as
`train_dqn` restarts it), its own replay buffer and its own NumPy generator, drawn in the order `train_dqn` draws
them.

Run i is therefore the run `train_dqn` makes with seed i (network initialised after `torch.manual_seed(seed_i)`):
the same actions, episodes and replay samples; the weights agree to float32 rounding, because the batched
convolution and matrix products may sum in another order than the per-seed kernels (`tests/rl/test_seeds.py`).
Training grows that rounding: with mbec's quick settings on noisy CartPole (MBEC++'s habitual network) a greedy
action between two near-equal values first flips at frames 2,172-11,387 of 12,000 for seeds 0-4, with the same
observations, exploration and replay draws until then (`python -m benchmarks rl_seeds`); from there the runs take
other episodes.
Target rules run unchanged on tensors with a leading seed axis (they reduce over the last axis); rules with
several online networks (Maxmin), or networks of their own drawn per seed (`seed_batchable` False), are not
supported here.
"""

from __future__ import annotations

import collections
import copy
from pathlib import Path
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reprolab.nets.grouped import grouped_linear
from reprolab.rl.dqn import (DQNConfig, TargetRule, TrainLog, learning_reward, make_optimizer, sample_batch,
                             sync_targets, sync_targets_on_frame, transition_done)
from reprolab.rl.replay import ReplayBuffer
from reprolab.rl.schedules import LinearSchedule
from reprolab.runtime.progress import Progress
from reprolab.runtime.train import Checkpointer


GROUPABLE = (nn.Linear, nn.Conv2d, nn.ReLU, nn.Flatten)


def elementwise(layer: nn.Module) -> bool:
    """A parameter-free layer that acts on each element alone (ReLU, or a module marking itself
    `elementwise = True`) applies unchanged to inputs with a leading seed axis."""
    return isinstance(layer, nn.ReLU) or getattr(layer, "elementwise", False)


def groupable_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers of a (nested) `nn.Sequential` in call order, each one a grouped layer can stack."""
    if not isinstance(net, nn.Sequential):
        raise ValueError(f"seed batching stacks nn.Sequential networks, got {type(net).__name__}")
    layers = [(name, m) for name, m in net.named_modules() if not isinstance(m, nn.Sequential)]
    bad = [f"{name}: {m}" for name, m in layers
           if not (isinstance(m, GROUPABLE) or elementwise(m))
           or (isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) != (1, -1))
           or (isinstance(m, nn.Conv2d) and m.padding_mode != "zeros")]
    if bad:
        raise ValueError(f"seed batching supports {[c.__name__ for c in GROUPABLE]} and element-wise layers "
                         f"(Flatten from dim 1, zero padding); unsupported: {bad}")
    return layers


def grouped_layer(layer: nn.Module, weight: torch.Tensor | None, bias: torch.Tensor | None,
                  x: torch.Tensor) -> torch.Tensor:
    """`layer` applied to x[i] with parameters weight[i], bias[i] for every seed i at once; x is (N, B, ...).
    Linear: y_i = x_i W_i^T + b_i (one batched matmul); Conv2d: one convolution with N groups, seed i's channels
    forming group i."""
    if elementwise(layer):
        return layer(x)
    if isinstance(layer, nn.Flatten):
        return x.flatten(2)
    if isinstance(layer, nn.Linear):
        return grouped_linear(x, weight, bias)
    n, batch = x.shape[:2]
    grouped = F.conv2d(x.transpose(0, 1).reshape(batch, -1, *x.shape[3:]), weight.flatten(0, 1),
                       None if bias is None else bias.flatten(), layer.stride, layer.padding, layer.dilation,
                       n * layer.groups)
    return grouped.reshape(batch, n, -1, *grouped.shape[2:]).transpose(0, 1)


class StackedNetworks:
    """N networks of one `nn.Sequential` architecture, parameters stacked on a leading seed axis
    (`torch.func.stack_module_state`); calling it maps (N, B, ...) to (N, B, ...) with grouped layers."""

    def __init__(self, nets: Sequence[nn.Module]):
        self.layers = groupable_layers(nets[0])
        self.params, self.buffers = torch.func.stack_module_state(list(nets))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for name, layer in self.layers:
            x = grouped_layer(layer, self.params.get(f"{name}.weight"), self.params.get(f"{name}.bias"), x)
        return x

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def requires_grad_(self, flag: bool) -> "StackedNetworks":
        for p in self.params.values():
            p.requires_grad_(flag)
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: t.detach() for name, t in {**self.params, **self.buffers}.items()}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, t in {**self.params, **self.buffers}.items():
            t.copy_(state[name])


def clip_grad_norm_per_seed_(params: Sequence[torch.Tensor], max_norm: float) -> None:
    """`nn.utils.clip_grad_norm_` for each seed i: g_i <- g_i min(1, max_norm / (||g_i|| + 1e-6)), the norm taken
    over the seed-i slices of every parameter's gradient."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads], dim=1)
    scale = (max_norm / (torch.linalg.vector_norm(norms, dim=1) + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))


class SeedBatchedDQN:
    """`DQNAgent` for N seeds at once; `online[0]`, `target[0]` are `StackedNetworks`, batches carry a leading
    seed axis. Network i is `make_net()` right after `torch.manual_seed(seeds[i])`."""

    def __init__(self, make_net: Callable[[], nn.Module], n_actions: int, cfg: DQNConfig, rule: TargetRule,
                 seeds: Sequence[int], device: str | torch.device = "cpu"):
        if not rule.seed_batchable():
            raise ValueError(f"seed batching needs a rule with one online network and no networks of its own drawn "
                             f"per seed; {rule.name!r} ({rule.n_online} online networks) is not one: run its seeds "
                             f"separately with train_dqn")
        if len(seeds) < 1 or len(set(seeds)) != len(seeds):
            raise ValueError(f"need one or more distinct seeds, got {list(seeds)}")
        self.cfg, self.rule, self.n_actions, self.device = cfg, rule, n_actions, torch.device(device)
        self.seeds = list(seeds)
        nets = []
        for seed in self.seeds:
            torch.manual_seed(seed)
            nets.append(make_net().to(self.device))
        self.online = [StackedNetworks(nets)]
        self.target = [copy.deepcopy(self.online[0]).requires_grad_(False)]
        self.optimizers = [make_optimizer(self.online[0].parameters(), cfg)]
        self.updates = 0
        self.frame = 0
        rule.attach(self)

    def state_dict(self) -> dict:
        return {"online": self.online[0].state_dict(), "target": self.target[0].state_dict(),
                "optimizer": self.optimizers[0].state_dict(), "updates": self.updates, "rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.online[0].load_state_dict(state["online"])
        self.target[0].load_state_dict(state["target"])
        self.optimizers[0].load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
        self.rule.load_state_dict(state["rule"])

    def act(self, obs: np.ndarray, epsilon: float, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Epsilon-greedy per seed; `obs` is (N, ...). Seed i draws from rngs[i] exactly as `DQNAgent.act`."""
        explore = [rng.random() < epsilon for rng in rngs]
        greedy = None
        if not all(explore):
            with torch.no_grad():
                values = self.rule.acting_values(self, torch.as_tensor(obs, device=self.device).unsqueeze(1))
            greedy = values.argmax(dim=-1).squeeze(1).cpu().numpy()
        return np.array([rng.integers(self.n_actions) if e else greedy[i]
                         for i, (rng, e) in enumerate(zip(rngs, explore))], np.int64)

    def update(self, batch: dict, rngs: Sequence[np.random.Generator]) -> dict[str, list[float]]:
        """One gradient step for every seed on its own batch; returns one value per seed for each logged key."""
        for rng in rngs:  # a rule may draw its online network per update; with one network it draws nothing
            self.rule.choose_online(self, rng)
        y, info = self.rule.targets(self, batch, 0)
        q = self.rule.online_values(self, batch, 0)
        losses = F.smooth_l1_loss(q, y, reduction="none").mean(dim=-1)
        if not torch.isfinite(losses).all():
            raise FloatingPointError(f"{self.rule.name} DQN loss became {losses.tolist()} at update {self.updates}")
        self.optimizers[0].zero_grad(set_to_none=True)
        losses.sum().backward()
        if self.cfg.max_grad_norm > 0:
            clip_grad_norm_per_seed_(self.online[0].parameters(), self.cfg.max_grad_norm)
        self.optimizers[0].step()
        self.updates += 1
        sync_targets(self)
        return {"loss": losses.tolist(), **{key: value.tolist() for key, value in info.items()}}


def seed_cells(cell: dict, seeds: Sequence[int], batched: bool) -> list[dict]:
    """Grid cells for one configuration's consecutive seeds: one cell that trains them together (its `n_seeds` is
    their count) or one cell per seed."""
    if list(seeds) != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ValueError(f"seeds must be consecutive, got {list(seeds)}")
    if batched:
        return [{**cell, "seed": seeds[0], "n_seeds": len(seeds)}]
    return [{**cell, "seed": seed, "n_seeds": 1} for seed in seeds]


def cell_seeds(cell: dict) -> list[int]:
    """The seeds a cell made by `seed_cells` trains."""
    return list(range(cell["seed"], cell["seed"] + cell["n_seeds"]))


def vector_env(make_env: Callable[[], gym.Env], n: int) -> gym.vector.SyncVectorEnv:
    """n copies of one environment; a finished episode resets in the same step (`final_obs` in the info)."""
    return gym.vector.SyncVectorEnv([make_env] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def train_dqn_seeds(make_env: Callable[[], gym.Env], agent: SeedBatchedDQN, frames: int, *,
                    progress: bool | None = None, desc: str = "dqn seeds", log_every: int = 1000,
                    checkpoint: str | Path | None = None, checkpoint_every: int = 0,
                    resume: bool = False) -> list[TrainLog]:
    """`train_dqn` for every seed of `agent` at once (its `cfg` flags for truncation, reward clipping, replay
    sampling and the frame-clock target sync included; the stacked agent has no episode hooks, so
    `episode_end_before_update` changes nothing here); returns one log per seed.

    With `checkpoint` and `checkpoint_every`, the agent, buffers, logs and generators are saved every
    `checkpoint_every` frames; `resume=True` continues from there with every environment starting a new episode
    seeded by (seed, frame), as `train_dqn` resumes (the unfinished episodes are dropped)."""
    cfg, seeds, n = agent.cfg, agent.seeds, len(agent.seeds)
    envs = vector_env(make_env, n)
    space = envs.single_observation_space
    buffers = [ReplayBuffer(cfg.buffer_size, space.shape, space.dtype) for _ in seeds]
    rngs = [np.random.default_rng(seed) for seed in seeds]
    logs = [TrainLog([], [], [], collections.defaultdict(list)) for _ in seeds]
    saver = Checkpointer(checkpoint) if checkpoint is not None and checkpoint_every else None
    state = {"agent": agent, **{f"{kind}{i}": obj for i in range(n)
                                for kind, obj in (("buffer", buffers[i]), ("log", logs[i]), ("rng", rngs[i]))}}
    restored = saver.load(state) if saver is not None and resume else None
    start = restored[0] if restored else 0
    obs, _ = envs.reset(seed=[seed + start for seed in seeds])
    for env, seed in zip(envs.envs, seeds):
        env.action_space.seed(seed + start)
    epsilon = LinearSchedule(cfg.eps_start, cfg.eps_end, cfg.eps_frames, delay=cfg.replay_start)
    returns = np.zeros(n)
    running: dict[str, list[list[float]]] = collections.defaultdict(list)
    bar = Progress(frames, desc, initial=start, enabled=progress)
    for frame in range(start + 1, frames + 1):
        agent.frame = frame
        actions = agent.act(obs, epsilon(frame), rngs)
        next_obs, rewards, terminated, truncated, infos = envs.step(actions)
        for i in range(n):
            ended = terminated[i] or truncated[i]
            buffers[i].add(obs[i], actions[i], learning_reward(rewards[i], cfg),
                           infos["final_obs"][i] if ended else next_obs[i],
                           transition_done(terminated[i], truncated[i], cfg))
            returns[i] += rewards[i]
            if ended:
                logs[i].episode_returns.append(float(returns[i]))
                logs[i].episode_end_frames.append(frame)
                returns[i] = 0.0
        obs = next_obs
        if frame > cfg.replay_start and frame % cfg.train_every == 0:
            samples = [sample_batch(buffer, cfg, rng, agent.device) for buffer, rng in zip(buffers, rngs)]
            info = agent.update({key: torch.stack([s[key] for s in samples]) for key in samples[0]}, rngs)
            for key, values in info.items():
                running[key].append(values)
        sync_targets_on_frame(agent, frame)
        if frame % log_every == 0 and running:
            for i, log in enumerate(logs):
                log.add_means({key: [per_update[i] for per_update in values] for key, values in running.items()})
            running.clear()
        if saver is not None and frame % checkpoint_every == 0:
            saver.save(frame, state, [])
        bar.update(1)
    bar.close()
    envs.close()
    for log in logs:
        log.infos = dict(log.infos)
    return logs
