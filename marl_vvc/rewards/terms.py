"""Reward terms shared by the tasks: per-bus voltage violation and the loss ratio."""

from __future__ import annotations

import numpy as np

from marl_vvc.core.outcome import RewardTerms, Scored

__all__ = ["RewardTerms", "Scored", "bus_violation", "loss_ratio"]


def bus_violation(vmax: np.ndarray, vmin: np.ndarray, v_min: float, v_max: float) -> np.ndarray:
    """Non-negative voltage violation of every bus (its highest and lowest node count)."""
    over = vmax - v_max
    np.maximum(over, 0.0, out=over)
    under = v_min - vmin
    np.maximum(under, 0.0, out=under)
    over += under
    return over


def loss_ratio(losses_kw: float, total_power_kw: float) -> float:
    """Losses over the power drawn from the source, clipped to [0, 1]."""
    if total_power_kw == 0.0:
        return 1.0
    return min(max(-losses_kw / total_power_kw, 0.0), 1.0)
