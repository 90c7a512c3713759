"""`reprolab run mbec`: MBEC++ against DQN (the same agent with read_rate = rec_rate = 0) and the fixed-beta
ablation, at equal environment steps, on noisy, non-Markovian and sparse-reward tasks.

Environments: CartPole-v1 with observation noise N(0, 0.1^2) (stochastic), velocity-masked CartPole (obs [x, theta]:
non-Markovian), a seeded 2D maze (sparse goal reward), LunarLander-v3 and Atari through ale-py (paper scale).
Agent settings for classic control (the 2-core CPU prototype, the official loop otherwise): Adam lr 1e-3 (eps 1e-4),
batch 32, a TD step every 4 frames (official), target sync every 500 frames, learning starts 1000, replay 50k,
epsilon 1 -> 0.01 linearly over two thirds of the run. Atari: the official settings (`official_dqn_config`).
Metrics per environment and agent (5 seeds): area under the binned learning curve (whole run and first third),
mean return over all episodes, mean of the last 20 episodes, and the frames until the mean of the last 10
episodes first reaches the threshold (CartPole 195, LunarLander 200, maze: the goal within twice the shortest path).
The claims pair agents by seed (same seed: same environment seeds and habitual-network initialisation), so the
per-seed values are kept in seed order (`seeds`, `auc_per_seed`, `auc_early.per_seed`), with the return of a
uniform random policy (`random_return`: the episodes that end by the replay start, where epsilon is 1).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from reprolab.methods.mbec.agent import MBECAgent, MBECConfig, official_dqn_config
from reprolab.methods.mbec.baselines import dqn_baseline
from reprolab.methods.mbec.claims import claims
from reprolab.methods.mbec.maze import GridMaze
from reprolab.methods.mbec.model import habitual_network
from reprolab.methods.mbec.plots import plot_beta, plot_memory_error
from reprolab.rl.dqn import DQNConfig, TargetRule, TrainLog, train_dqn
from reprolab.rl.envs import make_env
from reprolab.rl.seeds import SeedBatchedDQN, cell_seeds, seed_cells, train_dqn_seeds
from reprolab.runtime.stats import binned_curve, finite_mean, mean_se, summarize
from reprolab.report.figures import learning_curve_panels
from reprolab.runtime.config import ConfigError, check_options
from reprolab.runtime.grid import GridResults, cell_checkpoint, grid_results, grid_stages
from reprolab.runtime.results import RunContext, RunResult

NEEDS_EXTRA_DATA = False
GRID = "run"
Agent = Literal["dqn", "mbec", "mbec_memory_off", "mbec_no_read", "mbec_detached", "mbec_discounted"]
CLASSIC_ENVS = ("cartpole_noisy", "cartpole_masked", "lunarlander")   # and maze<size>
VARIANTS = {  # agent kind -> the MBECConfig fields it changes
    "mbec": {},
    "mbec_memory_off": {"read_rate": 0.0, "rec_rate": 0.0},   # = DQN, bit for bit
    "mbec_no_read": {"read_rate": 0.0},                        # diagnostic: memory and model trained, never read
    "mbec_detached": {"detach_rec_targets": True},             # diagnostic: quirk (f) switched off
    "mbec_discounted": {"discount_mc_returns": True},          # diagnostic: quirk (c) switched off
}


@dataclasses.dataclass(frozen=True)
class MBECExperimentConfig:
    envs: tuple[str, ...] = ("cartpole_noisy", "cartpole_masked", "maze5")
    agents: tuple[Agent, ...] = ("dqn", "mbec")   # also the diagnostics mbec_no_read, mbec_detached, mbec_discounted
    frames: int = 12_000                  # per run, every agent (classic control: 100k-1M at paper scale)
    seeds: int = 5
    ablation_envs: tuple[str, ...] = ("cartpole_noisy",)   # where the fixed-beta ablation also runs
    fixed_beta: float = 0.5               # the ablation's constant beta (the paper's value is not confirmed)
    obs_noise: float = 0.1                # design (noisy CartPole)
    maze_seed: int = 0
    lr: float = 1e-3                      # 2-core CPU prototype (official Atari 1e-4)
    target_sync_frames: int = 500         # 2-core CPU prototype (official 1000)
    replay_start: int = 1000              # 2-core CPU prototype (official 50k)
    buffer_size: int = 50_000             # 2-core CPU prototype (official 1M)
    eps_end: float = 0.01                 # 2-core CPU prototype
    truncation_terminal: bool = False     # official: `done` includes time-limit truncation (no bootstrap in the TD
                                          # target, no write checkpoint on that step); default: bootstrap through it
    clip_rewards: Literal["atari", "all"] = "atari"   # official `clip_rewards=1` is "all": the learner sees sign(r)
                                          # in every environment (replay, memory returns, reward model); "atari": only
                                          # the Atari preprocessing clips. Learning curves keep the env's rewards
    target_sync_clock: Literal["updates", "frames"] = "updates"   # official "frames": the target synced every
                                          # `target_sync_frames` frames (Atari 1000) from frame 1, before learning
                                          # starts too; "updates": every target_sync_frames / 4 TD updates
    episode_end_first: bool = False       # official: at an episode's last frame the memory writes, the trajectory-
                                          # model step and the episode count come before that frame's TD step
    atari_envs: tuple[str, ...] = ()      # e.g. ALE/Pong-v5: the official settings, `atari_frames` agent steps
    atari_frames: int = 10_000_000        # official max_frames (agent steps; x4 emulator frames)
    atari_seeds: int = 3
    mbec: MBECConfig = MBECConfig(initial_write_interval=10)   # quick cut: official 200 (arguments.py)
    equivalence_frames: int = 3000        # claim: memory off = DQN, bit for bit
    bins: int = 30
    early_fraction: float = 1 / 3         # AUC over the first third of training
    checkpoint_every: int = 0             # frames between in-run checkpoints (0: none)
    dqn_seed_batch: bool = False          # train DQN's seeds of an environment together (reprolab.rl.seeds); off
                                          # at quick: their episodes leave the separate runs' (float32 rounding)
    workers: int = 2

    def __post_init__(self) -> None:
        check_options(self)
        bad = [e for e in (*self.envs, *self.ablation_envs)
               if e not in CLASSIC_ENVS and not re.fullmatch(r"maze\d+", e)]
        if bad:
            raise ConfigError(f"config key 'envs': unknown environment {bad[0]!r}; known: {', '.join(CLASSIC_ENVS)}, "
                              "maze<size>")
        if any(not e.startswith("ALE/") for e in self.atari_envs):
            raise ConfigError(f"config key 'atari_envs' takes ALE/<Game>-v5 names, got {self.atari_envs}")
        if min(self.frames, self.seeds, self.atari_seeds, self.workers, self.bins, self.equivalence_frames) < 1:
            raise ConfigError("config keys 'frames', 'seeds', 'atari_seeds', 'workers', 'bins' and "
                              "'equivalence_frames' must be >= 1")
        if self.target_sync_clock == "frames" and self.target_sync_frames < 1:
            raise ConfigError(f"config key 'target_sync_frames' must be >= 1 with target_sync_clock='frames', got "
                              f"{self.target_sync_frames}")


CONFIGS = {
    "quick": MBECExperimentConfig(),
    "paper": MBECExperimentConfig(envs=("cartpole_noisy", "cartpole_masked", "maze10", "lunarlander"),
                                  frames=200_000, ablation_envs=("cartpole_noisy", "cartpole_masked", "maze10"),
                                  atari_envs=("ALE/Pong-v5", "ALE/Breakout-v5", "ALE/MsPacman-v5",
                                              "ALE/Seaquest-v5", "ALE/SpaceInvaders-v5"),
                                  mbec=MBECConfig(), bins=100, checkpoint_every=50_000, dqn_seed_batch=True,
                                  workers=16),
}


def build_env(name: str, cfg: MBECExperimentConfig):
    """An environment by experiment name and the return that counts as solved."""
    if name == "cartpole_noisy":
        return make_env("CartPole-v1", obs_noise=cfg.obs_noise), 195.0
    if name == "cartpole_masked":
        return make_env("CartPole-v1", mask_velocity=True), 195.0
    if name == "lunarlander":
        return make_env("LunarLander-v3"), 200.0
    if name.startswith("maze"):
        maze = GridMaze(int(name[4:]), maze_seed=cfg.maze_seed)
        return maze, maze.solved_return()
    if name.startswith("ALE/"):
        return make_env(name), float("nan")
    raise ValueError(f"unknown environment {name!r}; known: cartpole_noisy, cartpole_masked, lunarlander, "
                     "maze<size>, ALE/<Game>-v5")


def dqn_config(env_name: str, cfg: MBECExperimentConfig, frames: int) -> DQNConfig:
    """The DQN settings of every agent on `env_name`: the official Atari ones, or the classic-control prototype's;
    either with the experiment's truncation, reward-clipping, episode-order and target-sync-clock flags (the frame
    clock syncs every 1000 frames on Atari, the official `update_target`, else every `target_sync_frames`)."""
    flags = dict(truncation_terminal=cfg.truncation_terminal, clip_rewards=cfg.clip_rewards == "all",
                 episode_end_before_update=cfg.episode_end_first)
    if env_name.startswith("ALE/"):
        dqn = official_dqn_config(**flags)
        sync_frames = dqn.target_sync * dqn.train_every
    else:
        dqn = official_dqn_config(lr=cfg.lr, target_sync=max(1, cfg.target_sync_frames // 4),
                                  replay_start=cfg.replay_start, buffer_size=cfg.buffer_size, eps_end=cfg.eps_end,
                                  eps_frames=max(1, 2 * frames // 3 - cfg.replay_start), **flags)
        sync_frames = cfg.target_sync_frames
    if cfg.target_sync_clock == "frames":
        return dataclasses.replace(dqn, target_sync_frames=sync_frames)
    return dqn


def make_agent(kind: str, env, dqn_cfg: DQNConfig, cfg: MBECExperimentConfig, seed: int, device: str = "cpu"):
    """DQN (the habitual network alone), MBEC++, MBEC++ with a fixed beta, or MBEC++ with the memory off."""
    torch.manual_seed(seed)
    shape, n_actions = env.observation_space.shape, env.action_space.n
    if kind == "dqn":
        return dqn_baseline(shape, n_actions, dqn_cfg, device, cfg.mbec.init)
    variants = {**VARIANTS, "mbec_fixed_beta": {"fixed_beta": cfg.fixed_beta}}
    if kind not in variants:
        raise ValueError(f"unknown agent {kind!r}; known: dqn, {', '.join(variants)}")
    return MBECAgent(shape, n_actions, dqn_cfg, dataclasses.replace(cfg.mbec, **variants[kind]), seed, device)


def steps_to_threshold(end_frames, returns, threshold: float, window: int = 10) -> float:
    """The first frame at which the mean of the last `window` episode returns reaches `threshold` (NaN: never)."""
    r = np.asarray(returns, float)
    for i in range(window - 1, len(r)):
        if r[i - window + 1: i + 1].mean() >= threshold:
            return float(end_frames[i])
    return float("nan")


def memory_error_windows(trace: list, fraction: float = 0.2) -> dict:
    """Relative memory error sum|V_M - R| / sum|R| on fresh trajectories in the first and last `fraction` of the
    per-episode records (each record: frame, mean |V_M - R|, mean |R|, number of keys)."""
    if len(trace) < 10:
        return {"early": float("nan"), "late": float("nan"), "episodes": len(trace)}
    rec = np.asarray(trace, float)
    n = max(1, int(len(rec) * fraction))

    def relative(part):
        return float((part[:, 1] * part[:, 3]).sum() / max((part[:, 2] * part[:, 3]).sum(), 1e-12))

    return {"early": relative(rec[:n]), "late": relative(rec[-n:]), "episodes": len(rec),
            "early_abs": float(rec[:n, 1].mean()), "late_abs": float(rec[-n:, 1].mean())}


def return_record(log: TrainLog, frames: int, threshold: float, seconds: float, cfg: MBECExperimentConfig,
                  replay_start: int) -> dict:
    """The binned learning curve and the return statistics of one run."""
    returns = np.asarray(log.episode_returns, float)
    return {"curve": binned_curve(log.episode_end_frames, returns, frames, cfg.bins).tolist(),
            "random_return": log.random_phase_return(replay_start),
            "episodes": len(returns), "mean_return": float(returns.mean()) if len(returns) else float("nan"),
            "last20": float(returns[-20:].mean()) if len(returns) else float("nan"),
            "steps_to_threshold": steps_to_threshold(log.episode_end_frames, returns, threshold),
            "threshold": threshold, "seconds": seconds, "losses_finite": bool(np.isfinite(log.losses).all())}


def dqn_network(env, cfg: MBECExperimentConfig) -> Callable[[], nn.Sequential]:
    """Factory of the DQN baseline's network for env's spaces: MBEC++'s habitual network alone."""
    shape, n_actions = env.observation_space.shape, env.action_space.n
    return lambda: habitual_network(shape, n_actions, cfg.mbec.init)


