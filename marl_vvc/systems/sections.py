"""The sections of a system configuration: feeder, devices, scenario and reward.

Each section is a frozen dataclass that checks its own fields on construction and raises
:class:`~marl_vvc.errors.ConfigError` naming the field, the value and what was expected.
Values are stored in canonical form (``int``, ``float``, ``tuple``, ``Path``), so a section
built from YAML and one built from keyword arguments compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marl_vvc.core.engine import MAX_PROFILE_POINTS
from marl_vvc.errors import ConfigError
from marl_vvc.systems import checks
from marl_vvc.systems.checks import fail
from marl_vvc.systems.elements import (
    AnmReward,
    BatteryConfig,
    GeneratorConfig,
    PowerGymLayout,
    RewardWeights,
    StorageConfig,
)

#: Scenario kinds: ``loads`` (load profiles, the VVC feeders), ``anm6easy`` (Gym-ANM's fixed
#: day) and ``solar`` (load profiles plus PV availability).
SCENARIO_KINDS = ("loads", "anm6easy", "solar")


def _store(section: Any, **values: Any) -> None:
    """Write canonical values into a frozen section."""
    for key, value in values.items():
        object.__setattr__(section, key, value)


@dataclass(frozen=True)
class FeederConfig:
    """The circuit and how OpenDSS solves it.

    Attributes:
        circuit: OpenDSS master file.
        setup_commands: OpenDSS commands run after every compile (e.g. disabling a Storage
            element that a battery agent replaces).
        max_iterations: OpenDSS power-flow iteration limit.
        base_mva: Base power of the per-unit capability regions and the ANM reward.
        powergym: Layout of the system in a PowerGym ``systems`` folder, if it has one.
        branch_ratings: ``(element, MVA)`` thermal ratings for the ANM penalty.
    """

    circuit: Path
    setup_commands: tuple[str, ...] = ()
    max_iterations: int = 50
    base_mva: float = 100.0
    powergym: PowerGymLayout | None = None
    branch_ratings: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.powergym is not None and not isinstance(self.powergym, PowerGymLayout):
            fail("powergym", "a PowerGymLayout or None", self.powergym)
        _store(
            self,
            circuit=checks.path("circuit", self.circuit),
            setup_commands=checks.names("setup_commands", self.setup_commands),
            max_iterations=checks.integer("max_iterations", self.max_iterations, 1),
            base_mva=checks.real("base_mva", self.base_mva, positive=True),
            branch_ratings=_ratings(self.branch_ratings),
        )


def _ratings(value: Any) -> tuple[tuple[str, float], ...]:
    """``branch_ratings`` as ``((element, MVA > 0), ...)``."""
    expected = "a list of (element, MVA) pairs"
    try:
        pairs = tuple((name, mva) for name, mva in value)
    except (TypeError, ValueError):
        fail("branch_ratings", expected, value)
    for name, _ in pairs:
        if not isinstance(name, str):
            fail("branch_ratings", expected, value)
    return tuple((n, checks.real(f"branch_ratings[{n}]", v, positive=True)) for n, v in pairs)


#: Where devices start each episode (see :class:`DeviceConfig`).
INITIAL_STATES = ("rule", "circuit")


@dataclass(frozen=True)
class DeviceConfig:
    """The controllable devices (one agent each) and their action resolution.

    Attributes:
        capacitors: Capacitor element names.
        regulators: Regulator transformer names.
        batteries: Battery (Generator) elements.
        generators: Renewable generator agents (active network management).
        storage_units: Storage (DES) agents (active network management).
        continuous_batteries: Box actions in [-1, 1] instead of discrete levels.
        reg_levels: Discrete tap positions (33 → indices 0..32).
        bat_levels: Discrete battery levels, odd (33 → indices 0..32).
        tap_min: Lowest tap ratio.
        tap_max: Highest tap ratio.
        regulator_winding: Winding whose tap the regulators set.
        initial_state: Where devices start each episode. ``"rule"``: capacitors closed, taps
            at the top (PowerGym quirk) or in the middle. ``"circuit"``: the circuit's own
            operating point, the capacitor states and tap positions OpenDSS's controls settle
            on in a controlled solve of the circuit as compiled (the default for circuits
            brought by the user, whose rule start can be infeasible).
    """

    capacitors: tuple[str, ...] = ()
    regulators: tuple[str, ...] = ()
    batteries: tuple[BatteryConfig, ...] = ()
    generators: tuple[GeneratorConfig, ...] = ()
    storage_units: tuple[StorageConfig, ...] = ()
    continuous_batteries: bool = False
    reg_levels: int = 33
    bat_levels: int = 33
    tap_min: float = 0.9
    tap_max: float = 1.1
    regulator_winding: int = 2
    initial_state: str = "rule"

    def __post_init__(self) -> None:
        _store(
            self,
            capacitors=checks.names("capacitors", self.capacitors),
            regulators=checks.names("regulators", self.regulators),
            batteries=checks.instances("batteries", self.batteries, BatteryConfig),
            generators=checks.instances("generators", self.generators, GeneratorConfig),
            storage_units=checks.instances("storage_units", self.storage_units, StorageConfig),
            continuous_batteries=checks.flag("continuous_batteries", self.continuous_batteries),
            reg_levels=checks.integer("reg_levels", self.reg_levels, 2),
            bat_levels=checks.integer("bat_levels", self.bat_levels, 3),
            tap_min=checks.real("tap_min", self.tap_min, positive=True),
            tap_max=checks.real("tap_max", self.tap_max, positive=True),
            regulator_winding=checks.integer("regulator_winding", self.regulator_winding, 1),
        )
        if self.initial_state not in INITIAL_STATES:
            fail("initial_state", f"one of {list(INITIAL_STATES)}", self.initial_state)
        if self.bat_levels % 2 == 0:
            fail("bat_levels", "an odd integer >= 3 (a middle level holds still)", self.bat_levels)
        if not self.tap_min < self.tap_max:
            fail("tap_min", f"a ratio below tap_max={self.tap_max}", self.tap_min)
        checks.unique("capacitors", self.capacitors)
        checks.unique("regulators", self.regulators)
        kinds = (self.capacitors, self.regulators, self.batteries, self.generators)
        if not any(kinds) and not self.storage_units:
            raise ConfigError(
                "no controllable device: capacitors, regulators, batteries, generators and "
                "storage_units are all empty; expected at least one device to act as an agent"
            )


@dataclass(frozen=True)
class ScenarioConfig:
    """What drives an episode: its kind, its length and the load (and sun) profiles.

    Attributes:
        kind: One of :data:`SCENARIO_KINDS`.
        horizon: Steps per episode (at most the engine's load-shape limit).
        step_hours: Length of a step in hours.
        scale: Load multiplier scale (the ``_s<x>`` name token).
        profiles_dir: Folder of yearly load-shape CSVs (PowerGym scheme); None = built-in.
        profile_pool: ``(first, stop)``: resets without a chosen profile draw from
            ``first <= k < stop`` only (e.g. a training split); None = all profiles.
        truncate_at_horizon: End episodes at the horizon by truncation (a time limit on an
            endless task) rather than termination.
        state_devices: ANM state layout: device names in order (``slack``, loads,
            generators, storage units).
    """

    kind: str = "loads"
    horizon: int = 24
    step_hours: float = 1.0
    scale: float = 1.0
    profiles_dir: Path | None = None
    profile_pool: tuple[int, int] | None = None
    truncate_at_horizon: bool = False
    state_devices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SCENARIO_KINDS:
            fail("scenario", f"one of {list(SCENARIO_KINDS)}", self.kind)
        horizon = checks.integer("horizon", self.horizon, 1)
        if horizon > MAX_PROFILE_POINTS:
            fail(
                "horizon", f"an integer <= {MAX_PROFILE_POINTS} (OpenDSS load-shape limit)", horizon
            )
        _store(
            self,
            horizon=horizon,
            step_hours=checks.real("step_hours", self.step_hours, positive=True),
            scale=checks.real("scale", self.scale, positive=True),
            profiles_dir=checks.path("profiles_dir", self.profiles_dir, optional=True),
            profile_pool=_pool(self.profile_pool),
            truncate_at_horizon=checks.flag("truncate_at_horizon", self.truncate_at_horizon),
            state_devices=checks.names("state_devices", self.state_devices),
        )


def _pool(pool: Any) -> tuple[int, int] | None:
    """``profile_pool`` as ``(first, stop)`` with ``0 <= first < stop``, or None."""
    if pool is None:
        return None
    if (
        not isinstance(pool, tuple | list)
        or len(pool) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in pool)
        or not 0 <= pool[0] < pool[1]
    ):
        fail("profile_pool", "(first, stop) with 0 <= first < stop", pool)
    return int(pool[0]), int(pool[1])


#: How the voltage term adds up the buses (see :class:`RewardConfig`).
VOLTAGE_TERMS = ("sum", "mean")


@dataclass(frozen=True)
class RewardConfig:
    """How a step is scored.

    Attributes:
        weights: PowerGym reward weights.
        v_min: Lower voltage limit (pu).
        v_max: Upper voltage limit (pu).
        divergence_penalty: Penalty (>= 0) when the power flow does not converge.
        anm: Gym-ANM's reward instead of PowerGym's (None: PowerGym's).
        voltage_term: How PowerGym's voltage term adds up the buses' violations: ``"sum"``
            (PowerGym) or ``"mean"`` (independent of the feeder's size, to compare feeders or
            reuse weights across them).
    """

    weights: RewardWeights
    v_min: float = 0.95
    v_max: float = 1.05
    divergence_penalty: float = 100.0
    anm: AnmReward | None = None
    voltage_term: str = "sum"

    def __post_init__(self) -> None:
        if not isinstance(self.weights, RewardWeights):
            fail("weights", "RewardWeights", self.weights)
        if self.anm is not None and not isinstance(self.anm, AnmReward):
            fail("anm", "an AnmReward or None", self.anm)
        penalty = self.divergence_penalty
        _store(
            self,
            v_min=checks.real("v_min", self.v_min, non_negative=True),
            v_max=checks.real("v_max", self.v_max, positive=True),
            divergence_penalty=checks.real("divergence_penalty", penalty, non_negative=True),
        )
        if not self.v_min < self.v_max:
            fail("v_min", f"a voltage below v_max={self.v_max}", self.v_min)
        if self.voltage_term not in VOLTAGE_TERMS:
            fail("voltage_term", f"one of {list(VOLTAGE_TERMS)}", self.voltage_term)
