"""`reprolab run balanced_q`: Balanced Q-learning against Q-learning, Double Q, Maxmin Q and the beta = 0 ablation
(tabular), and Balanced DQN against DQN, Double DQN, Maxmin DQN and Averaged DQN (deep), on problems where optimism
pays and problems where pessimism pays.

- Sutton & Barto maximization-bias MDP (Ex. 6.7): B has 10 actions, r ~ N(mu, 1), mu in {-0.1, +0.1}, alpha 0.1,
  epsilon 0.1, gamma 1, 300 episodes, 2000 runs. Metric: fraction of episodes that go left from A (lower is
  better at mu < 0, higher at mu > 0).
- The official MDP setting: 8 B-actions, r ~ U(mu - 1, mu + 1), mu in {-0.5, +0.5}, alpha 0.01, 5000 episodes,
  100 runs; metric over the first 100 episodes.
- Slippery CliffWalking (gymnasium's CliffWalking-v1 with the action replaced by a random one w.p. 0.1): alpha 0.1,
  gamma 1, epsilon 0.1, 1000 episodes of <= 500 steps, 10 seeds; greedy evaluation over 200 episodes of <= 200
  steps under the same slip. A risky cliff: pessimism should pay.
- Slippery FrozenLake 4x4 (gymnasium): alpha 0.1, gamma 0.99, epsilon 0.1, 2000 episodes of <= 100 steps, 50 runs;
  greedy success rate over 200 episodes (project-defined settings).
- Deep: MinAtar (official settings at `--scale paper`: 5 games + CartPole, 5M frames, 10 seeds);
  quick is a smoke run (Breakout, 5000 frames, 3 seeds, every learner): three seeds rarely decide its comparisons.

Every statistic keeps its per-run values (`per_run`, run i of every learner comes from the same generator seed, the
same environment and the same zero tables), the deep runs their per-seed areas under the curve (same seed: same
environment seeds and network initialisation). `random_policy` holds what a uniform random policy scores in each
scenario: the left fraction 1 / |actions in A| (exact), the tabular environments' evaluation return, and for the
deep runs the return of the episodes that end before the replay start, where epsilon is 1.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from reprolab.methods.balanced_q.baselines import AveragedVariant, DoubleVariant, MaxminVariant, tabular_baseline
from reprolab.methods.balanced_q.claims import claims
from reprolab.methods.balanced_q.deep import BetaBar, BetaBarDtype, PrevNets, TerminalBeta, make_rule
from reprolab.methods.balanced_q.plots import plot_beta, plot_curves, plot_deep
from reprolab.methods.balanced_q.rule import (balanced_target, closed_form_beta, closed_form_td_error,
                                              official_beta)
from reprolab.methods.balanced_q.tabular import BalancedQ
from reprolab.rl.dqn import DQNAgent, DQNConfig, network_for, train_dqn
from reprolab.rl.envs import make_env
from reprolab.rl.seeds import SeedBatchedDQN, cell_seeds, seed_cells, train_dqn_seeds
from reprolab.runtime.stats import binned_curve, finite_mean, mean_se, summarize
from reprolab.rl.tabular import (MaximizationBiasMDP, TransitionTableEnv, run_episodes)
from reprolab.runtime.config import ConfigError, check_at_least, check_options
from reprolab.runtime.executors import Stage
from reprolab.runtime.grid import GridResults, cell_checkpoint, grid_results, grid_stages
from reprolab.runtime.results import RunContext, RunResult

NEEDS_EXTRA_DATA = False
DeepLearner = Literal["dqn", "double_dqn", "maxmin_dqn", "averaged_dqn", "balanced_dqn"]
DEVICES = ("cpu",)          # tabular agents and the small MinAtar / CartPole networks run on the CPU
GRID = "deep"



@dataclasses.dataclass(frozen=True)
class BalancedQConfig:
    eta: float = 0.2                                 # official code
    beta_bar: Literal["fixed", "episode_reset", "running_mean"] = "fixed"   # official simple MDP: fixed at 1
    official_gamma_min_only: bool = False            # reproduce the official discounting bug
    reset_old_each_episode: bool = False             # official tabular code: the old Q table <- Q at episode start
    rule_check_cases: int = 100_000                  # random transitions for claim (b)
    sb_runs: int = 2000                              # Sutton & Barto MDP
    sb_episodes: int = 300
    sb_mus: tuple[float, ...] = (-0.1, 0.1)
    official_runs: int = 100                         # official MDP setting (params_priors.py)
    official_episodes: int = 5000
    official_mus: tuple[float, ...] = (-0.5, 0.5)
    cliff_runs: int = 10
    cliff_episodes: int = 1000
    cliff_slip: float = 0.1
    lake_runs: int = 50
    lake_episodes: int = 2000
    eval_episodes: int = 200
    # --- deep (official MinAtar settings unless noted) ---
    deep_envs: tuple[str, ...] = ("minatar:breakout",)
    deep_learners: tuple[DeepLearner, ...] = ("dqn", "double_dqn", "maxmin_dqn", "averaged_dqn", "balanced_dqn")
    deep_frames: int = 5000                          # quick smoke run; official 5M
    deep_seeds: int = 3                              # >= 3 seeds decide a paired comparison
    deep_replay_start: int = 1000                    # official 5000
    deep_eps_frames: int = 4000                      # official 100k
    deep_target_sync: int = 1000
    deep_n_ensemble: int = 8                         # Maxmin / Averaged N (official MinAtar code)
    deep_beta_bar: BetaBar = "official_minatar"
    deep_prev_nets: PrevNets = "consistent"
    deep_beta_bar_dtype: BetaBarDtype = "float64"    # official: float32 after the first update
    deep_terminal_beta: TerminalBeta = "masked"      # official: beta of a terminal transition from the target
                                                     # networks' unmasked values at s'
    deep_replay_without_replacement: bool = False    # official: `random.sample`, distinct transitions per batch
    deep_double_dqn: DoubleVariant = "van_hasselt"   # official: two networks updated by a coin flip, acting on
                                                     # their sum (runs one process per seed)
    deep_maxmin: MaxminVariant = "explorer"          # official: independently initialised targets, a sync copies
                                                     # only the updated network's (one process per seed)
    deep_averaged: AveragedVariant = "snapshots"     # official: K independently initialised target networks
                                                     # replaced round-robin (one process per seed)
    deep_bins: int = 20
    deep_checkpoint_every: int = 0                   # frames between in-run checkpoints (0: none; paper 250k)
    deep_seed_batch: bool = True                     # a learner's seeds in one process (reprolab.rl.seeds)
    workers: int = 2

    def __post_init__(self) -> None:
        check_options(self)
        counts = ("rule_check_cases", "sb_runs", "sb_episodes", "official_runs", "official_episodes", "cliff_runs",
                  "cliff_episodes", "lake_runs", "lake_episodes", "eval_episodes", "deep_frames", "deep_seeds",
                  "deep_n_ensemble", "deep_bins", "workers")
        check_at_least(self, 1, counts)
        batch_size = DQNConfig.batch_size
        if self.deep_replay_without_replacement and self.deep_replay_start + 1 < batch_size:
            raise ConfigError(f"config key 'deep_replay_start' must be >= {batch_size - 1} with "
                              f"deep_replay_without_replacement (the first update, after deep_replay_start + 1 "
                              f"frames, draws {batch_size} distinct transitions), got {self.deep_replay_start}")


CONFIGS = {
    "quick": BalancedQConfig(),
    "paper": BalancedQConfig(sb_runs=10_000, official_runs=1000, cliff_runs=100, lake_runs=500,
                             deep_envs=("minatar:breakout", "minatar:space_invaders", "minatar:asterix",
                                        "minatar:seaquest", "minatar:freeway", "CartPole-v1"),
                             deep_frames=5_000_000, deep_seeds=10, deep_replay_start=5000, deep_eps_frames=100_000,
                             deep_bins=100, deep_checkpoint_every=250_000, deep_seed_batch=True, workers=16),
}


def make_agent(name: str, n_runs: int, env, cfg: BalancedQConfig, *, alpha: float, gamma: float, epsilon: float):
    kw = dict(alpha=alpha, gamma=gamma, epsilon=epsilon)
    if name in ("balanced", "balanced_beta1"):
        return BalancedQ(n_runs, env, eta=cfg.eta, beta_bar=cfg.beta_bar,
                         fixed_beta=1.0 if name == "balanced_beta1" else None,
                         official_gamma_min_only=cfg.official_gamma_min_only,
                         reset_old_each_episode=cfg.reset_old_each_episode, **kw)
    return tabular_baseline(name, n_runs, env, **kw)


AGENTS = ("q_learning", "double_q", "maxmin_2", "maxmin_8", "pessimistic", "balanced")
EVAL_MAX_STEPS = {"cliff": 200, "frozenlake": 100}   # project-defined greedy-evaluation episode caps


def per_run_stats(values: np.ndarray) -> dict:
    """Mean and standard error over runs, and the per-run values the claims pair across learners."""
    return {**mean_se(values), "per_run": values.tolist()}


def run_mdp(cfg, mu, *, runs, episodes, n_b, reward, alpha, window, seed) -> dict:
    env = MaximizationBiasMDP(mu=mu, n_b_actions=n_b, reward=reward)
    out = {}
    for name in AGENTS:
        agent = make_agent(name, runs, env, cfg, alpha=alpha, gamma=1.0, epsilon=0.1)
        log = run_episodes(agent, env, episodes, np.random.default_rng(seed))
        left = (log.first_actions == MaximizationBiasMDP.LEFT).astype(float)
        out[name] = {"left_all": per_run_stats(left.mean(1)), "left_window": per_run_stats(left[:, :window].mean(1)),
                     "curve": left.mean(0).tolist()}
        if name == "balanced":
            out[name]["beta_trace"] = agent.beta_trace
    return out


def run_gridworld(cfg, env, *, runs, episodes, max_steps, gamma, eval_max_steps, seed) -> dict:
    out = {}
    for name in AGENTS:
        agent = make_agent(name, runs, env, cfg, alpha=0.1, gamma=gamma, epsilon=0.1)
        rng = np.random.default_rng(seed)
        log = run_episodes(agent, env, episodes, rng, max_steps=max_steps)
        greedy = run_episodes(agent, env, cfg.eval_episodes, rng, max_steps=eval_max_steps, learn=False,
                              epsilon=0.0)
        out[name] = {"online_second_half": per_run_stats(log.returns[:, episodes // 2:].mean(1)),
                     "greedy": per_run_stats(greedy.returns.mean(1)),
                     "curve": log.returns.mean(0).tolist()}
        if name == "balanced":
            out[name]["beta_trace"] = agent.beta_trace[:: max(1, len(agent.beta_trace) // 2000)]
    return out


def random_policy_left(n_b: int) -> float:
    """The fraction of episodes a uniform random policy goes left from A: 1 / (actions in A)."""
    env = MaximizationBiasMDP(n_b_actions=n_b)
    return float(1 / env.valid[env.A].sum())


def random_policy_return(cfg: BalancedQConfig, env, *, runs: int, max_steps: int, seed: int) -> float:
    """Mean return of a uniform random policy (epsilon 1) over `eval_episodes` episodes of `runs` runs."""
    agent = make_agent("q_learning", runs, env, cfg, alpha=0.0, gamma=1.0, epsilon=1.0)
    log = run_episodes(agent, env, cfg.eval_episodes, np.random.default_rng(seed), max_steps=max_steps, learn=False)
    return float(log.returns.mean())


def rule_check(n: int, seed: int) -> dict:
    """Claim (b): the official beta rule and its closed form on random transitions."""
    rng = np.random.default_rng(seed)
    r, q, q_old, bb = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n), rng.uniform(size=n)
    M, m = np.sort(rng.normal(size=(2, n)), axis=0)[::-1]
    M_old, m_old = np.sort(rng.normal(size=(2, n)), axis=0)[::-1]
    gamma = 0.9
    beta = official_beta(r, q, M, m, q_old, M_old, m_old, gamma=gamma, beta_bar=bb)
    beta_cf = closed_form_beta(r, q_old, M, m, M_old, m_old, gamma=gamma, beta_bar=bb)
    td = balanced_target(r, M, m, beta, gamma=gamma) - q
    td_cf = closed_form_td_error(r, q, M, m, q_old, M_old, m_old, gamma=gamma, beta_bar=bb)
    return {"n": n, "max_beta_diff": float(np.abs(beta - beta_cf).max()),
            "max_td_diff": float(np.abs(td - td_cf).max())}


def beta_one_equals_q_learning(runs: int, episodes: int, seed: int) -> dict:
    """Claim (a): Balanced with beta fixed at 1 against Q-learning, same seed, same trajectory."""
    env = MaximizationBiasMDP(mu=-0.1)
    tables = {}
    for name in ("q_learning", "balanced_beta1"):
        agent = make_agent(name, runs, env, BalancedQConfig(), alpha=0.1, gamma=1.0, epsilon=0.1)
        log = run_episodes(agent, env, episodes, np.random.default_rng(seed))
        tables[name] = (agent.Q[0], log.first_actions)
    (qa, fa), (qb, fb) = tables["q_learning"], tables["balanced_beta1"]
    return {"max_abs_q_diff": float(np.abs(qa - qb).max()), "identical_actions": bool((fa == fb).all())}


def deep_config(cfg: BalancedQConfig) -> DQNConfig:
    return DQNConfig(replay_start=cfg.deep_replay_start, eps_frames=cfg.deep_eps_frames,
                     target_sync=cfg.deep_target_sync, replay_without_replacement=cfg.deep_replay_without_replacement)


def deep_rule(learner: str, cfg: BalancedQConfig):
    return make_rule(learner, beta_bar=cfg.deep_beta_bar, prev_nets=cfg.deep_prev_nets,
                     beta_bar_dtype=cfg.deep_beta_bar_dtype, terminal_beta=cfg.deep_terminal_beta,
                     n_ensemble=cfg.deep_n_ensemble, double=cfg.deep_double_dqn, maxmin=cfg.deep_maxmin,
                     averaged=cfg.deep_averaged)


def deep_record(log, env, env_id: str, cfg: BalancedQConfig) -> dict:
    """One seed's binned learning curve and logs."""
    return {"curve": binned_curve(log.episode_end_frames, log.episode_returns, cfg.deep_frames,
                                  cfg.deep_bins).tolist(),
            "random_return": log.random_phase_return(cfg.deep_replay_start),
            "episodes": len(log.episode_returns), "losses": log.losses, "infos": log.infos,
            "env_settings": getattr(env.unwrapped, "settings", {"id": env_id})}


