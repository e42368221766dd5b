"""Build a grid core for a system configuration: engine, fleets and the task of its scenario.

The scenario kind names the task (a table, not a chain of flags): ``loads`` is PowerGym's
Volt-Var task (:class:`~marl_vvc.tasks.vvc.VvcTask`), ``solar`` the same with PV inverters
(:class:`~marl_vvc.tasks.pv.PvTask`), ``anm6easy`` Gym-ANM's
(:class:`~marl_vvc.tasks.anm6.Anm6Task`). A new task adds one entry to :data:`TASKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from marl_vvc.core.capability import GeneratorCapability, StorageCapability
from marl_vvc.core.devices import Battery, Capacitor, Generator, Regulator, Storage
from marl_vvc.core.engine import OpenDSSEngine
from marl_vvc.core.fleets import BatteryFleet, CapacitorFleet, RegulatorFleet
from marl_vvc.core.grid import GridCore, Task
from marl_vvc.core.pq_fleets import GeneratorFleet, StorageFleet
from marl_vvc.errors import CircuitLoadError, ConfigError
from marl_vvc.systems.config import SystemConfig
from marl_vvc.systems.elements import GeneratorConfig, StorageConfig
from marl_vvc.tasks.anm6 import Anm6Task
from marl_vvc.tasks.capswitch import CapSwitchTask
from marl_vvc.tasks.profiles import SyntheticProfiles, YearlyProfiles
from marl_vvc.tasks.pv import PvTask
from marl_vvc.tasks.vvc import VvcTask

Fleets = tuple[CapacitorFleet, RegulatorFleet, BatteryFleet, GeneratorFleet, StorageFleet]


def build_core(config: SystemConfig) -> GridCore:
    """Compile the circuit, lay out the fleets and hand the system's task to a core.

    Raises:
        CircuitLoadError: The circuit cannot be compiled or lacks a configured element.
        ConfigError: The scenario does not fit the devices.
        DataNotFoundError: Configured load-shape data cannot be found.
    """
    engine = OpenDSSEngine(config.feeder.circuit, max_iterations=config.feeder.max_iterations)
    try:
        setup = (*config.feeder.setup_commands, *_battery_placements(config, engine))
        for command in setup:
            engine.command(command)
        fleets = build_fleets(config, engine)
        kind = config.scenario.kind
        if kind not in TASKS:
            raise ConfigError(
                f"system {config.name}: unknown scenario {kind!r}; expected one of {list(TASKS)}"
            )
        task = TASKS[kind](config, engine, fleets)
        return GridCore(
            engine,
            fleets,
            task,
            setup=setup,
            name=config.name,
            step_hours=config.scenario.step_hours,
        )
    except BaseException:
        engine.close()
        raise


def _battery_placements(config: SystemConfig, engine: OpenDSSEngine) -> list[str]:
    """Commands declaring configured batteries that the circuit file lacks (idle Generators)."""
    out = []
    for bat in config.devices.batteries:
        if bat.placement is None or engine.has_element(f"Generator.{bat.name}"):
            continue
        bus = bat.placement.bus1.split(".")[0]
        if bus not in engine.bus_names:  # a new bus would invalidate the node maps
            raise CircuitLoadError(
                f"system {config.name}: battery {bat.name} is placed at bus {bus!r}, "
                f"which the circuit {config.feeder.circuit} does not have"
            )
        out.append(bat.placement.command(bat.name, bat.pf))
    return out


def _bus(config: SystemConfig, engine: OpenDSSEngine, full_name: str, end: int = 1) -> str:
    if not engine.has_element(full_name):
        raise CircuitLoadError(
            f"system {config.name}: the circuit {config.feeder.circuit} has no element "
            f"{full_name!r} named in its configuration"
        )
    buses = engine.element_buses(full_name)
    return buses[min(end, len(buses)) - 1]


def build_fleets(config: SystemConfig, engine: OpenDSSEngine) -> Fleets:
    """The five fleets of a system, in joint-action order (empty ones included)."""
    cfg, dev, q = config, config.devices, config.quirks
    caps = [Capacitor(n, _bus(cfg, engine, f"Capacitor.{n}")) for n in dev.capacitors]
    windings = engine.regcontrol_targets()  # a RegControl names the winding it drives
    regs = []
    for name in dev.regulators:
        w = windings.get(name, dev.regulator_winding)
        bus = _bus(cfg, engine, f"Transformer.{name}", w)
        regs.append(Regulator(name, w, bus, dev.tap_min, dev.tap_max, dev.reg_levels))
    cap_start, tap_start = None, None
    if dev.initial_state == "circuit":
        cap_start, tap_start = operating_point(engine, caps, regs)
    levels = None if dev.continuous_batteries else dev.bat_levels
    bats = [
        Battery(
            b.name,
            _bus(cfg, engine, f"Generator.{b.name}"),
            b.max_kw,
            b.pf,
            b.max_kwh,
            b.initial_kwh,
            levels,
        )
        for b in dev.batteries
    ]
    base, dt = cfg.feeder.base_mva, cfg.scenario.step_hours
    return (
        CapacitorFleet(caps, cap_start),
        RegulatorFleet(regs, start_at_top=q.taps_at_max_on_reset, start=tap_start),
        BatteryFleet(bats, dt, q.battery_kvar_over_pf, q.integer_kwh),
        GeneratorFleet(_generators(cfg, engine), base),
        StorageFleet(_storage(cfg, engine), base, dt),
    )


def operating_point(
    engine: OpenDSSEngine, caps: list[Capacitor], regs: list[Regulator]
) -> tuple[list[int], list[int]]:
    """The circuit's own operating point, as OpenDSS's controls settle it.

    Capacitor states and tap positions after one solve of the circuit as compiled with
    OpenDSS's controls on (taps snapped to the agents' grid).

    Raises:
        CircuitLoadError: The controlled solve does not converge.
    """
    engine.set_control_mode("static")
    try:  # a compiled circuit is in snapshot mode: a full Solve runs the controls, no clock
        converged, error = engine.solve(advance=True)
    finally:
        engine.set_control_mode("off")
    if not converged:
        raise CircuitLoadError(
            f"{engine.master}: the circuit's own operating point does not solve ({error}); "
            "use initial_state='rule'"
        )
    status = [engine.capacitor_state(c.name) for c in caps]
    taps = [
        min(max(round((engine.tap(r.name, r.winding) - r.tap_min) / r.step), 0), r.levels - 1)
        for r in regs
    ]
    return status, taps


def _limits(unit: GeneratorConfig | StorageConfig) -> dict[str, Any]:
    """A unit's physical limits (MW, MVAr, MWh) by the names ``from_physical`` takes."""
    return {f.name: getattr(unit, f.name) for f in fields(unit) if f.name != "name"}


