"""The capacitor-switching reward as a pure function (see :mod:`marl_vvc.tasks.capswitch`).

With ``P(t)`` the losses after step ``t``, ``V(t)`` the per-bus violations and ``n(t)`` the
toggles of the step::

    r(t) = (P(t−1) − P(t)) / P(0)  −  violation_weight · Σ ΔV(t)  −  switch_cost · n(t)

``ΔV(t) = V(t) − V(t−1)`` (``change``) or ``V(t)`` (``absolute``). The split charges the loss
term equally to the agents that toggled (to all when none did), the violation term by the
capacitors' bus weights, and the switch cost to the agent that switched; it adds up to r(t).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

VIOLATION_MODES = ("change", "absolute")


class SwitchingReward(NamedTuple):
    """One step's switching reward.

    Attributes:
        reward: ``r(t)``.
        split: ``(n_cap,)`` per-agent shares adding up to ``reward``.
        loss_reduction: ``(P(t−1) − P(t)) / P(0)``.
        violation_penalty: ``violation_weight · Σ ΔV(t)``.
        switches: ``n(t)``.
    """

    reward: float
    split: np.ndarray
    loss_reduction: float
    violation_penalty: float
    switches: int


def switching_reward(
    toggles: Sequence[int],
    loss: tuple[float, float, float],
    violation: tuple[np.ndarray, np.ndarray],
    bus_weights: np.ndarray,
    *,
    violation_weight: float,
    switch_cost: float,
    mode: str = "change",
) -> SwitchingReward:
    """Score one switching step.

    Args:
        toggles: 0/1 per capacitor agent.
        loss: ``(P(0), P(t−1), P(t))`` in kW.
        violation: ``(V(t−1), V(t))`` per bus.
        bus_weights: ``(n_cap, n_buses)`` columns summing to 1 over the capacitors.
        violation_weight: Weight of the violation term.
        switch_cost: Cost per toggle.
        mode: ``change`` or ``absolute``.
    """
    loss0, prev, now = loss
    viol_prev, viol = violation
    n = sum(toggles)
    loss_red = (prev - now) / loss0 if loss0 > 0 else 0.0
    dviol = viol - viol_prev if mode == "change" else viol
    w, c = violation_weight, switch_cost
    penalty = w * float(dviol.sum())
    reward = loss_red - penalty - c * n
    tog = np.array(toggles, dtype=float)
    share = tog / n if n else np.full(len(tog), 1.0 / len(tog))
    split = loss_red * share - w * (bus_weights @ dviol) - c * tog
    return SwitchingReward(reward, split, loss_red, penalty, n)
