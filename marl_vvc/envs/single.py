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
``converged``, plus the global terms (``loss``, ``voltage``, ``control``, ``failure_penalty``,
``global_reward``), ``applied`` (agent → the action its device took) and ``violating_buses``
of ``n_buses``.

## Starting State
Capacitors closed, taps at the top (PowerGym) or middle, batteries full and idle; a load profile
drawn with the environment's generator, or chosen with ``options={"profile": k}`` or
``options={"load_multipliers": {load: [24 floats]}}``.

## Episode End
Terminated after ``horizon`` (24) steps, or at once when the power flow does not converge
(reward ``−divergence_penalty``, ``info["converged"] = False``).

## Arguments
``system`` (PowerGym name with variants), ``systems_dir`` (a PowerGym ``systems`` folder),
``profiles_dir``, ``quirks``, ``controls`` (``"opendss"``: OpenDSS's RegControl/CapControl
drive taps and capacitors, PowerGym's ``dss`` mode), ``render_mode`` and
:class:`~marl_vvc.systems.config.SystemConfig` overrides.

## Version History
- v0: first release (0.1.0); unchanged in 0.2.0 (new info keys and options only).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle

from marl_vvc.core.action_checks import real_array
from marl_vvc.core.grid import CONTROLS
from marl_vvc.envs.base import CoreEnv
from marl_vvc.envs.render import RENDER_MODES
from marl_vvc.errors import ConfigError, InvalidActionError, ResetNeededError


# Gymnasium annotates Env.render with an unbound TypeVar that no concrete override matches.
class PowerGymEnv(CoreEnv, gym.Env, EzPickle):  # type: ignore[misc]
    """PowerGym's single-agent Volt-Var control task on the marl_vvc grid core."""

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 4}
    _episode_fields = ("_started", "_np_random", "_np_random_seed")

    def __init__(
        self,
        system: str | None = None,
        *,
        controls: str = "agents",
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        EzPickle.__init__(self, system, controls=controls, render_mode=render_mode, **kwargs)
        if controls not in CONTROLS:
            raise ConfigError(f"controls must be one of {list(CONTROLS)}, got {controls!r}")
        self.controls = controls
        self._build(system, render_mode, kwargs)
        core, config = self.core, self.config
        kinds = {d.kind for d in core.devices}
        if kinds - {"capacitor", "regulator", "battery"}:
            core.close()
            raise ConfigError(
                f"{config.name}: PowerGym's single-agent layout has no generator or storage "
                "agents; use marl_vvc.parallel_env for this system (ANM6Easy: make_env)"
            )
        caps, regs, bats = (core.fleet[k].devices for k in ("capacitor", "regulator", "battery"))
        self._n_bat = len(bats)
        self._cbat = config.devices.continuous_batteries
        self._n_discrete = len(caps) + len(regs)
        discrete = [2] * len(caps) + [r.levels for r in regs]  # type: ignore[attr-defined]
        self._upper_list = discrete + (
            [] if config.devices.continuous_batteries else [b.levels for b in bats]  # type: ignore[attr-defined]
        )
        self._upper = np.array(self._upper_list)
        if config.devices.continuous_batteries:
            self.action_space = spaces.Tuple(
                (
                    spaces.MultiDiscrete(discrete),
                    spaces.Box(-1.0, 1.0, shape=(len(bats),), dtype=np.float32),
                )
            )
        else:
            self.action_space = spaces.MultiDiscrete(self._upper_list)
        self.observation_space = self._observation_space()
        self._started = False

    def _observation_space(self) -> spaces.Box:
        core, cfg = self.core, self.config
        n_v = len(core.engine.bus_node_order)
        n_cap = len(core.fleet["capacitor"].devices)
        regs = core.fleet["regulator"].devices
        lo = [np.zeros(n_v), np.zeros(n_cap)]
        hi = [np.full(n_v, np.inf), np.ones(n_cap)]
        if cfg.quirks.tap_ratio_obs:
            lo.append(np.full(len(regs), cfg.devices.tap_min))
            hi.append(np.full(len(regs), cfg.devices.tap_max))
        else:
            lo.append(np.zeros(len(regs)))
            hi.append(np.array([r.levels - 1 for r in regs], dtype=float))  # type: ignore[attr-defined]
        bat_lo = np.tile([0.0, -np.inf], self._n_bat)
        bat_hi = np.tile([1.0, np.inf], self._n_bat)
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
        snap = self._reset_gymnasium(seed, options)
        self._started = True
        return self.core.state_vector(), {
            "converged": snap.converged,
            "profile": self.profile_index,
        }

    def _fast_values(self, action: Any) -> list[Any] | None:
        """Validated device values when the action is a well-formed array, else None."""
        if self._cbat:
            if not (isinstance(action, tuple) and len(action) == 2):
                return None
            disc, cont = action
            if not (isinstance(disc, np.ndarray) and isinstance(cont, np.ndarray)):
                return None
            if disc.shape != self._upper.shape or cont.shape != (self._n_bat,):
                return None
            if disc.dtype.kind not in "iu" or not np.all((disc >= 0) & (disc < self._upper)):
                return None
            if cont.dtype.kind != "f" or not np.all((cont >= -1.0) & (cont <= 1.0)):  # NaN too
                return None
            fast: list[Any] = disc.tolist() + cont.tolist()
            return fast
        if isinstance(action, np.ndarray):
            if action.shape != self._upper.shape or action.dtype.kind not in "iu":
                return None
            values: list[Any] = action.tolist()
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
        cbat = self.config.devices.continuous_batteries
        if isinstance(action, tuple) and len(action) == 2 and cbat:
            disc = real_array("action[0]", action[0], str(self.action_space)).reshape(-1)
            cont = real_array("action[1]", action[1], str(self.action_space)).reshape(-1)
            if disc.shape != (self._n_discrete,) or cont.shape != (self._n_bat,):
                raise InvalidActionError(
                    f"action: expected ({self._n_discrete} discrete, {self._n_bat} continuous) "
                    f"for {self.action_space}, got shapes {disc.shape} and {cont.shape}"
                )
            values: list[Any] = [*disc, *cont]
        else:
            space = str(self.action_space)
            try:
                flat = real_array("action", action, space)
            except InvalidActionError:
                if not isinstance(action, list | tuple):
                    raise
                # a sequence mixing numbers and 1-element arrays
                flat = np.concatenate([real_array("action", a, space).ravel() for a in action])
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
            values = self.core.validate(self._split(action))
        out = self._step_core(values, self.controls)
        if out.terminated:
            self._started = False
        self._render_step()
        info = self._global_info(out)
        info["applied"] = dict(zip(self.core.agent_ids, self.core.applied_values(), strict=True))
        return self.core.state_vector(), float(out.reward), out.terminated, False, info

    def hold_action(self) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """An action that keeps every device where it is (batteries idle)."""
        values = self.core.hold_values()
        if self.config.devices.continuous_batteries:
            disc = np.array(values[: self._n_discrete], dtype=np.int64)
            parts: list[Any] = [np.ravel(v) for v in values[self._n_discrete :]] or [[]]
            cont = np.concatenate(parts)
            return disc, cont.astype(np.float32)
        return np.array(values, dtype=np.int64)
