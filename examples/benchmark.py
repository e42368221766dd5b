"""The learning benchmark as one Ray Tune experiment: system × algorithm × reward mode × seed.

Every trial trains multi-agent PPO (RLlib, new API stack) on load profiles 0..299 for a fixed
budget of env steps (``--step-budget``; ``--time-budget`` caps the seconds), with one module
per device kind (parameter sharing within a kind):

- ``ippo``: independent PPO, each module's critic sees the agent's own observation;
- ``mappo``: the critic also sees the env's global ``state()`` (centralised training,
  decentralised execution; :mod:`central_critic`).

Reward modes are the parallel env's (``split``, ``shared``, ``local``, ``difference``). Every
``--curve-every`` iterations the greedy policy is scored on ``--curve-profiles`` (training
days, never the held-out ones) by the *global* return, so curves of different reward modes
compare. At the end the trial saves its checkpoint (``marl_vvc_run.json`` beside it) and scores
the greedy policy on the held-out profiles 300..364 with :func:`marl_vvc.tools.evaluation.score`.

Results land in ``--out`` (default ``docs/benchmark``): ``results.json`` (one row per trial,
with its curve), ``results.csv``, ``summary.csv``/``summary.md`` (mean ± std over seeds of
each system × algorithm × reward mode, :mod:`grid_summary`) and ``curves_<system>.png``.
The same script runs on a Ray cluster unchanged (``RAY_ADDRESS=... python
examples/benchmark.py ...``: each trial asks Tune for ``--trial-cpus`` CPUs) and locally on
2 CPUs (two trials at a time).

Smoke run (about a minute)::

    python examples/benchmark.py --systems 13Bus --reward-modes split --seeds 0 \\
        --step-budget 2000 --train-batch 960 --minibatch 240 --eval-profiles 300:302 \\
        --curve-profiles 0:2 --curve-every 1 --out /tmp/bench

The shipped runs: see ``docs/benchmark.md`` for each exact command.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # before ray is imported anywhere
os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env

sys.path.insert(0, str(Path(__file__).resolve().parent))
from central_critic import CentralCriticModule, GlobalStateObs
from grid_summary import cells, markdown, mean_curve, summarise
from train_rllib import VoltageDeviationObs

import marl_vvc
from marl_vvc.tools.baselines import baseline
from marl_vvc.tools.evaluation import (
    TRAIN_POOL,
    agent_kind,
    evaluate,
    rllib_module_policy,
    score,
    write_run_info,
)

ENV_NAME = "marl_vvc_benchmark"
ALGOS = ("ippo", "mappo")
METRICS = ("return", "loss", "voltage", "control", "penalty", "violation_rate", "diverged")


def make_env(config: dict[str, Any]) -> Any:
    """``{"system", "reward_mode", "algo", "profile_pool"}`` -> the PettingZoo env to train."""
    env = marl_vvc.parallel_env(
        config["system"],
        reward_mode=config.get("reward_mode", "split"),
        profile_pool=config.get("profile_pool", TRAIN_POOL),
    )
    env = VoltageDeviationObs(env)
    return GlobalStateObs(env) if config.get("algo") == "mappo" else env


def module_specs(config: dict[str, Any]) -> dict[str, RLModuleSpec]:
    """One module spec per device kind (MAPPO: the central-critic module)."""
    probe = make_env({**config, "profile_pool": None})
    local = VoltageDeviationObs(marl_vvc.parallel_env(config["system"]))
    specs: dict[str, RLModuleSpec] = {}
    for agent in probe.possible_agents:
        kind = agent_kind(agent)
        if kind in specs:
            continue
        extra: dict[str, Any] = {}
        if config["algo"] == "mappo":
            dim = int(local.observation_space(agent).shape[0])
            extra = {
                "module_class": CentralCriticModule,
                "model_config": {"local_dim": dim, "hidden": config["hidden"]},
            }
        specs[kind] = RLModuleSpec(
            observation_space=probe.observation_space(agent),
            action_space=probe.action_space(agent),
            **extra,
        )
    probe.close()
    local.close()
    return specs


def ppo_config(config: dict[str, Any]) -> PPOConfig:
    """PPO on the new API stack, sampling in the trial's own process."""
    specs = module_specs(config)
    hidden = [config["hidden"], config["hidden"]]
    return (
        PPOConfig()
        .environment(ENV_NAME, env_config=dict(config))
        .framework("torch")
        .env_runners(num_env_runners=0, num_envs_per_env_runner=config["envs"])
        .learners(num_learners=0)
        .multi_agent(policies=set(specs), policy_mapping_fn=lambda aid, *a, **k: agent_kind(aid))
        .rl_module(
            rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs),
            model_config=DefaultModelConfig(fcnet_hiddens=hidden, head_fcnet_hiddens=[]),
        )
        .training(
            train_batch_size_per_learner=config["train_batch"],
            minibatch_size=config["minibatch"],
            num_epochs=config["epochs"],
            lr=config["lr"],
            gamma=config["gamma"],
            lambda_=0.95,
            entropy_coeff=config["entropy"],
            clip_param=0.2,
            vf_clip_param=50.0,
        )
        .debugging(seed=config["seed"], log_level="ERROR")
    )


