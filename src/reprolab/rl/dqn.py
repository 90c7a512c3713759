"""A DQN core with pluggable target rules (max, double, maxmin-N, averaged-N; methods add their own).

Official MinAtar settings (Young & Tian 2019; the Balanced Q code): network Conv2d(C, 16, 3x3) -> ReLU ->
Linear(-> 128) -> ReLU -> Linear(128, |A|); centred RMSProp (lr 2.5e-4, smoothing 0.95, eps 0.01); batch 32; buffer
100k; target sync every 1000 updates; one update per frame after a replay start of 5000 frames; epsilon 1 -> 0.1
linearly over 100k frames; gamma 0.99; Huber loss.

A target rule owns how the regression target y is formed and may keep state (extra networks, snapshots):
`n_online` online networks are trained (Maxmin: N, updating one random network per step and acting on their
element-wise min); each has a target copy synced every `target_sync` updates (or, with `target_sync_frames`,
every that many frames from frame 1, learning started or not); a rule may sync only some (`synced_targets`).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reprolab.rl.replay import ReplayBuffer
from reprolab.runtime.progress import Progress
from reprolab.runtime.train import Checkpointer
from reprolab.rl.schedules import LinearSchedule


@dataclasses.dataclass(frozen=True)
class DQNConfig:
    gamma: float = 0.99
    lr: float = 2.5e-4
    rms_alpha: float = 0.95
    rms_eps: float = 0.01
    batch_size: int = 32
    buffer_size: int = 100_000
    target_sync: int = 1000          # in updates
    replay_start: int = 5000         # frames before the first update
    train_every: int = 1             # frames per update
    eps_start: float = 1.0
    eps_end: float = 0.1
    eps_frames: int = 100_000
    hidden: int = 128
    optimizer: str = "rmsprop_centered"  # or "adam" (lr, eps adam_eps)
    adam_eps: float = 1e-8
    max_grad_norm: float = 0.0       # gradient-norm clip per update (0: none)
    truncation_terminal: bool = False  # MBEC++ official: `done` includes time-limit truncation, so a truncated step
                                       # is terminal in the TD target and for the agent's hooks; default: bootstrap
    clip_rewards: bool = False       # MBEC++ official `clip_rewards=1`: the learner sees sign(r) in every
                                     # environment; the log keeps the environment's rewards
    replay_without_replacement: bool = False  # Balanced DQN official (`random.sample`): a batch holds distinct
                                              # transitions; default: drawn with replacement
    target_sync_frames: int = 0      # MBEC++ official (`update_target` 1000): > 0 syncs the targets every this many
                                     # frames from frame 1, before learning starts too, after that frame's update;
                                     # 0 (default): every `target_sync` updates
    episode_end_before_update: bool = False  # MBEC++ official: at an episode's last frame the agent's `end_episode`
                                             # comes before that frame's update; default: after it

    def __post_init__(self) -> None:
        if self.target_sync_frames < 0:
            raise ValueError(f"target_sync_frames must be >= 0 (0: sync by updates), got {self.target_sync_frames}")


def minatar_network(in_channels: int, n_actions: int, hidden: int = 128) -> nn.Module:
    """The MinAtar DQN: Conv2d(C, 16, 3, stride 1) -> ReLU -> Linear(16*8*8, hidden) -> ReLU -> Linear(hidden, |A|)."""
    return nn.Sequential(nn.Conv2d(in_channels, 16, 3, 1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(16 * 8 * 8, hidden), nn.ReLU(), nn.Linear(hidden, n_actions))


def mlp_network(obs_dim: int, n_actions: int, hidden: int = 128) -> nn.Module:
    return nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_actions))


def network_for(observation_space, n_actions: int, hidden: int) -> Callable[[], nn.Module]:
    shape = observation_space.shape
    if len(shape) == 3 and shape[1:] == (10, 10):
        return lambda: minatar_network(shape[0], n_actions, hidden)
    if len(shape) == 1:
        return lambda: mlp_network(shape[0], n_actions, hidden)
    raise ValueError(f"no default network for observations of shape {shape}; pass make_net")


class TargetRule:
    """y = r + gamma (1 - done) max_a' Q_target(s', a') (DQN)."""

    name = "max"
    n_online = 1

    def attach(self, agent: "DQNAgent") -> None:
        """Called once the networks exist."""

    def acting_values(self, agent: "DQNAgent", obs: torch.Tensor) -> torch.Tensor:
        return agent.online[0](obs)

    def choose_online(self, agent: "DQNAgent", rng: np.random.Generator) -> int:
        return 0

    def next_value(self, agent: "DQNAgent", batch: dict, k: int) -> torch.Tensor:
        return agent.target[k](batch["next_obs"]).max(dim=-1).values

    def online_values(self, agent: "DQNAgent", batch: dict, k: int) -> torch.Tensor:
        """Q_k(s, a) of the taken actions, with gradient: row i gathers its own action a_i."""
        return agent.online[k](batch["obs"]).gather(-1, batch["action"].unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def targets(self, agent: "DQNAgent", batch: dict, k: int) -> tuple[torch.Tensor, dict]:
        """Regression targets (no gradient) and anything worth logging (tensors, one value per seed)."""
        notdone = 1.0 - batch["done"]
        return batch["reward"] + agent.cfg.gamma * notdone * self.next_value(agent, batch, k), {}

    def synced_targets(self, agent: "DQNAgent") -> Sequence[int]:
        """The target networks a sync copies from their online networks: all of them."""
        return range(len(agent.target))

    def after_sync(self, agent: "DQNAgent") -> None:
        """Called after the target networks are synced."""

    def seed_batchable(self) -> bool:
        """Whether `reprolab.rl.seeds.SeedBatchedDQN` can train this rule's seeds stacked: one online network."""
        return self.n_online == 1

    def state_dict(self) -> dict:
        """Whatever the rule keeps between updates (for checkpoints)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore `state_dict()`."""


class DoubleRule(TargetRule):
    """Double DQN: a* = argmax_a Q_online(s', a), y = r + gamma Q_target(s', a*)."""

    name = "double"

    def next_value(self, agent, batch, k):
        best = agent.online[k](batch["next_obs"]).argmax(dim=-1, keepdim=True)
        return agent.target[k](batch["next_obs"]).gather(-1, best).squeeze(-1)


class MaxminRule(TargetRule):
    """Maxmin DQN (Lan et al. 2020): N networks; act on min_i Q_i; update one random network towards
    r + gamma max_a' min_i Q_target_i(s', a')."""

    name = "maxmin"

    def __init__(self, n: int = 8):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n_online = n

    def acting_values(self, agent, obs):
        return torch.stack([net(obs) for net in agent.online]).min(dim=0).values

    def choose_online(self, agent, rng):
        return int(rng.integers(self.n_online))

    def next_value(self, agent, batch, k):
        return torch.stack([net(batch["next_obs"]) for net in agent.target]).min(dim=0).values.max(dim=-1).values


class AveragedRule(TargetRule):
    """Averaged-DQN (Anschel et al. 2017): y = r + gamma max_a' mean_{k<K} Q_{target,k}(s', a') over the last K
    target networks."""

    name = "averaged"

    def __init__(self, k: int = 8):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k

    def attach(self, agent):
        self.snapshots = collections.deque([copy.deepcopy(agent.target[0])], maxlen=self.k)

    def next_value(self, agent, batch, k):
        return torch.stack([net(batch["next_obs"]) for net in self.snapshots]).mean(dim=0).max(dim=-1).values

    def after_sync(self, agent):
        self.snapshots.append(copy.deepcopy(agent.target[0]))

    def state_dict(self):
        return {"snapshots": [net.state_dict() for net in self.snapshots]}

    def load_state_dict(self, state):
        template = self.snapshots[0]
        self.snapshots.clear()
        for weights in state["snapshots"]:
            net = copy.deepcopy(template)
            net.load_state_dict(weights)
            self.snapshots.append(net)


def make_optimizer(params, cfg: DQNConfig) -> torch.optim.Optimizer:
    """Centred RMSProp or Adam. Adam takes torch's foreach implementation on every device: the same element-wise
    operations as its per-tensor loop (torch's CPU default), bit for bit (`tests/rl/test_dqn.py`), in one call
    per operation for all parameters instead of one per parameter."""
    if cfg.optimizer == "rmsprop_centered":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.rms_alpha, eps=cfg.rms_eps, centered=True)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, eps=cfg.adam_eps, foreach=True)
    raise ValueError(f"optimizer must be 'rmsprop_centered' or 'adam', got {cfg.optimizer!r}")


