"""Device fleets: all devices of one kind, their state, and how actions become setpoints.

A :class:`Fleet` owns every device of one kind and their episode state as Python scalars
(a handful of devices: scalars beat tiny arrays). It validates its slice of a joint action,
projects it to setpoints, writes only what changed to the engine, and reports the features
of each device for observations. State lists are replaced, never mutated, so a reward
function may keep the previous step's lists (``prev_*``) without copying.

| fleet | state | features per device |
|---|---|---|
| capacitors | status | status |
| regulators | tap position and ratio | position / (levels − 1) |
| batteries | kWh, setpoint, level, terminal kW | SoC, discharge fraction |
| generators | available and applied (P, Q) | P, Q, available P (scaled to ±1) |
| storage | SoC, applied (P, Q) | P, Q, SoC (scaled to ±1) |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from marl_vvc.core.action_checks import check_discretes
from marl_vvc.core.devices import Battery, Capacitor, Device, Regulator

# Discharge fraction bound: a unit rated at phase voltage on a delta connection can deliver a
# few times its setpoint (PowerGym's 123-bus batt3/4); state() keeps the exact value.
DISCHARGE_BOUND = 5.0


class Fleet(Protocol):
    """All devices of one kind (see the module table)."""

    kind: str
    n_features: int  # observation features per device
    opendss_controlled: bool  # OpenDSS's own controllers can drive it (RegControl/CapControl)

    @property
    def devices(self) -> Sequence[Device]:
        """The fleet's devices, in joint-action order (read-only: a tuple of one kind)."""
        ...

    def check(self, actions: Sequence[Any]) -> list[Any]:
        """Validated values of this fleet's slice of a joint action (changes nothing)."""
        ...

    def prepare(self, engine: Any) -> None:
        """Engine settings after each compile (e.g. tap limits)."""
        ...

    def restore(self, engine: Any) -> None:
        """Start-of-episode state, written to a rewound engine."""
        ...

    def apply(self, values: list[Any], engine: Any) -> None:
        """Project validated values to setpoints and write those that changed."""
        ...

    def adopt(self, engine: Any) -> None:
        """Take the positions OpenDSS's own controllers chose in the last solve."""
        ...

    def settle(self, engine: Any, converged: bool) -> None:
        """Read back after a solve (terminal powers, stored energy)."""
        ...

    def features(self) -> list[float]:
        """``n_features`` observation features per device, device-major."""
        ...

    def feature_bounds(self) -> tuple[list[float], list[float]]:
        """Lower and upper bounds of one device's features."""
        ...

    def hold(self) -> list[Any]:
        """Actions that keep every device where it is (storage idle)."""
        ...

    def applied(self) -> list[Any]:
        """The action each device took after projection (or a controller's choice)."""
        ...

    def masks(self) -> list[np.ndarray]:
        """int8 mask of the allowed discrete actions of each device (all ones if free)."""
        ...


class _Passive:
    """Defaults for the hooks a fleet does not need."""

    opendss_controlled = False

    def prepare(self, engine: Any) -> None:
        """Nothing to set after a compile."""

    def adopt(self, engine: Any) -> None:
        """Not controlled by OpenDSS: nothing to read."""

    def settle(self, engine: Any, converged: bool) -> None:
        """Nothing to read back."""


class CapacitorFleet(_Passive):
    """Switched capacitor banks (absolute status actions).

    Args:
        devices: The capacitors.
        start: Status of each at the start of an episode (default: all closed).
    """

    kind = "capacitor"
    n_features = 1
    opendss_controlled = True

    def __init__(self, devices: Sequence[Capacitor], start: Sequence[int] | None = None) -> None:
        self.devices: tuple[Capacitor, ...] = tuple(devices)
        self.names = tuple(c.name for c in self.devices)
        self._sizes = [2] * len(self.devices)
        self.start = [1] * len(self.devices) if start is None else [int(s) for s in start]
        self.status: list[int] = list(self.start)
        self.prev_status: list[int] = list(self.status)

    def check(self, actions: Sequence[Any]) -> list[Any]:
        return check_discretes(self.devices, actions, self._sizes)

    def restore(self, engine: Any) -> None:
        self.status = list(self.start)
        self.prev_status = self.status
        for name, status in zip(self.names, self.status, strict=True):
            engine.set_capacitor(name, status)

    def apply(self, values: list[Any], engine: Any) -> None:
        prev = self.status
        new = [int(a) for a in values]
        for i in range(len(new)):
            if new[i] != prev[i]:
                engine.set_capacitor(self.names[i], new[i])
        self.prev_status, self.status = prev, new

    def adopt(self, engine: Any) -> None:
        self.prev_status = self.status
        self.status = [engine.capacitor_state(n) for n in self.names]

    def set_status(self, status: Sequence[int], engine: Any) -> None:
        """Set statuses outside an agent step (a task's initial setting)."""
        self.apply(list(status), engine)
        self.prev_status = self.status

    def features(self) -> list[float]:
        return list(self.status)

    def feature_bounds(self) -> tuple[list[float], list[float]]:
        return [0.0], [1.0]

    def hold(self) -> list[Any]:
        return list(self.status)

    def applied(self) -> list[Any]:
        return list(self.status)

    def masks(self) -> list[np.ndarray]:
        return [np.ones(2, dtype=np.int8) for _ in self.devices]


