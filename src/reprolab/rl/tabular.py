"""Seed-vectorised tabular reinforcement learning: environments and agents that run R independent runs at once.

Every array carries the run index first. Environments take a numpy Generator and return (next_state, reward, done)
(episodes are cut at `run_episodes`' `max_steps`); `valid` masks the actions of each state (the maximization-bias MDP
has 2 actions in A and 8-10 in B). Agents keep T tables of shape (R, S, A) and expose `act` (epsilon-greedy with
random tie-breaking on their acting values) and `update`; a target rule decides what each update moves towards.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np


class TabularEnv(Protocol):
    n_states: int
    n_actions: int
    valid: np.ndarray  # (S, A) bool: which actions exist in each state

    def reset(self, n_runs: int, rng: np.random.Generator) -> np.ndarray: ...

    def step(self, states: np.ndarray, actions: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclasses.dataclass
class MaximizationBiasMDP:
    """Sutton & Barto Example 6.7. State A (0): `left` (action 0) -> B (1) with reward 0, `right` (action 1) ->
    terminal with reward 0. B: `n_b_actions` actions, each -> terminal with reward ~ N(mu, 1) ("normal", the
    textbook) or U(mu - 1, mu + 1) ("uniform", the official code's setting)."""

    mu: float = -0.1
    n_b_actions: int = 10
    reward: str = "normal"

    A, B = 0, 1
    LEFT = 0

    def __post_init__(self) -> None:
        if self.reward not in ("normal", "uniform"):
            raise ValueError(f"reward must be 'normal' or 'uniform', got {self.reward!r}")
        self.n_states, self.n_actions = 2, max(2, self.n_b_actions)
        self.valid = np.zeros((2, self.n_actions), dtype=bool)
        self.valid[self.A, :2] = True
        self.valid[self.B, : self.n_b_actions] = True

    def reset(self, n_runs: int, rng: np.random.Generator) -> np.ndarray:
        return np.full(n_runs, self.A, dtype=np.int64)

    def step(self, states, actions, rng):
        n = len(states)
        noise = rng.normal(self.mu, 1.0, n) if self.reward == "normal" else rng.uniform(self.mu - 1, self.mu + 1, n)
        in_a = states == self.A
        goes_left = in_a & (actions == self.LEFT)
        rewards = np.where(in_a, 0.0, noise)
        next_states = np.where(goes_left, self.B, self.A)  # the next state of a terminal step is never used
        done = ~goes_left
        return next_states, rewards, done


@dataclasses.dataclass
class TransitionTableEnv:
    """Any finite MDP given as a gymnasium-style transition table `P[s][a] = [(prob, next, reward, done), ...]`,
    e.g. gymnasium's FrozenLake or CliffWalking (`from_gymnasium`). `slip` replaces the chosen action by a uniform
    random one with that probability (the project's slippery CliffWalking uses 0.1)."""

    probs: np.ndarray      # (S, A, O)
    next_states: np.ndarray  # (S, A, O) int
    rewards: np.ndarray    # (S, A, O)
    dones: np.ndarray      # (S, A, O) bool
    start_states: np.ndarray  # (S0,) uniform start distribution
    slip: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.slip <= 1.0:
            raise ValueError(f"slip must be a probability, got {self.slip}")
        totals = self.probs.sum(axis=-1)
        if not np.allclose(totals, 1.0):
            raise ValueError("transition probabilities of every (state, action) must sum to 1")
        self.n_states, self.n_actions = self.probs.shape[:2]
        self.valid = np.ones((self.n_states, self.n_actions), dtype=bool)
        self._cdf = np.cumsum(self.probs, axis=-1)

    @classmethod
    def from_gymnasium(cls, env_id: str, slip: float = 0.0, **kwargs) -> "TransitionTableEnv":
        import gymnasium as gym

        env = gym.make(env_id, **kwargs).unwrapped
        if not hasattr(env, "P"):
            raise ValueError(f"{env_id} exposes no transition table P; only toy-text environments do")
        S, A = env.observation_space.n, env.action_space.n
        n_out = max(len(env.P[s][a]) for s in range(S) for a in range(A))
        shape = (S, A, n_out)
        probs, nxt, rew, done = np.zeros(shape), np.zeros(shape, np.int64), np.zeros(shape), np.zeros(shape, bool)
        for s in range(S):
            for a in range(A):
                for o, (p, s2, r, d) in enumerate(env.P[s][a]):
                    probs[s, a, o], nxt[s, a, o], rew[s, a, o], done[s, a, o] = p, s2, r, d
        start = np.flatnonzero(np.asarray(getattr(env, "initial_state_distrib", np.eye(S)[0])) > 0)
        return cls(probs, nxt, rew, done, start, slip)

    def reset(self, n_runs: int, rng: np.random.Generator) -> np.ndarray:
        return self.start_states[rng.integers(len(self.start_states), size=n_runs)]

    def step(self, states, actions, rng):
        n = len(states)
        if self.slip > 0:
            slipped = rng.random(n) < self.slip
            actions = np.where(slipped, rng.integers(self.n_actions, size=n), actions)
        outcome = (rng.random(n)[:, None] > self._cdf[states, actions]).sum(axis=1)
        outcome = np.minimum(outcome, self.probs.shape[-1] - 1)
        return (self.next_states[states, actions, outcome], self.rewards[states, actions, outcome],
                self.dones[states, actions, outcome])


def masked_max(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, values, -np.inf).max(axis=-1)


def masked_min(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, values, np.inf).min(axis=-1)


def epsilon_greedy(values: np.ndarray, valid: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """(R, A) action values -> (R,) actions: greedy with uniform random tie-breaking, uniform among valid actions
    with probability epsilon."""
    R, A = values.shape
    masked = np.where(valid, values, -np.inf)
    greedy = masked == masked.max(axis=1, keepdims=True)
    explore = rng.random(R) < epsilon
    candidates = np.where(explore[:, None], valid, greedy)
    return np.argmax(rng.random((R, A)) * candidates, axis=1)


class TabularAgent:
    """T tables of shape (R, S, A), initialised to 0. Subclasses define the acting values and the update."""

    n_tables = 1

    def __init__(self, n_runs: int, env: TabularEnv, *, alpha: float, gamma: float, epsilon: float):
        self.env, self.alpha, self.gamma, self.epsilon = env, alpha, gamma, epsilon
        self.Q = np.zeros((self.n_tables, n_runs, env.n_states, env.n_actions))
        self.runs = np.arange(n_runs)

    def acting_values(self, states: np.ndarray) -> np.ndarray:
        return self.Q[0, self.runs, states]

    def act(self, states: np.ndarray, rng: np.random.Generator, epsilon: float | None = None) -> np.ndarray:
        eps = self.epsilon if epsilon is None else epsilon
        return epsilon_greedy(self.acting_values(states), self.env.valid[states], eps, rng)

    def update(self, s, a, r, s2, done, rng, active) -> None:
        raise NotImplementedError

    def end_episodes(self, ended: np.ndarray) -> None:
        """Called after the step on which the runs in `ended` finished an episode (terminal or cut); agents with
        per-episode state override it."""

    def _next_valid(self, s2: np.ndarray) -> np.ndarray:
        return self.env.valid[s2]

    def _step_towards(self, table: np.ndarray, s, a, target, active) -> None:
        """Q(s, a) += alpha (target - Q(s, a)) for the active runs of one table index per run."""
        r = self.runs[active]
        current = self.Q[table[active], r, s[active], a[active]]
        self.Q[table[active], r, s[active], a[active]] = current + self.alpha * (target[active] - current)


class QLearning(TabularAgent):
    """y = r + gamma max_a' Q(s', a')."""

    def update(self, s, a, r, s2, done, rng, active):
        nxt = masked_max(self.Q[0, self.runs, s2], self._next_valid(s2))
        target = r + self.gamma * np.where(done, 0.0, nxt)
        self._step_towards(np.zeros(len(s), np.int64), s, a, target, active)


class PessimisticQ(TabularAgent):
    """The beta = 0 ablation: y = r + gamma min_a' Q(s', a')."""

    def update(self, s, a, r, s2, done, rng, active):
        nxt = masked_min(self.Q[0, self.runs, s2], self._next_valid(s2))
        target = r + self.gamma * np.where(done, 0.0, nxt)
        self._step_towards(np.zeros(len(s), np.int64), s, a, target, active)


class DoubleQ(TabularAgent):
    """Two tables; act on their sum; update a random one towards r + gamma Q_other(s', argmax_a' Q_this(s', a'))."""

    n_tables = 2

    def acting_values(self, states):
        return self.Q[0, self.runs, states] + self.Q[1, self.runs, states]

    def update(self, s, a, r, s2, done, rng, active):
        this = rng.integers(2, size=len(s))
        other = 1 - this
        valid = self._next_valid(s2)
        best = np.argmax(np.where(valid, self.Q[this, self.runs, s2], -np.inf), axis=1)
        nxt = self.Q[other, self.runs, s2, best]
        target = r + self.gamma * np.where(done, 0.0, nxt)
        self._step_towards(this, s, a, target, active)


class MaxminQ(TabularAgent):
    """N tables; act on their element-wise min; update a random one towards r + gamma max_a' min_i Q_i(s', a')."""

    def __init__(self, n_runs, env, *, n_estimators: int = 2, **kwargs):
        if n_estimators < 1:
            raise ValueError(f"n_estimators must be >= 1, got {n_estimators}")
        self.n_tables = n_estimators
        super().__init__(n_runs, env, **kwargs)

    def acting_values(self, states):
        return self.Q[:, self.runs, states].min(axis=0)

    def update(self, s, a, r, s2, done, rng, active):
        nxt = masked_max(self.Q[:, self.runs, s2].min(axis=0), self._next_valid(s2))
        target = r + self.gamma * np.where(done, 0.0, nxt)
        self._step_towards(rng.integers(self.n_tables, size=len(s)), s, a, target, active)


@dataclasses.dataclass
class EpisodeLog:
    """Per run and episode: the return, the number of steps and the first action taken."""

    returns: np.ndarray        # (R, E)
    lengths: np.ndarray        # (R, E)
    first_actions: np.ndarray  # (R, E)


def run_episodes(agent: TabularAgent, env: TabularEnv, n_episodes: int, rng: np.random.Generator, *,
                 max_steps: int = 10_000, learn: bool = True, epsilon: float | None = None) -> EpisodeLog:
    """Run every one of the agent's R runs for `n_episodes` episodes (an episode longer than `max_steps` is cut,
    and its last update bootstraps as usual). With `learn=False` the agent only acts (e.g. greedy evaluation)."""
    R = len(agent.runs)
    log = EpisodeLog(np.zeros((R, n_episodes)), np.zeros((R, n_episodes), np.int64),
                     np.full((R, n_episodes), -1, np.int64))
    episode, steps = np.zeros(R, np.int64), np.zeros(R, np.int64)
    states = env.reset(R, rng)
    ret = np.zeros(R)
    while (episode < n_episodes).any():
        active = episode < n_episodes
        actions = agent.act(states, rng, epsilon)
        first = active & (steps == 0)
        log.first_actions[first, episode[first]] = actions[first]
        next_states, rewards, done = env.step(states, actions, rng)
        if learn:
            agent.update(states, actions, rewards, next_states, done, rng, active)
        ret += rewards
        steps += 1
        ended = active & (done | (steps >= max_steps))
        if learn:
            agent.end_episodes(ended)
        log.returns[ended, episode[ended]] = ret[ended]
        log.lengths[ended, episode[ended]] = steps[ended]
        episode += ended
        restart = env.reset(R, rng)
        states = np.where(ended, restart, next_states)
        ret[ended], steps[ended] = 0.0, 0
    return log
