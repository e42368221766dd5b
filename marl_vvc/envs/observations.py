"""Local observations of each agent, gathered from the grid core with one index per agent.

Every step builds one feature vector for the whole system,
``[features of each fleet | bus Vmin | bus Vmax | sin(day) cos(day)]``, and each agent's
observation is a fixed index gather from it:

| entries | meaning |
|---|---|
| own device features | capacitor: status; regulator: tap position in [0, 1]; battery: SoC and discharge fraction (−P/rated kW, clipped to ±5); generator: P, Q, available P; storage: P, Q, SoC (the last two scaled to ±1) |
| 2·k | (Vmin, Vmax) in pu of the agent's own bus and the k−1 buses it moves most |
| 2 (optional) | sin and cos of the time of day |
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces

from marl_vvc.core.grid import GridCore
from marl_vvc.core.influence import Influence


class LocalObservations:
    """Builds every agent's local observation from the core's current state.

    Args:
        core: The grid core.
        influence: Measured influence (defines each agent's neighbourhood).
        k: Buses per neighbourhood (own bus included); capped at the number of buses.
        time_features: Append sin/cos of the time of day.
    """

    def __init__(
        self, core: GridCore, influence: Influence, k: int = 4, time_features: bool = True
    ) -> None:
        self.core = core
        n_bus = len(core.bus_names)
        k = max(1, min(int(k), n_bus))
        self.k = k
        self.time_features = time_features
        self._fleets = [f for f in core.fleets if f.devices]
        offset = sum(f.n_features * len(f.devices) for f in self._fleets)
        self._off_vmin = offset
        self._off_vmax = offset + n_bus
        off_time = offset + 2 * n_bus
        self._day_steps = 24.0 / core.step_hours
        self.index: dict[str, np.ndarray] = {}
        self.spaces: dict[str, spaces.Box] = {}
        first, i = 0, 0
        for fleet in self._fleets:
            f_lo, f_hi = fleet.feature_bounds()
            for j, dev in enumerate(fleet.devices):
                own = first + j * fleet.n_features + np.arange(fleet.n_features)
                buses = influence.neighbourhood(i, core.bus_index[dev.bus], k)
                volt = np.stack((self._off_vmin + buses, self._off_vmax + buses), axis=1).ravel()
                parts, lo, hi = [own, volt], list(f_lo), list(f_hi)
                lo += [0.0] * len(volt)
                hi += [np.inf] * len(volt)
                if time_features:
                    parts.append(np.array([off_time, off_time + 1]))
                    lo += [-1.0, -1.0]
                    hi += [1.0, 1.0]
                self.index[dev.agent_id] = np.concatenate(parts).astype(np.intp)
                self.spaces[dev.agent_id] = spaces.Box(
                    np.array(lo, dtype=np.float32), np.array(hi, dtype=np.float32), dtype=np.float32
                )
                i += 1
            first += fleet.n_features * len(fleet.devices)

    def features(self) -> np.ndarray:
        """The system-wide feature vector every agent's observation is gathered from."""
        core = self.core
        snap = core.snapshot
        assert snap is not None
        steps = core.task.clock(core)
        angle = 2.0 * math.pi * (steps * core.step_hours % 24.0) / 24.0
        devices: list[float] = []
        for fleet in self._fleets:
            devices += fleet.features()
        return np.concatenate(
            (devices, snap.bus_vmin, snap.bus_vmax, (math.sin(angle), math.cos(angle))),
            dtype=np.float32,
        )

    def __call__(self, agents: list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
        """Observations of ``agents``."""
        f = self.features()
        return {a: f[self.index[a]] for a in agents}
