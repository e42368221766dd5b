"""The ``marl-vvc`` command: list systems, run policies, benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from marl_vvc.errors import MarlVVCError


def _env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if getattr(args, "systems_dir", None):
        kwargs["systems_dir"] = args.systems_dir
    return kwargs


def cmd_list(args: argparse.Namespace) -> int:
    """Print systems, or one system's agents and spaces."""
    from marl_vvc import available_systems, parallel_env

    if not args.env:
        print("systems (add variants _cbat, _soc, _s<scale>):")
        for name in available_systems():
            print(f"  {name}")
        return 0
    env = parallel_env(args.env, **_env_kwargs(args))
    print(f"{args.env}: {len(env.possible_agents)} agents, state size {env.state_space.shape[0]}")
    print(f"{'agent':<28} {'bus':<12} {'action space':<26} observation")
    for agent, dev in zip(env.possible_agents, env.core.devices, strict=True):
        print(
            f"{agent:<28} {dev.bus:<12} {env.action_space(agent)!s:<26} "
            f"Box{env.observation_space(agent).shape}"
        )
    env.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a policy for some episodes and print returns with their components."""
    from marl_vvc.tools.runner import run_episodes

    if args.mode == "dss":  # PowerGym's random_agent.py names the controller baseline a mode
        args.mode, args.policy = "single", "dss"
    results = run_episodes(
        args.env,
        mode=args.mode,
        policy=args.policy,
        episodes=args.episodes,
        seed=args.seed,
        progress=not args.quiet,
        **_env_kwargs(args),
    )
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{args.env}  mode={args.mode}  policy={args.policy}")
    print(f"{'episode':>7} {'profile':>7} {'return':>10} {'loss':>9} {'voltage':>9} {'control':>9}")
    for r in results:
        print(
            f"{r['episode']:>7} {r['profile']!s:>7} {r['return']:>10.3f} {r['loss']:>9.3f} "
            f"{r['voltage']:>9.3f} {r['control']:>9.3f}"
        )
    mean = float(np.mean([r["return"] for r in results]))
    print(f"mean return {mean:.3f} over {len(results)} episode(s)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Time env steps against the bare OpenDSS work of the same steps."""
    from marl_vvc.tools.bench import print_report, run_benchmark

    report = run_benchmark(
        args.env or None, steps=args.steps, resets=args.resets, systems_dir=args.systems_dir
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Score a trained policy (or only the baselines) on held-out load profiles."""
    from marl_vvc.tools.evaluation import baseline_table, evaluate, format_table, load_policy

    system, kwargs, rows = args.env, _env_kwargs(args), {}
    if args.checkpoint:
        loaded = load_policy(args.checkpoint, algo=args.algo)
        system, kwargs = loaded.system, {**loaded.env_kwargs, **kwargs}
        rows[args.algo] = evaluate(
            loaded.policy_fn, system, args.profiles, mode=loaded.mode, name=args.algo, **kwargs
        )
    rows.update(baseline_table(system, args.profiles, **kwargs))
    if args.json:
        print(json.dumps(rows, indent=2, default=float))
    else:
        print(
            format_table(rows, title=f"{system}: mean episode return on profiles {args.profiles}")
        )
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Write an episode report (and the influence map) as PNG files."""
    from marl_vvc.tools.plots import episode_report, influence_map, record_episode

    data = record_episode(
        args.env, policy=args.policy, profile=args.profile, seed=args.seed, **_env_kwargs(args)
    )
    paths = episode_report(data, args.out)
    paths.append(influence_map(args.env, f"{args.out}/influence.png", **_env_kwargs(args)))
    for path in paths:
        print(path)
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """Find or download a large feeder (the 8500-node model) into the user cache."""
    from marl_vvc.systems.feeder_data import locate_feeder

    master = locate_feeder(args.feeder, base_url=args.url, allow_download=True)
    print(master)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``marl-vvc``."""
    parser = argparse.ArgumentParser(
        prog="marl-vvc",
        description="Multi-agent Volt-Var control environments on OpenDSS.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list systems, or the agents and spaces of one system")
    p.add_argument("--env", default=None, help="system name, e.g. 13Bus or 123Bus_cbat")
    p.add_argument("--systems-dir", default=None, help="a PowerGym-layout systems folder")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run a policy and print per-episode returns")
    p.add_argument("--env", default="13Bus", help="system name (default 13Bus)")
    p.add_argument(
        "--mode",
        choices=("single", "parallel", "episodic", "dss"),
        default="parallel",
        help="single: Gymnasium wrapper; parallel: one agent per device; "
        "episodic: single-agent over profiles 0, 1, 2, ...; dss: OpenDSS's own controllers "
        "(the same as --policy dss)",
    )
    p.add_argument(
        "--policy",
        choices=("random", "hold", "dss"),
        default="random",
        help="random; hold (no device moves); dss (OpenDSS's RegControl/CapControl act)",
    )
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--systems-dir", default=None, help="a PowerGym-layout systems folder")
    p.add_argument("--json", action="store_true", help="print results as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("eval", help="score a policy and the baselines on held-out profiles")
    p.add_argument("--env", default="13Bus", help="system name (default 13Bus)")
    p.add_argument("--profiles", default="300:365", help="profile indices, e.g. 300:365 or 1,5,9")
    p.add_argument("--checkpoint", default=None, help="a checkpoint of examples/train_*.py")
    p.add_argument("--algo", choices=("rllib", "sb3"), default="rllib")
    p.add_argument("--systems-dir", default=None, help="a PowerGym-layout systems folder")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("plot", help="episode report as PNG files")
    p.add_argument("--env", default="13Bus", help="system name (default 13Bus)")
    p.add_argument("--policy", choices=("random", "hold", "dss"), default="random")
    p.add_argument("--profile", type=int, default=None, help="load profile (default: random)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="marl_vvc_report", help="output folder")
    p.add_argument("--systems-dir", default=None, help="a PowerGym-layout systems folder")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("fetch", help="download the 8500-node feeder into the user cache")
    p.add_argument("--feeder", default="ieee8500", choices=("ieee8500",))
    p.add_argument("--url", default=None, help="base URL of a mirror holding the files")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("bench", help="env step vs bare OpenDSS work, reset, memory, N envs")
    p.add_argument("--env", action="append", help="system(s) to time (default: all available)")
    p.add_argument("--steps", type=int, default=480, help="steps per timing block")
    p.add_argument("--resets", type=int, default=10_000, help="resets for the memory check")
    p.add_argument("--systems-dir", default=None, help="a PowerGym-layout systems folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors print one line and exit with status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "episodes", 1) < 1:
        parser.error("--episodes must be >= 1")
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
