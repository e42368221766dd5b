"""Strategies that split a step's global reward into per-agent rewards.

Global reward ``R = p + v + c`` (each term ≤ 0):

- ``p = −clip(losses / supplied power, 0, 1)·power_w``
- ``v = −Σ_bus [max(0, max V_bus − v_max) + max(0, v_min − min V_bus)]`` (only the highest and
  lowest node of each bus count)
- ``c = −Σ_i C_i``, the devices' control costs (switching, tap travel, discharge, and the SoC
  deviation at the last step).

Splitting (``mode``):

- ``split``: ``r_i = −(C_i + Σ_b W[i, b]·viol_b + w_i·P)`` where each column of ``W`` and the
  vector ``w`` are non-negative and sum to 1 over agents, so ``Σ_i r_i = R`` exactly.
- ``shared``: every agent gets ``R``.
- ``local``: ``r_i = −(C_i + Σ_{b in zone(i)} viol_b)``, the zone being the buses where agent
  ``i`` has the largest weight.
- ``difference``: ``r_i = R(a) − R(a with agent i holding)``, exact counterfactual credit
  (Wolpert & Tumer's difference reward): the env scores each moving agent's counterfactual with
  one extra power flow per step (:meth:`~marl_vvc.core.grid.GridCore.trial`); an agent that
  holds gets 0. The rewards do not add up to ``R``.

``local_ratio`` blends any mode with the shared reward: ``(1 − ρ)·R + ρ·r_i``.
"""

from __future__ import annotations

import numpy as np

from marl_vvc.core.outcome import RewardTerms
from marl_vvc.errors import ConfigError

REWARD_MODES = ("split", "shared", "local", "difference")


class RewardSplitter:
    """Turns global terms into per-agent rewards.

    Args:
        bus_weights: ``(n_agents, n_buses)`` non-negative, columns summing to 1.
        loss_weights: ``(n_agents,)`` non-negative, summing to 1.
        mode: One of :data:`REWARD_MODES`.
        local_ratio: Blend with the shared reward (0 = fully shared, 1 = fully ``mode``).

    Raises:
        ConfigError: Unknown mode, ratio outside [0, 1] or weights that do not sum to 1.
    """

    def __init__(
        self,
        bus_weights: np.ndarray,
        loss_weights: np.ndarray,
        mode: str = "split",
        local_ratio: float = 1.0,
    ) -> None:
        if mode not in REWARD_MODES:
            raise ConfigError(f"reward_mode must be one of {REWARD_MODES}, got {mode!r}")
        if not 0.0 <= local_ratio <= 1.0:
            raise ConfigError(f"local_ratio must be in [0, 1], got {local_ratio}")
        bus_weights = np.asarray(bus_weights, dtype=float)
        loss_weights = np.asarray(loss_weights, dtype=float)
        if np.any(bus_weights < 0) or not np.allclose(bus_weights.sum(axis=0), 1.0, atol=1e-12):
            raise ConfigError("bus weights must be non-negative and sum to 1 over agents")
        if np.any(loss_weights < 0) or not np.isclose(loss_weights.sum(), 1.0, atol=1e-12):
            raise ConfigError("loss weights must be non-negative and sum to 1 over agents")
        self.mode = mode
        self.local_ratio = float(local_ratio)
        self.bus_weights = bus_weights
        self.loss_weights = loss_weights
        zone = np.argmax(bus_weights, axis=0)
        self.zone_mask = (zone[None, :] == np.arange(bus_weights.shape[0])[:, None]).astype(float)

    def __call__(
        self,
        terms: RewardTerms,
        device_costs: np.ndarray,
        violation: np.ndarray,
        counterfactual: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per-agent rewards for one step, in device order.

        Args:
            terms: The step's global reward terms.
            device_costs: Each device's own control cost.
            violation: Each bus's voltage violation.
            counterfactual: ``difference`` mode: the global reward had each agent held
                (NaN where the agent did hold).
        """
        total = terms.reward
        if self.mode == "difference":
            if counterfactual is None:
                raise ConfigError("the difference reward needs the counterfactual rewards")
            own = np.where(np.isnan(counterfactual), 0.0, total - counterfactual)
        elif self.mode == "shared":
            own = np.full(len(device_costs), total)
        elif self.mode == "split":
            own = -(device_costs + self.bus_weights @ violation - self.loss_weights * terms.loss)
        else:
            own = -(device_costs + self.zone_mask @ violation)
        if self.local_ratio == 1.0:
            return own
        return (1.0 - self.local_ratio) * total + self.local_ratio * own
