"""Gym-ANM's (P, Q) capability regions of renewable generators and DES units.

Each device's set-point ``x0 = (a_P, a_Q)`` (p.u.) is mapped, as in Gym-ANM
(``Generator.map_pq`` and ``StorageUnit.map_pq``), to the closest point of its feasible region
in Euclidean distance; the projection is solved exactly in closed form by
:mod:`marl_vvc.core.polygon`.

Feasible regions, all values in p.u. on the network's ``baseMVA`` (Gym-ANM's names; ``τ``/``ρ`` are
the slopes and offsets of the sloped lines that cut the corners of the P/Q box)::

    renewable generator:  p_min <= p <= p_max,   p <= p_pot,   q_min <= q <= q_max,
                          q <= τ1 p + ρ1,   q >= τ2 p + ρ2
    DES unit:             p_min <= p <= p_max,   q_min <= q <= q_max,
                          q <= τ1 p + ρ1,   q >= τ2 p + ρ2,   q >= τ3 p + ρ3,   q <= τ4 p + ρ4,
                          (SoC - SoC_max) / (Δt η) <= p <= η (SoC - SoC_min) / Δt

with ``τ1 = (Q+ - Q_max) / (P_max - P+)``, ``ρ1 = Q_max - τ1 P+``,
``τ2 = (Q- - Q_min) / (P_max - P+)``, ``ρ2 = Q_min - τ2 P+`` (both 0 / the box bounds when
``P+ = P_max``), and for the DES additionally ``τ3 = (Q_min - Q-) / (P- - P_min)``,
``ρ3 = Q_min - τ3 P-``, ``τ4 = (Q_max - Q+) / (P- - P_min)``, ``ρ4 = Q_max - τ4 P-``. The
generator's available power is first clipped, ``p_pot <- clip(p_pot, p_min, p_max)``. After the
projection the DES state of charge moves by ``SoC <- SoC - Δt η P`` when charging (``P <= 0``) or
``SoC <- SoC - Δt P / η`` when discharging, then is clipped to ``[SoC_min, SoC_max]``. Positive
``P`` and ``Q`` are injections into the network.

The projection is invariant to a common scaling of P and Q, so MW/MVAr inputs with MW/MVAr
parameters give the same point (times ``baseMVA``) up to rounding; Gym-ANM itself works in p.u.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from marl_vvc.core.polygon import (
    check_finite,
    is_feasible,
    project_onto_halfplanes,
    project_polygon,
)

__all__ = [
    "GeneratorCapability",
    "StorageCapability",
    "is_feasible",
    "project_onto_halfplanes",
]


def _slopes(
    p_edge: float, p_corner: float, q_edge_hi: float, q_hi: float, q_edge_lo: float, q_lo: float
) -> tuple[float, float, float, float]:
    """Gym-ANM's (τ_hi, ρ_hi, τ_lo, ρ_lo) of the two lines cutting the corners at ``p_edge``."""
    if p_edge == p_corner:
        tau_hi = tau_lo = 0.0
    else:
        tau_hi = (q_edge_hi - q_hi) / (p_edge - p_corner)
        tau_lo = (q_edge_lo - q_lo) / (p_edge - p_corner)
    return tau_hi, q_hi - tau_hi * p_corner, tau_lo, q_lo - tau_lo * p_corner


def _stack(
    rows: tuple[tuple[tuple[float, float], float], ...],
) -> tuple[np.ndarray, np.ndarray]:
    """``(G, h)`` arrays from ``((g_p, g_q), h)`` rows."""
    return np.array([r[0] for r in rows], dtype=float), np.array([r[1] for r in rows], dtype=float)


def _pu(value: float | None, default: float, base_mva: float) -> float:
    """``value / base_mva``, or ``default`` (already in p.u.) when the table leaves it empty."""
    return default if value is None else value / base_mva


