"""Draw the feeder pictures of the system pages (``docs/img/feeder_*.png``).

Run from the repository root after ``pip install ".[dev]"``::

    python docs/gen_figures.py            # every picture
    python docs/gen_figures.py 13Bus      # the pictures whose name contains "13Bus"

Each picture is ``env.render()`` in ``rgb_array`` mode after a fixed, seeded piece of an
episode, so a rerun draws the same image. The 8500-node feeder needs its data (see the
PowerGym feeders page); without it that picture is skipped and the committed one stays.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

os.environ.setdefault("MARL_VVC_OFFLINE", "1")  # the 8500-node data only if already here

import marl_vvc

IMG = Path(__file__).resolve().parent / "img"


@dataclass(frozen=True)
class Figure:
    """One picture: a system, its constructor arguments, a reset and some held steps."""

    file: str
    system: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    hold_steps: int = 0


FIGURES = (
    # PowerGym feeders without the quirks (taps start mid-range), at 1 pm of a summer day
    Figure("feeder_13bus.png", "13Bus", {"quirks": False}, {"profile": 200}, 13),
    Figure("feeder_34bus.png", "34Bus", {"quirks": False}, {"profile": 200}, 13),
    Figure("feeder_123bus.png", "123Bus", {"quirks": False}, {"profile": 200}, 13),
    Figure("feeder_8500node.png", "8500Node", {"quirks": False}, {"profile": 200}, 13),
    # high PV at 1 pm of a sunny late-summer day: the inverters hold still (full output, Q = 0)
    Figure("feeder_13bus_pv.png", "13Bus_pv", {}, {"profile": 240}, 13),
    Figure("feeder_123bus_pv.png", "123Bus_pv", {}, {"profile": 240}, 13),
    Figure("feeder_anm6easy.png", "ANM6Easy", {}, {}, 0),
    # a heavy load condition before any switching
    Figure(
        "feeder_123bus_capswitch.png",
        "123Bus_capswitch",
        {},
        {"profile": 0, "hour": 18, "scale": 1.4, "initial_status": [0, 0, 0, 0]},
        0,
    ),
)


def draw(fig: Figure) -> Path:
    """Render ``fig`` into ``docs/img`` and return the file written."""
    env = marl_vvc.parallel_env(fig.system, render_mode="rgb_array", **fig.kwargs)
    try:
        env.reset(seed=0, options=fig.options or None)
        for _ in range(fig.hold_steps):
            env.step(env.hold_actions())
        image = env.render()
    finally:
        env.close()
    path = IMG / fig.file
    plt.imsave(path, image)
    return path


def main(argv: list[str]) -> int:
    """Draw the pictures named on the command line (all without arguments)."""
    IMG.mkdir(exist_ok=True)
    chosen = [f for f in FIGURES if not argv or any(a in f.system for a in argv)]
    for fig in chosen:
        try:
            print(draw(fig).relative_to(IMG.parent.parent))
        except marl_vvc.DataNotFoundError as exc:
            print(f"skipped {fig.file}: {str(exc).splitlines()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
