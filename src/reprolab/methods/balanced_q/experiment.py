"""`reprolab run balanced_q`: tabular Balanced Q-learning against Q-learning, Double Q, Maxmin Q and the beta = 0
ablation, on problems where optimism pays and problems where pessimism pays (spec 2.5 and 6).

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
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from reprolab.methods.balanced_q.plots import plot_beta, plot_curves
from reprolab.methods.balanced_q.rule import (balanced_target, closed_form_beta, closed_form_td_error,
                                              official_beta)
from reprolab.methods.balanced_q.tabular import BalancedQ
from reprolab.rl.tabular import (DoubleQ, MaxminQ, MaximizationBiasMDP, PessimisticQ, QLearning,
                                 TransitionTableEnv, run_episodes)
from reprolab.runtime.claims import Claim
from reprolab.runtime.config import config_to_dict
from reprolab.runtime.results import RunContext, RunResult

NEEDS_EXTRA_DATA = False

OPTIMISTIC = ("q_learning",)
PESSIMISTIC = ("double_q", "maxmin_2", "maxmin_8")


@dataclasses.dataclass(frozen=True)
class BalancedQConfig:
    eta: float = 0.2                                 # official code
    beta_bar: str = "fixed"                          # official simple MDP: fixed at 1
    official_gamma_min_only: bool = False            # reproduce the official discounting bug
    rule_check_cases: int = 100_000                  # random transitions for claim (b)
    sb_runs: int = 2000                              # Sutton & Barto MDP (spec 2.5)
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
    tolerance_se: float = 2.0                        # "as well as" = within this many standard errors


CONFIGS = {"quick": BalancedQConfig(), "paper": BalancedQConfig(sb_runs=10_000, official_runs=1000, cliff_runs=100,
                                                                 lake_runs=500)}


def make_agent(name: str, n_runs: int, env, cfg: BalancedQConfig, *, alpha: float, gamma: float, epsilon: float):
    kw = dict(alpha=alpha, gamma=gamma, epsilon=epsilon)
    if name == "q_learning":
        return QLearning(n_runs, env, **kw)
    if name == "double_q":
        return DoubleQ(n_runs, env, **kw)
    if name.startswith("maxmin_"):
        return MaxminQ(n_runs, env, n_estimators=int(name.split("_")[1]), **kw)
    if name == "pessimistic":
        return PessimisticQ(n_runs, env, **kw)
    if name in ("balanced", "balanced_beta1"):
        return BalancedQ(n_runs, env, eta=cfg.eta, beta_bar=cfg.beta_bar,
                         fixed_beta=1.0 if name == "balanced_beta1" else None,
                         official_gamma_min_only=cfg.official_gamma_min_only, **kw)
    raise ValueError(f"unknown agent {name!r}")


AGENTS = ("q_learning", "double_q", "maxmin_2", "maxmin_8", "pessimistic", "balanced")


def _mean_se(per_run: np.ndarray) -> dict:
    return {"mean": float(per_run.mean()), "se": float(per_run.std(ddof=1) / np.sqrt(len(per_run)))}


def run_mdp(cfg, mu, *, runs, episodes, n_b, reward, alpha, window, seed) -> dict:
    env = MaximizationBiasMDP(mu=mu, n_b_actions=n_b, reward=reward)
    out = {}
    for name in AGENTS:
        agent = make_agent(name, runs, env, cfg, alpha=alpha, gamma=1.0, epsilon=0.1)
        log = run_episodes(agent, env, episodes, np.random.default_rng(seed))
        left = (log.first_actions == MaximizationBiasMDP.LEFT).astype(float)
        out[name] = {"left_all": _mean_se(left.mean(1)), "left_window": _mean_se(left[:, :window].mean(1)),
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
        out[name] = {"online_second_half": _mean_se(log.returns[:, episodes // 2:].mean(1)),
                     "greedy": _mean_se(greedy.returns.mean(1)),
                     "curve": log.returns.mean(0).tolist()}
        if name == "balanced":
            out[name]["beta_trace"] = agent.beta_trace[:: max(1, len(agent.beta_trace) // 2000)]
    return out


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


def run(cfg: BalancedQConfig, ctx: RunContext) -> RunResult:
    seed = ctx.seed
    metrics: dict = {}
    metrics["rule_check"] = ctx.stage("rule_check", lambda: rule_check(cfg.rule_check_cases, seed))
    metrics["beta_one"] = ctx.stage("beta_one", lambda: beta_one_equals_q_learning(200, 300, seed))
    for mu in cfg.sb_mus:
        metrics[f"sb_mu{mu:+g}"] = ctx.stage(f"sb_mu{mu:+g}", lambda mu=mu: run_mdp(
            cfg, mu, runs=cfg.sb_runs, episodes=cfg.sb_episodes, n_b=10, reward="normal", alpha=0.1, window=50,
            seed=seed))
    for mu in cfg.official_mus:
        metrics[f"official_mu{mu:+g}"] = ctx.stage(f"official_mu{mu:+g}", lambda mu=mu: run_mdp(
            cfg, mu, runs=cfg.official_runs, episodes=cfg.official_episodes, n_b=8, reward="uniform", alpha=0.01,
            window=100, seed=seed))
    cliff = TransitionTableEnv.from_gymnasium("CliffWalking-v1", slip=cfg.cliff_slip)
    metrics["cliff"] = ctx.stage("cliff", lambda: run_gridworld(
        cfg, cliff, runs=cfg.cliff_runs, episodes=cfg.cliff_episodes, max_steps=500, gamma=1.0, eval_max_steps=200,
        seed=seed))
    lake = TransitionTableEnv.from_gymnasium("FrozenLake-v1", is_slippery=True)
    metrics["frozenlake"] = ctx.stage("frozenlake", lambda: run_gridworld(
        cfg, lake, runs=cfg.lake_runs, episodes=cfg.lake_episodes, max_steps=100, gamma=0.99, eval_max_steps=100,
        seed=seed))
    start = time.perf_counter()
    artifacts = [plot_curves(metrics, ctx.out_dir / "plot_learning_curves.png").name,
                 plot_beta(metrics, ctx.out_dir / "plot_beta.png").name]
    ctx.timings["plots"] = time.perf_counter() - start
    return RunResult(method="balanced_q", scale="", seeds=[seed], device="cpu", config=config_to_dict(cfg),
                     metrics=metrics, claims=claims(metrics, cfg), artifacts=artifacts)


def _scenarios(metrics: dict) -> dict[str, tuple[str, str, bool]]:
    """scenario -> (metric block, statistic, higher_is_better)."""
    out = {}
    for key in metrics:
        if key.startswith(("sb_mu", "official_mu")):
            window = "left_window" if key.startswith("official") else "left_all"
            out[key] = (key, window, float(key.split("mu")[1]) > 0)
    out["cliff"] = ("cliff", "greedy", True)
    out["frozenlake"] = ("frozenlake", "greedy", True)
    return out


def claims(metrics: dict, cfg: BalancedQConfig) -> list[Claim]:
    result = []
    b1 = metrics["beta_one"]
    result.append(Claim("beta_one_is_q_learning", "(a) Balanced with beta fixed at 1 reproduces Q-learning exactly "
                        "(same seed: same tables, same actions)", b1, "max |Q diff| = 0, identical actions",
                        b1["max_abs_q_diff"] == 0.0 and b1["identical_actions"]))
    rc = metrics["rule_check"]
    result.append(Claim("official_rule_equals_closed_form", "(b) the official beta rule equals clip(betabar + "
                        "eta delta_n / (gamma (M - m)), 0, 1) and its TD error the clipped momentum TD error", rc,
                        "both differences < 1e-12", rc["max_beta_diff"] < 1e-12 and rc["max_td_diff"] < 1e-12))
    sign = {}
    for key in (k for k in metrics if k.startswith("sb_mu")):
        block, stat, higher = metrics[key], "left_all", float(key.split("mu")[1]) > 0
        q = block["q_learning"][stat]["mean"]
        pess = {p: block[p][stat]["mean"] for p in PESSIMISTIC}
        sign[key] = {"q_learning": q, **pess, "optimism_wins": q > max(pess.values()) if higher else None,
                     "pessimism_wins": min(pess.values()) < q if not higher else None}
    holds_c = all((v["optimism_wins"] if v["optimism_wins"] is not None else v["pessimism_wins"])
                  for v in sign.values()) and len(sign) >= 2
    result.append(Claim("preferred_bias_depends_on_problem", "(c) pessimistic learners (Double, Maxmin) choose the "
                        "bad action less than Q-learning at mu < 0, Q-learning chooses the good one more at mu > 0 "
                        f"(Sutton & Barto MDP, {cfg.sb_runs} runs)", sign, "both hold", holds_c))
    best = {}
    for scenario, (key, stat, higher) in _scenarios(metrics).items():
        block = metrics[key]
        candidates = {n: block[n][stat] for n in OPTIMISTIC + PESSIMISTIC}
        pick = max if higher else min
        best_name = pick(candidates, key=lambda n: candidates[n]["mean"])
        bal, top = block["balanced"][stat], candidates[best_name]
        margin = cfg.tolerance_se * np.hypot(bal["se"], top["se"])
        ok = bal["mean"] >= top["mean"] - margin if higher else bal["mean"] <= top["mean"] + margin
        best[scenario] = {"balanced": bal["mean"], "best": best_name, "best_value": top["mean"],
                          "margin": float(margin), "as_good": bool(ok)}
    result.append(Claim("balanced_best_of_both", "(d) Balanced Q does as well as the better of the optimistic and "
                        f"pessimistic learners in every scenario (within {cfg.tolerance_se:g} standard errors)", best,
                        "as_good in every scenario", all(v["as_good"] for v in best.values())))
    betas = [b for key in metrics if isinstance(metrics[key], dict) and "balanced" in metrics[key]
             for b in metrics[key]["balanced"].get("beta_trace", [])]
    result.append(Claim("balanced_beta_in_range", "beta stays in [0, 1] and finite",
                        {"min": float(np.min(betas)), "max": float(np.max(betas)), "n": len(betas)},
                        "0 <= beta <= 1", bool(np.isfinite(betas).all() and min(betas) >= 0 and max(betas) <= 1)))
    return result
