"""Random agent on a marl_vvc system, in the style of PowerGym's random_agent.py.

    python examples/random_agent.py --env 13Bus --mode parallel --episodes 3

Modes: ``single`` (one Gymnasium agent sets every device), ``parallel`` (PettingZoo, one agent
per capacitor/regulator/battery) and ``episodic`` (single agent over load profiles 0, 1, 2, …).
``--env`` also takes a YAML system file or an OpenDSS master ``.dss`` file.
"""

from __future__ import annotations

import argparse

from marl_vvc.tools.cli import env_target
from marl_vvc.tools.runner import MODES, run_episodes
from marl_vvc.tools.tables import format_episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="13Bus", help="system name, e.g. 13Bus, 123Bus_cbat_s1.5")
    parser.add_argument("--mode", choices=MODES, default="parallel")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="step budget (ANM6Easy: 96)")
    parser.add_argument("--systems-dir", default=None, help="PowerGym-layout systems folder")
    args = parser.parse_args()
    system, kwargs = env_target(args.env, args.systems_dir)
    results = run_episodes(
        system,
        mode=args.mode,
        episodes=args.episodes,
        seed=args.seed,
        max_steps=args.steps,
        progress=True,
        **kwargs,
    )
    for r in results:
        print(
            f"episode {r['episode']}  profile {r['profile']}  return {r['return']:.3f}  "
            f"(loss {r['loss']:.3f}, voltage {r['voltage']:.3f}, control {r['control']:.3f}, "
            f"penalty {r['penalty']:.3f})"
        )
    print(format_episodes(results, title=f"{args.env}  mode={args.mode}").splitlines()[-1])


if __name__ == "__main__":
    main()
