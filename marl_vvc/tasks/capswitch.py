"""Capacitor switching: switching sequences at one snapshot load condition.

The setup of DQN capacitor-switching VVO studies (IEEE 123): every capacitor is an agent
that may toggle its bank once per episode; regulators are held at their reset tap and
batteries stay idle (they are not agents); the load condition is drawn per episode; the
reward is the loss reduction (:func:`marl_vvc.rewards.switching.switching_reward`).

``reset`` draws, from the env's generator and always in this order: a load profile ``k``
(within ``profile_pool``), a step of its day ``hour``, a scale ``s ~ U(scale_range)`` and
the initial capacitor statuses (each open or closed with probability 1/2); ``options``
(``profile``, ``hour``, ``scale``, ``initial_status``) fix any of them, and the other draws
are made anyway. Every load gets the constant multiplier ``system scale · s ·
profile_k[l, hour]``. The initial statuses are set with one solve that is not an agent
step; it gives ``P(0)`` and ``V(0)``.

An episode ends after the step in which no agent toggled (``all_keep``), every capacitor
has toggled (``all_toggled``), or ``max_switches`` steps were taken.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from marl_vvc.core.fleets import BatteryFleet, CapacitorFleet, RegulatorFleet
from marl_vvc.core.grid import GridCore
from marl_vvc.core.outcome import GridSnapshot, RewardTerms, Scored
from marl_vvc.errors import InvalidOptionError
from marl_vvc.rewards.switching import switching_reward
from marl_vvc.rewards.terms import bus_violation
from marl_vvc.tasks.profiles import SyntheticProfiles, YearlyProfiles

RESET_OPTIONS = ("profile", "hour", "scale", "initial_status")


class Condition(NamedTuple):
    """One episode's load condition and initial statuses."""

    profile: int
    hour: int
    scale: float
    status: list[int]


