"""MBEC++: DQN plus a model-based trajectory episodic memory under a dynamic hybrid control.

Values (per action a, at time t, h_t the trajectory LSTM state):
  tau'_a = LSTM([x_t, onehot(a)], h_t)                                  (imagined next trajectory state)
  Q_MBEC(s_t, a) = r_hat([x_t, onehot(a), h_t]) + gamma V_M(random_map(tau'_a))      (no gradient)
  Q(s_t, a) = Q_theta(s_t, a) + beta(h_t) Q_MBEC(s_t, a),   beta(h) = sigmoid(W_beta h + b_beta)
TD step (every `train_every` frames, batch 32, smooth-L1, gradient-norm clip 100, Adam(1e-4, eps 1e-4)):
  online  Q_theta(s, a) + beta(h_t) (r + gamma V_M(random_map(tau'_a)))       with a each ROW's own action
  target  r + gamma (1 - done) max_a' [Q_theta^-(s', a') + beta^-(h_{t+1}) Q_MBEC^-(s', a')]
The memory is consulted after `warmup_episodes` episodes, once it holds more than one entry, and then with probability
`read_rate`, drawn once per action choice and once for each of the online and target passes of a TD step; otherwise
Q = Q_theta. Memory: every `write_interval` steps (0.1 x mean length of the last 20 episodes; first
`initial_write_interval`: 200 official, 10 in the quick run) the pair (h_{t+1}, cumulative reward) is kept; at the
episode end each such key gets the return-to-go R = G - cumulative reward (undiscounted, official;
`discount_mc_returns` discounts it): Insert, and after warm-up Write (with `min_reward`, only the keys whose R exceeds
it [official]). While reading, with probability `bstr_rate`, Write(random_map(h_t), max_a Q_MBEC(s_t, a)).
Trajectory model: batches of 4 steps of the current episode, the input [x_t, onehot(a_t)]
corrupted by dropout 0.5 or by noise of std sqrt(0.5 max|input|) (one of the two with probability 1/2); the
LSTM output through trj_out predicts [x_{t+1}, onehot(a_t)] and r_hat predicts r (smooth-L1, clip 0.5); with
probability `rec_rate` at each kept pair (main Adam) and at every episode end (a second Adam), until `rec_until`
frames. With read_rate = rec_rate = 0 the agent is DQN on Q_theta, bit for bit.

Official-code bugs fixed here: (a) the TD loss uses per-row gathers and one-hot rows (no flag);
(b) acting evaluates r_hat per action (`official_acting_reward=True` reuses action 0's, as the official code);
(d) the target network is an exact copy, frozen random_map included. Quirks kept by default, with flags:
(c) `discount_mc_returns`, (e) `distance` and `max_read_prob`, (f) `detach_rec_targets`. The learned initial state
trains here (h0 through the reward loss; c0 only through the recall loss with `recall="teacher_forcing"`); the
official code never trains it (`official_h0_frozen=True`).
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from reprolab.methods.mbec.model import HIDDEN, KEY_DIM, PROJ_DIM, MBECNetwork
from reprolab.rl.dqn import DQNAgent, DQNConfig, TargetRule
from reprolab.rl.memory import EpisodicMemory
from reprolab.runtime.config import check_options
from reprolab.runtime.train import restore_state, state_of


@dataclasses.dataclass(frozen=True)
class MBECConfig:
    """Settings of MBEC++'s episodic memory and trajectory model (the DQN part is a `DQNConfig`): memory capacity,
    k neighbours, key, LSTM and projection sizes, `write_lr`, the read, bootstrap and reconstruction rates and the
    warm-up. These default to the official code's values (memory 10,000, k 7, key 8, LSTM 16, read_rate 0.2,
    warm-up 20 episodes); its quirks are kept and its acting-reward bug fixed unless a flag says otherwise."""

    memory_capacity: int = 10_000     # official
    k: int = 7                        # official
    key_dim: int = KEY_DIM            # official 8
    hidden: int = HIDDEN              # LSTM hidden, official 16
    proj_dim: int = PROJ_DIM          # official 32
    write_lr: float = 0.5             # official
    read_rate: float = 0.2            # official
    bstr_rate: float = 0.1            # official
    rec_rate: float = 0.1             # official
    rec_batch: int = 4                # official
    rec_clip: float = 0.5             # official gradient-norm clip of the trajectory-model step
    rec_until: int = 5_000_000        # official: model training stops after 5e6 steps
    warmup_episodes: int = 20         # official: the memory is read and written once MORE than this many episodes ended
    initial_write_interval: int = 200 # official (`arguments.py`); the quick experiment cuts it to 10
    max_read_prob: float = 0.3        # official quirk (e); 0 disables
    distance: str = "sq_l2"           # official quirk (e); "l2" for the plain distance
    index: str = "auto"               # exact search: faiss-cpu for a CPU memory when installed, else torch
    fixed_beta: float | None = None   # ablation: a constant beta instead of beta(h_t)
    official_acting_reward: bool = False  # bug (b): r_hat of action 0 for every action while acting (the
                                          # official TD target does the same; not reproduced)
    discount_mc_returns: bool = False     # quirk (c): store discounted returns-to-go
    detach_rec_targets: bool = False      # quirk (f): detach the reconstruction targets
    beta_log_every: int = 10          # record beta(h_t) every this many steps after warm-up
    recall: Literal["official", "teacher_forcing"] = "official"   # trajectorial recall from h_t (official);
                                      # "teacher_forcing": each sampled step from its own stored state (an earlier
                                      # version's objective)
    init: Literal["official", "pytorch"] = "official"   # official Kaiming / LSTM initialisation; "pytorch": torch's
                                                        # defaults
    official_h0_frozen: bool = False  # official: the stored LSTM state is a detached copy, so h0, c0 never train;
                                      # default: they get the trajectory model's gradient where a sampled step is
                                      # an episode's first (the reward loss; the recall loss too with teacher forcing)
    min_reward: float | None = None   # official `min_reward` (default -1e9): only kept states whose return-to-go is
                                      # > min_reward are written and inserted; None: no filter

    def __post_init__(self):
        check_options(self)
        for name in ("read_rate", "bstr_rate", "rec_rate", "write_lr", "max_read_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.fixed_beta is not None and not 0.0 <= self.fixed_beta <= 1.0:
            raise ValueError(f"fixed_beta must lie in [0, 1] or be None, got {self.fixed_beta}")


def official_dqn_config(**changes) -> DQNConfig:
    """The official MBEC++ Atari DQN settings: Adam(1e-4, eps 1e-4), batch 32, a TD step every
    4 frames, target sync every 1000 frames (250 updates), gradient-norm clip 100, replay 1M, learning starts 50k,
    epsilon 1 -> 0.1 over 1M frames after the start (the later decay to 0.01 at 40M is not modelled). The official
    loop's `done` that includes time-limit truncation and its sign-clipped rewards are `truncation_terminal=True` and
    `clip_rewards=True` (off by default)."""
    base = dict(optimizer="adam", lr=1e-4, adam_eps=1e-4, batch_size=32, train_every=4, target_sync=250,
                max_grad_norm=100.0, buffer_size=1_000_000, replay_start=50_000, eps_start=1.0, eps_end=0.1,
                eps_frames=1_000_000, gamma=0.99)
    return DQNConfig(**{**base, **changes})


class HybridRule(TargetRule):
    """The DQN target rule of MBEC++: Q = Q_theta + beta Q_MBEC while the agent reads its memory."""

    name = "mbec"

    def acting_values(self, agent: "MBECAgent", obs: torch.Tensor) -> torch.Tensor:
        net = agent.online[0]
        q, x = net.q_and_embedding(obs)
        agent.acted_embedding = x
        if not agent.reading:
            return q
        q_mbec = agent.episodic_values(net, x, agent.h, agent.c, acting=True)
        agent.last_q_mbec = q_mbec
        return q + agent.beta(net, agent.h).unsqueeze(1) * q_mbec

    def next_value(self, agent: "MBECAgent", batch: dict, k: int) -> torch.Tensor:
        if not agent.reading_target:
            return super().next_value(agent, batch, k)
        net = agent.target[0]
        q, x = net.q_and_embedding(batch["next_obs"])
        h, c = batch["next_h"], batch["next_c"]
        return (q + agent.beta(net, h).unsqueeze(1) * agent.episodic_values(net, x, h, c)).max(dim=1).values

    def online_values(self, agent: "MBECAgent", batch: dict, k: int) -> torch.Tensor:
        if not agent.reading_online:
            return super().online_values(agent, batch, k)        # Q_theta(s, a) alone: no projection needed
        net = agent.online[0]
        q, x = net.q_and_embedding(batch["obs"])
        q_taken = q.gather(1, batch["action"].unsqueeze(1)).squeeze(1)
        episodic = agent.episodic_value_taken(net, x.detach(), batch["h"], batch["c"], batch["action"],
                                              batch["reward"])
        return q_taken + agent.beta(net, batch["h"]) * episodic


class MBECAgent(DQNAgent):
    """MBEC++ on any environment with discrete actions and vector or image observations.

    Use it like `DQNAgent` (`reprolab.rl.dqn.train_dqn(env, agent, frames, seed)`); `trace` records the memory's
    error on fresh trajectories, beta samples and the trajectory-model losses.
    """

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, dqn_cfg: DQNConfig, cfg: MBECConfig,
                 seed: int, device: str | torch.device = "cpu"):
        self.mbec = cfg
        super().__init__(lambda: MBECNetwork(obs_shape, n_actions, cfg.proj_dim, cfg.hidden, cfg.key_dim,
                                             init=cfg.init), n_actions, dqn_cfg, HybridRule(), device)
        if cfg.official_h0_frozen:        # no gradient ever reaches them, so the optimizers skip them
            self.online[0].h0.requires_grad_(False)
            self.online[0].c0.requires_grad_(False)
        self.memory = EpisodicMemory(cfg.key_dim, cfg.memory_capacity, cfg.k, cfg.write_lr, cfg.max_read_prob,
                                     cfg.distance, cfg.index, self.device)
        # Memory decisions draw from their own streams, so switching the memory off leaves DQN's draws unchanged.
        self.mem_rng = np.random.default_rng([seed, 1])
        self.noise = torch.Generator(self.device).manual_seed(seed + 7919)
        self.rec_optimizer = torch.optim.Adam(self.online[0].parameters(), lr=dqn_cfg.lr, eps=dqn_cfg.adam_eps,
                                              foreach=True)   # = the per-tensor loop, bit for bit (`make_optimizer`)
        self.episodes, self.lengths = 0, collections.deque(maxlen=20)
        self.write_interval = cfg.initial_write_interval
        self.trace: dict[str, list] = {"memory_error": [], "beta": [], "rec_loss": [], "key_distances": []}
        self.reading = self.reading_online = self.reading_target = False
        self.acted_embedding, self._embedded = None, (None, None)
        self._new_episode()

    # ----- episode state -------------------------------------------------------------------------------------
    def _new_episode(self) -> None:
        with torch.no_grad():
            h, c = self.online[0].initial_state()
        self.h, self.c = h.detach().clone(), c.detach().clone()
        self.t, self.cum_reward = 0, 0.0
        self.kept: list[tuple[torch.Tensor, float, int]] = []      # (h_{t+1}, cumulative reward, t + 1)
        self.steps: list[tuple] = []                                # (obs, action, reward, next_obs, h, c, t)
        self.rewards: list[float] = []

    def memory_ready(self) -> bool:
        return self.past_warmup() and len(self.memory) > 1

    def past_warmup(self) -> bool:
        """More than `warmup_episodes` episodes have ended (official `episode > num_warm_up`)."""
        return self.episodes > self.mbec.warmup_episodes

    def training_model(self) -> bool:
        return self.mbec.rec_rate > 0 and self.frame <= self.mbec.rec_until

    # ----- values ----------------------------------------------------------------------------------------------
    def beta(self, net: MBECNetwork, h: torch.Tensor) -> torch.Tensor:
        if self.mbec.fixed_beta is not None:
            return torch.full((len(h),), self.mbec.fixed_beta, device=h.device)
        return net.beta(h)

    @torch.no_grad()
    def episodic_values(self, net: MBECNetwork, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                        acting: bool = False) -> torch.Tensor:
        """Q_MBEC(s, a) = r_hat([x, onehot(a), h]) + gamma V_M(random_map(LSTM([x, onehot(a)], h))) -> (B, |A|)."""
        B, A = len(x), self.n_actions
        xr, hr, cr = x.repeat_interleave(A, 0), h.repeat_interleave(A, 0), c.repeat_interleave(A, 0)
        a = net.identity.repeat(B, 1)
        h_next, _ = net.step(xr, a, hr, cr)
        v = self.memory.read(net.key(h_next), self.mem_rng).view(B, A)
        r_hat = net.reward(xr, a, hr).view(B, A)
        if acting and self.mbec.official_acting_reward:
            r_hat = r_hat[:, :1].expand(B, A)           # official bug (b): action 0's r_hat for every action
        return r_hat + self.cfg.gamma * v

    @torch.no_grad()
    def episodic_value_taken(self, net: MBECNetwork, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                             action: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
        """r + gamma V_M(random_map(LSTM([x, onehot(a_i)], h_i))) with each row's own action a_i -> (B,)."""
        h_next, _ = net.step(x, net.onehot(action), h, c)
        return reward + self.cfg.gamma * self.memory.read(net.key(h_next), self.mem_rng)

    # ----- the DQN hooks ---------------------------------------------------------------------------------------
    def extra_fields(self) -> dict:
        shape = (self.mbec.hidden,)
        return {name: (shape, np.float32) for name in ("h", "c", "next_h", "next_c")}

    @torch.no_grad()
    def embedding(self, obs) -> torch.Tensor:
        """x_t = proj(phi(s_t)) of the observation last given to `act`, computed once per step (the greedy branch
        of `act` already made it); any other observation is embedded afresh."""
        if self._embedded[0] is not obs:
            x = self.acted_embedding if self.acted_embedding is not None else self.online[0].embed(
                torch.as_tensor(obs, device=self.device).unsqueeze(0))
            self._embedded = (obs, x)
        return self._embedded[1]

    def act(self, obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
        self.reading = self.memory_ready() and self.mem_rng.random() < self.mbec.read_rate
        self.last_q_mbec, self.acted_embedding, self._embedded = None, None, (None, None)
        action = super().act(obs, epsilon, rng)
        self.embedding(obs)
        # bootstrapped write, on greedy steps only (the epsilon-random branch computes no values) [official]
        if self.last_q_mbec is not None and self.mem_rng.random() < self.mbec.bstr_rate:
            with torch.no_grad():
                self.memory.write(self.online[0].key(self.h), self.last_q_mbec.max(dim=1).values)
        return action

    def observe(self, obs, action, reward, next_obs, terminated) -> dict:
        net = self.online[0]
        x = self.embedding(obs)
        with torch.no_grad():
            h1, c1 = net.step(x, net.identity[action: action + 1], self.h, self.c)      # onehot(a_t), one row
            if self.memory_ready() and self.t % self.mbec.beta_log_every == 0:
                self.trace["beta"].append((self.frame, float(self.beta(net, self.h)[0])))
        extras = {"h": self.h[0].cpu().numpy(), "c": self.c[0].cpu().numpy(),
                  "next_h": h1[0].cpu().numpy(), "next_c": c1[0].cpu().numpy()}
        self.steps.append((obs, action, float(reward), next_obs, self.h, self.c, self.t))
        self.rewards.append(float(reward))
        self.cum_reward += float(reward)
        self.t += 1
        self.h, self.c = h1, c1
        # write checkpoints on the global frame clock, not at the episode's end step [official]; `terminated` is the
        # stored done flag, so a truncated end step counts only with `truncation_terminal` (official: it does)
        if not terminated and self.frame % self.write_interval == 0:
            self.kept.append((h1, self.cum_reward, self.t))
            if self.training_model() and self.mem_rng.random() < self.mbec.rec_rate:
                self.trajectory_model_step(self.optimizers[0])
        return extras

    def end_episode(self, episode_return: float) -> None:
        """The kept states and the terminal one (return-to-go 0, always kept [official]) go to the memory (`store`),
        with `min_reward` only those whose return-to-go exceeds it [official]; then the trajectory-model step, the
        episode count and the next write interval."""
        kept = [*self.kept, (self.h, self.cum_reward, self.t)]
        stored = [(h, to_go) for (h, _, _), to_go in zip(kept, self.returns_to_go(episode_return, kept))
                  if self.mbec.min_reward is None or to_go > self.mbec.min_reward]
        if stored:
            self.store(torch.cat([h for h, _ in stored]), [to_go for _, to_go in stored])
        if self.training_model() and self.steps:
            self.trajectory_model_step(self.rec_optimizer)
        self.episodes += 1
        self.lengths.append(self.t)
        self.write_interval = max(1, int(0.1 * np.mean(self.lengths)))
        self._new_episode()

    def store(self, states: torch.Tensor, returns_to_go: list[float]) -> None:
        """Trajectory states (n, hidden) with their returns-to-go into the memory: the returns are WRITTEN first (after
        warm-up), while the memory does not hold the new keys yet, then the new keys are inserted [official order:
        `add_trj`, then `commit_insert`]."""
        with torch.no_grad():
            keys = self.online[0].key(states)
        returns = torch.tensor(returns_to_go, dtype=torch.float32, device=self.device)
        if len(self.memory):
            self.record_key_distances(keys)
        if self.memory_ready():
            predicted = self.memory.read(keys)      # before this episode enters the memory: fresh keys
            self.trace["memory_error"].append((self.frame, float((predicted - returns).abs().mean()),
                                               float(returns.abs().mean()), len(returns)))
        if self.past_warmup() and len(self.memory):
            self.memory.write(keys, returns)
        self.memory.insert(keys, returns)

    def record_key_distances(self, keys: torch.Tensor) -> None:
        """The k-NN squared distances of fresh keys against the 1e-3 weighting epsilon: their median and the share
        below it (near-uniform reads when most are below)."""
        idx, _ = self.memory.neighbours(keys)
        d2 = ((self.memory.keys[idx] - keys.unsqueeze(1)) ** 2).sum(-1).flatten()
        self.trace["key_distances"].append((self.frame, float(d2.median()), float((d2 < 1e-3).float().mean())))

    def update(self, batch: dict, rng: np.random.Generator) -> dict:
        """A fresh read draw for the online and for the target pass [official: one per forward call]."""
        ready = self.memory_ready()
        self.reading_online = ready and self.mem_rng.random() < self.mbec.read_rate
        self.reading_target = ready and self.mem_rng.random() < self.mbec.read_rate
        info = super().update(batch, rng)
        return {**info, "read": float(self.reading_online)}

    # ----- memory and trajectory model -------------------------------------------------------------------------
    def returns_to_go(self, episode_return: float, kept: list) -> list[float]:
        """Per kept pair: G - cumulative reward (official), or sum_{j >= t} gamma^(j - t) r_j when discounted."""
        if not self.mbec.discount_mc_returns:
            return [episode_return - cum for _, cum, _ in kept]
        to_go, running = np.zeros(len(self.rewards) + 1), 0.0
        for j in range(len(self.rewards) - 1, -1, -1):
            running = self.rewards[j] + self.cfg.gamma * running
            to_go[j] = running
        return [float(to_go[t]) for _, _, t in kept]

    def corrupt(self, inputs: torch.Tensor) -> torch.Tensor:
        """Per sample [official]: dropout 0.5, or additive noise of std sqrt(0.5 max|its input|), each with
        probability 1/2."""
        rows = []
        for row in inputs:
            if self.mem_rng.random() < 0.5:
                keep = (torch.rand(row.shape, generator=self.noise, device=row.device) >= 0.5).float()
                rows.append(row * keep * 2.0)
            else:
                std = math.sqrt(0.5 * float(row.detach().abs().max()))
                rows.append(row + std * torch.randn(row.shape, generator=self.noise, device=row.device))
        return torch.stack(rows)

    def trajectory_model_step(self, optimizer: torch.optim.Optimizer) -> None:
        """One self-supervised step on `rec_batch` steps of the current episode: rec_batch - 1 drawn with
        replacement plus the latest one [official]. Trajectorial recall (`recall="official"`): the LSTM starts from
        the CURRENT state h_t for every sampled cue and reconstructs [x_{j+1}, onehot(a_j)] from the corrupted
        [x_j, onehot(a_j)]; "teacher_forcing" starts each row from its own stored state instead. The reward model
        reads the corrupted input and the row's own stored state [official]."""
        net = self.online[0]
        picks = [*self.mem_rng.integers(len(self.steps), size=self.mbec.rec_batch - 1), len(self.steps) - 1]
        rows = [self.steps[i] for i in picks]
        as_batch = lambda i: torch.as_tensor(np.stack([r[i] for r in rows]), device=self.device)  # noqa: E731
        obs, action, reward, next_obs = as_batch(0), as_batch(1), as_batch(2).float(), as_batch(3)
        first = torch.tensor([r[6] == 0 for r in rows], device=self.device).unsqueeze(1)
        h0, c0 = net.initial_state(len(rows))
        h_own = torch.where(first, h0, torch.cat([r[4] for r in rows]))
        c_own = torch.where(first, c0, torch.cat([r[5] for r in rows]))
        if self.mbec.recall == "official":
            h, c = self.h.detach().expand(len(rows), -1), self.c.detach().expand(len(rows), -1)
        else:
            h, c = h_own, c_own
        x, x_next, a = net.embed(obs), net.embed(next_obs), net.onehot(action)
        x_in, a_in = self.corrupt(torch.cat([x, a], dim=1)).split([x.shape[1], a.shape[1]], dim=1)
        h_out, _ = net.step(x_in, a_in, h, c)
        prediction = net.trj_out(h_out)[:, : x.shape[1] + a.shape[1]]
        target = torch.cat([x_next, a], dim=1)
        if self.mbec.detach_rec_targets:
            target = target.detach()
        loss_trajectory = F.smooth_l1_loss(prediction, target)
        loss_reward = F.smooth_l1_loss(net.reward(x_in, a_in, h_own), reward)
        optimizer.zero_grad(set_to_none=True)
        (loss_trajectory + loss_reward).backward()
        torch.nn.utils.clip_grad_norm_(self.online_parameters[0], self.mbec.rec_clip)
        optimizer.step()
        self.trace["rec_loss"].append((self.frame, loss_trajectory.item(), loss_reward.item()))

    # ----- checkpoints -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {**super().state_dict(), "memory": self.memory.state_dict(),
                "mem_rng": state_of(self.mem_rng), "noise": state_of(self.noise),
                "rec_optimizer": self.rec_optimizer.state_dict(), "episodes": self.episodes,
                "lengths": list(self.lengths), "write_interval": self.write_interval, "trace": self.trace}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.memory.load_state_dict(state["memory"])
        restore_state(self.mem_rng, state["mem_rng"])
        restore_state(self.noise, state["noise"])
        self.rec_optimizer.load_state_dict(state["rec_optimizer"])
        self.episodes, self.write_interval = int(state["episodes"]), int(state["write_interval"])
        self.lengths.clear()
        self.lengths.extend(state["lengths"])
        self.trace = {key: [tuple(v) for v in values] for key, values in state["trace"].items()}
        self._new_episode()
