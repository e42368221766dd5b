"""Single-agent PPO (stable-baselines3) on a marl_vvc feeder, scored on held-out days.

One agent sets every device through the Gymnasium wrapper with PowerGym's semantics
(``make_env``: flat voltage observation, ``MultiDiscrete`` action). Training draws load
profiles 0..299 only (``profile_pool=(0, 300)``); the trained model then acts greedily
(``predict(deterministic=True)``) on held-out profiles 300.. and the script prints mean episode
return and its components next to the random, hold-still and OpenDSS-controller (``dss``)
baselines on the same profiles.

Smoke run::

    python examples/train_sb3.py --timesteps 256 --eval-episodes 2

Longer run::

    python examples/train_sb3.py --env 13Bus --timesteps 200000 --checkpoint-dir runs/sb3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import Logger

import marl_vvc
from marl_vvc.tools.evaluation import (
    TRAIN_POOL,
    baseline_table,
    evaluate,
    format_table,
    load_policy,
    write_run_info,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="13Bus", help="system name, e.g. 13Bus or 34Bus")
    parser.add_argument("--timesteps", type=int, default=50_000, help="training env steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-envs", type=int, default=4, help="environments in the DummyVecEnv")
    parser.add_argument("--n-steps", type=int, default=480, help="rollout steps per env")
    parser.add_argument("--batch-size", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--gamma", type=float, default=0.95)
    parser.add_argument("--entropy", type=float, default=0.003)
    parser.add_argument("--checkpoint-dir", default="runs/sb3", help="output folder")
    parser.add_argument(
        "--eval-episodes", type=int, default=65, help="held-out profiles 300, 301, …"
    )
    args = parser.parse_args()
    if args.eval_episodes < 1 or args.timesteps < 1:
        parser.error("--eval-episodes and --timesteps must be >= 1")

    out = Path(args.checkpoint_dir)
    out.mkdir(parents=True, exist_ok=True)
    # one rollout never asks for more steps than the whole budget
    n_steps = max(8, min(args.n_steps, -(-args.timesteps // args.n_envs)))
    batch = min(args.batch_size, n_steps * args.n_envs)
    venv = make_vec_env(
        marl_vvc.make_env,
        n_envs=args.n_envs,
        seed=args.seed,
        env_kwargs={"system": args.env, "profile_pool": TRAIN_POOL},
    )
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=n_steps,
        batch_size=batch,
        n_epochs=args.epochs,
        learning_rate=args.lr,
        gamma=args.gamma,
        ent_coef=args.entropy,
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    model.set_logger(Logger(folder=None, output_formats=[]))  # no SB3-<date> folder in $TMPDIR
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.timesteps)
    wall = time.perf_counter() - t0
    venv.close()
    model.save(out / "model.zip")
    write_run_info(
        out,
        algo="sb3",
        system=args.env,
        mode="single",
        env_kwargs={},
        env_steps=int(model.num_timesteps),
        train_seconds=round(wall, 1),
        profile_pool=list(TRAIN_POOL),
    )
    print(
        f"trained {model.num_timesteps} env steps in {wall:.1f} s; model {out / 'model.zip'}",
        flush=True,
    )

    profiles = list(range(TRAIN_POOL[1], TRAIN_POOL[1] + args.eval_episodes))
    loaded = load_policy(out, algo="sb3")
    rows = {
        "ppo": evaluate(
            loaded.policy_fn, loaded.system, profiles, loaded.mode, seed=args.seed, name="ppo"
        )
    }
    rows.update(baseline_table(args.env, profiles, "single", seed=args.seed))
    first, last = profiles[0], profiles[-1]
    print(format_table(rows, title=f"{args.env}: held-out profiles {first}..{last}, greedy"))
    summary = {
        k: {c: v[c] for c in ("return", "loss", "voltage", "control")} for k, v in rows.items()
    }
    (out / "evaluation.json").write_text(json.dumps(summary, indent=2))
    print(f"ppo - dss: {rows['ppo']['return'] - rows['dss']['return']:+.3f}")


if __name__ == "__main__":
    main()
