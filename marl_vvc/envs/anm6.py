"""Gym-ANM's ANM6-Easy as a single-agent Gymnasium environment on the marl_vvc grid core.

## Action Space
``Box(6,)`` in MW / MVAr, Gym-ANM's order ``[P_pv, P_wind, Q_pv, Q_wind, P_des, Q_des]`` with its
(loose) bounds; the applied injections are the projections onto each device's capability
region, the available power and the storage's state of charge.

## Observation Space
``Box(18,)``, Gym-ANM's fully observed state, clipped to its box: P (MW) and Q (MVAr) of the
slack, residential load, PV, industrial load, wind, EV load and DES; the DES state of charge
(MWh); the PV and wind available power (MW); the time-of-day index (0–95).

## Rewards
``−(clip(e_loss, ±1) + clip(penalty, [0, 100]))`` per step (see :mod:`marl_vvc.tasks.anm`);
``−100/(1 − 0.995)`` when the power flow does not converge.

## Starting State
As Gym-ANM's ``reset(seed=s)``: time index, generator Q set-points and DES state of charge drawn
in that order from the environment's generator (same draws, same initial state).

## Episode End
Only when the power flow does not converge (terminated); afterwards every ``step`` returns a
zero observation and reward 0 until ``reset``, as in Gym-ANM. Wrap with ``TimeLimit`` for
finite episodes.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle

from marl_vvc.envs.base import CoreEnv
from marl_vvc.errors import ConfigError, InvalidActionError, ResetNeededError
from marl_vvc.tasks.anm6 import Anm6Task

SLACK_LIMIT_MW = 200.0  # ANM6-Easy's slack generator rating (Gym-ANM's device table)


# Gymnasium annotates Env.render with an unbound TypeVar that no concrete override matches.
class ANM6EasyEnv(CoreEnv, gym.Env, EzPickle):  # type: ignore[misc]
    """Gym-ANM's ANM6-Easy task: one agent sets the PV, wind and storage injections."""

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 4}
    _episode_fields = ("_started", "_terminal", "_np_random", "_np_random_seed")
    action_space: spaces.Box
    observation_space: spaces.Box

    def __init__(
        self, system: str = "ANM6Easy", *, render_mode: str | None = None, **overrides: Any
    ) -> None:
        EzPickle.__init__(self, system, render_mode=render_mode, **overrides)
        self._build(system, render_mode, overrides)
        core = self.core
        kinds = {d.kind for d in core.devices}
        if kinds - {"generator", "storage"} or not isinstance(core.task, Anm6Task):
            core.close()
            raise ConfigError(
                f"{system}: ANM6EasyEnv needs a system of generators and storage only"
            )
        self._anm: Anm6Task = core.task
        gens, units = self._anm.gens.devices, self._anm.units.devices
        lo_g = np.array([g.bounds[0] for g in gens]).reshape(-1, 2)
        hi_g = np.array([g.bounds[1] for g in gens]).reshape(-1, 2)
        lo_u = np.array([u.bounds[0] for u in units]).reshape(-1, 2)
        hi_u = np.array([u.bounds[1] for u in units]).reshape(-1, 2)
        self._low = np.concatenate((lo_g[:, 0], lo_g[:, 1], lo_u.ravel()))
        self._high = np.concatenate((hi_g[:, 0], hi_g[:, 1], hi_u.ravel()))
        self.action_space = spaces.Box(self._low, self._high, dtype=np.float64)
        obs_lo, obs_hi = self._observation_bounds()
        self.observation_space = spaces.Box(obs_lo, obs_hi, dtype=np.float64)
        self._terminal = False
        self._started = False

    @property
    def horizon(self) -> None:
        """Gym-ANM's episodes never end by themselves (no time limit)."""
        return None

    def _observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        anm, base = self._anm, self._anm.gens.base
        limits: dict[str, tuple[float, float, float, float]] = {
            "slack": (-SLACK_LIMIT_MW, SLACK_LIMIT_MW, -SLACK_LIMIT_MW, SLACK_LIMIT_MW)
        }
        for i, name in enumerate(self.core.load_names):
            pmin = float(anm.load_pmin_mw[i])
            limits[name] = (pmin, 0.0, pmin * float(anm.load_qp[i]), 0.0)
        for dev in (*anm.gens.devices, *anm.units.devices):
            c = dev.capability
            limits[dev.name] = (c.p_min * base, c.p_max * base, c.q_min * base, c.q_max * base)
        order = anm.state_devices
        lo = [limits[d][0] for d in order] + [limits[d][2] for d in order]
        hi = [limits[d][1] for d in order] + [limits[d][3] for d in order]
        lo += [u.capability.soc_min * base for u in anm.units.devices]
        hi += [u.capability.soc_max * base for u in anm.units.devices]
        lo += [g.capability.p_min * base for g in anm.gens.devices]
        hi += [g.capability.p_max * base for g in anm.gens.devices]
        return np.array([*lo, 0.0]), np.array([*hi, float(anm.n_steps - 1)])

    def _obs(self) -> np.ndarray:
        obs = self.core.state_vector()
        clipped: np.ndarray = np.clip(obs, self.observation_space.low, self.observation_space.high)
        return clipped

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw Gym-ANM's initial state (``options={"start": k}`` fixes the time index)."""
        snap = self._reset_gymnasium(seed, options)
        self._terminal = not snap.converged
        self._started = True
        return self._obs(), {"converged": snap.converged, "time_index": self._anm.time_index}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``[P_pv, P_wind, Q_pv, Q_wind, P_des, Q_des]`` (MW / MVAr).

        Raises:
            ResetNeededError: Before the first ``reset``.
            InvalidActionError: Wrong shape, NaN or outside the action box; nothing changes.
        """
        if not self._started:
            raise ResetNeededError("call reset() before step()")
        try:
            a = np.asarray(action, dtype=float)
        except (TypeError, ValueError):
            raise InvalidActionError(
                f"action: expected 6 numbers in {self.action_space}, got {action!r}"
            ) from None
        if a.shape != self._low.shape:
            raise InvalidActionError(
                f"action: expected shape {self._low.shape} for {self.action_space}, got {a.shape}"
            )
        if self._terminal:
            return np.zeros(self.observation_space.shape), 0.0, True, False, {"converged": False}
        gens = self._anm.gens.devices
        n_g = len(gens)
        values = {g.agent_id: (a[i], a[n_g + i]) for i, g in enumerate(gens)}
        for j, u in enumerate(self._anm.units.devices):
            values[u.agent_id] = (a[2 * n_g + 2 * j], a[2 * n_g + 2 * j + 1])
        out = self._step_core(self.core.validate(values))
        info = self._global_info(out)
        info["applied"] = dict(zip(self.core.agent_ids, self.core.applied_values(), strict=True))
        if not info["converged"]:
            self._terminal = True
            return np.zeros(self.observation_space.shape), float(out.reward), True, False, info
        info["time_index"] = self._anm.time_index
        self._render_step()
        return self._obs(), float(out.reward), False, False, info

    def hold_action(self) -> np.ndarray:
        """Generators at full available power with no reactive power; storage idle."""
        gens = list(self._anm.gens.hold())
        units = list(self._anm.units.hold())
        flat = [g[0] for g in gens] + [g[1] for g in gens] + [x for u in units for x in u]
        return np.array(flat, dtype=float)
