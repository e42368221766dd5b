"""Single-agent Gymnasium environment that reproduces PowerGym number for number.

One agent sets every device of the feeder through the same :class:`~marl_vvc.core.grid.GridCore`
as the multi-agent environment; the reward is the global reward.

## Action Space
``MultiDiscrete([2]*n_cap + [33]*n_reg + [33]*n_bat)``: capacitor status, regulator tap
position, battery level (16 = idle, above discharges, below charges). On ``_cbat`` systems
``Tuple(MultiDiscrete([2]*n_cap + [33]*n_reg), Box(-1, 1, (n_bat,)))``; a flat sequence of
``n_cap + n_reg + n_bat`` numbers is accepted too (PowerGym's recorded form).

## Observation Space
``Box`` of float64, PowerGym's flat layout:

| entries | meaning |
|---|---|
| one per bus node | per-unit voltage, buses in OpenDSS order, each bus's nodes in its own order |
| n_cap | capacitor status |
| n_reg | tap ratio (PowerGym quirk) or tap position |
| 2 per battery | state of charge, discharge fraction (−P / rated kW) |

## Rewards
``p + v + c``: loss ratio × ``power_w``, voltage violations outside [0.95, 1.05] pu (highest and
lowest node of each bus), control costs (see :mod:`marl_vvc.rewards.terms`). ``info`` holds
PowerGym's terms (``power_loss_ratio``, ``vol_reward``, ``ctrl_reward``, ``av_*``) and
``converged``.

## Starting State
Capacitors closed, taps at the top (PowerGym) or middle, batteries full and idle; a load profile
drawn with the environment's generator, or chosen with ``options={"profile": k}`` or
``options={"load_multipliers": {load: [24 floats]}}``.

## Episode End
Terminated after ``horizon`` (24) steps, or at once when the power flow does not converge
(reward ``−divergence_penalty``, ``info["converged"] = False``).

## Arguments
``system`` (PowerGym name with variants), ``systems_dir`` (a PowerGym ``systems`` folder),
``profiles_dir``, ``quirks``, ``render_mode`` and :class:`~marl_vvc.systems.config.SystemConfig`
overrides.

## Version History
- v0: first release.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from marl_vvc.systems.discovery import resolve_system
from marl_vvc.errors import ConfigError, InvalidActionError, ResetNeededError
from marl_vvc.core.grid import GridCore
from marl_vvc.envs.render import RENDER_MODES, FeederView, check_render_mode


class PowerGymEnv(gym.Env):
    """PowerGym's single-agent Volt-Var control task on the marl_vvc grid core."""

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 4}

    def __init__(
        self,
        system: str | None = None,
        *,
        circuit: str | None = None,
        systems_dir: str | None = None,
        profiles_dir: str | None = None,
        quirks: Any = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        self.render_mode = check_render_mode(render_mode)
        config = resolve_system(
            system,
            circuit=circuit,
            systems_dir=systems_dir,
            profiles_dir=profiles_dir,
            quirks=quirks,
            **overrides,
        )
        self.core = GridCore(config)
        core = self.core
        if core.n_gen or core.n_unit:
            raise ConfigError(
                f"{config.name}: PowerGym's single-agent layout has no generator or storage "
                "agents; use marl_vvc.parallel_env for this system (ANM6Easy: make_env)"
            )
        self._n_discrete = core.n_cap + core.n_reg
        discrete = [2] * core.n_cap + [r.levels for r in core.regulators]
        self._upper_list = discrete + (
            [] if config.continuous_batteries else [b.levels for b in core.batteries]
        )
        self._upper = np.array(self._upper_list)
        if config.continuous_batteries:
            self.action_space = spaces.Tuple(
                (
                    spaces.MultiDiscrete(discrete),
                    spaces.Box(-1.0, 1.0, shape=(core.n_bat,), dtype=np.float32),
                )
            )
        else:
            self.action_space = spaces.MultiDiscrete(discrete + [b.levels for b in core.batteries])
        self.observation_space = self._observation_space()
        self._started = False
        self._view = FeederView(self.core, render_mode)

    def _observation_space(self) -> spaces.Box:
        core, cfg = self.core, self.core.config
        n_v = len(core.engine.bus_node_order)
        lo = [np.zeros(n_v), np.zeros(core.n_cap)]
        hi = [np.full(n_v, np.inf), np.ones(core.n_cap)]
        if cfg.quirks.tap_ratio_obs:
            lo.append(np.full(core.n_reg, cfg.tap_min))
            hi.append(np.full(core.n_reg, cfg.tap_max))
        else:
            lo.append(np.zeros(core.n_reg))
            hi.append(np.array([r.levels - 1 for r in core.regulators], dtype=float))
        bat_lo = np.tile([0.0, -np.inf], core.n_bat)
        bat_hi = np.tile([1.0, np.inf], core.n_bat)
        lo.append(bat_lo)
        hi.append(bat_hi)
        # Tap ratios carry float artefacts (0.9750000000000001): widen by a few ulps.
        low = np.nextafter(np.concatenate(lo), -np.inf)
        high = np.nextafter(np.concatenate(hi), np.inf)
        return spaces.Box(low, high, dtype=np.float64)

    @property
    def agent_ids(self) -> tuple[str, ...]:
        """Device agent ids in action order."""
        return self.core.agent_ids

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (see the class docstring for ``options``)."""
        super().reset(seed=seed)
        snap = self.core.reset(self.np_random, options)
        self._started = True
        return self.core.state_vector(), {
            "converged": snap.converged,
            "profile": self.core.profile_index,
        }

    def _fast_values(self, action: Any) -> list[Any] | None:
        """Validated device values when the action is a well-formed array, else None."""
        if self.core.config.continuous_batteries:
            if not (isinstance(action, tuple) and len(action) == 2):
                return None
            disc, cont = action
            if not (isinstance(disc, np.ndarray) and isinstance(cont, np.ndarray)):
                return None
            if disc.shape != self._upper.shape or cont.shape != (self.core.n_bat,):
                return None
            if disc.dtype.kind not in "iu" or not np.all((disc >= 0) & (disc < self._upper)):
                return None
            if not np.all((cont >= -1.0) & (cont <= 1.0)):  # NaN fails this too
                return None
            return disc.tolist() + cont.tolist()
        if isinstance(action, np.ndarray):
            if action.shape != self._upper.shape or action.dtype.kind not in "iu":
                return None
            values = action.tolist()
        elif isinstance(action, list | tuple) and all(type(a) is int for a in action):
            values = list(action)
        else:
            return None
        if len(values) != len(self._upper_list) or not all(
            0 <= v < u for v, u in zip(values, self._upper_list, strict=True)
        ):
            return None
        return values

    def _split(self, action: Any) -> dict[str, Any]:
        core = self.core
        n = len(core.devices)
        if isinstance(action, tuple) and len(action) == 2 and self.core.config.continuous_batteries:
            disc = np.asarray(action[0]).reshape(-1)
            cont = np.asarray(action[1], dtype=float).reshape(-1)
            if disc.shape != (self._n_discrete,) or cont.shape != (core.n_bat,):
                raise InvalidActionError(
                    f"action: expected ({self._n_discrete} discrete, {core.n_bat} continuous) "
                    f"for {self.action_space}, got shapes {disc.shape} and {cont.shape}"
                )
            values: list[Any] = [*disc, *cont]
        else:
            try:
                flat = np.asarray(action, dtype=float)
            except (TypeError, ValueError):
                try:  # a sequence mixing numbers and 1-element arrays
                    flat = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in action])
                except (TypeError, ValueError):
                    raise InvalidActionError(
                        f"action: expected an array of {n} numbers for {self.action_space}, "
                        f"got {action!r}"
                    ) from None
            if flat.shape != (n,):
                raise InvalidActionError(
                    f"action: expected shape ({n},) for {self.action_space}, got shape {flat.shape}"
                )
            values = list(flat)
        return dict(zip(core.agent_ids, values, strict=True))

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply one action for every device, solve once, return PowerGym's outputs.

        Raises:
            ResetNeededError: No episode is running.
            InvalidActionError: Wrong shape or a value outside its space (names the device);
                the environment is unchanged.
        """
        if not self._started:
            raise ResetNeededError(
                "call reset() before step() (the episode has ended or not begun)"
            )
        values = self._fast_values(action)
        if values is None:  # slow path: per-device checks with precise error messages
            out = self.core.step(self._split(action))
        else:
            out = self.core.step_validated(values)
        if out.terminated:
            self._started = False
        if self.render_mode == "human":
            self._view.render()
        return self.core.state_vector(), float(out.reward), out.terminated, False, dict(out.info)

    def render(self) -> np.ndarray | None:
        """Draw the feeder coloured by voltage (``rgb_array`` returns the image)."""
        return self._view.render()

    def close(self) -> None:
        """Release the OpenDSS engine."""
        self._view.close()