class RegulatorFleet(_Passive):
    """Voltage regulators: the tap position of one winding each.

    Args:
        devices: The regulators.
        start_at_top: Start episodes at the top tap (PowerGym) instead of the middle one.
        start: Tap position of each at the start of an episode (overrides ``start_at_top``).
    """

    kind = "regulator"
    n_features = 1
    opendss_controlled = True

    def __init__(
        self,
        devices: Sequence[Regulator],
        start_at_top: bool = False,
        start: Sequence[int] | None = None,
    ) -> None:
        self.devices: tuple[Regulator, ...] = tuple(devices)
        if start is None:
            start = [r.levels - 1 if start_at_top else r.mid for r in self.devices]
        self.start = [int(i) for i in start]
        self._levels = [r.levels - 1 for r in self.devices]
        self._sizes = [r.levels for r in self.devices]
        self.index: list[int] = [0] * len(self.devices)
        self.tap: list[float] = [0.0] * len(self.devices)
        self.prev_tap: list[float] = list(self.tap)

    def check(self, actions: Sequence[Any]) -> list[Any]:
        return check_discretes(self.devices, actions, self._sizes)

    def prepare(self, engine: Any) -> None:
        for r in self.devices:
            engine.set_tap_limits(r.name, r.winding, r.tap_min, r.tap_max, r.levels - 1)

    def restore(self, engine: Any) -> None:
        self.index = list(self.start)
        self.tap = [r.tap(i) for r, i in zip(self.devices, self.index, strict=True)]
        self.prev_tap = self.tap
        for r, tap in zip(self.devices, self.tap, strict=True):
            engine.set_tap(r.name, r.winding, tap)

    def apply(self, values: list[Any], engine: Any) -> None:
        prev_idx, prev = self.index, self.tap
        idx = [int(a) for a in values]
        taps = [0.0] * len(idx)
        for i in range(len(idx)):
            reg = self.devices[i]
            taps[i] = tap = idx[i] * reg.step + reg.tap_min
            if idx[i] != prev_idx[i]:  # a tap write rebuilds Y: write only moves
                engine.set_tap(reg.name, reg.winding, tap)
        self.prev_tap, self.tap, self.index = prev, taps, idx

    def adopt(self, engine: Any) -> None:
        self.prev_tap = self.tap
        self.tap = [engine.tap(r.name, r.winding) for r in self.devices]
        self.index = [
            round((t - r.tap_min) / r.step) for r, t in zip(self.devices, self.tap, strict=True)
        ]

    def features(self) -> list[float]:
        return [i / n for i, n in zip(self.index, self._levels, strict=True)]

    def feature_bounds(self) -> tuple[list[float], list[float]]:
        return [0.0], [1.0]

    def hold(self) -> list[Any]:
        return list(self.index)

    def applied(self) -> list[Any]:
        return list(self.index)

    def masks(self) -> list[np.ndarray]:
        return [np.ones(r.levels, dtype=np.int8) for r in self.devices]