class CapSwitchTask:
    """Switching sequences at one load condition (see the module documentation).

    Args:
        profiles: Daily load profiles the condition is drawn from.
        caps: The capacitor fleet (the agents).
        regs: Regulators, held at their reset tap.
        bats: Batteries, idle.
        max_switches: Most agent steps per episode.
        scale_range: ``(low, high)`` of the per-episode scale draw.
        violation_weight: Weight of the voltage-violation term.
        violation_mode: ``change`` or ``absolute``.
        switch_cost: Cost per toggle, in units of the initial losses.
        v_band: ``(v_min, v_max)``.
        divergence_penalty: Charged when a power flow fails.
        scale: The system's own load scale (``_s<x>``).
        profile_pool: ``(first, stop)`` of the profiles draws use.
        step_hours: Step length.
    """

    reset_options = RESET_OPTIONS
    horizon = None
    truncate_at_horizon = False

    def __init__(
        self,
        profiles: YearlyProfiles | SyntheticProfiles,
        caps: CapacitorFleet,
        regs: RegulatorFleet,
        bats: BatteryFleet,
        *,
        max_switches: int,
        scale_range: tuple[float, float],
        violation_weight: float,
        violation_mode: str,
        switch_cost: float,
        v_band: tuple[float, float],
        divergence_penalty: float,
        scale: float = 1.0,
        profile_pool: tuple[int, int] | None = None,
        step_hours: float = 1.0,
    ) -> None:
        self.profiles = profiles
        self.caps, self.regs, self.bats = caps, regs, bats
        self.max_switches = max_switches
        self.scale_range = scale_range
        self.violation_weight = violation_weight
        self.violation_mode = violation_mode
        self.switch_cost = switch_cost
        self.v_min, self.v_max = v_band
        self.divergence_penalty = divergence_penalty
        self.scale = scale
        self.profile_pool = profile_pool
        self.step_hours = step_hours
        self.bus_weights = np.zeros((len(caps.devices), 0))  # set by the env from influence
        self.condition = Condition(0, 0, 1.0, [])
        self.multipliers = np.empty((0, profiles.horizon))
        self.load_level = 0.0
        self.toggled = [False] * len(caps.devices)
        self.loss0 = self.loss = 1.0
        self.viol = np.zeros(0)

    @property
    def num_profiles(self) -> int:
        """Profiles available to draw from."""
        return self.profiles.num_profiles

    # ------------------------------------------------------------------ episode
    def draw(self, rng: np.random.Generator, options: Mapping[str, Any]) -> Condition:
        """The episode's condition: every draw is made, options override (changes nothing).

        Raises:
            InvalidOptionError: A bad option or profile pool.
        """
        first, stop = self.profile_pool or (0, self.num_profiles)
        if stop > self.num_profiles:
            raise InvalidOptionError(
                f"profile_pool {self.profile_pool} exceeds the {self.num_profiles} "
                "available profiles"
            )
        horizon = self.profiles.horizon
        draw_k = int(rng.integers(first, stop))
        draw_h = int(rng.integers(0, horizon))
        draw_s = float(rng.uniform(*self.scale_range))
        draw_status = [int(x) for x in rng.integers(0, 2, size=len(self.caps.devices))]
        k = _int_option(options, "profile", draw_k)
        h = _int_option(options, "hour", draw_h)
        if not 0 <= h < horizon:
            raise InvalidOptionError(f"hour: expected 0 <= hour < {horizon}, got {h}")
        s = options.get("scale")
        if s is None:
            s = draw_s
        elif isinstance(s, bool) or not isinstance(s, int | float | np.number):
            raise InvalidOptionError(f"scale: expected a number > 0, got {s!r}")
        s = float(s)
        if not (math.isfinite(s) and s > 0):
            raise InvalidOptionError(f"scale: expected a finite number > 0, got {s!r}")
        status = self._status_option(options.get("initial_status"), draw_status)
        self.profiles.profile(k)  # raises InvalidOptionError for a bad index
        return Condition(k, h, s, status)

    def _status_option(self, value: Any, drawn: list[int]) -> list[int]:
        agents = [c.agent_id for c in self.caps.devices]
        if value is None:
            return drawn
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            values: list[Any] = [value] * len(agents)
        elif isinstance(value, Mapping):
            names = {c.name: c.agent_id for c in self.caps.devices}
            given = {names.get(str(key).lower(), key): v for key, v in value.items()}
            unknown = sorted(str(key) for key in given if key not in agents)
            missing = [a for a in agents if a not in given]
            if unknown or missing:
                raise InvalidOptionError(
                    f"initial_status: unknown {unknown}, missing {missing}; expected every "
                    f"capacitor of {agents}"
                )
            values = [given[a] for a in agents]
        elif isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
            values = list(value)
            if len(values) != len(agents):
                raise InvalidOptionError(
                    f"initial_status: expected {len(agents)} values in the order {agents}, "
                    f"got {len(values)}"
                )
        else:
            raise InvalidOptionError(
                f"initial_status: expected 0/1, a sequence or a mapping, got {value!r}"
            )
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v not in (0, 1):
                raise InvalidOptionError(f"initial_status: statuses must be 0 or 1, got {v!r}")
        return [int(v) for v in values]

    def reset(self, core: GridCore, rng: np.random.Generator, options: Mapping[str, Any]) -> None:
        """Draw the condition, restore the devices, then set the initial statuses."""
        cond = self.draw(rng, options)
        day = self.profiles.profile(cond.profile)
        mult = self.scale * cond.scale * np.asarray(day[:, cond.hour], dtype=float)
        shape = np.repeat(mult[:, None], self.profiles.horizon, axis=1)
        self.multipliers = shape
        core.engine.set_load_profiles(shape, self.step_hours * 3600.0)
        snap = self._restore_and_solve(core)
        if not snap.converged:  # a diverged past can poison the restore: start from scratch
            core.recompile()
            core.engine.set_load_profiles(shape, self.step_hours * 3600.0)
            snap = self._restore_and_solve(core)
        self.caps.set_status(cond.status, core.engine)
        converged, error = core.engine.solve(advance=True)
        snap = core.read(converged, error)
        core.snapshot = snap
        self.condition, self.load_level = cond, float(mult.mean())
        self.toggled = [False] * len(self.caps.devices)
        self.loss0 = self.loss = float(snap.losses_kw) if converged else 0.0
        self.viol = bus_violation(snap.bus_vmax, snap.bus_vmin, self.v_min, self.v_max)

    @staticmethod
    def _restore_and_solve(core: GridCore) -> GridSnapshot:
        core.restore()
        return core.solve(advance=False)

    def before_step(self, core: GridCore) -> None:
        """The load condition is constant: nothing to write."""

    def clock(self, core: GridCore) -> int:
        """Agent steps taken."""
        return core.t

    def end_reason(self, core: GridCore, switches: int) -> str:
        """Why the episode ends after this step (empty: it goes on)."""
        if switches == 0:
            return "all_keep"
        if all(self.toggled):
            return "all_toggled"
        if core.t >= self.max_switches:
            return "max_switches"
        return ""

    # ------------------------------------------------------------------ reward and state
    def score(self, core: GridCore, snap: GridSnapshot, last: bool) -> Scored:
        """The switching reward of a converged step; ``info["split"]`` holds the shares."""
        caps = self.caps
        toggles = [int(a != b) for a, b in zip(caps.prev_status, caps.status, strict=True)]
        self.toggled = [t or bool(x) for t, x in zip(self.toggled, toggles, strict=True)]
        viol = bus_violation(snap.bus_vmax, snap.bus_vmin, self.v_min, self.v_max)
        loss = float(snap.losses_kw)
        r = switching_reward(
            toggles,
            (self.loss0, self.loss, loss),
            (self.viol, viol),
            self.bus_weights,
            violation_weight=self.violation_weight,
            switch_cost=self.switch_cost,
            mode=self.violation_mode,
        )
        info = {
            **self.episode_info(),
            "reward": r.reward,
            "loss_reduction": r.loss_reduction,
            "loss_kw": loss,
            "prev_loss_kw": self.loss,
            "initial_loss_kw": self.loss0,
            "violation": float(viol.sum()),
            "prev_violation": float(self.viol.sum()),
            "violation_penalty": r.violation_penalty,
            "switches": r.switches,
            "switch_cost": self.switch_cost * r.switches,
            "end_reason": self.end_reason(core, r.switches),
            "split": r.split,
            "toggles": toggles,
        }
        self.loss, self.viol = loss, viol
        terms = RewardTerms(
            r.loss_reduction, r.loss_reduction, -r.violation_penalty, -self.switch_cost * r.switches
        )
        return Scored(terms, -r.split, viol, info)

    def episode_info(self) -> dict[str, Any]:
        """The episode's condition as info entries."""
        c = self.condition
        return {
            "profile": c.profile,
            "hour": c.hour,
            "scale": c.scale,
            "load_level": self.load_level,
        }

    def state_vector(self, core: GridCore) -> np.ndarray:
        """PowerGym's layout ``[V | caps | tap positions | (SoC, discharge) per battery]``."""
        snap = core.snapshot
        assert snap is not None
        pairs = np.column_stack((self.bats.soc(), self.bats.discharge())).ravel()
        return np.concatenate((snap.v, self.caps.status, self.regs.index, pairs))

    def state_size(self, core: GridCore) -> int:
        """Length of :meth:`state_vector`."""
        n_v = len(core.engine.bus_node_order)
        return n_v + len(self.caps.devices) + len(self.regs.devices) + 2 * len(self.bats.devices)


def _int_option(options: Mapping[str, Any], key: str, drawn: int) -> int:
    value = options.get(key)
    if value is None:
        return drawn
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidOptionError(f"{key}: expected an integer, got {value!r}")
    return int(value)
