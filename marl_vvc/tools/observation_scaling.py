"""Observation scaling shared by training and evaluation: centred, scaled voltages."""

from __future__ import annotations

from typing import Any

import numpy as np

#: Per-unit voltages are centred and scaled as (v − 1) / VOLTAGE_SCALE (±1 at the 0.95/1.05 band).
VOLTAGE_SCALE = 0.05


def voltage_entries(space: Any) -> np.ndarray:
    """Boolean mask of the per-unit voltage entries of a ``Box`` observation space.

    Voltages are the entries bounded by ``[0, inf)`` (up to a few ulps): every other entry of
    the local and the PowerGym observations (statuses, tap positions, SoC, discharge fraction,
    time features) has a finite upper bound or an infinite lower one.
    """
    low, high = np.asarray(space.low, dtype=float), np.asarray(space.high, dtype=float)
    mask: np.ndarray = (np.abs(low) < 1e-12) & np.isposinf(high)
    return mask


def voltage_deviation(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``obs`` with its voltage entries (``mask``) replaced by ``(v − 1) / VOLTAGE_SCALE``."""
    out = np.array(obs, dtype=np.float32, copy=True)
    out[..., mask] = (out[..., mask] - 1.0) / VOLTAGE_SCALE
    return out


#: Observation transforms a training run may record in ``marl_vvc_run.json``.
OBS_TRANSFORMS = ("none", "voltage_deviation")