class BatteryFleet:
    """Batteries (OpenDSS Generators; positive kW discharges), limited by stored energy.

    Args:
        devices: The batteries.
        step_hours: Step length (energy per step = kW × hours).
        kvar_over_pf: PowerGym's kvar = kW / pf instead of kW·tan(acos pf).
        integer_kwh: Round stored energy to whole kWh after every step (PowerGym).
    """

    kind = "battery"
    n_features = 2
    opendss_controlled = False

    def __init__(
        self,
        devices: Sequence[Battery],
        step_hours: float,
        kvar_over_pf: bool = False,
        integer_kwh: bool = False,
    ) -> None:
        self.devices: tuple[Battery, ...] = tuple(devices)
        self.names = tuple(b.name for b in self.devices)
        levels = [b.levels for b in self.devices if b.levels is not None]
        # discrete levels take the batch check; continuous batteries check one by one
        self._sizes = levels if len(levels) == len(self.devices) else None
        self.step_hours = step_hours
        self.kvar_over_pf = kvar_over_pf
        self.integer_kwh = integer_kwh
        n = len(self.devices)
        self.max_kw = np.array([b.max_kw for b in self.devices], dtype=float)
        self.max_kwh = np.array([b.max_kwh for b in self.devices], dtype=float)
        self._max_kwh_list = self.max_kwh.tolist()
        self._max_kw_list = self.max_kw.tolist()
        self.kwh: list[float] = [b.initial_kwh for b in self.devices]
        self.setpoint: list[float] = [0.0] * n
        self.level: list[int] = [b.idle_level for b in self.devices]
        self.kw = np.zeros(n)

    def check(self, actions: Sequence[Any]) -> list[Any]:
        if self._sizes is None:
            return [d.check(a) for d, a in zip(self.devices, actions, strict=True)]
        return check_discretes(self.devices, actions, self._sizes)

    def prepare(self, engine: Any) -> None:
        """Nothing to set after a compile."""

    def adopt(self, engine: Any) -> None:
        """Not controlled by OpenDSS: nothing to read."""

    def restore(self, engine: Any) -> None:
        self.kwh = [b.initial_kwh for b in self.devices]
        self.setpoint = [0.0] * len(self.devices)
        self.level = [b.idle_level for b in self.devices]
        for name in self.names:
            engine.set_generator(name, 0.0, 0.0)

    def apply(self, values: list[Any], engine: Any) -> None:
        dt, over_pf = self.step_hours, self.kvar_over_pf
        setpoints = [0.0] * len(values)
        levels = list(self.level)
        for j in range(len(values)):
            bat, a = self.devices[j], values[j]
            if bat.levels is None:
                kw = bat.project_continuous(a, self.kwh[j], dt)
            else:
                levels[j], kw = bat.project_level(int(a), self.kwh[j], dt)
            setpoints[j] = kw
            engine.set_generator(bat.name, kw, bat.kvar(kw, over_pf))
        self.setpoint, self.level = setpoints, levels

    def settle(self, engine: Any, converged: bool) -> None:
        """Terminal kW; on a converged step, the stored energy that kW implies."""
        if not self.devices:
            return
        self.kw = engine.generator_powers_kw(self.names)
        if not converged:
            return
        p = self.kw.tolist()
        kwh = list(self.kwh)
        for j in range(len(kwh)):
            e = min(max(kwh[j] + p[j] * self.step_hours, 0.0), self._max_kwh_list[j])
            kwh[j] = float(round(e)) if self.integer_kwh else e
        self.kwh = kwh

    def soc(self) -> list[float]:
        """State of charge of each battery."""
        return [e / m for e, m in zip(self.kwh, self._max_kwh_list, strict=True)]

    def discharge(self) -> np.ndarray:
        """Terminal discharge as a fraction of the rated kW (exact, unclipped)."""
        fraction: np.ndarray = -self.kw / self.max_kw
        return fraction

    def features(self) -> list[float]:
        out: list[float] = []
        b = DISCHARGE_BOUND
        for e, m, kw, k in zip(
            self.kwh, self._max_kwh_list, self.kw.tolist(), self._max_kw_list, strict=True
        ):
            out += (e / m, min(max(-kw / k, -b), b))
        return out

    def feature_bounds(self) -> tuple[list[float], list[float]]:
        return [0.0, -DISCHARGE_BOUND], [1.0, DISCHARGE_BOUND]

    def hold(self) -> list[Any]:
        return [b.hold() for b in self.devices]

    def applied(self) -> list[Any]:
        return [
            np.array([kw / b.max_kw], dtype=np.float32) if b.levels is None else lvl
            for b, kw, lvl in zip(self.devices, self.setpoint, self.level, strict=True)
        ]

    def masks(self) -> list[np.ndarray]:
        return [
            b.feasible_levels(e, self.step_hours)
            if b.levels is not None
            else np.ones(1, dtype=np.int8)
            for b, e in zip(self.devices, self.kwh, strict=True)
        ]
