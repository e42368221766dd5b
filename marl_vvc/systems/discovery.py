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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from marl_vvc.core.engine import OpenDSSEngine
from marl_vvc.errors import CircuitLoadError, ConfigError
from marl_vvc.systems import checks, parsers
from marl_vvc.systems.config import SystemConfig, split_overrides
from marl_vvc.systems.elements import BatteryConfig, BatteryPlacement, Quirks, RewardWeights
from marl_vvc.systems.schema import check_keys

DEFAULT_WEIGHTS = RewardWeights(power_w=10.0, cap_w=1 / 33, reg_w=1 / 33, soc_w=0.0, dis_w=6 / 33)

BatteryChoice = str | Mapping[str, Any] | BatteryConfig


@dataclass(frozen=True)
class DiscoveredDevices:
    """The agents found in a circuit.

    Attributes:
        capacitors: Capacitor names.
        regulators: Regulator transformer names.
        batteries: Batteries (Storage elements replaced by Generators, or rated Generators).
        setup_commands: Commands disabling the replaced Storage elements.
    """

    capacitors: tuple[str, ...]
    regulators: tuple[str, ...]
    batteries: tuple[BatteryConfig, ...]
    setup_commands: tuple[str, ...]

    def require_some(self, circuit: Path) -> None:
        """Refuse an empty result with a hint on naming devices.

        Raises:
            ConfigError: Nothing controllable was found.
        """
        if not (self.capacitors or self.regulators or self.batteries):
            raise ConfigError(
                f"{circuit.name}: found no capacitor, RegControl or Storage element to control; "
                "name devices explicitly with capacitors=, regulators= or batteries="
            )


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


def _pick(
    circuit: Path, kind: str, given: Sequence[str] | None, found: tuple[str, ...]
) -> tuple[str, ...]:
    """The names ``given`` (each must exist in ``found``), or all of ``found``."""
    if given is None:
        return found
    names = tuple(str(n).lower() for n in given)
    missing = [n for n in names if n not in found]
    if missing:
        raise CircuitLoadError(f"{circuit.name} has no {kind} {missing}; it has {list(found)[:20]}")
    return names


def _battery_agents(
    engine: OpenDSSEngine, batteries: Sequence[BatteryChoice] | None
) -> tuple[tuple[BatteryConfig, ...], tuple[str, ...]]:
    """Battery agents and the commands disabling the Storage elements they replace."""
    rated: dict[str, BatteryConfig] = {}
    for item in batteries or ():
        if isinstance(item, BatteryConfig):
            rated[item.name] = item
        elif isinstance(item, Mapping):
            (rated_cfg,) = parsers.batteries([dict(item)])
            rated[rated_cfg.name] = rated_cfg
    storage = engine.element_names("Storage")
    if batteries is None:
        wanted = storage
    else:
        names = [item if isinstance(item, str) else rated_name(item) for item in batteries]
        found = storage + engine.element_names("Generator")
        wanted = _pick(engine.master, "storage or generator", names, found)
    bats: list[BatteryConfig] = []
    setup: list[str] = []
    for bat in wanted:
        if bat in rated:
            bats.append(rated[bat])
        elif bat in storage:
            battery, command = _storage_battery(engine, bat)
            bats.append(battery)
            setup.append(command)
        else:
            bats.append(_generator_battery(engine, bat))
    return tuple(bats), tuple(setup)


def discover_devices(
    circuit: str | Path,
    *,
    capacitors: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    batteries: Sequence[BatteryChoice] | None = None,
) -> DiscoveredDevices:
    """Compile ``circuit`` once and find its controllable devices (see module doc).

    Args:
        circuit: The master file.
        capacitors: Capacitor names to use (None: all).
        regulators: Transformer names to use as regulators (None: all RegControl targets).
        batteries: Storage or Generator names to use as batteries (None: all Storage); an
            entry may instead be a :class:`BatteryConfig` or a dict of its fields, giving
            the ratings of a Generator that has none.

    Raises:
        CircuitLoadError: The file does not compile or a named element is missing.
    """
    path = Path(circuit).expanduser().resolve()
    engine = OpenDSSEngine(path)
    try:
        caps = _pick(path, "capacitor", capacitors, engine.element_names("Capacitor"))
        transformers = engine.element_names("Transformer")
        if regulators is None:  # in transformer order, as PowerGym lists its regulators
            targets = engine.regcontrol_targets()
            regs = tuple(t for t in transformers if t in targets)
        else:
            regs = _pick(path, "transformer", regulators, transformers)
        bats, setup = _battery_agents(engine, batteries)
    finally:
        engine.close()
    return DiscoveredDevices(caps, regs, bats, setup)


def discover_system(
    circuit: str | Path,
    *,
    capacitors: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    batteries: Sequence[BatteryChoice] | None = None,
    name: str | None = None,
    weights: RewardWeights | dict[str, float] | None = None,
    quirks: bool | Quirks | dict[str, bool] | None = None,
    **overrides: Any,
) -> SystemConfig:
    """Build a :class:`SystemConfig` for any OpenDSS master file.

    Args:
        circuit: The master file.
        capacitors: Capacitor names to use (None: all).
        regulators: Transformer names to use as regulators (None: all RegControl targets).
        batteries: Storage or Generator names to use as batteries (see
            :func:`discover_devices`).
        name: System name (default: the file's stem).
        weights: Reward weights, or a dict changing some of :data:`DEFAULT_WEIGHTS`.
        quirks: PowerGym quirks (default off).
        **overrides: Other options by their flat names (``horizon=12``); ``setup_commands``
            run after the discovered ones.

    Raises:
        CircuitLoadError: The file does not compile or a named element is missing.
        ConfigError: Nothing controllable was found, or a bad option.
    """
    split_overrides(overrides)  # unknown option names fail before the circuit is compiled
    extra = checks.names("setup_commands", overrides.get("setup_commands", ()))
    path = Path(circuit).expanduser().resolve()
    found = discover_devices(
        path, capacitors=capacitors, regulators=regulators, batteries=batteries
    )
    found.require_some(path)
    if isinstance(weights, dict):
        check_keys("weights", weights, set(parsers.WEIGHT_KEYS), set())
        weights = replace(DEFAULT_WEIGHTS, **weights)
    overrides.setdefault("initial_state", "circuit")  # its own operating point, not our rule
    return SystemConfig.from_flat(
        name or path.stem,
        name or path.stem,
        circuit=path,
        capacitors=found.capacitors,
        regulators=found.regulators,
        batteries=found.batteries,
        weights=weights or DEFAULT_WEIGHTS,
        quirks=parsers.quirks(quirks, Quirks()),
        **{**overrides, "setup_commands": found.setup_commands + extra},
    )
