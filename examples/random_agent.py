"""Random agent on a marl_vvc system, in the style of PowerGym's random_agent.py.

    python examples/random_agent.py --env 13Bus --mode parallel --episodes 3

Modes: ``single`` (one Gymnasium agent sets every device), ``parallel`` (PettingZoo, one agent
per capacitor/regulator/battery) and ``episodic`` (single agent over load profiles 0, 1, 2, …).
"""

from __future__ import annotations

import argparse

import numpy as np

from marl_vvc.tools.runner import MODES, run_episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="13Bus", help="system name, e.g. 13Bus, 123Bus_cbat_s1.5")
    parser.add_argument("--mode", choices=MODES, default="parallel")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--systems-dir", default=None, help="PowerGym-layout systems folder")
    args = parser.parse_args()
    kwargs = {"systems_dir": args.systems_dir} if args.systems_dir else {}
    results = run_episodes(
        args.env, mode=args.mode, episodes=args.episodes, seed=args.seed, progress=True, **kwargs
    )
    for r in results:
        print(
            f"episode {r['episode']}  profile {r['profile']}  return {r['return']:.3f}  "
            f"(loss {r['loss']:.3f}, voltage {r['voltage']:.3f}, control {r['control']:.3f})"
        )
    print(f"mean return {np.mean([r['return'] for r in results]):.3f}")


if __name__ == "__main__":
    main()
