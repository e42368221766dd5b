"""Controllable devices: action spaces, action validation and setpoint projection.

Nothing here calls OpenDSS. Each device kind turns an agent's action into a physical setpoint
with pure functions; the grid core applies the setpoints to the engine.

| kind | agent id | action space | setpoint |
|---|---|---|---|
| capacitor | ``capacitor_<name>`` | ``Discrete(2)`` | status 0 (open) / 1 (closed) |
| regulator | ``regulator_<transformer>`` | ``Discrete(33)`` | tap ``tap_min + n·(tap_max − tap_min)/32`` |
| battery | ``battery_<name>`` | ``Discrete(33)`` or ``Box(-1, 1, (1,))`` | kW (positive = discharge), SoC-limited |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np
from gymnasium import spaces

from marl_vvc.core.action_checks import check_box, check_discrete, check_pq
from marl_vvc.core.capability import GeneratorCapability, StorageCapability


@dataclass(frozen=True)
class Capacitor:
    """A switched capacitor bank (all steps switched together)."""

    name: str
    bus: str

    kind = "capacitor"

    @cached_property
    def agent_id(self) -> str:
        """Stable agent id."""
        return f"capacitor_{self.name}"

    def action_space(self) -> spaces.Space:
        """``Discrete(2)``: 0 open, 1 closed."""
        return spaces.Discrete(2)

    def check(self, action: Any) -> int:
        """Validated status (raises :class:`InvalidActionError`)."""
        return check_discrete(self.agent_id, action, 2)

    def rest(self, engine: Any) -> None:
        """Write the neutral setpoint of influence probes (closed)."""
        engine.set_capacitor(self.name, 1)

    def perturb(self, engine: Any) -> None:
        """Write the probe setpoint (open)."""
        engine.set_capacitor(self.name, 0)


@dataclass(frozen=True)
class Regulator:
    """A voltage regulator: the tap of one winding of a transformer."""

    name: str
    winding: int
    bus: str
    tap_min: float = 0.9
    tap_max: float = 1.1
    levels: int = 33

    kind = "regulator"

    @cached_property
    def agent_id(self) -> str:
        """Stable agent id."""
        return f"regulator_{self.name}"

    @cached_property
    def step(self) -> float:
        """Tap ratio per tap position."""
        return (self.tap_max - self.tap_min) / (self.levels - 1)

    def tap(self, index: int) -> float:
        """Tap ratio of tap position ``index`` (computed as PowerGym does)."""
        return index * self.step + self.tap_min

    def action_space(self) -> spaces.Space:
        """``Discrete(levels)``: tap position."""
        return spaces.Discrete(self.levels)

    def check(self, action: Any) -> int:
        """Validated tap position (raises :class:`InvalidActionError`)."""
        return check_discrete(self.agent_id, action, self.levels)

    @property
    def mid(self) -> int:
        """Middle tap position."""
        return (self.levels - 1) // 2

    def rest(self, engine: Any) -> None:
        """Write the neutral setpoint of influence probes (middle tap)."""
        engine.set_tap(self.name, self.winding, self.tap(self.mid))

    def perturb(self, engine: Any) -> None:
        """Write the probe setpoint (top tap)."""
        engine.set_tap(self.name, self.winding, self.tap_max)


@dataclass(frozen=True)
class Battery:
    """A battery, modelled in OpenDSS as a Generator (positive kW = discharge)."""

    name: str
    bus: str
    max_kw: float
    pf: float
    max_kwh: float
    initial_kwh: float
    levels: int | None = 33  # None: continuous action in [-1, 1]

    kind = "battery"

    @cached_property
    def agent_id(self) -> str:
        """Stable agent id."""
        return f"battery_{self.name}"

    @property
    def initial_soc(self) -> float:
        """State of charge at reset."""
        return self.initial_kwh / self.max_kwh

    @property
    def idle_level(self) -> int:
        """Discrete level meaning 0 kW."""
        return (self.levels or 1) // 2

    def action_space(self) -> spaces.Space:
        """``Discrete(levels)`` or ``Box(-1, 1, (1,), float32)`` for continuous batteries."""
        if self.levels is None:
            return spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        return spaces.Discrete(self.levels)

    def check(self, action: Any) -> float | int:
        """Validated level or command (raises :class:`InvalidActionError`)."""
        if self.levels is None:
            return check_box(self.agent_id, action)
        return check_discrete(self.agent_id, action, self.levels)

    def hold(self) -> Any:
        """The idle action."""
        return np.zeros(1, dtype=np.float32) if self.levels is None else self.idle_level

    def rest(self, engine: Any) -> None:
        """Write the neutral setpoint of influence probes (idle)."""
        engine.set_generator(self.name, 0.0, 0.0)

    def perturb(self, engine: Any) -> None:
        """Write the probe setpoint (full discharge)."""
        engine.set_generator(self.name, self.max_kw, self.kvar(self.max_kw, False))

    def level_kw(self) -> np.ndarray:
        """KW of every discrete level (``(i − mid)·max_kw/mid``)."""
        mid = self.idle_level
        d = self.max_kw / mid
        return np.array([(i - mid) * d for i in range(self.levels or 0)])

    def project_level(self, level: int, kwh: float, duration_h: float) -> tuple[int, float]:
        """Move a discrete level inside what the stored energy allows (PowerGym's rule).

        Returns:
            ``(level, kW)`` after projection.
        """
        mid = self.idle_level
        d = self.max_kw / mid
        kw = (level - mid) * d
        if level > mid and kw > kwh / duration_h:
            level -= math.ceil((kw - kwh / duration_h) / d - 1e-8)
        elif level < mid and kw < (kwh - self.max_kwh) / duration_h:
            level += math.ceil(((kwh - self.max_kwh) / duration_h - kw) / d - 1e-8)
        return level, (level - mid) * d

    def feasible_levels(self, kwh: float, duration_h: float) -> np.ndarray:
        """int8 mask of the discrete levels the stored energy allows (projection keeps them)."""
        kw = self.level_kw()
        mid = self.idle_level
        d = self.max_kw / mid
        ok = np.ones(len(kw), dtype=np.int8)
        up = kw > kwh / duration_h + d * 1e-8
        down = kw < (kwh - self.max_kwh) / duration_h - d * 1e-8
        ok[(np.arange(len(kw)) > mid) & up] = 0
        ok[(np.arange(len(kw)) < mid) & down] = 0
        return ok

    def project_continuous(self, u: float, kwh: float, duration_h: float) -> float:
        """KW for a command ``u`` in [-1, 1], limited by stored energy (PowerGym's rule)."""
        kw = min(max(float(np.float32(u)), -1.0), 1.0) * self.max_kw
        if kw > 0:
            return min(kwh / duration_h, kw)
        return max((kwh - self.max_kwh) / duration_h, kw)

    def kvar(self, kw: float, over_pf: bool) -> float:
        """Reactive power that goes with ``kw``: ``kw/pf`` (PowerGym) or ``kw·tan(acos pf)``."""
        if over_pf:
            return kw / self.pf
        return kw * math.tan(math.acos(self.pf))


class _PQDevice:
    """Shared by generators and storage units: a ``Box(2,)`` of P (MW) and Q (MVAr)."""

    name: str  # the subclass dataclasses' fields, declared for the type checker
    bus: str
    capability: GeneratorCapability | StorageCapability
    base_mva: float

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Action box (MW, MVAr)."""
        c, b = self.capability, self.base_mva
        return np.array([c.p_min * b, c.q_min * b]), np.array([c.p_max * b, c.q_max * b])

    def action_space(self) -> spaces.Space:
        """``Box(2,)``: P and Q set-points in MW and MVAr."""
        lo, hi = self.bounds
        return spaces.Box(lo.astype(np.float32), hi.astype(np.float32), dtype=np.float32)

    def check(self, action: Any) -> tuple[float, float]:
        """Validated ``(P, Q)`` (raises :class:`InvalidActionError`)."""
        return check_pq(self.agent_id, action, *self.bounds)  # type: ignore[attr-defined]

    def rest(self, engine: Any) -> None:
        """Write the neutral setpoint of influence probes (no injection)."""
        engine.set_generator(self.name, 0.0, 0.0)

    def perturb(self, engine: Any) -> None:
        """Write the probe setpoint (full active power)."""
        engine.set_generator(
            self.name,
            self.capability.p_max * self.base_mva * 1000.0,
            0.0,
        )


@dataclass(frozen=True)
class Generator(_PQDevice):
    """A renewable generator (PV, wind) whose P curtailment and Q an agent sets (Gym-ANM).

    Actions are ``(P, Q)`` set-points in MW / MVAr inside ``[p_min, p_max] × [q_min, q_max]``;
    the applied injection is their projection onto the PQ capability region and the power
    available in the step (:mod:`marl_vvc.core.capability`).
    """

    name: str
    bus: str
    capability: GeneratorCapability
    base_mva: float

    kind = "generator"

    @cached_property
    def agent_id(self) -> str:
        """Stable agent id."""
        return f"generator_{self.name}"


@dataclass(frozen=True)
class Storage(_PQDevice):
    """A distributed energy storage unit (Gym-ANM's DES): P (> 0 discharges) and Q set-points."""

    name: str
    bus: str
    capability: StorageCapability
    base_mva: float

    kind = "storage"

    @cached_property
    def agent_id(self) -> str:
        """Stable agent id."""
        return f"storage_{self.name}"


class Device(Protocol):
    """What every controllable device offers, whatever its kind."""

    # Read-only here: devices are frozen dataclasses.
    @property
    def name(self) -> str:
        """The element's name in the circuit."""
        ...

    @property
    def bus(self) -> str:
        """The bus the device sits at."""
        ...

    @property
    def kind(self) -> str:
        """Device kind (``capacitor``, ``regulator``, ``battery``, ``generator``, ``storage``)."""
        ...

    @property
    def agent_id(self) -> str:
        """Stable agent id ``<kind>_<name>``."""
        ...

    def action_space(self) -> spaces.Space:
        """The agent's action space."""
        ...

    def check(self, action: Any) -> Any:
        """The validated action (raises :class:`InvalidActionError`)."""
        ...

    def rest(self, engine: Any) -> None:
        """Write the neutral setpoint of influence probes."""
        ...

    def perturb(self, engine: Any) -> None:
        """Write the probe setpoint of influence probes."""
        ...
