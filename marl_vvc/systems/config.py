"""The configuration of one system: a name and five sections.

``SystemConfig(name, base, feeder, devices, scenario, reward, quirks)``; each section
(:mod:`marl_vvc.systems.sections`) validates its own fields. Users override single values by
their flat names (``horizon=12``, ``tap_min=0.95``); :data:`OVERRIDE_SECTIONS` says which
section each flat name belongs to, and :meth:`SystemConfig.with_overrides` applies them.
Loading from YAML is :mod:`marl_vvc.systems.loading`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from marl_vvc.errors import ConfigError
from marl_vvc.systems.checks import fail
from marl_vvc.systems.elements import (
    AnmReward,
    BatteryConfig,
    BatteryPlacement,
    GeneratorConfig,
    PowerGymLayout,
    Quirks,
    RewardWeights,
    StorageConfig,
)
from marl_vvc.systems.sections import (
    SCENARIO_KINDS,
    DeviceConfig,
    FeederConfig,
    RewardConfig,
    ScenarioConfig,
)

__all__ = [
    "OVERRIDE_SECTIONS",
    "SCENARIO_KINDS",
    "AnmReward",
    "BatteryConfig",
    "BatteryPlacement",
    "DeviceConfig",
    "FeederConfig",
    "GeneratorConfig",
    "PowerGymLayout",
    "Quirks",
    "RewardConfig",
    "RewardWeights",
    "ScenarioConfig",
    "StorageConfig",
    "SystemConfig",
]

#: Section of every flat override name (``load_system("13Bus", horizon=12)``). ``scenario``
#: is the scenario's ``kind`` (None: ``"loads"``); ``quirks`` replaces the whole section.
OVERRIDE_SECTIONS: dict[str, str] = {
    **dict.fromkeys(
        ("circuit", "setup_commands", "max_iterations", "base_mva", "powergym", "branch_ratings"),
        "feeder",
    ),
    **dict.fromkeys(
        (
            "capacitors",
            "regulators",
            "batteries",
            "generators",
            "storage_units",
            "continuous_batteries",
            "reg_levels",
            "bat_levels",
            "tap_min",
            "tap_max",
            "regulator_winding",
            "initial_state",
        ),
        "devices",
    ),
    **dict.fromkeys(
        (
            "scenario",
            "horizon",
            "step_hours",
            "scale",
            "profiles_dir",
            "profile_pool",
            "truncate_at_horizon",
            "state_devices",
        ),
        "scenario",
    ),
    **dict.fromkeys(
        ("weights", "v_min", "v_max", "divergence_penalty", "anm", "voltage_term"), "reward"
    ),
    "quirks": "quirks",
}

# Section name -> (SystemConfig attribute, section class).
_SECTIONS: dict[str, tuple[str, type]] = {
    "feeder": ("feeder", FeederConfig),
    "devices": ("devices", DeviceConfig),
    "scenario": ("scenario", ScenarioConfig),
    "reward": ("reward", RewardConfig),
}


def split_overrides(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Group flat option names by section (``{"scenario": {"horizon": 12}, ...}``).

    Raises:
        ConfigError: An unknown name (the message lists the allowed ones).
    """
    unknown = sorted(set(flat) - set(OVERRIDE_SECTIONS))
    if unknown:
        raise ConfigError(
            f"unknown system option(s) {unknown}; allowed: {sorted(OVERRIDE_SECTIONS)}"
        )
    grouped: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        section = OVERRIDE_SECTIONS[key]
        if key == "scenario":
            key, value = "kind", "loads" if value is None else value
        grouped.setdefault(section, {})[key] = value
    return grouped


@dataclass(frozen=True)
class SystemConfig:
    """Everything the grid core needs to build one system.

    Attributes:
        name: Full system name including variants (``13Bus_cbat_s1.5``).
        base: Base system name (``13Bus``).
        feeder: Circuit and solver settings.
        devices: The controllable devices (agents).
        scenario: What drives an episode (kind, horizon, profiles).
        reward: Reward weights, voltage limits, divergence penalty.
        quirks: PowerGym parity behaviours.
    """

    name: str
    base: str
    feeder: FeederConfig
    devices: DeviceConfig
    scenario: ScenarioConfig
    reward: RewardConfig
    quirks: Quirks = field(default_factory=Quirks)

    def __post_init__(self) -> None:
        for key in ("name", "base"):
            if not isinstance(getattr(self, key), str):
                fail(key, "a string", getattr(self, key))
        for key, cls in (*_SECTIONS.values(), ("quirks", Quirks)):
            if not isinstance(getattr(self, key), cls):
                fail(key, f"a {cls.__name__}", getattr(self, key))

    @classmethod
    def from_flat(cls, name: str, base: str, **flat: Any) -> SystemConfig:
        """Build a config from flat option names (see :data:`OVERRIDE_SECTIONS`).

        ``circuit`` and ``weights`` are required; every other option has a default.

        Raises:
            ConfigError: An unknown, missing or invalid option.
        """
        missing = [key for key in ("circuit", "weights") if key not in flat]
        if missing:
            raise ConfigError(f"system {name}: missing option(s) {missing}")
        grouped = split_overrides(flat)
        quirks = grouped.pop("quirks", {}).get("quirks", Quirks())
        sections = {attr: sec(**grouped.get(key, {})) for key, (attr, sec) in _SECTIONS.items()}
        return cls(name=name, base=base, quirks=quirks, **sections)

    def with_overrides(self, **flat: Any) -> SystemConfig:
        """A copy with some options replaced, given by their flat names (``horizon=12``).

        Raises:
            ConfigError: An unknown or invalid option.
        """
        grouped = split_overrides(flat)
        changes: dict[str, Any] = {}
        if "quirks" in grouped:
            changes["quirks"] = grouped.pop("quirks")["quirks"]
        for key, values in grouped.items():
            attr = _SECTIONS[key][0]
            changes[attr] = replace(getattr(self, attr), **values)
        return replace(self, **changes)