class DQNAgent:
    """A DQN learner. Methods that keep per-episode state (MBEC's trajectory LSTM) override the hooks
    `extra_fields`, `observe` and `end_episode`, which `train_dqn` calls around every environment step."""

    def __init__(self, make_net: Callable[[], nn.Module], n_actions: int, cfg: DQNConfig, rule: TargetRule,
                 device: str | torch.device = "cpu"):
        self.cfg, self.rule, self.n_actions, self.device = cfg, rule, n_actions, torch.device(device)
        self.online = [make_net().to(self.device) for _ in range(rule.n_online)]
        self.online_parameters = [list(net.parameters()) for net in self.online]   # listed once, for the clip
        self.target = [copy.deepcopy(net) for net in self.online]
        for net in self.target:
            net.requires_grad_(False)
        self.optimizers = [make_optimizer(net.parameters(), cfg) for net in self.online]
        self.updates = 0
        self.frame = 0
        rule.attach(self)

    def state_dict(self) -> dict:
        return {"online": [n.state_dict() for n in self.online], "target": [n.state_dict() for n in self.target],
                "optimizers": [o.state_dict() for o in self.optimizers], "updates": self.updates,
                "rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for group in ("online", "target"):
            for net, weights in zip(getattr(self, group), state[group]):
                net.load_state_dict(weights)
        for optimizer, opt_state in zip(self.optimizers, state["optimizers"]):
            optimizer.load_state_dict(opt_state)
        self.updates = int(state["updates"])
        self.rule.load_state_dict(state["rule"])

    def extra_fields(self) -> dict[str, tuple[tuple[int, ...], type]]:
        """Extra per-transition replay fields (name -> (shape, dtype)) that `observe` returns."""
        return {}

    def observe(self, obs, action: int, reward: float, next_obs, terminated: bool) -> dict:
        """Called after every environment step with the reward and done flag the replay buffer stores
        (`learning_reward`, `transition_done`); returns the extra replay fields of this transition."""
        return {}

    def end_episode(self, episode_return: float) -> None:
        """Called when an episode ends (terminated or truncated), before the environment is reset, with the sum of
        the rewards `observe` got."""

    def act(self, obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
        if rng.random() < epsilon:
            return int(rng.integers(self.n_actions))
        with torch.no_grad():
            values = self.rule.acting_values(self, torch.as_tensor(obs, device=self.device).unsqueeze(0))
        return int(values.argmax(dim=1).item())

    def update(self, batch: dict, rng: np.random.Generator) -> dict:
        k = self.rule.choose_online(self, rng)
        y, info = self.rule.targets(self, batch, k)
        q = self.rule.online_values(self, batch, k)
        loss = F.smooth_l1_loss(q, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{self.rule.name} DQN loss became {loss.item()} at update {self.updates}")
        self.optimizers[k].zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.online_parameters[k], self.cfg.max_grad_norm)
        self.optimizers[k].step()
        self.updates += 1
        sync_targets(self)
        return {"loss": loss.item(), **{key: float(value) for key, value in info.items()}}


def learning_reward(reward: float, cfg: DQNConfig) -> float:
    """The reward the learner sees (replay buffer, agent hooks): sign(r) with `clip_rewards`, else r itself."""
    return float(np.sign(reward)) if cfg.clip_rewards else reward


def transition_done(terminated: bool, truncated: bool, cfg: DQNConfig) -> bool:
    """The transition's `done` (no bootstrap in the TD target): terminated, or also truncated with
    `truncation_terminal`."""
    return terminated or (cfg.truncation_terminal and truncated)


def sample_batch(buffer: ReplayBuffer, cfg: DQNConfig, rng: np.random.Generator,
                 device: str | torch.device) -> dict:
    """A batch of `batch_size` transitions, drawn with replacement or, with `replay_without_replacement`, without."""
    return buffer.sample(cfg.batch_size, rng, device, replace=not cfg.replay_without_replacement)


def sync_targets(agent) -> None:
    """Called after every update: every `target_sync` updates, unless the frame clock `target_sync_frames` is on,
    `copy_to_targets`."""
    if agent.cfg.target_sync_frames == 0 and agent.updates % agent.cfg.target_sync == 0:
        copy_to_targets(agent)


def sync_targets_on_frame(agent, frame: int) -> None:
    """Called at the end of every frame's learning step: with `target_sync_frames` = F > 0, `copy_to_targets` at
    every frame that is a multiple of F, learning started or not."""
    if agent.cfg.target_sync_frames and frame % agent.cfg.target_sync_frames == 0:
        copy_to_targets(agent)


def copy_to_targets(agent) -> None:
    """Each target network the rule's `synced_targets` names (by default all) <- its online network, then the
    rule's `after_sync`."""
    for k in agent.rule.synced_targets(agent):
        agent.target[k].load_state_dict(agent.online[k].state_dict())
    agent.rule.after_sync(agent)


@dataclasses.dataclass
class TrainLog:
    episode_returns: list[float]
    episode_end_frames: list[int]
    losses: list[float]
    infos: dict[str, list[float]]

    def add_means(self, running: dict[str, list[float]]) -> None:
        """Append the mean of each key's values since the last log point ("loss" to `losses`, others to `infos`)."""
        for key, values in running.items():
            (self.losses if key == "loss" else self.infos[key]).append(float(np.mean(values)))

    def random_phase_return(self, replay_start: int) -> float:
        """Mean return of the episodes that end by the replay start, where epsilon is 1 (a uniform random policy:
        the trivial predictor of a learning curve); NaN when none ends that early."""
        returns = np.asarray(self.episode_returns, float)[np.asarray(self.episode_end_frames) <= replay_start]
        return float(returns.mean()) if returns.size else float("nan")

    def state_dict(self) -> dict:
        return {"episode_returns": self.episode_returns, "episode_end_frames": self.episode_end_frames,
                "losses": self.losses, "infos": dict(self.infos)}

    def load_state_dict(self, state: dict) -> None:
        self.episode_returns[:], self.episode_end_frames[:] = state["episode_returns"], state["episode_end_frames"]
        self.losses[:] = state["losses"]
        self.infos.clear()
        self.infos.update(state["infos"])


def train_dqn(env, agent: DQNAgent, frames: int, seed: int, *, progress: bool | None = None, desc: str = "dqn",
              log_every: int = 1000, checkpoint: str | Path | None = None, checkpoint_every: int = 0,
              resume: bool = False) -> TrainLog:
    """Interact for `frames` environment steps, one update every `train_every` frames after the replay start (then
    the frame-clock target sync of `cfg.target_sync_frames`); at an episode's last frame `agent.end_episode` follows
    that update, or precedes it with `cfg.episode_end_before_update`. Time-limit truncation starts a new episode
    without marking the transition terminal (with `cfg.truncation_terminal` it marks it). With `cfg.clip_rewards`
    the replay buffer and the agent's hooks get sign(r), `end_episode` the sum of those, and the log the
    environment's rewards.

    With `checkpoint` and `checkpoint_every`, the agent, replay buffer, log and RNG states are saved at the first
    episode end after every `checkpoint_every` frames. `resume=True` continues from that checkpoint: every
    finished episode is kept, and the environment starts a new episode seeded by (seed, frame). The continuation
    is therefore not bit-identical to an uninterrupted run; the environment's internal state is not saved.
    """
    cfg = agent.cfg
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(cfg.buffer_size, env.observation_space.shape, env.observation_space.dtype,
                          extras=agent.extra_fields())
    epsilon = LinearSchedule(cfg.eps_start, cfg.eps_end, cfg.eps_frames, delay=cfg.replay_start)
    log, episode_return, learned_return = TrainLog([], [], [], collections.defaultdict(list)), 0.0, 0.0
    saver = Checkpointer(checkpoint) if checkpoint is not None and checkpoint_every else None
    state = {"agent": agent, "buffer": buffer, "log": log, "rng": rng}
    restored = saver.load(state) if saver is not None and resume else None
    start = restored[0] if restored else 0
    obs, _ = env.reset(seed=seed if start == 0 else seed + start)
    env.action_space.seed(seed + start)
    last_saved = start
    running: dict[str, list[float]] = collections.defaultdict(list)
    bar = Progress(frames, desc, initial=start, enabled=progress)
    for frame in range(start + 1, frames + 1):
        agent.frame = frame
        action = agent.act(obs, epsilon(frame), rng)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        learned, done = learning_reward(reward, cfg), transition_done(terminated, truncated, cfg)
        buffer.add(obs, action, learned, next_obs, done, **agent.observe(obs, action, learned, next_obs, done))
        episode_return += reward
        learned_return += learned
        obs = next_obs
        ended = terminated or truncated
        if ended and cfg.episode_end_before_update:
            agent.end_episode(learned_return)
        if frame > cfg.replay_start and frame % cfg.train_every == 0:
            info = agent.update(sample_batch(buffer, cfg, rng, agent.device), rng)
            for key, value in info.items():
                running[key].append(value)
        sync_targets_on_frame(agent, frame)
        if frame % log_every == 0 and running:
            log.add_means(running)
            running.clear()
        if ended:
            if not cfg.episode_end_before_update:
                agent.end_episode(learned_return)
            log.episode_returns.append(episode_return)
            log.episode_end_frames.append(frame)
            episode_return = learned_return = 0.0
            obs, _ = env.reset()
            if saver is not None and frame - last_saved >= checkpoint_every:
                saver.save(frame, state, [])
                last_saved = frame
        bar.update(1)
    bar.close()
    log.infos = dict(log.infos)
    return log