def _generators(cfg: SystemConfig, engine: OpenDSSEngine) -> list[Generator]:
    base = cfg.feeder.base_mva
    return [
        Generator(
            g.name,
            _bus(cfg, engine, f"Generator.{g.name}"),
            GeneratorCapability.from_physical(base_mva=base, **_limits(g)),
            base,
        )
        for g in cfg.devices.generators
    ]


def _storage(cfg: SystemConfig, engine: OpenDSSEngine) -> list[Storage]:
    base = cfg.feeder.base_mva
    return [
        Storage(
            u.name,
            _bus(cfg, engine, f"Generator.{u.name}"),
            StorageCapability.from_physical(base_mva=base, **_limits(u)),
            base,
        )
        for u in cfg.devices.storage_units
    ]


# ---------------------------------------------------------------------------- tasks
def _profiles(cfg: SystemConfig, engine: OpenDSSEngine) -> YearlyProfiles | SyntheticProfiles:
    n_loads, scen, layout = len(engine.load_names), cfg.scenario, cfg.feeder.powergym
    if scen.profiles_dir is not None:
        files = layout.loadshape_files if layout else ()
        if files and not all((scen.profiles_dir / f).is_file() for f in files):
            files = ()
        return YearlyProfiles(scen.profiles_dir, n_loads, scen.horizon, files)
    return SyntheticProfiles(n_loads, scen.horizon)


def _vvc_args(cfg: SystemConfig, engine: OpenDSSEngine) -> dict[str, Any]:
    return {
        "profiles": _profiles(cfg, engine),
        "weights": cfg.reward.weights,
        "horizon": cfg.scenario.horizon,
        "step_hours": cfg.scenario.step_hours,
        "v_band": (cfg.reward.v_min, cfg.reward.v_max),
        "divergence_penalty": cfg.reward.divergence_penalty,
        "scale": cfg.scenario.scale,
        "profile_pool": cfg.scenario.profile_pool,
        "last_multiplier_at_reset": cfg.quirks.reset_uses_last_multiplier,
        "tap_ratio_obs": cfg.quirks.tap_ratio_obs,
        "mean_voltage": cfg.reward.voltage_term == "mean",
    }


