"""The schema of a system YAML file: its keys, their types and which are required.

A file either lists its devices and reward (``circuit`` or ``feeder_data``, device lists,
``reward``) or asks for discovery (``discover: true`` and ``circuit``: the devices are found
in the circuit, see :mod:`marl_vvc.systems.discovery`). Every other key is optional.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from marl_vvc.errors import ConfigError

#: Keys with a plain integer value.
INT_KEYS = ("horizon", "reg_levels", "bat_levels", "regulator_winding", "max_iterations")
#: Keys with a plain number value (a YAML number or a fraction such as ``"1/33"``).
NUMBER_KEYS = (
    "step_hours",
    "tap_min",
    "tap_max",
    "v_min",
    "v_max",
    "divergence_penalty",
    "base_mva",
)

_TYPES: dict[str, tuple[type, ...]] = {
    "circuit": (str,),
    "feeder_data": (str,),
    "description": (str,),
    "capacitors": (list,),
    "regulators": (list,),
    "batteries": (list,),
    "reward": (dict,),
    "powergym": (dict,),
    "quirks": (str,),
    "discover": (bool,),
    "generators": (list,),
    "storage_units": (list,),
    "scenario": (str,),
    "branch_ratings": (dict,),
    "state_devices": (list,),
    "truncate_at_horizon": (bool,),
    "pv_variant": (dict,),
    "initial_state": (str,),
    "voltage_term": (str,),
}
#: Every key a system file may hold.
TOP_KEYS = frozenset(_TYPES) | frozenset(INT_KEYS) | frozenset(NUMBER_KEYS)

_REWARD_HINT = "reward: {power_w: ..., cap_w: ..., reg_w: ..., soc_w: ..., dis_w: ...}"
_CIRCUIT_HINT = (
    "circuit: <OpenDSS master file, relative to this YAML file> (or feeder_data: <key> for a "
    "feeder fetched on first use)"
)


def number(key: str, value: Any) -> float:
    """Parse a number given as a YAML number or a fraction string such as ``"1/33"``.

    Raises:
        ConfigError: Neither a number nor a fraction.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(Fraction(value.replace(" ", "")))
        except (ValueError, ZeroDivisionError):
            pass
    raise ConfigError(f"{key}: expected a number or a fraction like '1/33', got {value!r}")


def check_keys(where: str, data: Any, allowed: set[str], required: set[str]) -> None:
    """Refuse a non-mapping, unknown keys and missing keys, naming them.

    Raises:
        ConfigError: ``data`` is not a mapping, has an unknown key or lacks a required one.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(data))
    if missing:
        raise ConfigError(f"{where}: missing key(s) {missing}")


def check_system_file(where: str, data: Any) -> None:
    """Check the top level of a system file: a mapping of known keys of the right types.

    Raises:
        ConfigError: Unknown key, wrong type, or missing ``circuit``/``reward`` (the message
            says which form of file needs what).
    """
    check_keys(where, data, set(TOP_KEYS), set())
    for key, types in _TYPES.items():
        if key in data and not isinstance(data[key], types):
            expected = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"{where}: {key} must be a {expected}, got {data[key]!r}")
    for key in ("capacitors", "regulators"):
        for item in data.get(key) or ():
            if not isinstance(item, str | int) or isinstance(item, bool):
                raise ConfigError(f"{where}: {key} must list element names, got {item!r}")
    if "quirks" in data and data["quirks"] != "powergym":
        raise ConfigError(f"{where}: quirks must be 'powergym' or absent, got {data['quirks']!r}")
    if "circuit" not in data and "feeder_data" not in data:
        raise ConfigError(f"{where}: missing key 'circuit'; expected {_CIRCUIT_HINT}")
    if "circuit" in data and "feeder_data" in data:
        raise ConfigError(
            f"{where}: both circuit and feeder_data are given; expected one of them "
            f"(circuit: {data['circuit']!r} or feeder_data: {data['feeder_data']!r})"
        )
    if "reward" not in data and data.get("discover") is not True:
        raise ConfigError(
            f"{where}: missing key 'reward'; a system file needs either {_REWARD_HINT} "
            "next to its device lists, or discover: true to find the devices in the circuit "
            "(then reward is optional and defaults to the 13-bus weights)"
        )
