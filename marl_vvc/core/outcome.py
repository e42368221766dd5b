"""Immutable results of a power flow and of a grid-core step (the types every layer shares)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class GridSnapshot(NamedTuple):
    """What one power flow produced (immutable; its arrays are read-only).

    Attributes:
        v: ``(n_nodes,)`` per-unit node voltages, bus-major (PowerGym observation order).
        bus_vmax: ``(n_buses,)`` highest node voltage of each bus.
        bus_vmin: ``(n_buses,)`` lowest node voltage of each bus.
        losses_kw: Circuit losses.
        losses_kvar: Circuit reactive losses.
        total_power_kw: Source power (negative = supplied by the source).
        total_power_kvar: Source reactive power.
        converged: Whether the power flow converged.
        error: OpenDSS's message when it did not.
    """

    v: np.ndarray
    bus_vmax: np.ndarray
    bus_vmin: np.ndarray
    losses_kw: float
    losses_kvar: float
    total_power_kw: float
    total_power_kvar: float
    converged: bool
    error: str | None


class RewardTerms(NamedTuple):
    """Global reward terms of one step (all ≤ 0 except the ratio).

    Attributes:
        power_loss_ratio: Loss ratio (PowerGym) or the clipped energy loss (Gym-ANM).
        loss: Loss term ``p``.
        voltage: Voltage term ``v`` (Gym-ANM: the clipped penalty).
        control: Control term ``c`` (the devices' costs).
        penalty: Divergence or collapse penalty (0 on a normal step).
    """

    power_loss_ratio: float
    loss: float
    voltage: float
    control: float
    penalty: float = 0.0

    @property
    def reward(self) -> float:
        """Global reward ``p + v + c`` (plus the penalty when the step failed)."""
        return self.loss + self.voltage + self.control + self.penalty


class Scored(NamedTuple):
    """What a reward function returns for one step.

    Attributes:
        terms: Global reward terms.
        device_costs: ``(n_devices,)`` cost ``C_i`` of each device, device order.
        violation: ``(n_buses,)`` non-negative voltage violation of each bus.
        info: Task-specific info terms.
    """

    terms: RewardTerms
    device_costs: np.ndarray
    violation: np.ndarray
    info: dict[str, Any]


class StepOutcome(NamedTuple):
    """Result of one step of the grid core.

    Attributes:
        snapshot: The power-flow snapshot after the step.
        terms: Global reward terms.
        device_costs: ``(n_devices,)`` control cost ``C_i`` of each device.
        violation: ``(n_buses,)`` voltage violation of each bus (≥ 0).
        info: The task's info terms plus ``converged``.
        t: Steps taken in this episode.
        terminated: The episode ended (horizon reached or power flow failed).
        truncated: The horizon was reached on a task whose episodes are cut by a time limit.
    """

    snapshot: GridSnapshot
    terms: RewardTerms
    device_costs: np.ndarray
    violation: np.ndarray
    info: dict[str, Any]
    t: int
    terminated: bool
    truncated: bool = False

    @property
    def reward(self) -> float:
        """Global reward."""
        return self.terms.reward