def greedy_score(algo: Any, config: dict[str, Any], profiles: str, seed: int) -> dict[str, Any]:
    """The greedy policy's global return and its parts on ``profiles`` (local observations)."""
    modules = {mid: algo.get_module(mid) for mid in module_specs(config)}
    policy = rllib_module_policy(modules, obs_transform="voltage_deviation")
    env = marl_vvc.parallel_env(config["system"])
    try:
        return score(env, policy, profiles, name="ppo", seed=seed)
    finally:
        env.close()


def trainable(config: dict[str, Any]) -> None:
    """One trial: train for ``step_budget`` env steps (at most ``time_budget`` seconds), then
    save and score on held-out days."""
    import torch

    torch.set_num_threads(1)
    register_env(ENV_NAME, lambda c: ParallelPettingZooEnv(make_env(c)))
    algo = ppo_config(config).build_algo()
    t0, it, curve = time.perf_counter(), 0, []
    try:
        while True:
            result = algo.train()
            it += 1
            steps = int(result.get("num_env_steps_sampled_lifetime", 0))
            elapsed = time.perf_counter() - t0
            done = elapsed >= config["time_budget"] or steps >= config["step_budget"]
            metrics = {"iteration": it, "env_steps": steps, "seconds": elapsed}
            if it % config["curve_every"] == 0 or done:
                row = greedy_score(algo, config, config["curve_profiles"], 0)
                curve.append((steps, elapsed, row["return"]))
                metrics["curve_return"] = row["return"]
            if not done:
                tune.report(metrics)
                continue
            ckpt = Path(config["out_runs"]).resolve() / trial_name(config) / "checkpoint"
            algo.save_to_path(str(ckpt))
            write_run_info(
                ckpt,
                algo="rllib",
                system=config["system"],
                mode="parallel",
                obs_transform="voltage_deviation",
                reward_mode=config["reward_mode"],
                marl_algo=config["algo"],
                seed=config["seed"],
                iterations=it,
                env_steps=steps,
                train_seconds=round(elapsed, 1),
                profile_pool=list(TRAIN_POOL),
            )
            held = greedy_score(algo, config, config["eval_profiles"], 0)
            final = {f"heldout_{k}": held[k] for k in METRICS}
            tune.report({**metrics, **final, "curve": curve, "checkpoint_path": str(ckpt)})
            return
    finally:
        algo.stop()


def trial_name(config: dict[str, Any]) -> str:
    """``<system>_<algo>_<reward mode>_s<seed>``."""
    return f"{config['system']}_{config['algo']}_{config['reward_mode']}_s{config['seed']}"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", default="13Bus", help="comma-separated system names")
    p.add_argument("--algos", default="ippo", help=f"comma-separated, of {ALGOS}")
    p.add_argument("--reward-modes", default="split", help="comma-separated reward modes")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds")
    p.add_argument("--step-budget", type=int, default=300_000, help="env steps per trial")
    p.add_argument("--time-budget", type=float, default=3600.0, help="seconds cap per trial")
    p.add_argument("--trial-cpus", type=float, default=1.0, help="CPUs Tune gives a trial")
    p.add_argument("--cpus", type=int, default=2, help="local Ray CPUs (without RAY_ADDRESS)")
    p.add_argument("--eval-profiles", default="300:365", help="held-out profiles")
    p.add_argument("--curve-profiles", default="0:300:25", help="training days of the curves")
    p.add_argument("--curve-every", type=int, default=10, help="iterations between points")
    p.add_argument("--envs", type=int, default=4, help="envs sampled per trial")
    p.add_argument("--train-batch", type=int, default=4800)
    p.add_argument("--minibatch", type=int, default=800)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--gamma", type=float, default=0.95)
    p.add_argument("--entropy", type=float, default=0.003)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--out", default="docs/benchmark", help="results folder")
    p.add_argument("--runs", default="runs/benchmark", help="checkpoints and Tune logs")
    return p.parse_args()