def _vvc_task(cfg: SystemConfig, engine: OpenDSSEngine, fleets: Fleets) -> Task:
    if fleets[3].devices or fleets[4].devices:
        raise ConfigError(
            f"system {cfg.name}: generators and storage units need a scenario giving their "
            "availability; expected scenario: anm6easy or solar"
        )
    return VvcTask(**_vvc_args(cfg, engine))


def _pv_task(cfg: SystemConfig, engine: OpenDSSEngine, fleets: Fleets) -> Task:
    if fleets[4].devices or cfg.reward.anm is not None:
        raise ConfigError(f"system {cfg.name}: the solar scenario takes PV generators only")
    return PvTask(fleets[3], **_vvc_args(cfg, engine))


def _anm6_task(cfg: SystemConfig, engine: OpenDSSEngine, fleets: Fleets) -> Task:
    if cfg.reward.anm is None:
        raise ConfigError(f"system {cfg.name}: scenario anm6easy needs reward kind: anm")
    bus_index = {b: i for i, b in enumerate(engine.bus_names)}
    branches = tuple(
        (name, mva, bus_index[engine.element_buses(name)[-1]])
        for name, mva in cfg.feeder.branch_ratings
    )
    return Anm6Task(
        engine.load_names,
        engine.base_load_powers(),
        fleets[3],
        fleets[4],
        cfg.reward.anm,
        step_hours=cfg.scenario.step_hours,
        v_band=(cfg.reward.v_min, cfg.reward.v_max),
        branches=branches,
        state_devices=cfg.scenario.state_devices,
        horizon=cfg.scenario.horizon,
        truncate_at_horizon=cfg.scenario.truncate_at_horizon,
    )


def build_switching_core(config: SystemConfig, **params: Any) -> GridCore:
    """A core whose agents are the capacitors of ``config`` toggling at one load condition.

    Args:
        config: The base system (a VVC feeder with capacitors).
        **params: :class:`~marl_vvc.tasks.capswitch.CapSwitchTask` arguments
            (``max_switches``, ``scale_range``, ``violation_weight``, ``violation_mode``,
            ``switch_cost``) and ``tolerance`` (power-flow tolerance in pu, or None).

    Raises:
        ConfigError: The system has no capacitor or is not a VVC feeder.
    """
    tolerance = params.pop("tolerance", None)
    engine = OpenDSSEngine(config.feeder.circuit, max_iterations=config.feeder.max_iterations)
    try:
        setup = [*config.feeder.setup_commands, *_battery_placements(config, engine)]
        if tolerance is not None:  # after every compile, so episodes do not depend on history
            setup.append(f"set tolerance={tolerance!r}")
        for command in setup:
            engine.command(command)
        caps, regs, bats, gens, units = build_fleets(config, engine)
        if config.scenario.kind != "loads" or gens.devices or units.devices:
            raise ConfigError(f"system {config.name} is not a VVC feeder of loads")
        if not caps.devices:
            raise ConfigError(f"system {config.name} has no capacitor to switch")
        max_switches = params.pop("max_switches", None)
        task = CapSwitchTask(
            _profiles(config, engine),
            caps,
            regs,
            bats,
            max_switches=len(caps.devices) if max_switches is None else max_switches,
            v_band=(config.reward.v_min, config.reward.v_max),
            divergence_penalty=config.reward.divergence_penalty,
            scale=config.scenario.scale,
            profile_pool=config.scenario.profile_pool,
            step_hours=config.scenario.step_hours,
            **params,
        )
        return GridCore(
            engine,
            [caps],
            task,
            setup=setup,
            fixed=[regs, bats],
            name=config.name,
            step_hours=config.scenario.step_hours,
        )
    except BaseException:
        engine.close()
        raise


TASKS: dict[str, Callable[[SystemConfig, OpenDSSEngine, Fleets], Task]] = {
    "loads": _vvc_task,
    "solar": _pv_task,
    "anm6easy": _anm6_task,
}