def run_dqn_batched(seeds: list[int], env_name: str, cfg: MBECExperimentConfig, frames: int, device: str = "cpu",
                    checkpoint: Path | None = None, resume: bool = False) -> list[dict]:
    """The DQN baseline for several seeds at once, networks stacked (`reprolab.rl.seeds`): seed i's run takes the
    episodes of `run_agent(seed_i, env_name, "dqn", ...)` while the weights agree to float32 rounding; at quick
    settings training grows that rounding until a greedy action flips (noisy CartPole: first at frames 2,172-11,387
    of 12,000, `reprolab.rl.seeds`). "seconds" is the batch's wall time over the number of seeds."""
    env, threshold = build_env(env_name, cfg)
    dqn_cfg = dqn_config(env_name, cfg, frames)
    agent = SeedBatchedDQN(dqn_network(env, cfg), env.action_space.n, dqn_cfg, TargetRule(), seeds, device)
    start = time.perf_counter()
    logs = train_dqn_seeds(lambda: build_env(env_name, cfg)[0], agent, frames, desc=f"dqn {env_name}",
                           log_every=max(frames // 100, 100), checkpoint=checkpoint,
                           checkpoint_every=cfg.checkpoint_every, resume=resume)
    seconds = (time.perf_counter() - start) / len(seeds)
    return [return_record(log, frames, threshold, seconds, cfg, dqn_cfg.replay_start) for log in logs]


def run_agent(seed: int, env_name: str, kind: str, cfg: MBECExperimentConfig, frames: int, device: str = "cpu",
              checkpoint: Path | None = None, resume: bool = False) -> dict:
    """One agent on one environment: the binned learning curve, return statistics and the memory's traces."""
    env, threshold = build_env(env_name, cfg)
    dqn_cfg = dqn_config(env_name, cfg, frames)
    agent = make_agent(kind, env, dqn_cfg, cfg, seed, device)
    start = time.perf_counter()
    log = train_dqn(env, agent, frames, seed, log_every=max(frames // 100, 100), checkpoint=checkpoint,
                    checkpoint_every=cfg.checkpoint_every, resume=resume)
    out = return_record(log, frames, threshold, time.perf_counter() - start, cfg, dqn_cfg.replay_start)
    if isinstance(agent, MBECAgent):
        beta = np.asarray(agent.trace["beta"], float).reshape(-1, 2)
        late = beta[beta[:, 0] > frames * (1 - 1 / 3), 1] if len(beta) else np.zeros(0)
        out.update(memory_error=memory_error_windows(agent.trace["memory_error"]),
                   memory_error_trace=[list(r) for r in agent.trace["memory_error"]],
                   beta_trace=beta[:: max(1, len(beta) // 300)].tolist(),
                   beta_late={"std": float(late.std()) if len(late) else float("nan"),
                              "min": float(late.min()) if len(late) else float("nan"),
                              "max": float(late.max()) if len(late) else float("nan"), "n": int(len(late))},
                   read_fraction=float(np.mean(log.infos.get("read", [0.0]))), memory_size=len(agent.memory),
                   rec_loss_last=agent.trace["rec_loss"][-1][1:] if agent.trace["rec_loss"] else None,
                   key_distances=key_distance_windows(agent.trace["key_distances"]))
    return out


def key_distance_windows(trace: list, fraction: float = 0.2) -> dict:
    """The fresh keys' k-NN squared distances at episode ends (each record: frame, median, share below the 1e-3
    weighting epsilon), averaged over the first and the last `fraction` of the episodes."""
    if not trace:
        return {"early_median": float("nan"), "late_median": float("nan"), "early_below_eps": float("nan"),
                "late_below_eps": float("nan")}
    rec = np.asarray(trace, float)
    n = max(1, int(len(rec) * fraction))
    return {"early_median": float(rec[:n, 1].mean()), "late_median": float(rec[-n:, 1].mean()),
            "early_below_eps": float(rec[:n, 2].mean()), "late_below_eps": float(rec[-n:, 2].mean())}


def run_cell(cell: dict, cfg: MBECExperimentConfig, device: str, out_dir: Path, resume: bool) -> list[dict]:
    """The per-seed records of one (env, agent) cell: one seed, or with `dqn_seed_batch` DQN's seeds together.
    Atari runs use the requested device and the official frame budget."""
    atari = cell["env"].startswith("ALE/")
    frames, device = (cfg.atari_frames, device) if atari else (cfg.frames, "cpu")
    checkpoint = cell_checkpoint(out_dir, GRID, cell)
    if cell["n_seeds"] > 1:
        return run_dqn_batched(cell_seeds(cell), cell["env"], cfg, frames, device, checkpoint, resume)
    return [run_agent(cell["seed"], cell["env"], cell["agent"], cfg, frames, device, checkpoint, resume)]


def memory_off_equals_dqn(cfg: MBECExperimentConfig, seed: int) -> dict:
    """Claim: MBEC++ with read_rate = rec_rate = 0 and DQN, same seed: identical weights and episode returns."""
    runs = {}
    for kind in ("dqn", "mbec_memory_off"):
        env, _ = build_env("cartpole_noisy", cfg)
        agent = make_agent(kind, env, dqn_config("cartpole_noisy", cfg, cfg.equivalence_frames), cfg, seed)
        log = train_dqn(env, agent, cfg.equivalence_frames, seed)
        net = agent.online[0] if kind == "dqn" else agent.online[0].habitual
        runs[kind] = ([p.detach().clone() for p in net.parameters()], log.episode_returns, agent.updates)
    (pa, ra, ua), (pb, rb, ub) = runs["dqn"], runs["mbec_memory_off"]
    return {"frames": cfg.equivalence_frames, "updates": [ua, ub], "episodes": [len(ra), len(rb)],
            "max_abs_weight_diff": max(float((a - b).abs().max()) for a, b in zip(pa, pb)),
            "identical_returns": ra == rb}


def summarize_env(runs: GridResults, env_name: str, cfg: MBECExperimentConfig, kinds) -> dict:
    out = {}
    n_early = max(1, int(round(cfg.bins * cfg.early_fraction)))
    for kind in kinds:
        cells = runs.select(env=env_name, agent=kind)
        seeds = [record for _, records in cells for record in records]
        if not seeds:
            continue
        curves = [np.asarray(r["curve"], float) for r in seeds]
        early = [float(np.nanmean(c[:n_early])) for c in curves]
        random_returns = np.asarray([r["random_return"] for r in seeds], float)
        block = {**summarize(curves), "seeds": [s for cell, _ in cells for s in cell_seeds(cell)],
                 "auc_early": {**mean_se(early), "per_seed": early},
                 "random_return": finite_mean(random_returns),
                 "random_return_per_seed": random_returns.tolist(),
                 "mean_return": mean_se([r["mean_return"] for r in seeds]),
                 "last20": mean_se([r["last20"] for r in seeds]),
                 "steps_to_threshold": [float(r["steps_to_threshold"]) for r in seeds],
                 "reached_threshold": int(np.isfinite([float(r["steps_to_threshold"]) for r in seeds]).sum()),
                 "threshold": float(seeds[0]["threshold"]), "episodes": [r["episodes"] for r in seeds],
                 "seconds": [r["seconds"] for r in seeds],
                 "losses_finite": all(r["losses_finite"] for r in seeds)}
        if kind != "dqn":
            block.update(memory_error=[r["memory_error"] for r in seeds],
                         memory_error_trace=seeds[0]["memory_error_trace"],
                         beta_late=[r["beta_late"] for r in seeds], beta_trace=seeds[0]["beta_trace"],
                         read_fraction=[r["read_fraction"] for r in seeds],
                         memory_size=[r["memory_size"] for r in seeds],
                         key_distances=[r["key_distances"] for r in seeds])
        out[kind] = block
    return out


def env_agents(cfg: MBECExperimentConfig) -> list[tuple[str, tuple[str, ...]]]:
    """Every environment with the agents it runs (the fixed-beta ablation on `ablation_envs`)."""
    return [(env_name, cfg.agents + (("mbec_fixed_beta",) if env_name in cfg.ablation_envs else ()))
            for env_name in cfg.envs + cfg.atari_envs]


def grid_cells(cfg: MBECExperimentConfig, plan: list[tuple[str, tuple[str, ...]]], seed: int) -> list[dict]:
    """One cell per (env, agent, seed); with `dqn_seed_batch` one cell holds all of DQN's seeds of an env."""
    cells = []
    for env_name, kinds in plan:
        n_seeds = cfg.atari_seeds if env_name.startswith("ALE/") else cfg.seeds
        seeds = list(range(seed, seed + n_seeds))
        cells += [cell for kind in kinds for cell in seed_cells({"env": env_name, "agent": kind}, seeds,
                                                                cfg.dqn_seed_batch and kind == "dqn")]
    return cells


def run_device(cfg: MBECExperimentConfig, device: torch.device) -> torch.device:
    """The device this config's run uses (what the runtime records): the requested one only for Atari cells; the
    classic-control cells and the equivalence stage always run on the CPU."""
    return device if cfg.atari_envs else torch.device("cpu")


def longest_first(cells: list[dict]) -> list[dict]:
    """The cells in the order the pool takes them: MBEC++ and its variants before DQN (at quick scale an MBEC++
    cell takes 9-14 s and a DQN cell 4-5 s on a 2-core AMD EPYC CPU), so that the workers end on short cells;
    otherwise in `grid_cells` order."""
    return sorted(cells, key=lambda cell: cell["agent"] == "dqn")


def run_stages(cfg: MBECExperimentConfig, ctx: RunContext, cells: list[dict]) -> tuple[dict, GridResults]:
    """The equivalence check and every grid cell as stages of one pool of `cfg.workers` processes (the check runs
    beside the first cells): the check's record and the cells' results."""
    jobs = {"equivalence": (memory_off_equals_dqn, (cfg, ctx.seed)),
            **grid_stages(GRID, cells, run_cell, cfg, ctx.device, ctx.out_dir, ctx.resume)}
    values = ctx.stages(jobs, workers=cfg.workers)
    return values["equivalence"], grid_results(GRID, cells, values)


def run(cfg: MBECExperimentConfig, ctx: RunContext) -> RunResult:
    seed = ctx.seed
    plan = env_agents(cfg)
    equivalence, runs = run_stages(cfg, ctx, longest_first(grid_cells(cfg, plan, seed)))
    metrics: dict = {"equivalence": equivalence}
    metrics["envs"] = {env_name: summarize_env(runs, env_name, cfg, kinds) for env_name, kinds in plan}
    with ctx.timed("plots"):
        artifacts = [learning_curve_panels(metrics["envs"], ctx.out_dir / "plot_learning_curves.png").name,
                     plot_beta(metrics["envs"], ctx.out_dir / "plot_beta.png").name,
                     plot_memory_error(metrics["envs"], ctx.out_dir / "plot_memory_error.png").name]
    return ctx.result("mbec", cfg, list(range(seed, seed + cfg.seeds)), metrics, claims(metrics, cfg), artifacts)