@dataclass(frozen=True)
class GeneratorCapability:
    """PQ capability region of a renewable (non-slack) generator, Gym-ANM's ``Generator``.

    All values are in p.u. on the network's ``baseMVA``; :meth:`from_physical` builds one from
    Gym-ANM's device table (MW/MVAr, empty ``P+``/``Q+``/``Q-`` meaning "no sloped corners").

    Attributes:
        p_max: Maximum active power ``P_max``.
        q_max: Maximum reactive power ``Q_max``.
        q_min: Minimum reactive power ``Q_min``.
        p_plus: Active power ``P+`` where the sloped corner lines start (``P_max``: none).
        q_plus: Reactive power ``Q+`` of the upper sloped line at ``p = P_max``.
        q_minus: Reactive power ``Q-`` of the lower sloped line at ``p = P_max``.
        p_min: Minimum active power ``P_min`` (>= 0).
    """

    p_max: float
    q_max: float
    q_min: float
    p_plus: float
    q_plus: float
    q_minus: float
    p_min: float = 0.0

    def __post_init__(self) -> None:
        values = {f: getattr(self, f) for f in _GEN_FIELDS}
        check_finite(**values)
        if not 0.0 <= self.p_min <= self.p_plus <= self.p_max:
            raise ValueError(f"need 0 <= p_min <= p_plus <= p_max, got {values}")
        if not self.q_min <= self.q_minus <= self.q_plus <= self.q_max:
            raise ValueError(f"need q_min <= q_minus <= q_plus <= q_max, got {values}")
        if not all(math.isfinite(x) for x in self.slopes):
            raise ValueError(f"p_max - p_plus is too small for finite corner slopes: {values}")

    @classmethod
    def from_physical(
        cls,
        *,
        base_mva: float,
        p_max: float,
        q_max: float,
        q_min: float,
        p_min: float = 0.0,
        p_plus: float | None = None,
        q_plus: float | None = None,
        q_minus: float | None = None,
    ) -> GeneratorCapability:
        """Build from MW/MVAr values (Gym-ANM's device table), dividing by ``base_mva``.

        Args:
            base_mva: Network base power (MVA).
            p_max: ``PMAX`` (MW).
            q_max: ``QMAX`` (MVAr).
            q_min: ``QMIN`` (MVAr).
            p_min: ``PMIN`` (MW).
            p_plus: ``P+`` (MW); None means ``PMAX``.
            q_plus: ``Q+`` (MVAr); None means ``QMAX``.
            q_minus: ``Q-`` (MVAr); None means ``QMIN``.

        Returns:
            The capability in p.u.
        """
        pmax, qmax, qmin = p_max / base_mva, q_max / base_mva, q_min / base_mva
        return cls(
            p_max=pmax,
            q_max=qmax,
            q_min=qmin,
            p_plus=_pu(p_plus, pmax, base_mva),
            q_plus=_pu(q_plus, qmax, base_mva),
            q_minus=_pu(q_minus, qmin, base_mva),
            p_min=p_min / base_mva,
        )

    @property
    def slopes(self) -> tuple[float, float, float, float]:
        """``(τ1, ρ1, τ2, ρ2)``: ``q <= τ1 p + ρ1`` and ``q >= τ2 p + ρ2``."""
        return _slopes(self.p_max, self.p_plus, self.q_plus, self.q_max, self.q_minus, self.q_min)

    def clip_available(self, p_pot: float) -> float:
        """Available power clipped to ``[p_min, p_max]`` (Gym-ANM's ``p_pot`` setter)."""
        check_finite(p_pot=p_pot)
        return float(min(max(p_pot, self.p_min), self.p_max))

    def halfplanes(self, p_pot: float) -> tuple[np.ndarray, np.ndarray]:
        """Constraints ``G x <= h`` of the region for available power ``p_pot`` (Gym-ANM's order).

        Args:
            p_pot: Available active power of the step (clipped to ``[p_min, p_max]`` here).

        Returns:
            ``(G, h)`` with ``G`` of shape ``(7, 2)``.
        """
        tau1, rho1, tau2, rho2 = self.slopes
        rows = (
            ((-1.0, 0.0), -self.p_min),  # p >= p_min
            ((1.0, 0.0), self.p_max),  # p <= p_max
            ((1.0, 0.0), self.clip_available(p_pot)),  # p <= p_pot
            ((0.0, -1.0), -self.q_min),  # q >= q_min
            ((0.0, 1.0), self.q_max),  # q <= q_max
            ((-tau1, 1.0), rho1),  # q <= τ1 p + ρ1
            ((tau2, -1.0), -rho2),  # q >= τ2 p + ρ2
        )
        return _stack(rows)

    def project(self, p: float, q: float, p_pot: float) -> tuple[float, float]:
        """Closest feasible ``(p, q)`` to the set-point, given the available power ``p_pot``.

        Args:
            p: Active power set-point (p.u.).
            q: Reactive power set-point (p.u.).
            p_pot: Available active power of the step (p.u.).

        Returns:
            The applied ``(p, q)`` (p.u.).
        """
        check_finite(p_pot=p_pot)
        return project_polygon(p, q, self._rows(self.clip_available(p_pot)))

    def _rows(self, pot: float) -> list[tuple[float, float, float]]:
        """:meth:`halfplanes` as Python tuples (hot path)."""
        rows = self.__dict__.get("_static_rows")
        if rows is None:
            tau1, rho1, tau2, rho2 = self.slopes
            rows = [
                (-1.0, 0.0, -self.p_min), (1.0, 0.0, self.p_max), (0.0, -1.0, -self.q_min),
                (0.0, 1.0, self.q_max), (-tau1, 1.0, rho1), (tau2, -1.0, -rho2),
            ]  # fmt: skip
            object.__setattr__(self, "_static_rows", rows)
        return [*rows, (1.0, 0.0, pot)]

    def is_feasible(self, p: float, q: float, p_pot: float, *, atol: float = 0.0) -> bool:
        """Whether ``(p, q)`` lies in the region (each constraint within ``atol``)."""
        g, h = self.halfplanes(p_pot)
        return is_feasible(p, q, g, h, atol=atol)


