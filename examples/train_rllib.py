"""Multi-agent PPO (RLlib, new API stack) on a marl_vvc feeder, scored on held-out days.

One RLModule per device kind (``capacitor``, ``regulator``, ``battery``), shared by every agent
of that kind (the policy mapping reads the agent id's prefix). Training draws load profiles
0..299 only (``profile_pool=(0, 300)``); the trained modules then act greedily (the mode of
their ``forward_inference`` distribution) on held-out profiles 300.. and the script prints
mean episode return and its components next to the random, hold-still and OpenDSS-controller
(``dss``) baselines on the same profiles.

Smoke run (about a minute)::

    python examples/train_rllib.py --stop-iters 1 --num-env-runners 0 --eval-episodes 2

Learning run (13Bus, 2-core machine shared with other jobs; 244 iterations, 1,171,200 env steps,
training 1,262 s, whole script 21 min 13 s, peak RSS 0.6 GB)::

    python examples/train_rllib.py --env 13Bus --num-env-runners 2 --num-envs-per-runner 4 \
        --time-budget 1260 --stop-iters 100000 --train-batch 4800 --minibatch 800 \
        --epochs 8 --lr 5e-4 --gamma 0.95 --entropy 0.003 --hidden 64 \
        --obs-transform voltage_deviation --report-every 5 --checkpoint-dir runs/rllib_13Bus \
        --eval-episodes 65

Held-out profiles 300..364, mean over 65 days (return = loss + voltage + control)::

    policy           return      loss   voltage   control
    ppo              -6.250    -4.417    -0.439    -1.394
    random          -45.523    -4.854   -14.263   -26.406
    hold            -18.009    -3.812   -14.197     0.000
    dss              -5.668    -4.214    -0.007    -1.447

RLlib/Ray traps handled here:

- ``RAY_AUTH_MODE=disabled`` is set before ray is imported (no ``~/.ray/auth_token``), and
  RLlib's log folder goes to ``--storage`` instead of ``~/ray_results``.
- ``ParallelPettingZooEnv`` resets the env unseeded at construction (a profile from the
  training pool; RLlib reseeds on its first reset) and builds its agent lists from a set: the
  policies come from ``marl_vvc``'s ordered ``possible_agents``, the mapping only reads ids.
- The new stack needs the final observation and reward of every agent terminated at a step:
  :func:`check_final_step` runs one episode through the wrapper and asserts it before training.
- ``ParallelPettingZooEnv.render()`` passes the render mode positionally; ``marl_vvc``'s
  ``render`` accepts it.
- OpenDSS (Free Pascal) crashes in new threads once the process environment has been changed
  after the library loaded: environment variables are set here, before anything imports
  OpenDSS; ray is imported before marl_vvc.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # before ray is imported anywhere

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray
from gymnasium import spaces
from pettingzoo.utils import BaseParallelWrapper
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env

import marl_vvc
from marl_vvc.tools.evaluation import (
    OBS_TRANSFORMS,
    TRAIN_POOL,
    agent_kind,
    baseline_table,
    evaluate,
    format_table,
    load_policy,
    voltage_deviation,
    voltage_entries,
    write_run_info,
)

ENV_NAME = "marl_vvc_parallel"


class VoltageDeviationObs(BaseParallelWrapper):
    """Observations with per-unit voltages as ``(v − 1) / 0.05`` (see
    :func:`marl_vvc.tools.evaluation.voltage_deviation`; greedy evaluation applies the same)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self._masks = {a: voltage_entries(env.observation_space(a)) for a in env.possible_agents}
        self._spaces = {}
        for agent, mask in self._masks.items():
            raw = env.observation_space(agent)
            low, high = voltage_deviation(raw.low, mask), voltage_deviation(raw.high, mask)
            self._spaces[agent] = spaces.Box(low, high, dtype=np.float32)

    def observation_space(self, agent: str) -> spaces.Space:
        return self._spaces[agent]

    def _scale(self, obs: dict[str, Any]) -> dict[str, Any]:
        return {a: voltage_deviation(o, self._masks[a]) for a, o in obs.items()}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._scale(obs), infos

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        obs, *rest = self.env.step(actions)
        return (self._scale(obs), *rest)

    def render(self, *args: Any) -> Any:
        return self.env.render(*args)


def make_parallel_env(config: dict[str, Any]) -> Any:
    """``{"system": name, "obs_transform": name, **env kwargs}`` -> PettingZoo env."""
    kwargs = dict(config)
    system = kwargs.pop("system", "13Bus")
    transform = kwargs.pop("obs_transform", "none")
    env = marl_vvc.parallel_env(system, **kwargs)
    return VoltageDeviationObs(env) if transform == "voltage_deviation" else env


