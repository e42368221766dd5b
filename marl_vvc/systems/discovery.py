"""Bring your own circuit: find the controllable devices of any OpenDSS model.

``discover_system("Master.dss")`` compiles the file once and makes agents of

- every ``Capacitor``;
- every transformer driven by a ``RegControl``, in transformer order (the winding it names;
  taps 0.9–1.1 in 33 positions, OpenDSS's usual ±10 % in 32 steps);
- every ``Storage`` element, as a battery: rated kW, kWh, stored % and power factor are read
  from the element, which is then disabled and replaced by an idle constant-PQ Generator of the
  same name at the same bus (how the PowerGym feeders model batteries).

Explicit lists override discovery (``capacitors=[...]``, ``regulators=[...]``,
``batteries=[...]`` naming Storage or Generator elements). Reward weights default to the 13-bus
PowerGym weights, the horizon to 24 hourly steps, and PowerGym's quirks are off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from marl_vvc.systems.config import (
    BatteryConfig,
    BatteryPlacement,
    Quirks,
    RewardWeights,
    SystemConfig,
)
from marl_vvc.systems.config import (
    _batteries as _battery_list,
)
from marl_vvc.core.engine import OpenDSSEngine
from marl_vvc.errors import CircuitLoadError, ConfigError

DEFAULT_WEIGHTS = RewardWeights(power_w=10.0, cap_w=1 / 33, reg_w=1 / 33, soc_w=0.0, dis_w=6 / 33)


def _float(engine: OpenDSSEngine, element: str, prop: str, default: float) -> float:
    try:
        return float(engine.element_property(element, prop))
    except (ValueError, CircuitLoadError):
        return default


def _storage_battery(engine: OpenDSSEngine, name: str) -> tuple[BatteryConfig, str]:
    """A battery that replaces ``Storage.<name>``, and the command disabling the Storage."""
    element = f"Storage.{name}"
    spec = engine.element_bus_specs(element)[0]
    phases = int(_float(engine, element, "phases", 3))
    kv = _float(engine, element, "kv", 0.0)
    conn = engine.element_property(element, "conn").strip().lower()
    kw = _float(engine, element, "kWrated", 0.0)
    kwh = _float(engine, element, "kWhrated", 0.0)
    stored = _float(engine, element, "%stored", 100.0)
    pf = abs(_float(engine, element, "pf", 1.0)) or 1.0
    if kw <= 0 or kwh <= 0 or kv <= 0:
        raise CircuitLoadError(
            f"{engine.master.name}: {element} has kWrated={kw}, kWhrated={kwh}, kv={kv}; "
            "a battery agent needs all three > 0"
        )
    placement = BatteryPlacement(
        bus1=spec, kv=kv, phases=phases, conn="delta" if conn.startswith("d") else "wye"
    )
    battery = BatteryConfig(
        name=name,
        max_kw=kw,
        pf=min(pf, 1.0),
        max_kwh=kwh,
        initial_kwh=kwh * min(max(stored, 0.0), 100.0) / 100.0,
        placement=placement,
    )
    return battery, f"storage.{name}.enabled=no"


def _generator_battery(engine: OpenDSSEngine, name: str) -> BatteryConfig:
    element = f"Generator.{name}"
    kw = _float(engine, element, "kVA", 0.0) or _float(engine, element, "kW", 0.0)
    if kw <= 0:
        raise CircuitLoadError(
            f"{engine.master.name}: {element} has no kVA/kW rating to use; give the battery's "
            "ratings instead, e.g. batteries=[{'name': ..., 'max_kw': ..., 'pf': ..., "
            "'max_kwh': ..., 'initial_kwh': ...}]"
        )
    pf = abs(_float(engine, element, "pf", 1.0)) or 1.0
    return BatteryConfig(name=name, max_kw=kw, pf=min(pf, 1.0), max_kwh=4 * kw, initial_kwh=2 * kw)


def rated_name(item: Mapping[str, Any] | BatteryConfig) -> str:
    """Element name of a battery given with its ratings."""
    return str(item.name if isinstance(item, BatteryConfig) else item["name"]).lower()


def discover_system(
    circuit: str | Path,
    *,
    capacitors: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    batteries: Sequence[str | Mapping[str, Any] | BatteryConfig] | None = None,
    name: str | None = None,
    weights: RewardWeights | dict[str, float] | None = None,
    quirks: bool | Quirks | None = None,
    **overrides: Any,
) -> SystemConfig:
    """Build a :class:`SystemConfig` for any OpenDSS master file.

    Args:
        circuit: The master file.
        capacitors: Capacitor names to use (None: all).
        regulators: Transformer names to use as regulators (None: all RegControl targets).
        batteries: Storage or Generator names to use as batteries (None: all Storage); an
            entry may instead be a :class:`BatteryConfig` or a dict of its fields, giving
            the ratings of a Generator that has none.
        name: System name (default: the file's stem).
        weights: Reward weights (default :data:`DEFAULT_WEIGHTS`).
        quirks: PowerGym quirks (default off).
        **overrides: Any other :class:`SystemConfig` field.

    Raises:
        CircuitLoadError: The file does not compile or a named element is missing.
        ConfigError: Nothing controllable was found, or a bad override.
    """
    path = Path(circuit).expanduser().resolve()
    engine = OpenDSSEngine(path)
    try:
        found_caps = engine.element_names("Capacitor")
        targets = engine.regcontrol_targets()
        # in transformer order, as PowerGym lists its regulators
        found_regs = tuple(t for t in engine.element_names("Transformer") if t in targets)
        found_storage = engine.element_names("Storage")
        found_gens = engine.element_names("Generator")

        def pick(kind: str, given: Sequence[str] | None, found: tuple[str, ...]) -> tuple[str, ...]:
            if given is None:
                return found
            names = tuple(str(n).lower() for n in given)
            missing = [n for n in names if n not in found]
            if missing:
                raise CircuitLoadError(
                    f"{path.name} has no {kind} {missing}; it has {list(found)[:20]}"
                )
            return names

        caps = pick("capacitor", capacitors, found_caps)
        transformers = engine.element_names("Transformer")
        regs = (
            pick("transformer", regulators, transformers) if regulators is not None else found_regs
        )
        bats: list[BatteryConfig] = []
        setup: list[str] = []
        rated: dict[str, BatteryConfig] = {}
        for item in batteries or ():
            if isinstance(item, BatteryConfig):
                rated[item.name] = item
            elif isinstance(item, Mapping):
                (rated_cfg,) = _battery_list([dict(item)])
                rated[rated_cfg.name] = rated_cfg
        names = (
            None
            if batteries is None
            else [item if isinstance(item, str) else rated_name(item) for item in batteries]
        )
        wanted = (
            found_storage
            if names is None
            else pick("storage or generator", names, found_storage + found_gens)
        )
        for bat in wanted:
            if bat in rated:
                bats.append(rated[bat])
            elif bat in found_storage:
                battery, command = _storage_battery(engine, bat)
                bats.append(battery)
                setup.append(command)
            else:
                bats.append(_generator_battery(engine, bat))
    finally:
        engine.close()
    if isinstance(weights, dict):
        weights = replace(DEFAULT_WEIGHTS, **weights)
    if isinstance(quirks, bool):
        quirks = Quirks.powergym() if quirks else Quirks()
    if not (caps or regs or bats):
        raise ConfigError(
            f"{path.name}: found no capacitor, RegControl or Storage element to control; name "
            "devices explicitly with capacitors=, regulators= or batteries="
        )
    try:
        return SystemConfig(
            name=name or path.stem,
            base=name or path.stem,
            circuit=path,
            capacitors=caps,
            regulators=regs,
            batteries=tuple(bats),
            weights=weights or DEFAULT_WEIGHTS,
            quirks=quirks or Quirks(),
            setup_commands=tuple(setup) + tuple(overrides.pop("setup_commands", ())),
            **overrides,
        )
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc


def resolve_system(
    system: str | None = None,
    *,
    circuit: str | Path | None = None,
    systems_dir: str | Path | None = None,
    profiles_dir: str | Path | None = None,
    quirks: Any = None,
    **overrides: Any,
) -> SystemConfig:
    """The config an environment is built from: a named system, or a discovered circuit.

    Args:
        system: System name or YAML path (default ``"13Bus"`` when no circuit is given).
        circuit: An OpenDSS master file whose devices are discovered (see module doc);
            ``capacitors=``, ``regulators=``, ``batteries=`` and ``weights=`` select them.
        systems_dir: PowerGym-layout folder (named systems only).
        profiles_dir: Folder of yearly load-shape CSVs.
        quirks: PowerGym quirks.
        **overrides: :class:`SystemConfig` fields.
    """
    from marl_vvc.systems.config import load_system

    if circuit is None:
        return load_system(
            system or "13Bus",
            systems_dir=systems_dir,
            profiles_dir=profiles_dir,
            quirks=quirks,
            **overrides,
        )
    if systems_dir is not None:
        raise ConfigError("systems_dir applies to named systems, not to circuit=")
    if profiles_dir is not None:
        overrides["profiles_dir"] = Path(profiles_dir)
    return discover_system(circuit, name=system, quirks=quirks, **overrides)