_GEN_FIELDS = ("p_max", "q_max", "q_min", "p_plus", "q_plus", "q_minus", "p_min")
_DES_FIELDS = (
    "p_max", "p_min", "q_max", "q_min", "p_plus", "p_minus", "q_plus", "q_minus",
    "soc_max", "soc_min", "eff",
)  # fmt: skip


@dataclass(frozen=True)
class StorageCapability:
    """PQ capability region and energy model of a DES unit, Gym-ANM's ``StorageUnit``.

    All values in p.u. on ``baseMVA`` (energies in p.u.·h); :meth:`from_physical` builds one
    from Gym-ANM's device table.

    Attributes:
        p_max: Maximum (discharging) active power ``P_max`` (>= 0).
        p_min: Minimum (charging) active power ``P_min`` (<= 0).
        q_max: Maximum reactive power ``Q_max``.
        q_min: Minimum reactive power ``Q_min``.
        p_plus: ``P+``, where the discharging-side sloped lines start (``P_max``: none).
        p_minus: ``P-``, where the charging-side sloped lines start (``P_min``: none).
        q_plus: ``Q+``, reached by the upper sloped lines at ``P_max`` and ``P_min``.
        q_minus: ``Q-``, reached by the lower sloped lines at ``P_max`` and ``P_min``.
        soc_max: Maximum state of charge ``SoC_max`` (p.u.·h).
        soc_min: Minimum state of charge ``SoC_min`` (p.u.·h).
        eff: Round-trip efficiency ``η`` in ``(0, 1]``.
    """

    p_max: float
    p_min: float
    q_max: float
    q_min: float
    p_plus: float
    p_minus: float
    q_plus: float
    q_minus: float
    soc_max: float
    soc_min: float = 0.0
    eff: float = 1.0

    def __post_init__(self) -> None:
        values = {f: getattr(self, f) for f in _DES_FIELDS}
        check_finite(**values)
        if not self.p_min <= self.p_minus <= self.p_plus <= self.p_max:
            raise ValueError(f"need p_min <= p_minus <= p_plus <= p_max, got {values}")
        if not self.p_min <= 0.0 <= self.p_max:
            raise ValueError(f"need p_min <= 0 <= p_max, got {values}")
        if not self.q_min <= self.q_minus <= self.q_plus <= self.q_max:
            raise ValueError(f"need q_min <= q_minus <= q_plus <= q_max, got {values}")
        if not 0.0 <= self.soc_min <= self.soc_max:
            raise ValueError(f"need 0 <= soc_min <= soc_max, got {values}")
        if not 0.0 < self.eff <= 1.0:
            raise ValueError(f"need 0 < eff <= 1, got {values}")
        if not all(math.isfinite(x) for x in self.slopes):
            raise ValueError(f"P+/P- too close to P_max/P_min for finite slopes: {values}")

    @classmethod
    def from_physical(
        cls,
        *,
        base_mva: float,
        p_max: float,
        p_min: float,
        q_max: float,
        q_min: float,
        soc_max: float,
        soc_min: float = 0.0,
        eff: float = 1.0,
        p_plus: float | None = None,
        p_minus: float | None = None,
        q_plus: float | None = None,
        q_minus: float | None = None,
    ) -> StorageCapability:
        """Build from MW/MVAr/MWh values (Gym-ANM's device table), dividing by ``base_mva``.

        Args:
            base_mva: Network base power (MVA).
            p_max: ``PMAX`` (MW).
            p_min: ``PMIN`` (MW).
            q_max: ``QMAX`` (MVAr).
            q_min: ``QMIN`` (MVAr).
            soc_max: ``SOC_MAX`` (MWh).
            soc_min: ``SOC_MIN`` (MWh).
            eff: ``EFF`` (dimensionless).
            p_plus: ``P+`` (MW); None means ``PMAX``.
            p_minus: ``P-`` (MW); None means ``PMIN``.
            q_plus: ``Q+`` (MVAr); None means ``QMAX``.
            q_minus: ``Q-`` (MVAr); None means ``QMIN``.

        Returns:
            The capability in p.u. (p.u.·h for the state of charge).
        """
        pmax, pmin = p_max / base_mva, p_min / base_mva
        qmax, qmin = q_max / base_mva, q_min / base_mva
        return cls(
            p_max=pmax,
            p_min=pmin,
            q_max=qmax,
            q_min=qmin,
            p_plus=_pu(p_plus, pmax, base_mva),
            p_minus=_pu(p_minus, pmin, base_mva),
            q_plus=_pu(q_plus, qmax, base_mva),
            q_minus=_pu(q_minus, qmin, base_mva),
            soc_max=soc_max / base_mva,
            soc_min=soc_min / base_mva,
            eff=eff,
        )

    @property
    def slopes(self) -> tuple[float, float, float, float, float, float, float, float]:
        """``(τ1, ρ1, τ2, ρ2, τ3, ρ3, τ4, ρ4)`` of the four sloped corner lines.

        ``q <= τ1 p + ρ1`` and ``q >= τ2 p + ρ2`` on the discharging side,
        ``q >= τ3 p + ρ3`` and ``q <= τ4 p + ρ4`` on the charging side.
        """
        tau1, rho1, tau2, rho2 = _slopes(
            self.p_max, self.p_plus, self.q_plus, self.q_max, self.q_minus, self.q_min
        )
        if self.p_min == self.p_minus:
            tau3 = tau4 = 0.0
        else:
            tau3 = (self.q_min - self.q_minus) / (self.p_minus - self.p_min)
            tau4 = (self.q_max - self.q_plus) / (self.p_minus - self.p_min)
        rho3 = self.q_min - tau3 * self.p_minus
        rho4 = self.q_max - tau4 * self.p_minus
        return tau1, rho1, tau2, rho2, tau3, rho3, tau4, rho4

    def power_limits(self, soc: float, delta_t: float) -> tuple[float, float]:
        """Active-power bounds that the state of charge allows over one step of ``delta_t`` hours.

        Args:
            soc: State of charge before the step (p.u.·h).
            delta_t: Step length (hours).

        Returns:
            ``(p_lo, p_hi)`` = ``((SoC - SoC_max)/(Δt η), η (SoC - SoC_min)/Δt)``.

        Raises:
            ValueError: Non-finite input or ``delta_t <= 0``.
        """
        check_finite(soc=soc, delta_t=delta_t)
        if delta_t <= 0.0:
            raise ValueError(f"delta_t must be positive, got {delta_t!r}")
        return (
            (soc - self.soc_max) / (delta_t * self.eff),
            self.eff * (soc - self.soc_min) / delta_t,
        )

    def halfplanes(self, soc: float, delta_t: float) -> tuple[np.ndarray, np.ndarray]:
        """Constraints ``G x <= h`` of the region at state of charge ``soc`` (Gym-ANM's order).

        Args:
            soc: State of charge before the step (p.u.·h).
            delta_t: Step length (hours).

        Returns:
            ``(G, h)`` with ``G`` of shape ``(10, 2)``.
        """
        tau1, rho1, tau2, rho2, tau3, rho3, tau4, rho4 = self.slopes
        p_lo, p_hi = self.power_limits(soc, delta_t)
        rows = (
            ((-1.0, 0.0), -self.p_min),  # p >= p_min
            ((1.0, 0.0), self.p_max),  # p <= p_max
            ((0.0, -1.0), -self.q_min),  # q >= q_min
            ((0.0, 1.0), self.q_max),  # q <= q_max
            ((-tau1, 1.0), rho1),  # q <= τ1 p + ρ1
            ((tau2, -1.0), -rho2),  # q >= τ2 p + ρ2
            ((tau3, -1.0), -rho3),  # q >= τ3 p + ρ3
            ((-tau4, 1.0), rho4),  # q <= τ4 p + ρ4
            ((-1.0, 0.0), -p_lo),  # p >= (SoC - SoC_max) / (Δt η): room left to charge
            ((1.0, 0.0), p_hi),  # p <= η (SoC - SoC_min) / Δt: energy left to discharge
        )
        return _stack(rows)

    def project(self, p: float, q: float, soc: float, delta_t: float) -> tuple[float, float]:
        """Closest feasible ``(p, q)`` to the set-point at state of charge ``soc``.

        Args:
            p: Active power set-point (p.u.; > 0 discharges).
            q: Reactive power set-point (p.u.).
            soc: State of charge before the step (p.u.·h).
            delta_t: Step length (hours).

        Returns:
            The applied ``(p, q)`` (p.u.).

        Raises:
            ValueError: The state of charge lies so far outside ``[soc_min, soc_max]`` that no
                power is feasible.
        """
        p_lo, p_hi = self.power_limits(soc, delta_t)
        rows = self.__dict__.get("_static_rows")
        if rows is None:
            tau1, rho1, tau2, rho2, tau3, rho3, tau4, rho4 = self.slopes
            rows = [
                (-1.0, 0.0, -self.p_min), (1.0, 0.0, self.p_max), (0.0, -1.0, -self.q_min),
                (0.0, 1.0, self.q_max), (-tau1, 1.0, rho1), (tau2, -1.0, -rho2),
                (tau3, -1.0, -rho3), (-tau4, 1.0, rho4),
            ]  # fmt: skip
            object.__setattr__(self, "_static_rows", rows)
        return project_polygon(p, q, [*rows, (-1.0, 0.0, -p_lo), (1.0, 0.0, p_hi)])

    def is_feasible(
        self, p: float, q: float, soc: float, delta_t: float, *, atol: float = 0.0
    ) -> bool:
        """Whether ``(p, q)`` lies in the region (each constraint within ``atol``)."""
        g, h = self.halfplanes(soc, delta_t)
        return is_feasible(p, q, g, h, atol=atol)

    def next_soc(self, soc: float, p: float, delta_t: float) -> float:
        """State of charge after injecting ``p`` for ``delta_t`` hours (Gym-ANM's ``update_soc``).

        Args:
            soc: State of charge before the step (p.u.·h).
            p: Applied active power (p.u.; > 0 discharges).
            delta_t: Step length (hours).

        Returns:
            ``SoC - Δt η p`` if ``p <= 0`` else ``SoC - Δt p / η``, clipped to
            ``[soc_min, soc_max]``.
        """
        check_finite(soc=soc, p=p, delta_t=delta_t)
        new = soc - delta_t * self.eff * p if p <= 0 else soc - delta_t * p / self.eff
        return float(min(max(new, self.soc_min), self.soc_max))