def env_creator(config: dict[str, Any]) -> ParallelPettingZooEnv:
    """RLlib env creator (``config``: see :func:`make_parallel_env`)."""
    return ParallelPettingZooEnv(make_parallel_env(config))


def policy_mapping_fn(agent_id: str, episode: Any = None, **kwargs: Any) -> str:
    """Agent id -> module id: the device kind (parameter sharing within a kind)."""
    return agent_kind(agent_id)


def check_final_step(env_config: dict[str, Any]) -> None:
    """One random episode through the RLlib wrapper: the last step must carry the final
    observation, reward and termination of every agent, and ``__all__``."""
    env = env_creator(env_config)
    try:
        obs, _ = env.reset(seed=0)
        agents = set(env.par_env.possible_agents)
        assert set(obs) == agents, f"reset observed {sorted(obs)}"
        done = False
        while not done:
            acts = {a: env.action_space[a].sample() for a in obs}
            obs, rew, term, trunc, _ = env.step(acts)
            done = term["__all__"] or trunc["__all__"]
        for name, d in (("obs", obs), ("rewards", rew), ("terminateds", term)):
            missing = agents - set(d)
            assert not missing, f"final step lacks {name} of {sorted(missing)}"
        assert all(term[a] for a in agents) and term["__all__"]
    finally:
        env.close()


def build_config(args: argparse.Namespace, env_config: dict[str, Any]) -> PPOConfig:
    """PPO on the new API stack: one module per device kind."""
    probe = make_parallel_env({**env_config, "profile_pool": None})
    specs: dict[str, RLModuleSpec] = {}
    for agent in probe.possible_agents:  # ordered list; the wrapper's set is not
        kind = agent_kind(agent)
        if kind not in specs:
            specs[kind] = RLModuleSpec(
                observation_space=probe.observation_space(agent),
                action_space=probe.action_space(agent),
            )
    probe.close()
    hidden = [args.hidden, args.hidden]
    return (
        PPOConfig()
        .environment(ENV_NAME, env_config=env_config)
        .framework("torch")
        .env_runners(
            num_env_runners=args.num_env_runners,
            num_envs_per_env_runner=args.num_envs_per_runner,
            rollout_fragment_length="auto",
        )
        .learners(num_learners=0)
        .multi_agent(policies=set(specs), policy_mapping_fn=policy_mapping_fn)
        .rl_module(
            rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs),
            model_config=DefaultModelConfig(fcnet_hiddens=hidden, head_fcnet_hiddens=[]),
        )
        .training(
            train_batch_size_per_learner=args.train_batch,
            minibatch_size=args.minibatch,
            num_epochs=args.epochs,
            lr=args.lr,
            gamma=args.gamma,
            lambda_=args.lambda_,
            entropy_coeff=args.entropy,
            clip_param=0.2,
            vf_clip_param=50.0,
        )
        .debugging(seed=args.seed, log_level="ERROR")
    )


