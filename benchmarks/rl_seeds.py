"""Seeds as a batch dimension (`reprolab.rl.seeds`) against one process per seed, as the RL grids run them.

DQN (the max rule) and Balanced DQN on MinAtar Breakout and DQN on CartPole-v1, balanced_q's quick settings but 1,500
frames with the replay starting at 500 and epsilon decaying over 1,000 frames (1,000 updates per seed); and mbec's DQN
baseline (MBEC++'s habitual network, the official optimizer with gradient clipping, a TD step every 4 frames) on noisy
CartPole, mbec's quick settings but 1,500 frames with the replay starting at 500. For N = 1, 5, 10 seeds: frames/s of
all seeds together, trained (a) in one process with the networks stacked (torch on 2 threads) and (b) by `train_dqn`,
one run per seed, in a pool of 2 worker processes with 1 thread each. Equality: for N = 5, every seed's episodes
(returns and end frames) must be the same in (a) and (b), and the logged losses agree to float32 rounding (a grouped
and a single matrix product may sum in another order: 6e-8 for the MLP on this project's AMD EPYC CPUs, more for the
MinAtar network's 1024-wide product).

At mbec's full quick length (noisy CartPole, 12,000 frames, replay from frame 1,000, seeds 0-4, both on one thread):
the first frame at which each seed's stacked run acts differently from its separate run, and whether both runs
acted greedily there. Until that frame both runs see the same observations and draw the same exploration and replay
samples; a greedy flip is float32 rounding that training has grown past the gap between two action values, an
exploratory one would be a random stream drawn in another order."""

import dataclasses
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from reprolab.methods.balanced_q.deep import make_rule
from reprolab.methods.mbec.experiment import CONFIGS as MBEC_CONFIGS, build_env, dqn_config, dqn_network
from reprolab.rl.dqn import DQNAgent, DQNConfig, network_for, train_dqn
from reprolab.rl.envs import make_env
from reprolab.rl.seeds import SeedBatchedDQN, train_dqn_seeds

FRAMES, WORKERS = 1500, 2
CFG = DQNConfig(replay_start=500, eps_frames=1000)
CASES = (("minatar:breakout", "dqn"), ("minatar:breakout", "balanced_dqn"), ("CartPole-v1", "dqn"),
         ("mbec:cartpole_noisy", "dqn"))
MBEC = dataclasses.replace(MBEC_CONFIGS["quick"], replay_start=500)
QUICK = MBEC_CONFIGS["quick"]


def setting(env_id: str, learner: str):
    """(environment factory, network factory, actions, DQN settings, target rule) of one case."""
    if env_id.startswith("mbec:"):
        name = env_id.split(":", 1)[1]
        env = build_env(name, MBEC)[0]
        return (lambda: build_env(name, MBEC)[0], dqn_network(env, MBEC), env.action_space.n,
                dqn_config(name, MBEC, FRAMES), make_rule(learner))
    env = make_env(env_id)
    return (lambda: make_env(env_id), network_for(env.observation_space, env.action_space.n, CFG.hidden),
            env.action_space.n, CFG, make_rule(learner))


def one_seed(seed: int, env_id: str, learner: str):
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    make_env_fn, make_net, n_actions, cfg, rule = setting(env_id, learner)
    log = train_dqn(make_env_fn(), DQNAgent(make_net, n_actions, cfg, rule), FRAMES, seed, progress=False)
    return log.episode_returns, log.episode_end_frames, log.losses


def batched(seeds: list[int], env_id: str, learner: str):
    torch.set_num_threads(2)
    make_env_fn, make_net, n_actions, cfg, rule = setting(env_id, learner)
    agent = SeedBatchedDQN(make_net, n_actions, cfg, rule, seeds)
    logs = train_dqn_seeds(make_env_fn, agent, FRAMES, progress=False)
    return [(log.episode_returns, log.episode_end_frames, log.losses) for log in logs]


def explores(rng: np.random.Generator, epsilon: float) -> bool:
    """Whether the epsilon-greedy draw that `rng` makes next explores (read from a copy: rng does not move)."""
    copy = np.random.Generator(type(rng.bit_generator)())
    copy.bit_generator.state = rng.bit_generator.state
    return bool(copy.random() < epsilon)


