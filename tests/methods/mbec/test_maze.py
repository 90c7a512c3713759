from collections import deque

import numpy as np
import pytest

from reprolab.methods.mbec.maze import MOVES, GridMaze, carve_maze


def _reachable(passages):
    size = passages.shape[0]
    seen, queue = {(0, 0)}, deque([(0, 0)])
    while queue:
        r, c = queue.popleft()
        for m, (dr, dc) in enumerate(MOVES):
            if passages[r, c, m] and (r + dr, c + dc) not in seen:
                seen.add((r + dr, c + dc))
                queue.append((r + dr, c + dc))
    return len(seen) == size * size


@pytest.mark.parametrize("size", [2, 5, 10])
def test_carved_maze_is_a_perfect_symmetric_maze(size):
    p = carve_maze(size, seed=3)
    assert _reachable(p)
    assert p.sum() == 2 * (size * size - 1)       # a spanning tree: n - 1 passages, each seen from both cells
    for r in range(size):
        for c in range(size):
            for m, (dr, dc) in enumerate(MOVES):
                if p[r, c, m]:
                    assert p[r + dr, c + dc, m ^ 1]
    assert not p[0, :, 0].any() and not p[:, 0, 3].any()   # no passage through the outer wall
    assert np.array_equal(p, carve_maze(size, seed=3))
    if size >= 5:
        assert not np.array_equal(p, carve_maze(size, seed=4))


def _path_actions(env):
    """Moves of a shortest path, by breadth-first search with parent pointers."""
    parent, queue = {(0, 0): None}, deque([(0, 0)])
    while queue:
        r, c = queue.popleft()
        for m, (dr, dc) in enumerate(MOVES):
            if env.passages[r, c, m] and (r + dr, c + dc) not in parent:
                parent[(r + dr, c + dc)] = ((r, c), m)
                queue.append((r + dr, c + dc))
    moves, cell = [], env.goal
    while parent[cell] is not None:
        cell, m = parent[cell]
        moves.append(m)
    return moves[::-1]


def test_walls_block_and_the_goal_pays():
    env = GridMaze(6, maze_seed=1)
    obs, _ = env.reset()
    assert obs.tolist() == [0.0, 0.0]
    blocked = [m for m in range(4) if not env.passages[0, 0, m]]
    obs, r, term, trunc, _ = env.step(blocked[0])
    assert obs.tolist() == [0.0, 0.0] and r == pytest.approx(-0.1 / 36) and not term
    env.reset()
    moves = _path_actions(env)
    assert len(moves) == env.shortest_path()
    rewards = [env.step(m)[1] for m in moves]
    assert env.pos == env.goal and rewards[-1] == 1.0 and sum(rewards) == pytest.approx(env.solved_return(1.0))
    assert env.solved_return(2.0) < env.solved_return(1.0)


def test_truncation_and_bad_actions():
    env = GridMaze(3, max_steps=2)
    env.reset()
    env.step(0)
    assert env.step(0)[3]
    with pytest.raises(ValueError, match="action"):
        env.step(7)
    with pytest.raises(ValueError, match="size"):
        GridMaze(1)
