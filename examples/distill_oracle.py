"""Distil the one-step look-ahead oracle into decentralised policies (DAgger), then export them.

The oracle (:mod:`marl_vvc.tools.lookahead`) acts well but needs power flows with the coming
step's loads; a deployed controller has only its own measurements. DAgger (Ross et al., 2011)
trains one policy per device kind on the agents' *local* observations to predict the oracle's
action:

1. round 0: the oracle runs ``--days`` training days (profiles 0..299); every agent's local
   observation is labelled with the oracle's action;
2. rounds 1..: the student acts (greedy) and the oracle labels the states the student
   visits; the data sets are pooled and the student retrained.

The student is an RLlib PPO module per kind (two tanh layers, the same as
``examples/train_rllib.py``), trained with cross-entropy, saved as an RLlib checkpoint
(``marl_vvc_run.json`` beside it, so ``marl-vvc eval --checkpoint`` and PPO fine-tuning read
it) and exported torch-free (:mod:`marl_vvc.tools.export`) into ``<out>/export``. The script
ends by scoring the export on the held-out profiles next to the OpenDSS controllers.

Smoke run::

    python examples/distill_oracle.py --days 2 --rounds 1 --epochs 2 --eval-profiles 300:302

``--teacher mpc_perfect --env ANM6Easy --steps 500`` distils Gym-ANM's MPC instead (box
actions: the student's mean is fitted by squared error), scored with Gym-ANM's protocol.

The shipped runs: see ``docs/benchmark.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # before ray is imported anywhere

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
    DefaultPPOTorchRLModule,
)
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_rllib import VoltageDeviationObs

import marl_vvc
from marl_vvc.tools.evaluation import (
    TRAIN_POOL,
    agent_kind,
    baseline_table,
    evaluate,
    format_table,
    write_run_info,
)
from marl_vvc.tools.export import export_rllib, load_exported
from marl_vvc.tools.lookahead import oracle_policy
from marl_vvc.tools.mpc import mpc_baseline

TEACHERS = ("oracle", "mpc_constant", "mpc_perfect")

Data = dict[str, tuple[list[np.ndarray], list[Any]]]


def build_students(env: Any, hidden: int) -> dict[str, Any]:
    """One fresh PPO RLModule per device kind, on the scaled local observation."""
    cfg = DefaultModelConfig(fcnet_hiddens=[hidden, hidden], head_fcnet_hiddens=[])
    out: dict[str, Any] = {}
    for agent in env.possible_agents:
        kind = agent_kind(agent)
        if kind not in out:
            out[kind] = RLModuleSpec(
                module_class=DefaultPPOTorchRLModule,
                observation_space=env.observation_space(agent),
                action_space=env.action_space(agent),
                model_config=cfg,
            ).build()
    return out


def student_policy(students: dict[str, Any], env: Any) -> Any:
    """Greedy joint action of the students from scaled local observations (argmax of the
    logits; for boxes the mean, clipped)."""

    def act(obs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with torch.no_grad():
            for agent, o in obs.items():
                batch = {"obs": torch.as_tensor(np.asarray(o, np.float32))[None]}
                logits = students[agent_kind(agent)].forward_inference(batch)
                out[agent] = decode(logits["action_dist_inputs"][0], env.action_space(agent))
        return out

    return act


def decode(logits: torch.Tensor, space: Any) -> Any:
    """Discrete: argmax; Box: the Gaussian's mean (first half of the outputs), clipped."""
    if hasattr(space, "n"):
        return int(torch.argmax(logits))
    mean = logits[: logits.shape[-1] // 2].numpy().astype(space.dtype)
    return np.clip(mean, space.low, space.high)


def collect(
    env: Any,
    teacher: Any,
    students: dict[str, Any] | None,
    episodes: list[int],
    data: Data,
    steps: int | None,
) -> float:
    """Roll out one episode per entry of ``episodes`` (a profile, or a reset seed on systems
    without profiles; the teacher acts if ``students`` is None, else the students) for at
    most ``steps`` steps; label every visited local observation with the teacher's action.
    Returns the mean return of the acting policy."""
    raw = env.unwrapped
    act = None if students is None else student_policy(students, raw)
    profiled = raw.num_profiles is not None
    returns = []
    for k in episodes:
        obs, _ = env.reset(seed=k, options={"profile": k} if profiled else None)
        total, done, t = 0.0, False, 0
        while not done and (steps is None or t < steps):
            label = teacher({}, raw)  # oracle and MPC read the env, not the observation
            for agent, o in obs.items():
                xs, ys = data.setdefault(agent_kind(agent), ([], []))
                xs.append(np.asarray(o, np.float32))
                ys.append(label[agent])
            chosen = label if act is None else act(obs)
            obs, _, term, trunc, infos = env.step(chosen)
            total += next(iter(infos.values()))["global_reward"]
            done = not env.agents or all(term.values()) or all(trunc.values())
            t += 1
        returns.append(total)
    return float(np.mean(returns))


def fit(students: dict[str, Any], data: Data, epochs: int, lr: float, seed: int) -> dict:
    """Supervised fit on the pooled labels, one optimiser per kind: cross-entropy for
    discrete actions, squared error of the mean for boxes. Returns the training score
    (accuracy, or minus the mean squared error)."""
    gen = torch.Generator().manual_seed(seed)
    score = {}
    for kind, module in students.items():
        x = torch.as_tensor(np.stack(data[kind][0]))
        labels = np.asarray(data[kind][1])
        discrete = labels.ndim == 1
        y = torch.as_tensor(labels if discrete else labels.astype(np.float32))
        opt = torch.optim.Adam(module.parameters(), lr=lr)
        module.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(y), generator=gen).split(256):
                loss = _loss(module, x[idx], y[idx], discrete)
                opt.zero_grad()
                loss.backward()
                opt.step()
        module.eval()
        with torch.no_grad():
            out = module.forward_inference({"obs": x})["action_dist_inputs"]
            if discrete:
                score[kind] = float((out.argmax(-1) == y).float().mean())
            else:
                score[kind] = -float(((out[:, : y.shape[1]] - y) ** 2).mean())
    return score