def train(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """Train, save a checkpoint (with ``marl_vvc_run.json``), return its path and stats."""
    import ray.tune.trainable.trainable as trainable

    storage = Path(args.storage or Path(args.checkpoint_dir) / "ray_results").resolve()
    storage.mkdir(parents=True, exist_ok=True)
    trainable.DEFAULT_STORAGE_PATH = str(storage)  # instead of ~/ray_results

    env_config = {
        "system": args.env,
        "profile_pool": TRAIN_POOL,
        "obs_transform": args.obs_transform,
        "reward_mode": args.reward_mode,
    }
    check_final_step(env_config)
    register_env(ENV_NAME, env_creator)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    import torch

    # The local learner trains in this process: one thread avoids oversubscribing 2 cores.
    torch.set_num_threads(args.torch_threads)
    t0 = time.perf_counter()
    algo = build_config(args, env_config).build_algo()
    steps, it = 0, 0
    history = []
    try:
        while it < args.stop_iters:
            result = algo.train()
            it += 1
            runners = result.get("env_runners", {})
            steps = int(result.get("num_env_steps_sampled_lifetime", 0))
            ret = runners.get("episode_return_mean", float("nan"))
            elapsed = time.perf_counter() - t0
            history.append({"iter": it, "env_steps": steps, "return": ret, "time": elapsed})
            if it == 1 or it % args.report_every == 0:
                print(
                    f"iter {it:4d}  env steps {steps:8d}  train return {ret:9.3f}  "
                    f"{elapsed:7.1f} s",
                    flush=True,
                )
            if args.time_budget and elapsed >= args.time_budget:
                break
        ckpt = Path(args.checkpoint_dir).resolve() / "checkpoint"
        algo.save_to_path(str(ckpt))
    finally:
        algo.stop()
        ray.shutdown()
    wall = time.perf_counter() - t0
    write_run_info(
        ckpt,
        algo="rllib",
        system=args.env,
        mode="parallel",
        env_kwargs={},
        iterations=it,
        env_steps=steps,
        train_seconds=round(wall, 1),
        profile_pool=list(TRAIN_POOL),
        obs_transform=args.obs_transform,
        reward_mode=args.reward_mode,
    )
    (Path(args.checkpoint_dir) / "history.json").write_text(json.dumps(history))
    return ckpt, {"iterations": it, "env_steps": steps, "seconds": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="13Bus", help="system name, e.g. 13Bus or 34Bus")
    parser.add_argument("--stop-iters", type=int, default=50, help="training iterations")
    parser.add_argument("--time-budget", type=float, default=0.0, help="stop after s seconds")
    parser.add_argument("--num-env-runners", type=int, default=2, help="0 samples in-process")
    parser.add_argument("--num-envs-per-runner", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-dir", default="runs/rllib", help="output folder")
    parser.add_argument("--storage", default=None, help="RLlib log folder (<checkpoint-dir>/…)")
    parser.add_argument(
        "--eval-episodes", type=int, default=65, help="held-out profiles 300, 301, …"
    )
    parser.add_argument("--train-batch", type=int, default=4800, help="env steps per iter")
    parser.add_argument("--minibatch", type=int, default=800)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--gamma", type=float, default=0.95)
    parser.add_argument("--lambda", dest="lambda_", type=float, default=0.95)
    parser.add_argument("--entropy", type=float, default=0.003)
    parser.add_argument("--hidden", type=int, default=64, help="units of the two hidden layers")
    parser.add_argument("--report-every", type=int, default=5)
    parser.add_argument("--reward-mode", default="split", help="split, shared, local or difference")
    parser.add_argument("--torch-threads", type=int, default=1, help="learner threads")
    parser.add_argument(
        "--obs-transform",
        choices=OBS_TRANSFORMS,
        default="voltage_deviation",
        help="voltage_deviation: per-unit voltages as (v - 1) / 0.05",
    )
    args = parser.parse_args()
    if args.eval_episodes < 1 or args.stop_iters < 1:
        parser.error("--eval-episodes and --stop-iters must be >= 1")

    ckpt, stats = train(args)
    print(
        f"trained {stats['iterations']} iterations, {stats['env_steps']} env steps in "
        f"{stats['seconds']:.1f} s; checkpoint {ckpt}",
        flush=True,
    )
    loaded = load_policy(ckpt, algo="rllib")
    probe = marl_vvc.parallel_env(args.env)
    profiled = probe.num_profiles is not None
    probe.close()
    if profiled:
        profiles = list(range(TRAIN_POOL[1], TRAIN_POOL[1] + args.eval_episodes))
        common: dict[str, Any] = {"seed": args.seed}
        title = f"{args.env}: held-out profiles {profiles[0]}..{profiles[-1]}, greedy"
    else:  # Gym-ANM's protocol: T = 3000 steps from reset(seed=s), discounted with 0.995
        profiles, title = None, f"{args.env}: Gym-ANM protocol (T=3000, gamma=0.995), greedy"
        common = {"episodes": 5, "max_steps": 3000, "gamma": 0.995, "horizon": 3000}
    rows = {
        "ppo": evaluate(
            loaded.policy_fn, loaded.system, profiles, loaded.mode, name="ppo", **common
        )
    }
    if profiled:
        rows.update(baseline_table(args.env, profiles, **common))
    print(format_table(rows, title=title))
    keys = ("return", "loss", "voltage", "control", "violation_rate", "discounted_return")
    summary = {k: {c: v[c] for c in keys if c in v} for k, v in rows.items()}
    (Path(args.checkpoint_dir) / "evaluation.json").write_text(json.dumps(summary, indent=2))
    if "dss" in rows:
        print(f"ppo - dss: {rows['ppo']['return'] - rows['dss']['return']:+.3f}")
    else:
        print(f"ppo discounted return: {rows['ppo']['discounted_return']:.1f}")


if __name__ == "__main__":
    main()
