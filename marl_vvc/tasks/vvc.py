"""PowerGym's Volt-Var control task: daily load profiles and PowerGym's reward.

Reset rule (PowerGym): capacitors closed, taps at the top (quirk) or the middle, batteries
full and idle; the episode's per-load multipliers come from a profile drawn with the env's
generator, a chosen profile (``options={"profile": k}``) or a given table
(``options={"load_multipliers": {load: [horizon floats]}}``, used as is). The solve at step
``t`` uses multiplier ``t`` (or ``t − 1`` with PowerGym's daily-mode timing quirk).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from marl_vvc.core.fleets import BatteryFleet, CapacitorFleet, RegulatorFleet
from marl_vvc.core.grid import GridCore
from marl_vvc.core.outcome import GridSnapshot, Scored
from marl_vvc.errors import InvalidOptionError
from marl_vvc.rewards.powergym import VvcState, Weights, powergym_reward
from marl_vvc.tasks.profiles import SyntheticProfiles, YearlyProfiles, explicit_profile

RESET_OPTIONS = ("profile", "load_multipliers")
_NO_PV = np.zeros(0)


class VvcTask:
    """Daily load profiles with PowerGym's reward.

    Args:
        profiles: Source of daily per-load multipliers.
        weights: PowerGym reward weights.
        horizon: Steps per episode.
        step_hours: Step length.
        v_band: ``(v_min, v_max)`` in pu.
        divergence_penalty: Charged (> 0) when a power flow fails.
        scale: Load scale applied to drawn profiles (``_s<x>``).
        profile_pool: ``(first, stop)`` of the profiles random draws use.
        last_multiplier_at_reset: PowerGym's daily-mode timing quirk.
        tap_ratio_obs: The state vector holds tap ratios (PowerGym) instead of positions.
        mean_voltage: The voltage term averages the buses' violations instead of summing them.
    """

    reset_options = RESET_OPTIONS
    truncate_at_horizon = False

    def __init__(
        self,
        profiles: YearlyProfiles | SyntheticProfiles,
        weights: Weights,
        *,
        horizon: int,
        step_hours: float,
        v_band: tuple[float, float],
        divergence_penalty: float,
        scale: float = 1.0,
        profile_pool: tuple[int, int] | None = None,
        last_multiplier_at_reset: bool = False,
        tap_ratio_obs: bool = False,
        mean_voltage: bool = False,
    ) -> None:
        self.profiles = profiles
        self.weights = weights
        self.horizon: int | None = horizon
        self.step_hours = step_hours
        self.v_min, self.v_max = v_band
        self.divergence_penalty = divergence_penalty
        self.scale = scale
        self.profile_pool = profile_pool
        self.last_multiplier_at_reset = last_multiplier_at_reset
        self.tap_ratio_obs = tap_ratio_obs
        self.mean_voltage = mean_voltage
        self.profile_index: int | None = None
        self.multipliers = np.empty((0, horizon))
        self._const: tuple[Any, ...] | None = None

    @property
    def num_profiles(self) -> int:
        """Profiles available to draw from."""
        return self.profiles.num_profiles

    # ------------------------------------------------------------------ episode
    def choose(
        self, core: GridCore, rng: np.random.Generator, options: Mapping[str, Any]
    ) -> tuple[np.ndarray, int | None]:
        """The episode's multipliers and profile index (draws only when none is given).

        Raises:
            InvalidOptionError: A bad profile index or multiplier table.
        """
        table = options.get("load_multipliers")
        if table is not None:  # given multipliers are final: the load scale is not applied
            assert self.horizon is not None
            return explicit_profile(table, core.load_names, self.horizon), None
        k = options.get("profile")
        if k is None:
            first, stop = self.profile_pool or (0, self.num_profiles)
            if stop > self.num_profiles:
                raise InvalidOptionError(
                    f"profile_pool {self.profile_pool} exceeds the {self.num_profiles} "
                    "available profiles"
                )
            k = int(rng.integers(first, stop))
        elif isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise InvalidOptionError(f"profile: expected an integer index, got {k!r}")
        mult = self.profiles.profile(int(k))
        return (mult * self.scale if self.scale != 1.0 else mult.copy()), int(k)

    def reset(self, core: GridCore, rng: np.random.Generator, options: Mapping[str, Any]) -> None:
        """Draw or take the episode's loads, restore the devices and solve (see module)."""
        mult, index = self.choose(core, rng, options)
        self.multipliers, self.profile_index = mult, index
        shape = mult if self.last_multiplier_at_reset else np.roll(mult, -1, axis=1)
        core.engine.set_load_profiles(shape, self.step_hours * 3600.0)
        snap = self._restore_and_solve(core)
        if not snap.converged:  # a diverged past can poison the restore: start from scratch
            core.recompile()
            core.engine.set_load_profiles(shape, self.step_hours * 3600.0)
            snap = self._restore_and_solve(core)
        core.snapshot = snap

    def _restore_and_solve(self, core: GridCore) -> GridSnapshot:
        core.restore()
        self.start_of_day(core)
        return core.solve(advance=False)

    def start_of_day(self, core: GridCore) -> None:
        """Scenario state of the reset solve (none for plain load profiles)."""

    def before_step(self, core: GridCore) -> None:
        """Loads advance in OpenDSS's daily mode: nothing to write."""

    def clock(self, core: GridCore) -> int:
        """Steps since the start of the day."""
        return core.t

    # ------------------------------------------------------------------ reward and state
    def curtailment(self, core: GridCore) -> np.ndarray:
        """Curtailed fraction of each PV inverter's rating (none here)."""
        return _NO_PV

    def _constants(self, core: GridCore) -> tuple[Any, ...]:
        """Per-device constants of the reward and the state layout (fleets never change)."""
        if self._const is None:
            caps, regs, bats = _vvc_fleets(core)
            n_v, n_cap, n_reg = (
                len(core.engine.bus_node_order),
                len(caps.devices),
                len(regs.devices),
            )
            self._const = (
                caps,
                regs,
                bats,
                [r.step for r in regs.devices],
                [b.initial_soc for b in bats.devices],
                bats.max_kw.tolist(),
                (n_v, n_v + n_cap, n_v + n_cap + n_reg),
                np.empty(n_v + n_cap + n_reg + 2 * len(bats.devices)),
            )
        return self._const

    def score(self, core: GridCore, snap: GridSnapshot, last: bool) -> Scored:
        """PowerGym's reward of a converged step."""
        caps, regs, bats, steps, soc0, max_kw, _, _ = self._constants(core)
        state = VvcState(
            caps.prev_status,
            caps.status,
            regs.prev_tap,
            regs.tap,
            steps,
            bats.setpoint,
            bats.soc(),
            soc0,
            max_kw,
            self.curtailment(core),
        )
        return powergym_reward(
            self.weights, self.v_min, self.v_max, state, snap, last, self.mean_voltage
        )

    def state_vector(self, core: GridCore) -> np.ndarray:
        """PowerGym's layout ``[V | caps | taps | (SoC, discharge) per battery]``."""
        caps, regs, bats, _, _, _, (a, b, c), buffer = self._constants(core)
        snap = core.snapshot
        assert snap is not None
        out: np.ndarray = buffer.copy()
        out[:a] = snap.v
        out[a:b] = caps.status
        out[b:c] = regs.tap if self.tap_ratio_obs else regs.index
        if bats.devices:
            out[c::2] = bats.soc()
            out[c + 1 :: 2] = bats.discharge()
        return out

    def state_size(self, core: GridCore) -> int:
        """Length of :meth:`state_vector`."""
        caps, regs, bats = _vvc_fleets(core)
        n_v = len(core.engine.bus_node_order)
        return n_v + len(caps.devices) + len(regs.devices) + 2 * len(bats.devices)


def _vvc_fleets(core: GridCore) -> tuple[CapacitorFleet, RegulatorFleet, BatteryFleet]:
    fleets = core.fleet
    caps, regs, bats = fleets["capacitor"], fleets["regulator"], fleets["battery"]
    assert isinstance(caps, CapacitorFleet) and isinstance(regs, RegulatorFleet)
    assert isinstance(bats, BatteryFleet)
    return caps, regs, bats
