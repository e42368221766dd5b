"""Gym-ANM's reward as a pure function (``../shared/parity/gym-anm/README.md``).

All quantities in per unit of ``base_mva``:
``e_loss = Δt·(losses + Σ curtailment − Σ P_storage)`` and
``penalty = Δt·λ·(Σ_bus voltage excursions + Σ_branch overloads)``, clipped to
``[−clip_loss, clip_loss]`` and ``[0, clip_penalty]``; ``reward = −(e_loss + penalty)``.

For the per-agent split each generator is charged its own curtailment and each storage unit
its (negative) energy, losses go through the loss weights and each bus's excursion, plus the
overload of the branches feeding it, through the bus weights; clipping scales every share by
the same factor, so the shares still add up to the reward.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

from marl_vvc.core.outcome import GridSnapshot, RewardTerms, Scored


class AnmParams(Protocol):
    """Gym-ANM reward constants (see :class:`marl_vvc.systems.config.AnmReward`)."""

    @property
    def lam(self) -> float:
        """Weight λ of the constraint violations."""
        ...

    @property
    def clip_loss(self) -> float:
        """Bound of the energy-loss term."""
        ...

    @property
    def clip_penalty(self) -> float:
        """Bound of the penalty term."""
        ...

    @property
    def gamma(self) -> float:
        """Discount of the non-convergence reward."""
        ...


class AnmFlows(NamedTuple):
    """What the Gym-ANM reward reads besides the bus voltages (all p.u.).

    Attributes:
        losses: Circuit losses.
        curtail: ``(n_gen,)`` curtailed active power of each generator.
        storage_p: ``(n_unit,)`` active power of each storage unit (+ = discharge).
        overload: ``(n_buses,)`` overload of the branches feeding each bus.
        n_other: Devices before the generators in device order (they cost nothing here).
    """

    losses: float
    curtail: np.ndarray
    storage_p: np.ndarray
    overload: np.ndarray
    n_other: int


def diverged_reward(p: AnmParams) -> float:
    """Gym-ANM's reward for a power flow that does not converge: ``−clip_penalty/(1 − γ)``."""
    return -p.clip_penalty / (1.0 - p.gamma)


def anm_reward(
    p: AnmParams, dt: float, v_min: float, v_max: float, f: AnmFlows, snap: GridSnapshot
) -> Scored:
    """Gym-ANM's terms, per-device costs, per-bus violations and info terms."""
    e_raw = dt * (f.losses + f.curtail.sum() - f.storage_p.sum())
    excursion = np.maximum(snap.bus_vmax - v_max, 0.0) + np.maximum(v_min - snap.bus_vmin, 0.0)
    violation = dt * p.lam * (excursion + f.overload)
    pen_raw = float(violation.sum())
    e_loss = float(np.sign(e_raw) * min(abs(e_raw), p.clip_loss))
    penalty = min(max(pen_raw, 0.0), p.clip_penalty)
    fe = e_loss / e_raw if e_raw != 0.0 else 1.0
    fp = penalty / pen_raw if pen_raw > 0.0 else 1.0
    n_gen = len(f.curtail)
    costs = np.zeros(f.n_other + n_gen + len(f.storage_p))
    costs[f.n_other : f.n_other + n_gen] = dt * f.curtail * fe
    costs[f.n_other + n_gen :] = -dt * f.storage_p * fe
    terms = RewardTerms(
        power_loss_ratio=e_loss,
        loss=-dt * f.losses * fe,
        voltage=-penalty,
        control=-float(costs.sum()),
    )
    info = {"e_loss": e_loss, "penalty": penalty, "e_loss_raw": e_raw, "penalty_raw": pen_raw}
    return Scored(terms, costs, violation * fp, info)
