"""Load a system by name or YAML file into a :class:`~marl_vvc.systems.config.SystemConfig`.

The steps, one function each: find the file and parse the name (:func:`_source`), read and
check the file (:func:`_read`), locate the circuit (:func:`_locate`), collect the plain
options, the reward, the devices (listed in the file or discovered in the circuit) and the
``_pv`` variant, then assemble the sections with the caller's flat overrides
(:func:`_assemble`). Paths in a file resolve relative to the file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from marl_vvc.errors import ConfigError, DataNotFoundError
from marl_vvc.systems import checks, parsers
from marl_vvc.systems.config import SystemConfig, split_overrides
from marl_vvc.systems.discovery import DEFAULT_WEIGHTS, discover_devices, discover_system
from marl_vvc.systems.elements import GeneratorConfig, PowerGymLayout, Quirks, StorageConfig
from marl_vvc.systems.names import configs_dir, is_system_file, parse_name
from marl_vvc.systems.schema import INT_KEYS, NUMBER_KEYS, check_system_file, number
from marl_vvc.systems.yaml_io import read_yaml

_DEVICE_LISTS = ("capacitors", "regulators", "batteries")


@dataclass(frozen=True)
class _Source:
    """Where a system comes from: its file and what its name says."""

    name: str
    path: Path
    base: str
    flags: frozenset[str]
    scale: float

    @property
    def from_file(self) -> bool:
        """The caller named a YAML file (its name has no variant tokens)."""
        return is_system_file(self.name)


def _source(name: str) -> _Source:
    """Find the system file of ``name`` and parse its variant tokens.

    Raises:
        ConfigError: A YAML file that does not exist, or a bad system name.
    """
    if is_system_file(name):  # a user's own system file
        path = Path(name).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"system file not found: {path}")
        return _Source(str(name), path, path.stem, frozenset(), 1.0)
    base, flags, scale = parse_name(name)
    return _Source(name, configs_dir() / f"{base}.yaml", base, frozenset(flags), scale)


def _refuse_name_options(source: _Source, overrides: dict[str, Any]) -> None:
    """Refuse options that a named system takes from its name's variant tokens.

    Raises:
        ConfigError: ``scale=`` or ``continuous_batteries=`` given with a system name.
    """
    if source.from_file:
        return
    for key, token, example in (
        ("scale", "_s<x>", f"{source.base}_s{overrides.get('scale')}"),
        ("continuous_batteries", "_cbat", f"{source.base}_cbat"),
    ):
        if key in overrides:
            raise ConfigError(
                f"{key}={overrides[key]!r}: the {key} of a named system comes from the "
                f"{token!r} token of its name; expected a name such as {example!r} instead "
                f"of {key}= (got name {source.name!r})"
            )


def _read(source: _Source) -> dict[str, Any]:
    """The checked top level of the system file.

    Raises:
        ConfigError: Unreadable file, bad YAML, unknown key, wrong type or missing key.
    """
    data: dict[str, Any] = read_yaml(source.path)  # a mapping, once checked
    check_system_file(source.path.name, data)
    return data


def _locate(
    source: _Source, data: dict[str, Any], layout: PowerGymLayout | None, systems_dir: Any
) -> tuple[Path, Path | None]:
    """The master file, and the feeder folder when the data comes from one.

    Raises:
        ConfigError: ``systems_dir`` for a system without a PowerGym layout.
        DataNotFoundError: ``systems_dir`` lacks the master file, or the feeder data cannot
            be found or fetched.
    """
    if systems_dir is not None:
        if layout is None:
            raise ConfigError(
                f"{source.base} has no PowerGym layout, so systems_dir cannot be used"
            )
        folder = Path(systems_dir).expanduser().resolve() / layout.folder
        circuit = folder / layout.master
        if not circuit.is_file():
            raise DataNotFoundError(
                f"systems_dir={systems_dir}: expected the master file {circuit} (PowerGym layout "
                f"'<systems_dir>/{layout.folder}/{layout.master}')"
            )
        return circuit, folder
    if "feeder_data" in data:  # env var folder, else user cache, else checksummed download
        from marl_vvc.systems.feeder_data import locate_feeder

        circuit = locate_feeder(str(data["feeder_data"]))
        return circuit, circuit.parent
    return (source.path.parent / data["circuit"]).resolve(), None


def _plain(where: str, data: dict[str, Any]) -> dict[str, Any]:
    """The file's scalar options and ANM tables, as flat options."""
    flat: dict[str, Any] = {key: data[key] for key in INT_KEYS if key in data}
    flat.update({key: number(f"{where}: {key}", data[key]) for key in NUMBER_KEYS if key in data})
    for key in ("scenario", "truncate_at_horizon", "initial_state", "voltage_term"):
        if key in data:
            flat[key] = data[key]
    flat["branch_ratings"] = tuple(
        (str(k).lower(), number(f"branch_ratings.{k}", v))
        for k, v in data.get("branch_ratings", {}).items()
    )
    flat["state_devices"] = tuple(str(d).lower() for d in data.get("state_devices", []))
    flat["generators"] = parsers.units(
        where, "generators", data.get("generators", []), GeneratorConfig
    )
    flat["storage_units"] = parsers.units(
        where, "storage_units", data.get("storage_units", []), StorageConfig
    )
    return flat