def run_deep(seed: int, env_id: str, learner: str, cfg: BalancedQConfig, checkpoint: Path | None = None,
             resume: bool = False) -> dict:
    """One learner on one environment for `deep_frames` frames; the binned learning curve and the logs."""
    torch.manual_seed(seed)
    env = make_env(env_id)
    dqn_cfg = deep_config(cfg)
    agent = DQNAgent(network_for(env.observation_space, env.action_space.n, dqn_cfg.hidden), env.action_space.n,
                     dqn_cfg, deep_rule(learner, cfg))
    log = train_dqn(env, agent, cfg.deep_frames, seed, log_every=max(cfg.deep_frames // 100, 100),
                    checkpoint=checkpoint, checkpoint_every=cfg.deep_checkpoint_every, resume=resume)
    return deep_record(log, env, env_id, cfg)


def run_deep_batched(seeds: list[int], env_id: str, learner: str, cfg: BalancedQConfig,
                     checkpoint: Path | None = None, resume: bool = False) -> list[dict]:
    """`run_deep` for several seeds at once, networks stacked (`reprolab.rl.seeds`): the same runs (same
    episodes; weights to float32 rounding)."""
    env = make_env(env_id)
    dqn_cfg = deep_config(cfg)
    agent = SeedBatchedDQN(network_for(env.observation_space, env.action_space.n, dqn_cfg.hidden),
                           env.action_space.n, dqn_cfg, deep_rule(learner, cfg), seeds)
    logs = train_dqn_seeds(lambda: make_env(env_id), agent, cfg.deep_frames,
                           log_every=max(cfg.deep_frames // 100, 100), checkpoint=checkpoint,
                           checkpoint_every=cfg.deep_checkpoint_every, resume=resume)
    return [deep_record(log, env, env_id, cfg) for log in logs]


def deep_cells(cfg: BalancedQConfig, seed: int) -> list[dict]:
    """One cell per (environment, learner, seed), or with `deep_seed_batch` one per (environment, learner) that
    trains seeds seed .. seed + n_seeds - 1 together (rules that are `seed_batchable`; Maxmin and the official
    Double and Averaged DQN run per seed)."""
    seeds = list(range(seed, seed + cfg.deep_seeds))
    return [cell for env_id in cfg.deep_envs for learner in cfg.deep_learners
            for cell in seed_cells({"env": env_id, "learner": learner}, seeds,
                                   cfg.deep_seed_batch and deep_rule(learner, cfg).seed_batchable())]


def run_deep_cell(cell: dict, cfg: BalancedQConfig, out_dir: Path, resume: bool) -> list[dict]:
    """The per-seed records of one cell."""
    checkpoint = cell_checkpoint(out_dir, GRID, cell)
    if cell["n_seeds"] == 1:
        return [run_deep(cell["seed"], cell["env"], cell["learner"], cfg, checkpoint, resume)]
    return run_deep_batched(cell_seeds(cell), cell["env"], cell["learner"], cfg, checkpoint, resume)


def mdp_scenario(cfg: BalancedQConfig, mu: float, seed: int) -> dict:
    """Sutton & Barto's maximization-bias MDP at mean reward mu (module docstring)."""
    return run_mdp(cfg, mu, runs=cfg.sb_runs, episodes=cfg.sb_episodes, n_b=10, reward="normal", alpha=0.1,
                   window=50, seed=seed)


def official_mdp_scenario(cfg: BalancedQConfig, mu: float, seed: int) -> dict:
    """The official MDP setting at mean reward mu (module docstring)."""
    return run_mdp(cfg, mu, runs=cfg.official_runs, episodes=cfg.official_episodes, n_b=8, reward="uniform",
                   alpha=0.01, window=100, seed=seed)


def cliff_env(cfg: BalancedQConfig) -> TransitionTableEnv:
    return TransitionTableEnv.from_gymnasium("CliffWalking-v1", slip=cfg.cliff_slip)


def lake_env() -> TransitionTableEnv:
    return TransitionTableEnv.from_gymnasium("FrozenLake-v1", is_slippery=True)


def cliff_scenario(cfg: BalancedQConfig, seed: int) -> dict:
    return run_gridworld(cfg, cliff_env(cfg), runs=cfg.cliff_runs, episodes=cfg.cliff_episodes, max_steps=500,
                         gamma=1.0, eval_max_steps=EVAL_MAX_STEPS["cliff"], seed=seed)


def lake_scenario(cfg: BalancedQConfig, seed: int) -> dict:
    return run_gridworld(cfg, lake_env(), runs=cfg.lake_runs, episodes=cfg.lake_episodes, max_steps=100, gamma=0.99,
                         eval_max_steps=EVAL_MAX_STEPS["frozenlake"], seed=seed)


def random_policy_scores(cfg: BalancedQConfig, seed: int) -> dict:
    """What a uniform random policy scores in each tabular scenario (module docstring)."""
    return {**{f"sb_mu{mu:+g}": random_policy_left(10) for mu in cfg.sb_mus},
            **{f"official_mu{mu:+g}": random_policy_left(8) for mu in cfg.official_mus},
            "cliff": random_policy_return(cfg, cliff_env(cfg), runs=cfg.cliff_runs,
                                          max_steps=EVAL_MAX_STEPS["cliff"], seed=seed),
            "frozenlake": random_policy_return(cfg, lake_env(), runs=cfg.lake_runs,
                                               max_steps=EVAL_MAX_STEPS["frozenlake"], seed=seed)}


def tabular_stages(cfg: BalancedQConfig, seed: int) -> dict[str, Stage]:
    """The tabular checks and scenarios as stages `name -> (fn, args)`, in the record's order."""
    return {"rule_check": (rule_check, (cfg.rule_check_cases, seed)),
            "beta_one": (beta_one_equals_q_learning, (200, 300, seed)),
            **{f"sb_mu{mu:+g}": (mdp_scenario, (cfg, mu, seed)) for mu in cfg.sb_mus},
            **{f"official_mu{mu:+g}": (official_mdp_scenario, (cfg, mu, seed)) for mu in cfg.official_mus},
            "cliff": (cliff_scenario, (cfg, seed)), "frozenlake": (lake_scenario, (cfg, seed)),
            "random_policy": (random_policy_scores, (cfg, seed))}


# The tabular stages in the order the pool takes them, longest first (quick scale on a 2-core AMD EPYC host with
# AVX2 kernels: CliffWalking 48 s, FrozenLake 43 s, the official MDPs 5-10 s, S&B's 4 s, the random policy 4 s,
# the checks under 1 s)
TABULAR_LONGEST_FIRST = ("cliff", "frozenlake", "official_mu", "sb_mu", "random_policy", "beta_one", "rule_check")


def longest_first(tabular: dict[str, Stage]) -> dict[str, Stage]:
    rank = {name: next(i for i, prefix in enumerate(TABULAR_LONGEST_FIRST) if name.startswith(prefix))
            for name in tabular}
    return dict(sorted(tabular.items(), key=lambda item: rank[item[0]]))


def run(cfg: BalancedQConfig, ctx: RunContext) -> RunResult:
    """The deep cells and then the tabular stages (`longest_first`) in one pool of `cfg.workers` processes; each
    stage seeds itself, so where and when it runs changes no number."""
    seed = ctx.seed
    cells = deep_cells(cfg, seed)
    tabular = tabular_stages(cfg, seed)
    values = ctx.stages({**grid_stages(GRID, cells, run_deep_cell, cfg, ctx.out_dir, ctx.resume),
                         **longest_first(tabular)}, workers=cfg.workers)
    metrics: dict = {name: values[name] for name in tabular}
    metrics["deep"] = summarize_deep(grid_results(GRID, cells, values), cfg)
    with ctx.timed("plots"):
        artifacts = [plot_curves(metrics, ctx.out_dir / "plot_learning_curves.png").name,
                     plot_beta(metrics, ctx.out_dir / "plot_beta.png").name,
                     plot_deep(metrics, ctx.out_dir / "plot_deep.png").name]
    return ctx.result("balanced_q", cfg, [seed], metrics, claims(metrics, cfg), artifacts)


def summarize_deep(runs: GridResults, cfg: BalancedQConfig) -> dict:
    """Per environment and learner: curves across seeds (mean, se, AUC per seed, in seed order), the random-policy
    return, and the finiteness / beta checks."""
    out: dict = {}
    for env_id in cfg.deep_envs:
        key = env_id.replace(":", "_")
        out[key] = {}
        for learner in cfg.deep_learners:
            cells = runs.select(env=env_id, learner=learner)
            seeds = [record for _, records in cells for record in records]
            losses = [v for r in seeds for v in r["losses"]]
            betas = [(min(r["infos"]["beta_min"]), max(r["infos"]["beta_max"])) for r in seeds
                     if r["infos"].get("beta_min")]
            random_returns = np.asarray([r["random_return"] for r in seeds], float)
            out[key][learner] = {**summarize([np.asarray(r["curve"], float) for r in seeds]),
                                 "seeds": [s for cell, _ in cells for s in cell_seeds(cell)],
                                 "random_return_per_seed": random_returns.tolist(),
                                 "random_return": finite_mean(random_returns),
                                 "episodes": [r["episodes"] for r in seeds],
                                 "losses_finite": bool(np.isfinite(losses).all()), "n_loss_logs": len(losses),
                                 "beta_range": [min(b[0] for b in betas), max(b[1] for b in betas)] if betas else None,
                                 "beta_bar_final": [r["infos"]["beta_bar"][-1] for r in seeds
                                                    if r["infos"].get("beta_bar")],
                                 "env_settings": seeds[0]["env_settings"] if seeds else {}}
    return out