def record_stacked_actions(agent: SeedBatchedDQN, record: list[tuple[list, list]]) -> None:
    """From now on, agent.act also appends seed i's action and explore flag to record[i]."""
    act = agent.act

    def act_and_record(obs, epsilon, rngs):
        flags = [explores(rng, epsilon) for rng in rngs]
        actions = act(obs, epsilon, rngs)
        for (seed_actions, seed_flags), action, flag in zip(record, actions, flags):
            seed_actions.append(int(action))
            seed_flags.append(flag)
        return actions
    agent.act = act_and_record


def record_actions(agent: DQNAgent, record: tuple[list, list]) -> None:
    """From now on, agent.act also appends its action and explore flag to record."""
    act = agent.act

    def act_and_record(obs, epsilon, rng):
        flag = explores(rng, epsilon)
        action = act(obs, epsilon, rng)
        record[0].append(action)
        record[1].append(flag)
        return action
    agent.act = act_and_record


def quick_length_divergence(seeds: list[int]) -> list[tuple[int | None, bool]]:
    """Per seed: the first frame whose action differs between the stacked and the separate run of mbec's DQN
    baseline at the quick run's length (None: none differs) and whether both runs acted greedily there."""
    torch.set_num_threads(1)
    name = "cartpole_noisy"
    env = build_env(name, QUICK)[0]
    cfg, make_net, n_actions = dqn_config(name, QUICK, QUICK.frames), dqn_network(env, QUICK), env.action_space.n
    stacked = [([], []) for _ in seeds]
    agent = SeedBatchedDQN(make_net, n_actions, cfg, make_rule("dqn"), seeds)
    record_stacked_actions(agent, stacked)
    train_dqn_seeds(lambda: build_env(name, QUICK)[0], agent, QUICK.frames, progress=False)
    out = []
    for seed, (actions, flags) in zip(seeds, stacked):
        torch.manual_seed(seed)
        single, (single_actions, single_flags) = DQNAgent(make_net, n_actions, cfg, make_rule("dqn")), ([], [])
        record_actions(single, (single_actions, single_flags))
        train_dqn(build_env(name, QUICK)[0], single, QUICK.frames, seed, progress=False)
        differ = [i for i, (a, b) in enumerate(zip(actions, single_actions)) if a != b]
        out.append((differ[0] + 1, not flags[differ[0]] and not single_flags[differ[0]]) if differ else (None, True))
    return out


def main() -> None:
    with ProcessPoolExecutor(WORKERS) as pool:
        for env_id, learner in CASES:
            for n in (1, 5, 10):
                seeds = list(range(n))
                start = time.perf_counter()
                stacked = batched(seeds, env_id, learner)
                stacked_fps = n * FRAMES / (time.perf_counter() - start)
                start = time.perf_counter()
                separate = list(pool.map(one_seed, seeds, [env_id] * n, [learner] * n))
                separate_fps = n * FRAMES / (time.perf_counter() - start)
                line = (f"{env_id} {learner} N={n:2d}: stacked {stacked_fps:6.0f} frames/s, {WORKERS} processes "
                        f"{separate_fps:6.0f} frames/s, ratio {stacked_fps / separate_fps:.2f}")
                if n == 5:
                    same = all(a[:2] == b[:2] for a, b in zip(stacked, separate))
                    gap = max(np.abs(np.subtract(a[2], b[2])).max() for a, b in zip(stacked, separate))
                    line += f"; episodes {'identical' if same else 'DIFFERENT'}, max loss gap {gap:.1e}"
                print(line, flush=True)
    seeds = list(range(5))
    divergence = quick_length_divergence(seeds)
    print(f"mbec:cartpole_noisy dqn, {QUICK.frames:,} frames, seeds {seeds[0]}-{seeds[-1]}: first differing action at "
          f"frames {[frame for frame, _ in divergence]}, "
          f"{'greedy in both runs at each' if all(g for _, g in divergence) else 'NOT ALL GREEDY'}", flush=True)