def grid(args: argparse.Namespace) -> dict[str, Any]:
    """Tune's parameter space: the grid axes plus the fixed settings."""
    split = [s.strip() for s in args.systems.split(",")], args.algos.split(",")
    fixed = {k: getattr(args, k) for k in ("time_budget", "eval_profiles", "curve_profiles")}
    fixed["step_budget"] = args.step_budget
    fixed.update({k: getattr(args, k) for k in ("curve_every", "envs", "train_batch")})
    fixed.update({k: getattr(args, k) for k in ("minibatch", "epochs", "lr", "gamma")})
    fixed.update({"entropy": args.entropy, "hidden": args.hidden, "out_runs": args.runs})
    bad = [a for a in split[1] if a not in ALGOS]
    if bad:
        raise SystemExit(f"unknown algorithm(s) {bad}; choose from {ALGOS}")
    return {
        **fixed,
        "system": tune.grid_search(split[0]),
        "algo": tune.grid_search(split[1]),
        "reward_mode": tune.grid_search(args.reward_modes.split(",")),
        "seed": tune.grid_search([int(s) for s in args.seeds.split(",")]),
    }


def write_results(rows: list[dict[str, Any]], out: Path, curve_profiles: str | None = None) -> None:
    """``results.json``, ``results.csv``, ``summary.csv``/``.md`` (mean ± std over seeds per
    cell) and one ``curves_<system>.png`` per system; rows merge by trial name."""
    out.mkdir(parents=True, exist_ok=True)
    old = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else []
    keep = {trial_name(r) for r in rows}
    rows = [r for r in old if trial_name(r) not in keep] + rows
    rows.sort(key=trial_name)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    flat = [{k: v for k, v in r.items() if k != "curve"} for r in rows]
    with (out / "results.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=sorted({k for r in flat for k in r}))
        writer.writeheader()
        writer.writerows(flat)
    summary = summarise(rows)
    with (out / "summary.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    (out / "summary.md").write_text(markdown(summary))
    systems = sorted({r["system"] for r in rows})
    refs = {sys_: dss_reference(sys_, curve_profiles) for sys_ in systems} if curve_profiles else {}
    plot_curves(rows, out, refs)


def dss_reference(system: str, profiles: str) -> float:
    """OpenDSS's controllers' mean return on ``profiles`` (the curves' reference line)."""
    dss = baseline("dss")
    return float(evaluate(dss.policy, system, profiles, name="dss", **dss.env_kwargs)["return"])


def plot_curves(
    rows: list[dict[str, Any]], out: Path, references: dict[str, float] | None = None
) -> None:
    """Greedy global return on the curve profiles against env steps: per cell, the mean over
    seeds and a band from the lowest to the highest seed; ``references`` (system -> return)
    draws OpenDSS's controllers on the same days as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for system in sorted({r["system"] for r in rows}):
        fig, ax = plt.subplots(figsize=(7, 4))
        for (_, algo, mode), group in cells(r for r in rows if r["system"] == system).items():
            steps, mean, band = mean_curve(group)
            if not len(steps):
                continue
            (line,) = ax.plot(steps, mean, label=f"{algo} {mode} ({len(group)} seeds)")
            ax.fill_between(steps, band[0], band[1], color=line.get_color(), alpha=0.15)
        if references and system in references:
            ax.axhline(references[system], color="black", ls="--", lw=1, label="dss (OpenDSS)")
        ax.set_xlabel("env steps")
        ax.set_ylabel("greedy return per day (training days)")
        ax.set_title(f"{system}: mean over seeds (band: lowest to highest seed)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / f"curves_{system}.png", dpi=110)
        plt.close(fig)


def main() -> None:
    args = parse_args()
    if "RAY_ADDRESS" in os.environ:
        ray.init(log_to_driver=False)
    else:
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    runs = Path(args.runs).resolve()
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": args.trial_cpus}),
        param_space=grid(args),
        run_config=tune.RunConfig(storage_path=str(runs / "tune"), name="benchmark", verbose=1),
    )
    results = tuner.fit()
    rows = []
    for res in results:
        if res.error or not res.metrics or "heldout_return" not in res.metrics:
            print(f"trial failed: {res.error}", flush=True)
            continue
        cfg, m = res.config, res.metrics
        keys = ("system", "algo", "reward_mode", "seed", "step_budget", "time_budget")
        row = {k: cfg[k] for k in keys}
        row.update({k: m[k] for k in m if k.startswith("heldout_")})
        row.update({k: m[k] for k in ("env_steps", "seconds", "iteration", "checkpoint_path")})
        row["curve"] = m["curve"]
        row["command"] = "python examples/benchmark.py " + " ".join(sys.argv[1:])
        rows.append(row)
    write_results(rows, Path(args.out), args.curve_profiles)
    for r in rows:
        print(f"{trial_name(r):40s} held-out return {r['heldout_return']:9.3f}", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
