"""Reference policies on the grid core: random and hold-still."""

from __future__ import annotations

from typing import Any

import numpy as np

from marl_vvc.core.devices import Battery, Capacitor, Generator, Regulator, Storage
from marl_vvc.core.grid import GridCore


def random_actions(core: GridCore, rng: np.random.Generator) -> dict[str, Any]:
    """A uniformly random joint action (keyed by agent id)."""
    out: dict[str, Any] = {}
    for dev in core.devices:
        if isinstance(dev, Capacitor):
            out[dev.agent_id] = int(rng.integers(2))
        elif isinstance(dev, Regulator):
            out[dev.agent_id] = int(rng.integers(dev.levels))
        elif isinstance(dev, Generator | Storage):
            out[dev.agent_id] = rng.uniform(*dev.bounds).astype(np.float32)
        elif dev.levels is None:
            out[dev.agent_id] = np.array([rng.uniform(-1.0, 1.0)], dtype=np.float32)
        else:
            out[dev.agent_id] = int(rng.integers(dev.levels))
    return out


def hold_actions(core: GridCore) -> dict[str, Any]:
    """Keep every device where it is: same capacitor status and tap, batteries idle.

    Generators produce all they can with no reactive power; storage units stay idle.
    """
    out: dict[str, Any] = {}
    for i, cap in enumerate(core.capacitors):
        out[cap.agent_id] = int(core.cap_status[i])
    for i, reg in enumerate(core.regulators):
        out[reg.agent_id] = int(core.tap_index[i])
    for bat in core.batteries:
        assert isinstance(bat, Battery)
        out[bat.agent_id] = np.zeros(1, dtype=np.float32) if bat.levels is None else bat.idle_level
    for dev in core.devices:  # generators: no curtailment, no Q; storage idle
        if isinstance(dev, Generator):
            out[dev.agent_id] = np.array([dev.bounds[1][0], 0.0], dtype=np.float32)
        elif isinstance(dev, Storage):
            out[dev.agent_id] = np.zeros(2, dtype=np.float32)
    return out
