"""Parsers of the parts of a system file: reward, batteries, ANM units, PV units, quirks.

Each turns one YAML fragment into configuration elements and names the offending key (with
its place in the file) when something is wrong.
"""

from __future__ import annotations

from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any

from marl_vvc.errors import ConfigError
from marl_vvc.systems.elements import (
    AnmReward,
    BatteryConfig,
    BatteryPlacement,
    GeneratorConfig,
    PowerGymLayout,
    Quirks,
    RewardWeights,
)
from marl_vvc.systems.schema import check_keys, number

WEIGHT_KEYS = frozenset(f.name for f in fields(RewardWeights))
_ANM_KEYS = frozenset(f.name for f in fields(AnmReward))
_BATTERY_KEYS = frozenset({"name", "max_kw", "pf", "max_kwh", "initial_kwh"})


def weights(where: str, data: dict[str, Any]) -> RewardWeights:
    """Reward weights from ``{power_w: ..., cap_w: ..., ...}`` (``curtail_w`` optional).

    Raises:
        ConfigError: Unknown or missing key, or a value that is not a number >= 0.
    """
    check_keys(where, data, set(WEIGHT_KEYS), set(WEIGHT_KEYS - {"curtail_w"}))
    return RewardWeights(**{k: number(f"{where}.{k}", v) for k, v in data.items()})


def reward(
    where: str, data: dict[str, Any], *, soc: bool, scale: float
) -> tuple[RewardWeights, AnmReward | None]:
    """Reward weights and Gym-ANM's reward (or None) from a ``reward:`` mapping.

    ``kind: anm`` selects Gym-ANM's reward (its weights are all zero). ``soc`` applies the
    ``soc_variant`` weights; PowerGym scales the SoC weight with the square of ``scale``.

    Raises:
        ConfigError: A bad key or value, an unknown ``kind``, or ``soc`` without a
            ``soc_variant``.
    """
    data = dict(data)
    kind = data.pop("kind", "powergym")
    if kind == "anm":
        check_keys(f"{where}: reward", data, set(_ANM_KEYS), set())
        anm = AnmReward(**{k: number(f"reward.{k}", v) for k, v in data.items()})
        return RewardWeights(**dict.fromkeys(WEIGHT_KEYS, 0.0)), anm
    if kind != "powergym":
        raise ConfigError(f"{where}: reward.kind: expected 'anm' or 'powergym', got {kind!r}")
    soc_variant = data.pop("soc_variant", None)
    result = weights(f"{where}: reward", data)
    if soc:
        if soc_variant is None:
            raise ConfigError(f"{where}: no '_soc' variant (reward.soc_variant missing)")
        check_keys(f"{where}: reward.soc_variant", soc_variant, set(WEIGHT_KEYS), set())
        changed = {k: number(f"reward.soc_variant.{k}", v) for k, v in soc_variant.items()}
        result = replace(result, **changed)
    if scale != 1.0:
        result = replace(result, soc_w=result.soc_w * scale**2)
    return result, None


def _placement(where: str, data: Any) -> BatteryPlacement:
    check_keys(where, data, {f.name for f in fields(BatteryPlacement)}, {"bus1", "kv"})
    try:
        return BatteryPlacement(
            bus1=str(data["bus1"]).lower(),
            kv=number(f"{where}.kv", data["kv"]),
            phases=int(data.get("phases", 1)),
            conn=str(data.get("conn", "wye")).lower(),
            model=int(data.get("model", 1)),
        )
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def batteries(data: Any) -> tuple[BatteryConfig, ...]:
    """Batteries from a list of ``{name, max_kw, pf, max_kwh, initial_kwh[, placement]}``.

    Raises:
        ConfigError: Not a list, a bad key or a bad value.
    """
    if not isinstance(data, list):
        raise ConfigError(f"batteries: expected a list, got {type(data).__name__}")
    out = []
    for i, item in enumerate(data):
        check_keys(f"batteries[{i}]", item, set(_BATTERY_KEYS | {"placement"}), set(_BATTERY_KEYS))
        placement = None
        if "placement" in item:
            placement = _placement(f"batteries[{i}].placement", item["placement"])
        values = {k: number(f"batteries[{i}].{k}", item[k]) for k in _BATTERY_KEYS - {"name"}}
        out.append(BatteryConfig(name=str(item["name"]).lower(), placement=placement, **values))
    return tuple(out)


