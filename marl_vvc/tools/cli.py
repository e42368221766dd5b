"""The ``marl-vvc`` command: list systems, run, evaluate and plot policies, benchmark, fetch.

``--env`` takes a system name (``13Bus``, ``123Bus_cbat_s1.5``, ``13Bus_pv``,
``123Bus_capswitch``, ``ANM6Easy``), a YAML system file (``my_feeder.yaml``) or an OpenDSS
master file (``Master.dss``, the same as ``circuit=``). Progress bars go to stderr
(``--quiet`` turns them off); ``--json`` prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from marl_vvc.errors import ConfigError, MarlVVCError
from marl_vvc.tools.baselines import BASELINES, DESCRIPTIONS
from marl_vvc.tools.tables import (
    format_episodes,
    format_table,
    json_lines,
    plural,
)


def env_target(text: str | None, systems_dir: str | None = None) -> tuple[str | None, dict]:
    """``(system, env kwargs)`` of an ``--env`` value: a ``.dss`` file becomes ``circuit=``."""
    kwargs: dict[str, Any] = {"systems_dir": systems_dir} if systems_dir else {}
    if text is not None and text.lower().endswith(".dss"):
        if systems_dir:
            raise ConfigError("--systems-dir applies to named systems, not to a .dss file")
        return None, {"circuit": text}
    return text, kwargs


def _target(args: argparse.Namespace) -> tuple[str | None, dict]:
    system, kwargs = env_target(args.env, getattr(args, "systems_dir", None))
    if getattr(args, "horizon", None) is not None:
        kwargs["horizon"] = args.horizon
    return system, kwargs


def _space(space: Any, bounds: bool = False) -> str:
    """Short text of a space: ``Discrete(33)``, ``Box(11,)``, ``Dict(observation: Box(11,), …)``.

    With ``bounds``, a Box keeps them on one line: ``Box([0, -1.1], [2.5, 1.1], (2,), float32)``.
    """
    inner = getattr(space, "spaces", None)
    if isinstance(inner, dict):
        return "Dict(" + ", ".join(f"{k}: {_space(v)}" for k, v in inner.items()) + ")"
    if type(space).__name__ != "Box":
        return str(space)
    if not bounds:
        return f"Box{tuple(space.shape)}"
    low, high = np.ravel(space.low), np.ravel(space.high)
    if low.min() == low.max() and high.min() == high.max():
        return str(space)  # Box(-1.0, 1.0, (1,), float32)

    def text(values: np.ndarray) -> str:
        return "[" + ", ".join(f"{v:g}" for v in values) + "]"

    return f"Box({text(low)}, {text(high)}, {tuple(space.shape)}, {space.dtype})"


def system_rows() -> list[tuple[str, str]]:
    """``(name, description)`` of every shipped system and its ``_pv``/``_capswitch`` forms.

    Reads only the shipped YAML files (never a feeder's data, which may need a download).
    """
    from marl_vvc.systems.names import available_systems, configs_dir
    from marl_vvc.systems.yaml_io import read_yaml

    rows = []
    for base in available_systems():
        data = read_yaml(configs_dir() / f"{base}.yaml") or {}
        rows.append((base, str(data.get("description", ""))))
        if "pv_variant" in data:
            rows.append((f"{base}_pv", f"{base} with rooftop PV inverters as agents"))
        if data.get("capacitors") or data.get("discover") is True:
            rows.append((f"{base}_capswitch", f"capacitor switching sequences on {base}"))
    return rows


def cmd_list(args: argparse.Namespace) -> int:
    """Print systems, or one system's agents and spaces."""
    from marl_vvc import parallel_env

    if not args.env:
        print("systems (PowerGym feeders also take _cbat, _soc, _s<scale>: 123Bus_cbat_s1.5):")
        rows = system_rows()
        width = max(len(name) for name, _ in rows)
        for name, description in rows:
            print(f"  {name:<{width}}  {description}")
        return 0
    system, kwargs = _target(args)
    env = parallel_env(system, **kwargs)
    try:
        state: Any = getattr(env, "state_space", None)
        size = f", state size {state.shape[0]}" if getattr(state, "shape", None) else ""
        print(f"{args.env}: {plural(len(env.possible_agents), 'agent')}{size}")
        print(f"{'agent':<28} {'kind':<10} {'action space':<30} observation")
        for agent in env.possible_agents:
            print(
                f"{agent:<28} {env.agent_kind(agent):<10} "
                f"{_space(env.action_space(agent), bounds=True):<30} "
                f"{_space(env.observation_space(agent))}"
            )
    finally:
        env.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a policy for some episodes and print returns with their components."""
    from marl_vvc.tools.runner import run_episodes

    mode, policy = args.mode, args.policy or "random"
    if mode == "dss":  # PowerGym's random_agent.py names the controller baseline a mode
        if args.policy not in (None, "dss"):
            raise ConfigError(
                f"--mode dss runs OpenDSS's own controllers; it cannot run --policy {args.policy}"
            )
        mode, policy = "single", "dss"
    system, kwargs = _target(args)
    rows = run_episodes(
        system,
        mode=mode,
        policy=policy,
        episodes=args.episodes,
        seed=args.seed,
        max_steps=args.steps,
        progress=not args.quiet,
        **kwargs,
    )
    if args.json:
        print(json_lines(rows))
    else:
        print(format_episodes(rows, title=f"{args.env}  mode={mode}  policy={policy}"))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Score a trained policy (or only the baselines) on held-out load profiles."""
    from marl_vvc.tools.evaluation import baseline_table, evaluate, load_policy
    from marl_vvc.tools.runner import exported_policy

    system, kwargs = _target(args)
    label, rows = args.env, {}
    common = {
        "episodes": args.episodes,
        "max_steps": args.steps,
        "progress": not args.quiet,
        "gamma": args.gamma,
    }
    if args.checkpoint and args.policy:
        raise ConfigError("give --checkpoint or --policy, not both")
    if args.checkpoint or args.policy:
        if args.checkpoint:
            loaded, name = load_policy(args.checkpoint, algo=args.algo), args.algo
        else:
            loaded, name = exported_policy(args.policy, system), "pretrained"
        system, kwargs, label = loaded.system, {**loaded.env_kwargs, **kwargs}, loaded.system
        rows[name] = evaluate(
            loaded.policy_fn, system, args.profiles, loaded.mode, name=name, **common, **kwargs
        )
    policies = args.baselines or None  # None: those that apply to the system
    rows.update(baseline_table(system, args.profiles, policies=policies, **common, **kwargs))
    if policies is None and "dss" not in rows:  # the others are system-specific by design
        print(f"marl-vvc: baseline dss does not apply to {label}", file=sys.stderr)
    if args.json:
        print(json_lines(rows.values()))
        return 0
    print(format_table(rows, title=f"{label}: mean episode return on {_days(rows)}"))
    return 0


def _days(rows: dict[str, dict[str, Any]]) -> str:
    """What the episodes of a table ran on: ``profiles 300..364`` or ``3 episodes``."""
    episodes = next(iter(rows.values()))["episodes"]
    profiles = [e["profile"] for e in episodes if e["profile"] is not None]
    if not profiles:
        return f"{plural(len(episodes), 'episode')} of {episodes[0]['steps']} steps"
    lo, hi = min(profiles), max(profiles)
    return f"profiles {lo}..{hi}" if len(profiles) > 1 else f"profile {lo}"


def cmd_plot(args: argparse.Namespace) -> int:
    """Write an episode report (and the influence map) as PNG files."""
    from marl_vvc.tools.plots import episode_report, influence_report
    from marl_vvc.tools.recording import record_episode

    system, kwargs = _target(args)
    data = record_episode(
        system,
        policy=args.policy,
        profile=args.profile,
        seed=args.seed,
        max_steps=args.steps,
        progress=not args.quiet,
        **kwargs,
    )
    paths = episode_report(data, args.out)
    influence = influence_report(data, Path(args.out) / "influence.png")
    if influence is None:
        print(f"marl-vvc: {args.env} has no influence weights: no influence.png", file=sys.stderr)
    else:
        paths.append(influence)
    for path in paths:
        print(path)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Time env steps against the bare OpenDSS work of the same steps."""
    from marl_vvc.tools.bench import print_report, run_benchmark

    report = run_benchmark(
        args.env or None,
        steps=args.steps,
        resets=args.resets,
        systems_dir=args.systems_dir,
        rounds=args.rounds,
        progress=not args.quiet,
    )
    if args.json:
        print(json.dumps(report, indent=2, default=float))
    else:
        print_report(report)
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """Find or download a large feeder (the 8500-node model) into the user cache."""
    from marl_vvc.systems.feeder_data import locate_feeder

    master = locate_feeder(args.feeder, base_url=args.url, allow_download=True)
    print(master)
    return 0


ENV_HELP = "system name, YAML system file or OpenDSS master .dss file (default 13Bus)"


def _common(p: argparse.ArgumentParser, *, default_env: str | None = "13Bus") -> None:
    p.add_argument("--env", default=default_env, help=ENV_HELP)
    p.add_argument("--systems-dir", default=None, help="a PowerGym-layout systems folder")


def _rollout_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="step budget per episode (default: the horizon; 96 on ANM6Easy, whose episodes "
        "never end)",
    )
    p.add_argument(
        "--horizon",
        type=int,
        default=None,
        help="episode length of the environment instead of the system's (Gym-ANM's protocol "
        "on ANM6Easy's multi-agent env, whose episodes are one day of 96 steps: 3000)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_run(sub: Any) -> None:
    p = sub.add_parser("run", help="run a policy and print per-episode returns")
    _common(p)
    p.add_argument(
        "--mode",
        choices=("single", "parallel", "episodic", "dss"),
        default="parallel",
        help="single: Gymnasium env; parallel: one agent per device; episodic: single-agent "
        "over profiles 0, 1, 2, ...; dss: the same as --mode single --policy dss",
    )
    p.add_argument(
        "--policy",
        default=None,
        help="; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items())
        + "; pretrained: the policy shipped for the system; or an export folder (default random)",
    )
    p.add_argument("--episodes", type=int, default=3)
    _rollout_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object per episode and line")
    p.set_defaults(func=cmd_run)


def _add_eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="score a policy and the baselines on held-out profiles")
    _common(p)
    p.add_argument(
        "--profiles",
        default=None,
        help="profile indices, e.g. 300:365 (default) or 1,5,9; not for systems without "
        "load profiles (ANM6Easy), which run --episodes episodes",
    )
    p.add_argument("--episodes", type=int, default=3, help="episodes without load profiles")
    p.add_argument(
        "--baselines",
        nargs="*",
        choices=BASELINES,
        default=None,
        help="baselines to score (default: those that apply; dss needs capacitors/regulators)",
    )
    p.add_argument("--checkpoint", default=None, help="a checkpoint of examples/train_*.py")
    p.add_argument("--algo", choices=("rllib", "sb3"), default="rllib")
    p.add_argument(
        "--policy",
        default=None,
        help="pretrained: the policy shipped for the system; or an export folder "
        "(policy.json + weights.npz)",
    )
    p.add_argument(
        "--gamma",
        type=float,
        default=None,
        help="also report the discounted return (Gym-ANM's protocol: 0.995, --steps 3000)",
    )
    _rollout_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object per policy and line")
    p.set_defaults(func=cmd_eval)


def _add_plot(sub: Any) -> None:
    p = sub.add_parser("plot", help="episode report as PNG files")
    _common(p)
    p.add_argument("--policy", choices=BASELINES, default="random")
    p.add_argument("--profile", type=int, default=None, help="load profile (default: random)")
    p.add_argument("--out", default="marl_vvc_report", help="output folder")
    _rollout_options(p)
    p.set_defaults(func=cmd_plot)


def _add_bench(sub: Any) -> None:
    p = sub.add_parser("bench", help="env step vs bare OpenDSS work, reset, memory, N envs")
    p.add_argument(
        "--env", action="append", help="system(s) to time, as for run (default: all shipped)"
    )
    p.add_argument("--steps", type=int, default=480, help="steps per timing block")
    p.add_argument("--resets", type=int, default=10_000, help="resets for the memory check")
    p.add_argument("--rounds", type=int, default=5, help="timing rounds (medians reported)")
    p.add_argument("--systems-dir", default=None, help="a PowerGym-layout systems folder")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``marl-vvc``."""
    parser = argparse.ArgumentParser(
        prog="marl-vvc",
        description="Multi-agent Volt-Var control environments on OpenDSS.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list systems, or the agents and spaces of one system")
    _common(p, default_env=None)
    p.set_defaults(func=cmd_list)
    _add_run(sub)
    _add_eval(sub)
    _add_plot(sub)
    p = sub.add_parser("fetch", help="download the 8500-node feeder into the user cache")
    p.add_argument("--feeder", default="ieee8500", choices=("ieee8500",))
    p.add_argument("--url", default=None, help="base URL of a mirror holding the files")
    p.set_defaults(func=cmd_fetch)
    _add_bench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors print one line and exit with status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "episodes", 1) < 1:
        parser.error("--episodes must be >= 1")
    for name in ("steps", "rounds", "resets"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            parser.error(f"--{name} must be >= 1")
    try:
        return int(args.func(args))
    except MarlVVCError as exc:
        print(f"marl-vvc: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