def _reward(source: _Source, data: dict[str, Any]) -> dict[str, Any]:
    """``weights`` and ``anm`` (a discovered system without ``reward`` gets the defaults)."""
    if "reward" not in data:
        return {"weights": DEFAULT_WEIGHTS, "anm": None}
    weights, anm = parsers.reward(
        source.path.name, data["reward"], soc="soc" in source.flags, scale=source.scale
    )
    return {"weights": weights, "anm": anm}


def _listed_devices(data: dict[str, Any], folder: Path | None, layout: Any) -> dict[str, Any]:
    """Device lists of the file; a feeder folder's ``Battery.csv`` rates the batteries."""
    batteries = parsers.batteries(data.get("batteries", []))
    csv = None if folder is None else folder / (layout.battery_csv if layout else "Battery.csv")
    if csv is not None and csv.is_file():  # the folder's ratings; placements from our config
        placements = {b.name: b.placement for b in batteries}
        batteries = tuple(
            replace(b, placement=placements.get(b.name)) for b in parsers.read_battery_csv(csv)
        )
    return {
        "capacitors": tuple(str(c).lower() for c in data.get("capacitors", [])),
        "regulators": tuple(str(r).lower() for r in data.get("regulators", [])),
        "batteries": batteries,
    }


def _discovered_devices(
    circuit: Path, data: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """Devices found in the circuit; lists in the file (or overrides) select among them.

    Raises:
        CircuitLoadError: The circuit does not compile or a named element is missing.
        ConfigError: Nothing controllable found and no ANM units listed.
    """
    chosen = {key: overrides.get(key, data.get(key)) for key in _DEVICE_LISTS}
    found = discover_devices(circuit, **chosen)
    if not (data.get("generators") or data.get("storage_units")):
        found.require_some(circuit)
    return {
        "capacitors": found.capacitors,
        "regulators": found.regulators,
        "batteries": found.batteries,
        "setup_commands": found.setup_commands,
    }


def _pv_variant(source: _Source, data: dict[str, Any], flat: dict[str, Any]) -> None:
    """Add the ``_pv`` variant's inverters (agents, commands, curtailment weight) to ``flat``.

    Raises:
        ConfigError: The system has no ``pv_variant``.
    """
    if "pv_variant" not in data:
        raise ConfigError(
            f"{source.base} has no '_pv' variant (pv_variant missing in {source.path.name})"
        )
    generators, setup, curtail_w = parsers.pv_units(source.path.name, data["pv_variant"])
    flat["weights"] = replace(flat["weights"], curtail_w=curtail_w)
    flat["generators"] = generators + flat["generators"]
    flat["setup_commands"] = setup
    flat.update(scenario="solar", base_mva=1.0)  # PV availability from the solar model, MW


def _profiles_dir(option: str | Path | None, folder: Path | None) -> Path | None:
    """The caller's profile folder, else a feeder folder's ``loadshape`` folder, else None."""
    if option is None and folder is not None and (folder / "loadshape").is_dir():
        return folder / "loadshape"
    return None if option is None else Path(option)


def _quirks(source: _Source, data: dict[str, Any], option: Any) -> Quirks:
    """The caller's quirks, else the file's (``quirks: powergym``) except for ``_pv``.

    Raises:
        ConfigError: A bad ``quirks=`` argument.
    """
    # PowerGym's start with every tap at 1.1 would hide the PV over-voltage of ``_pv``.
    powergym = data.get("quirks") == "powergym" and "pv" not in source.flags
    return parsers.quirks(option, Quirks.powergym() if powergym else Quirks())


def _assemble(
    source: _Source, name: str, flat: dict[str, Any], overrides: dict[str, Any]
) -> SystemConfig:
    """Build the config: the caller's overrides win; their ``setup_commands`` run last.

    Raises:
        ConfigError: An invalid value (the message names the system and the option).
    """
    extra = checks.names("setup_commands", overrides.get("setup_commands", ()))
    merged = {**flat, **overrides, "setup_commands": flat.get("setup_commands", ()) + extra}
    try:
        return SystemConfig.from_flat(name, source.base, **merged)
    except ConfigError as exc:
        where = source.path.name if source.from_file else f"system {name}"
        raise ConfigError(f"{where}: {exc}") from exc


def load_system(
    name: str,
    *,
    systems_dir: str | Path | None = None,
    profiles_dir: str | Path | None = None,
    quirks: bool | Quirks | dict[str, bool] | None = None,
    **overrides: Any,
) -> SystemConfig:
    """Build the :class:`SystemConfig` for a PowerGym-style system name or a YAML file.

    Args:
        name: System name with optional variants, e.g. ``"13Bus_cbat_soc_s1.5"``, or the path
            of a YAML system file of the same form as ``configs/*.yaml`` (its ``circuit`` is
            resolved relative to the file; with ``discover: true`` the devices are found in
            the circuit, see :mod:`marl_vvc.systems.discovery`).
        systems_dir: A PowerGym-layout ``systems`` folder; when given, the circuit, battery
            ratings and load shapes come from ``<systems_dir>/<folder>/`` instead of ours.
        profiles_dir: A folder of yearly load-shape CSVs to chop into daily profiles.
        quirks: PowerGym parity behaviours: None keeps the system's default, True/False turns
            all on/off, a dict or :class:`Quirks` sets them one by one.
        **overrides: Options by their flat names (``horizon=12``, ``tap_min=0.95``; see
            :data:`~marl_vvc.systems.config.OVERRIDE_SECTIONS`). ``setup_commands`` run
            after the system's own. A named system takes ``scale`` and
            ``continuous_batteries`` from its name (``_s<x>``, ``_cbat``), not from here.

    Raises:
        ConfigError: Unknown system, variant, key or option, or a bad value.
        DataNotFoundError: ``systems_dir`` lacks the system's folder or master file.
    """
    split_overrides(overrides)  # unknown option names fail before any file is read
    source = _source(name)
    _refuse_name_options(source, overrides)
    data = _read(source)
    where = source.path.name
    layout = parsers.powergym_layout(where, data["powergym"]) if "powergym" in data else None
    circuit, folder = _locate(source, data, layout, systems_dir)
    flat = {**_plain(where, data), **_reward(source, data), "circuit": circuit, "powergym": layout}
    discover = data.get("discover") is True
    if discover:
        flat.update(_discovered_devices(circuit, data, overrides))
        flat.setdefault("initial_state", "circuit")
        overrides = {k: v for k, v in overrides.items() if k not in _DEVICE_LISTS}
    else:
        flat.update(_listed_devices(data, folder, layout))
    flat["profiles_dir"] = _profiles_dir(profiles_dir, folder)
    if "pv" in source.flags:
        _pv_variant(source, data, flat)
    flat["quirks"] = _quirks(source, data, quirks)
    if not source.from_file:
        flat.update(scale=source.scale, continuous_batteries="cbat" in source.flags)
    return _assemble(source, source.base if discover else name, flat, overrides)


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
        system: System name, YAML path or OpenDSS master file (``.dss``, the same as
            ``circuit=``); default ``"13Bus"`` when no circuit is given.
        circuit: An OpenDSS master file whose devices are discovered (see
            :mod:`marl_vvc.systems.discovery`); ``capacitors=``, ``regulators=``,
            ``batteries=`` and ``weights=`` select them.
        systems_dir: PowerGym-layout folder (named systems only).
        profiles_dir: Folder of yearly load-shape CSVs.
        quirks: PowerGym quirks.
        **overrides: Options by their flat names.

    Raises:
        ConfigError: ``systems_dir`` with ``circuit``, or anything :func:`load_system` or
            :func:`~marl_vvc.systems.discovery.discover_system` refuses.
    """
    if circuit is None and str(system or "").lower().endswith(".dss"):
        system, circuit = None, system  # an OpenDSS master file named as the system
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
