"""Fleets of P/Q devices: renewable generators and storage units (Gym-ANM's DER agents).

Set-points are ``(P, Q)`` in MW / MVAr; each is projected onto its device's capability region
(closed form, :mod:`marl_vvc.core.capability`) in per unit of ``base_mva`` before it is
written. A generator's region also depends on the power available in the step, which the
task sets in :attr:`GeneratorFleet.available` before the step's actions are applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from marl_vvc.core.devices import Generator, Storage


class _PQFleet:
    """Shared by generators and storage: applied (P, Q) in p.u. and the hooks they skip."""

    n_features = 3
    opendss_controlled = False
    devices: tuple[Generator, ...] | tuple[Storage, ...]

    def __init__(self, base_mva: float, n: int) -> None:
        self.base = base_mva
        self.names = tuple(d.name for d in self.devices)
        self.pq = np.zeros((n, 2))  # applied, p.u.

    def check(self, actions: Sequence[Any]) -> list[Any]:
        return [d.check(a) for d, a in zip(self.devices, actions, strict=True)]

    def prepare(self, engine: Any) -> None:
        """Nothing to set after a compile."""

    def adopt(self, engine: Any) -> None:
        """Not controlled by OpenDSS: nothing to read."""

    def feature_bounds(self) -> tuple[list[float], list[float]]:
        return [-1.0, -1.0, 0.0], [1.0, 1.0, 1.0]

    def applied(self) -> list[Any]:
        return [np.asarray(row * self.base, dtype=np.float32) for row in self.pq]

    def masks(self) -> list[np.ndarray]:
        return [np.ones(1, dtype=np.int8) for _ in self.devices]

    def _write(self, engine: Any, i: int, p: float, q: float) -> None:
        self.pq[i] = p, q
        engine.set_generator(self.names[i], p * self.base * 1000.0, q * self.base * 1000.0)


class GeneratorFleet(_PQFleet):
    """Renewable generators (PV, wind): an agent sets P (curtailment) and Q."""

    kind = "generator"

    def __init__(self, devices: Sequence[Generator], base_mva: float) -> None:
        self.devices: tuple[Generator, ...] = tuple(devices)
        super().__init__(base_mva, len(self.devices))
        n = len(self.devices)
        self.available = np.zeros(n)  # MW available in the coming step (set by the task)
        self.p_pot = np.zeros(n)  # p.u., clipped to [p_min, p_max]
        caps = [g.capability for g in self.devices]
        self.rating = np.array([c.p_max for c in caps])
        self._scale = np.array([[c.p_max, max(abs(c.q_min), c.q_max), c.p_max] for c in caps])

    def restore(self, engine: Any) -> None:
        """Start idle; the task sets the start-of-episode injections."""
        self.set_pq(engine, np.zeros(len(self.devices)), np.zeros(len(self.devices)))

    def apply(self, values: list[Any], engine: Any) -> None:
        self.set_pq(engine, [p for p, _ in values], [q for _, q in values])

    def set_pq(self, engine: Any, p_mw: Any, q_mvar: Any) -> None:
        """Project and write set-points (MW, MVAr) against :attr:`available`."""
        base = self.base
        for i, gen in enumerate(self.devices):
            cap = gen.capability
            pot = cap.clip_available(self.available[i] / base)
            p, q = cap.project(float(p_mw[i]) / base, float(q_mvar[i]) / base, pot)
            self.p_pot[i] = pot
            self._write(engine, i, p, q)

    def settle(self, engine: Any, converged: bool) -> None:
        """Nothing to read back."""

    def curtailment(self) -> np.ndarray:
        """Available minus applied active power of each generator (p.u., ≥ 0)."""
        return np.maximum(self.p_pot - self.pq[:, 0], 0.0)

    def features(self) -> list[float]:
        out = np.column_stack((self.pq, self.p_pot)) / self._scale.reshape(-1, 3)
        features: list[float] = np.clip(out, -1.0, 1.0).ravel().tolist()
        return features

    def hold(self) -> list[Any]:
        return [np.array([g.bounds[1][0], 0.0], dtype=np.float32) for g in self.devices]


class StorageFleet(_PQFleet):
    """Distributed energy storage: P (> 0 discharges) and Q, limited by the state of charge.

    Args:
        devices: The storage units.
        base_mva: Per-unit base.
        step_hours: Step length.
    """

    kind = "storage"

    def __init__(self, devices: Sequence[Storage], base_mva: float, step_hours: float) -> None:
        self.devices: tuple[Storage, ...] = tuple(devices)
        super().__init__(base_mva, len(self.devices))
        self.step_hours = step_hours
        self.soc = np.zeros(len(self.devices))  # MWh
        caps = [u.capability for u in self.devices]
        self._scale = np.array(
            [[max(abs(c.p_min), c.p_max), max(abs(c.q_min), c.q_max), c.soc_max] for c in caps]
        )

    def restore(self, engine: Any) -> None:
        """Empty and idle; the task draws the start-of-episode SoC."""
        self.soc = np.zeros(len(self.devices))
        self.apply([(0.0, 0.0)] * len(self.devices), engine)

    def apply(self, values: list[Any], engine: Any) -> None:
        base = self.base
        for j, unit in enumerate(self.devices):
            p, q = unit.capability.project(
                values[j][0] / base, values[j][1] / base, self.soc[j] / base, self.step_hours
            )
            self._write(engine, j, p, q)

    def settle(self, engine: Any, converged: bool) -> None:
        """On a converged step, the SoC after the step's energy."""
        if not converged:
            return
        base = self.base
        for j, unit in enumerate(self.devices):
            soc = unit.capability.next_soc(self.soc[j] / base, self.pq[j, 0], self.step_hours)
            self.soc[j] = soc * base

    def features(self) -> list[float]:
        out = np.column_stack((self.pq, self.soc / self.base)) / self._scale.reshape(-1, 3)
        features: list[float] = np.clip(out, -1.0, 1.0).ravel().tolist()
        return features

    def hold(self) -> list[Any]:
        return [np.zeros(2, dtype=np.float32) for _ in self.devices]
