"""Local observations of each agent, gathered from the grid core with one index per agent.

Every step builds one feature vector for the whole system,
``[cap status | tap position/(levels−1) | SoC | discharge fraction | bus Vmin | bus Vmax |
sin(day) cos(day)]``, and each agent's observation is a fixed index gather from it:

| entries | meaning |
|---|---|
| 1 (capacitor, regulator) or 2 (battery) | own device state: status; tap position in [0, 1]; SoC and discharge fraction (−P/rated kW, clipped to ±5) |
| 2·k | (Vmin, Vmax) in pu of the agent's own bus and the k−1 buses it moves most |
| 2 (optional) | sin and cos of the time of day |
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces

from marl_vvc.core.devices import Battery, Capacitor, Generator, Regulator, Storage
from marl_vvc.core.grid import GridCore
from marl_vvc.core.influence import Influence

# Discharge fraction bound: a unit rated at phase voltage on a delta connection can deliver a
# few times its setpoint (PowerGym's 123-bus batt3/4); state() keeps the exact value.
_DISCHARGE_BOUND = 5.0


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
        n_cap, n_reg, n_bat, n_bus = core.n_cap, core.n_reg, core.n_bat, len(core.bus_names)
        k = max(1, min(int(k), n_bus))
        self.k = k
        self.time_features = time_features
        off_tap = n_cap
        off_soc = off_tap + n_reg
        off_dis = off_soc + n_bat
        off_anm = off_dis + n_bat  # 3 features per generator, then 3 per storage unit
        self._n_anm = 3 * (core.n_gen + core.n_unit)
        self._off_vmin = off_anm + self._n_anm
        self._off_vmax = self._off_vmin + n_bus
        off_time = self._off_vmax + n_bus
        self._max_kw = np.array([b.max_kw for b in core.batteries], dtype=float)
        self._levels_list = [r.levels - 1 for r in core.regulators]
        self._max_kwh_list = [b.max_kwh for b in core.batteries]
        gens = [d for d in core.devices if isinstance(d, Generator)]
        units = [d for d in core.devices if isinstance(d, Storage)]
        self._gen_scale = np.array(
            [
                [
                    g.capability.p_max,
                    max(abs(g.capability.q_min), g.capability.q_max),
                    g.capability.p_max,
                ]
                for g in gens
            ]
        ).reshape(-1, 3)
        self._unit_scale = np.array(
            [
                [
                    max(abs(u.capability.p_min), u.capability.p_max),
                    max(abs(u.capability.q_min), u.capability.q_max),
                    u.capability.soc_max,
                ]
                for u in units
            ]
        ).reshape(-1, 3)
        self.index: dict[str, np.ndarray] = {}
        self.spaces: dict[str, spaces.Box] = {}
        counters = {"capacitor": 0, "regulator": 0, "battery": 0, "generator": 0, "storage": 0}
        for i, dev in enumerate(core.devices):
            j = counters[dev.kind]
            counters[dev.kind] += 1
            if isinstance(dev, Capacitor):
                own, lo, hi = [j], [0.0], [1.0]
            elif isinstance(dev, Regulator):
                own, lo, hi = [off_tap + j], [0.0], [1.0]
            elif isinstance(dev, Generator | Storage):
                first = off_anm + 3 * (j if isinstance(dev, Generator) else core.n_gen + j)
                own, lo, hi = [first, first + 1, first + 2], [-1.0, -1.0, 0.0], [1.0, 1.0, 1.0]
            else:
                assert isinstance(dev, Battery)
                own = [off_soc + j, off_dis + j]
                lo, hi = [0.0, -_DISCHARGE_BOUND], [1.0, _DISCHARGE_BOUND]
            buses = influence.neighbourhood(i, core.bus_index[dev.bus], k)
            volt = np.stack((self._off_vmin + buses, self._off_vmax + buses), axis=1).ravel()
            parts = [np.asarray(own), volt]
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

    def features(self) -> np.ndarray:
        """The system-wide feature vector every agent's observation is gathered from."""
        core = self.core
        snap = core.snapshot
        assert snap is not None
        steps = core.t if core.anm is None else core.anm.time_index
        angle = 2.0 * math.pi * (steps * core.config.step_hours % 24.0) / 24.0
        devices = (
            core._cap
            + [i / n for i, n in zip(core._tap_idx, self._levels_list, strict=True)]
            + [e / m for e, m in zip(core._kwh, self._max_kwh_list, strict=True)]
        )
        discharge = np.clip(-snap.battery_kw / self._max_kw, -_DISCHARGE_BOUND, _DISCHARGE_BOUND)
        anm = self._anm_features() if self._n_anm else ()
        return np.concatenate(
            (
                devices,
                discharge,
                anm,
                snap.bus_vmin,
                snap.bus_vmax,
                (math.sin(angle), math.cos(angle)),
            ),
            dtype=np.float32,
        )

    def _anm_features(self) -> np.ndarray:
        """Per generator (P, Q, available P) and per storage unit (P, Q, SoC), scaled to ±1."""
        anm = self.core.anm
        assert anm is not None
        gen = np.column_stack((anm.gen_pq, anm.p_pot)) / self._gen_scale
        unit = np.column_stack((anm.unit_pq, anm.soc / anm.base)) / self._unit_scale
        return np.clip(np.concatenate((gen.ravel(), unit.ravel())), -1.0, 1.0)

    def __call__(self, agents: list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
        """Observations of ``agents``."""
        f = self.features()
        return {a: f[self.index[a]] for a in agents}
