"""MBEC++'s episodic values Q_MBEC(s, a) = r_hat([x, onehot(a), h]) + gamma V_M(random_map(LSTM([x, onehot(a)], h)))
for every action, as the agent computes them (every action in one batch: one LSTM step, one reward-model call and
one k-NN read over B x |A| rows) against the official code's layout (a Python loop over the actions, each with its
own LSTM step, reward-model call and memory read; official bug (b), action 0's r_hat for every action, fixed in
both). Sizes: the official memory (capacity 10,000 keys of dimension 8, k = 7, here 5,000 entries filled), LSTM
hidden 16, LunarLander-v3 observations (|A| = 4); the acting call (B = 1) and the TD target pass (B = 32).
Equality: the largest difference between the two. Speed: loop time / batched time."""

import numpy as np
import torch

from benchmarks import timed
from reprolab.methods.mbec.agent import MBECAgent, MBECConfig, official_dqn_config

OBS, ACTIONS, FILLED = (8,), 4, 5000


def loop_over_actions(agent: MBECAgent, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    net, q = agent.online[0], torch.empty(len(x), agent.n_actions)
    with torch.no_grad():
        for a in range(agent.n_actions):
            onehot = net.onehot(torch.full((len(x),), a))
            h_next, _ = net.step(x, onehot, h, c)
            q[:, a] = net.reward(x, onehot, h) + agent.cfg.gamma * agent.memory.read(net.key(h_next))
    return q


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = MBECConfig(max_read_prob=0.0)    # the quirk draws per read call: off, so both compute the same values
    agent = MBECAgent(OBS, ACTIONS, official_dqn_config(), cfg, seed=0)
    g = torch.Generator().manual_seed(1)
    agent.memory.insert(torch.randn(FILLED, cfg.key_dim, generator=g), torch.randn(FILLED, generator=g))
    net = agent.online[0]
    for batch in (1, 32):
        with torch.no_grad():
            x = net.embed(torch.randn(batch, *OBS, generator=g))
            h, c = torch.randn(batch, cfg.hidden, generator=g), torch.randn(batch, cfg.hidden, generator=g)
        gap = (agent.episodic_values(net, x, h, c) - loop_over_actions(agent, x, h, c)).abs().max().item()
        batched_s = timed(lambda: agent.episodic_values(net, x, h, c), 200)
        loop_s = timed(lambda: loop_over_actions(agent, x, h, c), 200)
        print(f"B = {batch:2d} ({'acting' if batch == 1 else 'TD target'}), |A| = {ACTIONS}: batched "
              f"{1e3 * batched_s:.3f} ms, loop over actions {1e3 * loop_s:.3f} ms, speed-up {loop_s / batched_s:.1f}x;"
              f" max |difference| {gap:.1e} ({'equal' if np.isclose(gap, 0, atol=1e-5) else 'DIFFERENT'})")
