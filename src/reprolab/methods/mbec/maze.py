"""A seeded 2D maze (in the manner of gym-maze, which the paper used): a perfect maze of `size` x `size`
cells carved by a randomised depth-first search from `maze_seed`; the agent starts in the top-left cell and the
goal is the bottom-right one. Actions N, S, E, W (a move into a wall leaves the agent in place). Reward (gym-maze):
+1 on reaching the goal, -0.1 / size^2 per other step. Observation: the cell (row, col) scaled to [0, 1].
Episodes are truncated after `max_steps` (default 10 size^2).
"""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np

MOVES = ((-1, 0), (1, 0), (0, 1), (0, -1))  # N, S, E, W


def carve_maze(size: int, seed: int) -> np.ndarray:
    """open[r, c, m] is True when move m from cell (r, c) is not blocked by a wall (symmetric by construction)."""
    if size < 2:
        raise ValueError(f"size must be >= 2, got {size}")
    rng = np.random.default_rng(seed)
    passages = np.zeros((size, size, 4), bool)
    seen = np.zeros((size, size), bool)
    stack = [(0, 0)]
    seen[0, 0] = True
    while stack:
        r, c = stack[-1]
        options = [m for m, (dr, dc) in enumerate(MOVES)
                   if 0 <= r + dr < size and 0 <= c + dc < size and not seen[r + dr, c + dc]]
        if not options:
            stack.pop()
            continue
        m = options[rng.integers(len(options))]
        dr, dc = MOVES[m]
        passages[r, c, m] = passages[r + dr, c + dc, m ^ 1] = True   # N<->S (0,1), E<->W (2,3)
        seen[r + dr, c + dc] = True
        stack.append((r + dr, c + dc))
    return passages


class GridMaze(gym.Env):
    def __init__(self, size: int = 10, maze_seed: int = 0, max_steps: int | None = None):
        self.size, self.maze_seed = size, maze_seed
        self.passages = carve_maze(size, maze_seed)
        self.goal = (size - 1, size - 1)
        self.max_steps = max_steps if max_steps is not None else 10 * size * size
        self.step_penalty = -0.1 / (size * size)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(4)
        self.settings = {"id": f"maze{size}x{size}", "maze_seed": maze_seed, "max_steps": self.max_steps}

    def _obs(self) -> np.ndarray:
        return np.asarray(self.pos, np.float32) / (self.size - 1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t = (0, 0), 0
        return self._obs(), dict(self.settings)

    def step(self, action):
        if not self.action_space.contains(int(action)):
            raise ValueError(f"action must be in 0..3, got {action}")
        r, c = self.pos
        if self.passages[r, c, int(action)]:
            dr, dc = MOVES[int(action)]
            self.pos = (r + dr, c + dc)
        self.t += 1
        at_goal = self.pos == self.goal
        reward = 1.0 if at_goal else self.step_penalty
        return self._obs(), reward, at_goal, self.t >= self.max_steps and not at_goal, {}

    def shortest_path(self) -> int:
        """Steps of the shortest path from start to goal (breadth-first search)."""
        dist = {(0, 0): 0}
        queue = deque([(0, 0)])
        while queue:
            r, c = queue.popleft()
            for m, (dr, dc) in enumerate(MOVES):
                nxt = (r + dr, c + dc)
                if self.passages[r, c, m] and nxt not in dist:
                    dist[nxt] = dist[(r, c)] + 1
                    queue.append(nxt)
        return dist[self.goal]

    def solved_return(self, slack: float = 2.0) -> float:
        """The return of an episode that reaches the goal in `slack` x the shortest path."""
        steps = int(np.ceil(slack * self.shortest_path()))
        return 1.0 + (steps - 1) * self.step_penalty