def read_battery_csv(path: Path) -> tuple[BatteryConfig, ...]:
    """Read PowerGym's ``Battery.csv`` (``name,max_kw,pf,max_kwh,initial_kwh``).

    Raises:
        ConfigError: Another header or a value that is not a number.
    """
    rows = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    header = [h.strip().lower() for h in rows[0].split(",")]
    expected = ["name", "max_kw", "pf", "max_kwh", "initial_kwh"]
    if header != expected:
        raise ConfigError(f"{path}: expected header {','.join(expected)}, got {rows[0]!r}")
    out = []
    for line in rows[1:]:
        name, *nums = (c.strip() for c in line.split(","))
        if len(nums) != len(expected) - 1:
            raise ConfigError(f"{path}: expected {len(expected)} columns, got {line!r}")
        max_kw, pf, max_kwh, initial_kwh = (number(f"{path.name}:{name}", v) for v in nums)
        out.append(BatteryConfig(name.lower(), max_kw, pf, max_kwh, initial_kwh))
    return tuple(out)


def units(where: str, key: str, items: list[Any], cls: type) -> tuple[Any, ...]:
    """Parse generator or storage entries into ``cls`` (numbers may be fractions).

    Raises:
        ConfigError: A bad key or value.
    """
    names = {f.name for f in fields(cls)}
    required = {f.name for f in fields(cls) if f.default is MISSING}
    out = []
    for i, item in enumerate(items):
        here = f"{where}: {key}[{i}]"
        check_keys(here, item, names, required)
        values = {
            k: (str(v).lower() if k == "name" else None if v is None else number(f"{here}.{k}", v))
            for k, v in item.items()
        }
        out.append(cls(**values))
    return tuple(out)


def pv_units(
    where: str, data: dict[str, Any]
) -> tuple[tuple[GeneratorConfig, ...], tuple[str, ...], float]:
    """Rooftop PV inverters of a ``_pv`` variant: agents, the commands adding them, curtail_w.

    Each unit of ``kva`` becomes an idle Generator (constant P, Q within 0.5–1.5 pu) and an
    inverter capability region: P up to the rating and the sun's availability, |Q| up to
    0.44 × rating (power factor 0.9 at full output), narrowing linearly to Q = 0 between
    0.9 and 1.0 × rating so that P and Q stay within the kVA.

    Raises:
        ConfigError: A bad key or value.
    """
    check_keys(f"{where}: pv_variant", data, {"curtail_w", "units"}, {"units"})
    gens, commands = [], []
    keys = {"name", "bus1", "kv", "phases", "kva"}
    for i, unit in enumerate(data["units"]):
        here = f"{where}: pv_variant.units[{i}]"
        check_keys(here, unit, keys, keys)
        name = str(unit["name"]).lower()
        kva = number(f"{here}.kva", unit["kva"])
        mva = kva / 1000.0
        gens.append(
            GeneratorConfig(
                name=name,
                p_max=mva,
                q_max=0.44 * mva,
                q_min=-0.44 * mva,
                p_plus=0.9 * mva,
                q_plus=0.0,
                q_minus=0.0,
            )
        )
        commands.append(
            f"new generator.{name} bus1={unit['bus1']} phases={int(unit['phases'])} "
            f"kv={number(f'{here}.kv', unit['kv'])} kw=0 kvar=0 kva={kva} model=1 "
            "vminpu=0.5 vmaxpu=1.5"
        )
    curtail_w = number(f"{where}: pv_variant.curtail_w", data.get("curtail_w", 0.0))
    return tuple(gens), tuple(commands), curtail_w


def powergym_layout(where: str, data: Any) -> PowerGymLayout:
    """A system's place in a PowerGym ``systems`` folder.

    Raises:
        ConfigError: A bad key.
    """
    allowed = {"folder", "master", "loadshape_files", "battery_csv"}
    check_keys(f"{where}: powergym", data, allowed, {"folder", "master"})
    return PowerGymLayout(
        folder=data["folder"],
        master=data["master"],
        loadshape_files=tuple(data.get("loadshape_files", ())),
        battery_csv=data.get("battery_csv", "Battery.csv"),
    )


def quirks(option: Any, default: Quirks) -> Quirks:
    """The ``quirks=`` argument: None keeps ``default``, a bool turns all on or off.

    A dict or a :class:`Quirks` sets them one by one.

    Raises:
        ConfigError: Another type, or an unknown quirk name.
    """
    if option is None:
        return default
    if isinstance(option, bool):
        return Quirks.powergym() if option else Quirks()
    if isinstance(option, Quirks):
        return option
    if isinstance(option, dict):
        check_keys("quirks", option, {f.name for f in fields(Quirks)}, set())
        return Quirks(**{k: bool(v) for k, v in option.items()})
    raise ConfigError(f"quirks: expected None, a bool, a dict or Quirks, got {option!r}")