def _loss(module: Any, x: torch.Tensor, y: torch.Tensor, discrete: bool) -> torch.Tensor:
    out = module.forward_train({"obs": x})["action_dist_inputs"]
    if discrete:
        return torch.nn.functional.cross_entropy(out, y)
    return ((out[:, : y.shape[1]] - y) ** 2).mean()


def save(students: dict[str, Any], args: argparse.Namespace, provenance: dict) -> Path:
    """RLlib checkpoint layout + ``marl_vvc_run.json``, then the torch-free export."""
    ckpt = Path(args.out).resolve() / "checkpoint"
    for kind, module in students.items():
        module.save_to_path(str(ckpt / "learner_group" / "learner" / "rl_module" / kind))
    write_run_info(
        ckpt,
        algo="rllib",
        system=args.env,
        mode="parallel",
        env_kwargs={},
        obs_transform="voltage_deviation",
        **provenance,
    )
    return export_rllib(ckpt, Path(args.out) / "export", name="dagger", provenance=provenance)


def score_against_baselines(policy: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The export next to the teacher's family of baselines: ``dss`` on the Volt-Var
    systems (held-out profiles); on systems without profiles Gym-ANM's protocol
    (``--eval-episodes`` resets of ``--eval-steps`` steps, discounted with γ = 0.995) next
    to the MPCs."""
    env = marl_vvc.parallel_env(args.env)
    profiled = env.num_profiles is not None
    env.close()
    if profiled:
        rows = {"distilled": evaluate(policy.policy_fn, args.env, args.eval_profiles)}
        rows.update(baseline_table(args.env, args.eval_profiles, policies=["dss"]))
        return rows
    common = {"episodes": args.eval_episodes, "max_steps": args.eval_steps, "gamma": 0.995}
    common["horizon"] = args.eval_steps  # ANM6Easy's parallel env would stop after a day
    rows = {"distilled": evaluate(policy.policy_fn, args.env, None, **common)}
    chosen = [b for b in args.eval_baselines.split(",") if b]
    if chosen:
        rows.update(baseline_table(args.env, None, policies=chosen, **common))
    return rows


def oracle_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The teacher oracle's search settings from the command line."""
    return {
        "hold_steps": args.hold_steps,
        "voltage_weight": args.voltage_weight,
        "violation_weight": args.violation_weight,
        "margin": args.margin,
        "compound": args.compound,
    }


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="13Bus")
    p.add_argument("--days", type=int, default=40, help="training days (episodes) per round")
    p.add_argument("--teacher", choices=TEACHERS, default="oracle")
    p.add_argument("--steps", type=int, default=None, help="steps per episode (ANM6Easy)")
    p.add_argument("--eval-episodes", type=int, default=5, help="systems without profiles")
    p.add_argument("--eval-steps", type=int, default=3000, help="systems without profiles")
    p.add_argument(
        "--eval-baselines", default="mpc_constant,mpc_perfect", help="systems without profiles"
    )
    p.add_argument("--rounds", type=int, default=3, help="DAgger rounds after the first")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--hold-steps", type=int, default=6, help="oracle amortisation")
    p.add_argument("--voltage-weight", type=float, default=10.0, help="oracle violation weight")
    p.add_argument(
        "--violation-weight", type=float, default=0.0, help="oracle charge per bus out of band"
    )
    p.add_argument(
        "--margin", type=float, default=0.0, help="oracle counts buses this close to the band out"
    )
    p.add_argument(
        "--compound", action="store_true", help="oracle tries candidates with group moves"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-profiles", default="300:365")
    p.add_argument("--out", default="runs/distill")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    probe = marl_vvc.parallel_env(args.env)
    # systems without profiles: an episode of --steps steps (the env's horizon otherwise)
    pool = {"profile_pool": TRAIN_POOL} if probe.num_profiles is not None else {}
    if probe.num_profiles is None and args.steps:
        pool["horizon"] = args.steps
    probe.close()
    env = VoltageDeviationObs(marl_vvc.parallel_env(args.env, **pool))
    if args.teacher == "oracle":
        teacher = oracle_policy(**oracle_settings(args))
    else:
        teacher = mpc_baseline(args.teacher)
    students = build_students(env, args.hidden)
    data: Data = {}
    t0, log = time.perf_counter(), []
    for r in range(args.rounds + 1):
        days = rng.choice(TRAIN_POOL[1], size=args.days, replace=False)
        # without profiles an episode is a reset seed: keep clear of the evaluation's 0..4
        days = (days + (0 if env.unwrapped.num_profiles is not None else 1000)).tolist()
        ret = collect(env, teacher, None if r == 0 else students, days, data, args.steps)
        acc = fit(students, data, args.epochs, args.lr, args.seed + r)
        log.append(
            {
                "round": r,
                "acting_return": ret,
                "accuracy": acc,
                "samples": sum(len(y) for _, y in data.values()),
            }
        )
        print(f"round {r}: acting return {ret:8.3f}  accuracy {acc}", flush=True)
    env.close()
    provenance = {
        "command": "python examples/distill_oracle.py " + " ".join(sys.argv[1:]),
        "method": f"DAgger of the {args.teacher} baseline",
        "teacher": {"name": args.teacher}
        | (oracle_settings(args) if args.teacher == "oracle" else {}),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "labelled_days": (args.rounds + 1) * args.days,
    }
    export = save(students, args, provenance)
    policy = load_exported(export)
    rows = score_against_baselines(policy, args)
    print(format_table(rows, title=f"{args.env}: held-out {args.eval_profiles}"), flush=True)
    summary = {k: {c: v[c] for c in v if not isinstance(v[c], list)} for k, v in rows.items()}
    out = {"rounds": log, "provenance": provenance, "evaluation": summary}
    (Path(args.out) / "evaluation.json").write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
