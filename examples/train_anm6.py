"""SAC or PPO (stable-baselines3) on ANM6-Easy, scored with Gym-ANM's protocol.

The single-agent env ``marl_vvc.make_env("ANM6Easy")`` is Gym-ANM's ANM6Easy-v0 number for
number. Training episodes are cut at ``--episode-steps`` steps (the task itself never ends);
the discount is Gym-ANM's γ = 0.995. Evaluation follows the Gym-ANM paper: the greedy policy's
discounted return over T = 3000 steps from ``reset(seed=s)``, s = 0..4, next to the paper's
numbers (PPO −93.6 ± 15.3, SAC −56.1 ± 26.8, MPC-16-constant −129.1, MPC-32-perfect −14.7).
The trained model is exported torch-free (:mod:`marl_vvc.tools.export`) into
``<out>/export``.

Smoke run::

    python examples/train_anm6.py --algo sac --time-budget 20 --eval-seeds 1 --out /tmp/anm6

The shipped run: see ``docs/benchmark.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from gymnasium.wrappers import TimeLimit
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

import marl_vvc
from marl_vvc.tools.evaluation import evaluate
from marl_vvc.tools.export import export_sb3, load_exported

GAMMA, HORIZON = 0.995, 3000


class TimeBudget(BaseCallback):
    """Stop learning after ``seconds`` of wall-clock time."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.t0 = seconds, time.perf_counter()

    def _on_step(self) -> bool:
        return time.perf_counter() - self.t0 < self.seconds


def build(args: argparse.Namespace) -> Any:
    env = TimeLimit(marl_vvc.make_env("ANM6Easy"), max_episode_steps=args.episode_steps)
    if args.algo == "sac":
        return SAC("MlpPolicy", env, gamma=GAMMA, seed=args.seed, device="cpu", verbose=0)
    return PPO("MlpPolicy", env, gamma=GAMMA, n_steps=3000, seed=args.seed, device="cpu", verbose=0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", choices=("sac", "ppo"), default="sac")
    p.add_argument("--time-budget", type=float, default=1800.0, help="training seconds")
    p.add_argument("--max-steps", type=int, default=10_000_000, help="training step cap")
    p.add_argument("--episode-steps", type=int, default=HORIZON, help="training episode cut")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-seeds", type=int, default=5, help="evaluation resets 0..n-1")
    p.add_argument("--out", default="runs/anm6", help="output folder")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)  # 2-core machine shared with other runs
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = build(args)
    model.set_logger(Logger(folder=None, output_formats=[]))
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.max_steps, callback=TimeBudget(args.time_budget))
    wall = time.perf_counter() - t0
    model.save(out / "model.zip")
    provenance = {
        "command": "python examples/train_anm6.py " + " ".join(_argv()),
        "env_steps": int(model.num_timesteps),
        "train_seconds": round(wall, 1),
    }
    export = export_sb3(
        out / "model.zip", out / "export", system="ANM6Easy", env_kwargs={}, provenance=provenance
    )
    policy = load_exported(export)
    row = evaluate(
        policy.policy_fn,
        "ANM6Easy",
        None,
        "single",
        name=args.algo,
        episodes=args.eval_seeds,
        max_steps=HORIZON,
        gamma=GAMMA,
    )
    disc = [e["discounted_return"] for e in row["episodes"]]
    result = {**provenance, "discounted_returns": disc, "algo": args.algo, "seed": args.seed}
    (out / "evaluation.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result), flush=True)


def _argv() -> list[str]:
    import sys

    return sys.argv[1:]


if __name__ == "__main__":
    main()
