"""System configurations: which feeder, which elements become agents, weights and horizon.

A system is described by ``configs/<base>.yaml`` and loaded into frozen dataclasses with
validation: unknown keys and bad values raise :class:`~marl_vvc.errors.ConfigError` naming the
key. System names follow PowerGym: a base name (``13Bus``) plus optional variant tokens in any
order: ``_cbat`` (continuous batteries), ``_soc`` (state-of-charge weights) and ``_s<x>``
(load scale ``x``; ``_s15`` is 15, ``_s2.25`` is 2.25).
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from marl_vvc.errors import ConfigError
from marl_vvc.paths import data_dir

_SCALE_TOKEN = re.compile(r"^s(\d+(?:\.\d+)?|\.\d+)$")


@dataclass(frozen=True)
class RewardWeights:
    """PowerGym reward weights.

    Attributes:
        power_w: Weight of the loss ratio term.
        cap_w: Cost per capacitor status change.
        reg_w: Cost per regulator tap step moved.
        soc_w: Cost per unit of |SoC - initial SoC| at the last step.
        dis_w: Cost per unit of discharge (fraction of rated kW).
        curtail_w: Cost per unit of PV curtailment (fraction of the inverter rating).
    """

    power_w: float
    cap_w: float
    reg_w: float
    soc_w: float
    dis_w: float
    curtail_w: float = 0.0


@dataclass(frozen=True)
class Quirks:
    """PowerGym behaviours kept for number-for-number parity (all on for PowerGym systems).

    Attributes:
        tap_ratio_obs: Observe the regulator tap *ratio* (PowerGym) instead of the tap index.
        taps_at_max_on_reset: Start every episode with all taps at the top (1.1) instead of the
            middle (1.0).
        battery_kvar_over_pf: Battery kvar = kW / pf (PowerGym) instead of kW·tan(acos pf).
        integer_kwh: Round stored energy to whole kWh after every step.
        reset_uses_last_multiplier: OpenDSS daily-mode timing: the reset solve uses the day's
            last multiplier and step ``t`` uses multiplier ``t - 1``. Off: reset uses
            multiplier 0 and step ``t`` uses multiplier ``t``.
    """

    tap_ratio_obs: bool = False
    taps_at_max_on_reset: bool = False
    battery_kvar_over_pf: bool = False
    integer_kwh: bool = False
    reset_uses_last_multiplier: bool = False

    @classmethod
    def powergym(cls) -> Quirks:
        """Every PowerGym quirk on."""
        return cls(True, True, True, True, True)


@dataclass(frozen=True)
class BatteryPlacement:
    """Where to add a battery's Generator when the circuit file does not declare it.

    Attributes:
        bus1: Bus with nodes, e.g. ``l3160098.1.2.3``.
        kv: Rated kV (line-to-line for 2- and 3-phase units, as OpenDSS reads it).
        phases: Number of phases.
        conn: ``wye`` or ``delta``.
        model: OpenDSS Generator model (1 = constant P and Q).
    """

    bus1: str
    kv: float
    phases: int = 1
    conn: str = "wye"
    model: int = 1

    def __post_init__(self) -> None:
        if not self.kv > 0 or self.phases not in (1, 2, 3) or self.conn not in ("wye", "delta"):
            raise ConfigError(
                f"battery placement {self}: kv must be > 0, phases 1-3, conn wye or delta"
            )

    def command(self, name: str, pf: float) -> str:
        """OpenDSS command declaring the battery as an idle Generator (kW = 0)."""
        return (
            f"new generator.{name} bus1={self.bus1} phases={self.phases} kv={self.kv!r} kw=0 "
            f"pf={pf!r} conn={self.conn} model={self.model}"
        )


@dataclass(frozen=True)
class BatteryConfig:
    """A battery, modelled in the circuit as an OpenDSS Generator of the same name.

    ``placement`` adds the Generator after compiling when the circuit lacks it.
    """

    name: str
    max_kw: float
    pf: float
    max_kwh: float
    initial_kwh: float
    placement: BatteryPlacement | None = None

    def __post_init__(self) -> None:
        for key in ("max_kw", "max_kwh"):
            if not getattr(self, key) > 0:
                raise ConfigError(
                    f"battery {self.name}: {key} must be > 0, got {getattr(self, key)}"
                )
        if not 0 < self.pf <= 1:
            raise ConfigError(f"battery {self.name}: pf must be in (0, 1], got {self.pf}")
        if not 0 <= self.initial_kwh <= self.max_kwh:
            raise ConfigError(
                f"battery {self.name}: initial_kwh must be in [0, max_kwh={self.max_kwh}], "
                f"got {self.initial_kwh}"
            )


@dataclass(frozen=True)
class GeneratorConfig:
    """A renewable generator agent (Gym-ANM's ``Generator``), MW / MVAr.

    ``p_plus``, ``q_plus`` and ``q_minus`` place the sloped corners of the PQ region (None:
    a rectangle).
    """

    name: str
    p_max: float
    q_max: float
    q_min: float
    p_min: float = 0.0
    p_plus: float | None = None
    q_plus: float | None = None
    q_minus: float | None = None


@dataclass(frozen=True)
class StorageConfig:
    """A storage (DES) agent (Gym-ANM's ``StorageUnit``): MW, MVAr, MWh."""

    name: str
    p_max: float
    p_min: float
    q_max: float
    q_min: float
    soc_max: float
    soc_min: float = 0.0
    eff: float = 1.0
    p_plus: float | None = None
    p_minus: float | None = None
    q_plus: float | None = None
    q_minus: float | None = None


@dataclass(frozen=True)
class AnmReward:
    """Gym-ANM's reward.

    ``−(clip(e_loss) + clip(penalty))``, and ``−clip_penalty/(1−γ)`` on non-convergence.

    Attributes:
        lam: Weight λ of the constraint violations.
        clip_loss: Bound of ``|e_loss|`` (MWh / baseMVA).
        clip_penalty: Bound of the penalty.
        gamma: Discount used for the non-convergence reward.
    """

    lam: float = 100.0
    clip_loss: float = 1.0
    clip_penalty: float = 100.0
    gamma: float = 0.995


@dataclass(frozen=True)
class PowerGymLayout:
    """Where a system lives inside a PowerGym-style ``systems`` folder."""

    folder: str
    master: str
    loadshape_files: tuple[str, ...] = ()
    battery_csv: str = "Battery.csv"


@dataclass(frozen=True)
class SystemConfig:
    """Everything the grid core needs to build one system.

    Attributes:
        name: Full system name including variants (``13Bus_cbat_s1.5``).
        base: Base system name (``13Bus``).
        circuit: OpenDSS master file.
        capacitors: Capacitor element names that become agents.
        regulators: Regulator transformer names that become agents.
        batteries: Battery (Generator) elements that become agents.
        continuous_batteries: Box actions in [-1, 1] instead of discrete levels.
        horizon: Steps per episode.
        step_hours: Length of a step in hours.
        scale: Load multiplier scale.
        weights: Reward weights.
        quirks: PowerGym parity behaviours.
        reg_levels: Discrete tap positions (33 → indices 0..32).
        bat_levels: Discrete battery levels (33 → indices 0..32).
        tap_min: Lowest tap ratio.
        tap_max: Highest tap ratio.
        regulator_winding: Winding whose tap the regulators set.
        v_min: Lower voltage limit (pu).
        v_max: Upper voltage limit (pu).
        divergence_penalty: Reward penalty when the power flow does not converge.
        powergym: Layout of the system in a PowerGym ``systems`` folder, if it has one.
            Systems too large to ship name ``feeder_data`` instead of ``circuit`` (see
            :mod:`marl_vvc.systems.feeder_data`).
        profiles_dir: Folder of yearly load-shape CSVs (PowerGym scheme); None = built-in.
        profile_pool: ``(first, stop)``: resets without a chosen profile draw from
            ``first <= k < stop`` only (e.g. a training split); None = all profiles.
        setup_commands: OpenDSS commands run after every compile (e.g. disabling a Storage
            element that a battery agent replaces).
        generators: Renewable generator agents (active network management).
        storage_units: Storage (DES) agents (active network management).
        base_mva: Base power of the per-unit capability regions and the ANM reward.
        anm: Gym-ANM's reward instead of PowerGym's (None: PowerGym's).
        scenario: Built-in fixed scenario (``"anm6easy"``) instead of load profiles.
        branch_ratings: ``(element, MVA)`` thermal ratings for the ANM penalty.
        state_devices: ANM state layout: device names in order (``slack``, loads,
            generators, storage units).
        max_iterations: OpenDSS power-flow iteration limit.
        truncate_at_horizon: End episodes at the horizon by truncation (a time limit on an
            endless task) rather than termination.
    """

    name: str
    base: str
    circuit: Path
    capacitors: tuple[str, ...]
    regulators: tuple[str, ...]
    batteries: tuple[BatteryConfig, ...]
    weights: RewardWeights
    continuous_batteries: bool = False
    horizon: int = 24
    step_hours: float = 1.0
    scale: float = 1.0
    quirks: Quirks = field(default_factory=Quirks)
    reg_levels: int = 33
    bat_levels: int = 33
    tap_min: float = 0.9
    tap_max: float = 1.1
    regulator_winding: int = 2
    v_min: float = 0.95
    v_max: float = 1.05
    divergence_penalty: float = 100.0
    powergym: PowerGymLayout | None = None
    profiles_dir: Path | None = None
    profile_pool: tuple[int, int] | None = None
    setup_commands: tuple[str, ...] = ()
    generators: tuple[GeneratorConfig, ...] = ()
    storage_units: tuple[StorageConfig, ...] = ()
    base_mva: float = 100.0
    anm: AnmReward | None = None
    scenario: str | None = None
    branch_ratings: tuple[tuple[str, float], ...] = ()
    state_devices: tuple[str, ...] = ()
    max_iterations: int = 50
    truncate_at_horizon: bool = False

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ConfigError(f"horizon must be >= 1, got {self.horizon}")
        if not self.step_hours > 0:
            raise ConfigError(f"step_hours must be > 0, got {self.step_hours}")
        if not self.scale > 0:
            raise ConfigError(f"scale must be > 0, got {self.scale}")
        if self.reg_levels < 2 or self.bat_levels < 3 or self.bat_levels % 2 == 0:
            raise ConfigError(
                "reg_levels must be >= 2 and bat_levels odd and >= 3, got "
                f"{self.reg_levels} and {self.bat_levels}"
            )
        if not self.tap_min < self.tap_max:
            raise ConfigError(f"tap_min ({self.tap_min}) must be below tap_max ({self.tap_max})")
        if not self.v_min < self.v_max:
            raise ConfigError(f"v_min ({self.v_min}) must be below v_max ({self.v_max})")
        for key in ("capacitors", "regulators"):
            names = getattr(self, key)
            if len(set(names)) != len(names):
                raise ConfigError(f"{key} lists a name twice: {list(names)}")
        if self.profile_pool is not None:
            pool = self.profile_pool
            if (
                not isinstance(pool, tuple | list)
                or len(pool) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in pool)
                or not 0 <= pool[0] < pool[1]
            ):
                raise ConfigError(
                    f"profile_pool must be (first, stop) with 0 <= first < stop, got {pool!r}"
                )
            object.__setattr__(self, "profile_pool", (int(pool[0]), int(pool[1])))
        if not (
            self.capacitors
            or self.regulators
            or self.batteries
            or self.generators
            or self.storage_units
        ):
            raise ConfigError(f"system {self.name} has no controllable device")

    @property
    def n_devices(self) -> int:
        """Number of agent devices."""
        return len(self.capacitors) + len(self.regulators) + len(self.batteries)


# ---------------------------------------------------------------------------- loading
def configs_dir() -> Path:
    """Folder holding the shipped ``<system>.yaml`` files."""
    return data_dir("configs")


def available_systems() -> tuple[str, ...]:
    """Base system names that have a shipped configuration."""
    return tuple(sorted(p.stem for p in configs_dir().glob("*.yaml")))


def parse_name(name: str) -> tuple[str, set[str], float]:
    """Split a PowerGym-style system name into (base, flags, scale).

    Raises:
        ConfigError: Unknown base system, unknown or repeated variant token.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"system name must be a non-empty string, got {name!r}")
    bases = available_systems()
    base = next(
        (b for b in sorted(bases, key=len, reverse=True) if name == b or name.startswith(b + "_")),
        None,
    )
    if base is None:
        raise ConfigError(f"unknown system {name!r}; expected one of {list(bases)} plus variants")
    flags: set[str] = set()
    scale: float | None = None
    for token in name[len(base) :].split("_")[1:]:
        match = _SCALE_TOKEN.match(token)
        if match and scale is None:
            scale = float(match.group(1))
            if scale <= 0:
                raise ConfigError(f"{name!r}: load scale must be > 0, got {scale}")
        elif token in ("cbat", "soc", "pv") and token not in flags:
            flags.add(token)
        else:
            raise ConfigError(
                f"{name!r}: unexpected variant token {token!r}; expected '_cbat', '_soc', '_pv' "
                "or '_s<scale>' (each at most once)"
            )
    return base, flags, 1.0 if scale is None else scale


def _number(key: str, value: Any) -> float:
    """Parse a number given as a YAML number or a fraction string such as ``"1/33"``."""
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


def _check_keys(where: str, data: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(data))
    if missing:
        raise ConfigError(f"{where}: missing key(s) {missing}")


_TOP_KEYS = {
    "circuit",
    "capacitors",
    "regulators",
    "batteries",
    "reward",
    "horizon",
    "step_hours",
    "quirks",
    "powergym",
    "reg_levels",
    "bat_levels",
    "tap_min",
    "tap_max",
    "regulator_winding",
    "v_min",
    "v_max",
    "divergence_penalty",
    "description",
    "feeder_data",
    "discover",
    "generators",
    "storage_units",
    "base_mva",
    "scenario",
    "branch_ratings",
    "state_devices",
    "max_iterations",
    "truncate_at_horizon",
    "pv_variant",
}
_WEIGHT_KEYS = {f.name for f in fields(RewardWeights)}


_TOP_TYPES: dict[str, tuple[type, ...]] = {
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
}


def _check_types(where: str, data: dict[str, Any]) -> None:
    """Reject values of the wrong type at the top of a system file, naming the key."""
    for key, types in _TOP_TYPES.items():
        if key in data and not isinstance(data[key], types):
            expected = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"{where}: {key} must be a {expected}, got {data[key]!r}")
    for key in ("capacitors", "regulators"):
        for item in data.get(key) or ():
            if not isinstance(item, str | int) or isinstance(item, bool):
                raise ConfigError(f"{where}: {key} must list element names, got {item!r}")
    if "quirks" in data and data["quirks"] != "powergym":
        raise ConfigError(f"{where}: quirks must be 'powergym' or absent, got {data['quirks']!r}")


def _discovered(
    path: Path, data: dict[str, Any], quirks: Any, profiles_dir: Any, overrides: dict[str, Any]
) -> SystemConfig:
    """A YAML system with ``discover: true``: see :func:`marl_vvc.systems.discovery.discover_system`."""
    from marl_vvc.systems.discovery import discover_system

    plain = {
        k: data[k]
        for k in ("horizon", "step_hours", "v_min", "v_max", "divergence_penalty")
        if k in data
    }
    weights = _weights(f"{path.name}: reward", dict(data["reward"])) if "reward" in data else None
    if profiles_dir is not None:
        plain["profiles_dir"] = Path(profiles_dir)
    return discover_system(
        (path.parent / data["circuit"]).resolve(),
        capacitors=data.get("capacitors"),
        regulators=data.get("regulators"),
        batteries=data.get("batteries"),
        name=path.stem,
        weights=weights,
        quirks=quirks,
        **{**plain, **overrides},
    )


def _pv_units(
    where: str, data: dict[str, Any]
) -> tuple[tuple[GeneratorConfig, ...], tuple[str, ...], float]:
    """Rooftop PV inverters of a ``_pv`` variant: agents, the commands adding them, curtail_w.

    Each unit of ``kva`` becomes an idle Generator (constant P, Q within 0.5–1.5 pu) and an
    inverter capability region: P up to the rating and the sun's availability, |Q| up to
    0.44 × rating (power factor 0.9 at full output), narrowing linearly to Q = 0 between
    0.9 and 1.0 × rating so that P and Q stay within the kVA.
    """
    _check_keys(f"{where}: pv_variant", data, {"curtail_w", "units"}, {"units"})
    gens, commands = [], []
    keys = {"name", "bus1", "kv", "phases", "kva"}
    for i, unit in enumerate(data["units"]):
        here = f"{where}: pv_variant.units[{i}]"
        _check_keys(here, unit, keys, keys)
        name = str(unit["name"]).lower()
        kva = _number(f"{here}.kva", unit["kva"])
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
            f"kv={_number(f'{here}.kv', unit['kv'])} kw=0 kvar=0 kva={kva} model=1 "
            "vminpu=0.5 vmaxpu=1.5"
        )
    curtail_w = _number(f"{where}: pv_variant.curtail_w", data.get("curtail_w", 0.0))
    return tuple(gens), tuple(commands), curtail_w


def _units(where: str, key: str, items: list[Any], cls: type) -> tuple[Any, ...]:
    """Parse generator or storage entries into ``cls`` (numbers may be fractions)."""
    names = {f.name for f in fields(cls)}
    required = {f.name for f in fields(cls) if f.default is MISSING}
    out = []
    for i, item in enumerate(items):
        here = f"{where}: {key}[{i}]"
        _check_keys(here, item, names, required)
        values = {
            k: (str(v).lower() if k == "name" else None if v is None else _number(f"{here}.{k}", v))
            for k, v in item.items()
        }
        out.append(cls(**values))
    return tuple(out)


def _weights(where: str, data: dict[str, Any]) -> RewardWeights:
    _check_keys(where, data, _WEIGHT_KEYS, _WEIGHT_KEYS - {"curtail_w"})
    return RewardWeights(**{k: _number(f"{where}.{k}", v) for k, v in data.items()})


def _batteries(data: Any) -> tuple[BatteryConfig, ...]:
    if not isinstance(data, list):
        raise ConfigError(f"batteries: expected a list, got {type(data).__name__}")
    out = []
    keys = {"name", "max_kw", "pf", "max_kwh", "initial_kwh"}
    place_keys = {f.name for f in fields(BatteryPlacement)}
    for i, item in enumerate(data):
        _check_keys(f"batteries[{i}]", item, keys | {"placement"}, keys)
        placement = None
        if "placement" in item:
            where, pl = f"batteries[{i}].placement", item["placement"]
            _check_keys(where, pl, place_keys, {"bus1", "kv"})
            try:
                placement = BatteryPlacement(
                    bus1=str(pl["bus1"]).lower(),
                    kv=_number(f"{where}.kv", pl["kv"]),
                    phases=int(pl.get("phases", 1)),
                    conn=str(pl.get("conn", "wye")).lower(),
                    model=int(pl.get("model", 1)),
                )
            except ConfigError:
                raise
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}: {exc}") from exc
        out.append(
            BatteryConfig(
                name=str(item["name"]).lower(),
                **{k: _number(f"batteries[{i}].{k}", item[k]) for k in keys - {"name"}},
                placement=placement,
            )
        )
    return tuple(out)


def read_battery_csv(path: Path) -> tuple[BatteryConfig, ...]:
    """Read PowerGym's ``Battery.csv`` (``name,max_kw,pf,max_kwh,initial_kwh``)."""
    rows = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    header = [h.strip().lower() for h in rows[0].split(",")]
    expected = ["name", "max_kw", "pf", "max_kwh", "initial_kwh"]
    if header != expected:
        raise ConfigError(f"{path}: expected header {','.join(expected)}, got {rows[0]!r}")
    out = []
    for line in rows[1:]:
        name, *nums = (c.strip() for c in line.split(","))
        values = [_number(f"{path.name}:{name}", v) for v in nums]
        out.append(BatteryConfig(name.lower(), *values))
    return tuple(out)


def load_system(
    name: str,
    *,
    systems_dir: str | Path | None = None,
    profiles_dir: str | Path | None = None,
    quirks: bool | Quirks | dict[str, bool] | None = None,
    **overrides: Any,
) -> SystemConfig:
    """Build the :class:`SystemConfig` for a PowerGym-style system name.

    Args:
        name: System name with optional variants, e.g. ``"13Bus_cbat_soc_s1.5"``, or the path
            of a YAML system file of the same form as ``configs/*.yaml`` (its ``circuit`` is
            resolved relative to the file).
        systems_dir: A PowerGym-layout ``systems`` folder; when given, the circuit, battery
            ratings and load shapes come from ``<systems_dir>/<folder>/`` instead of ours.
        profiles_dir: A folder of yearly load-shape CSVs to chop into daily profiles.
        quirks: PowerGym parity behaviours: None keeps the system's default, True/False turns
            all on/off, a dict or :class:`Quirks` sets them one by one.
        **overrides: Any other :class:`SystemConfig` field (e.g. ``horizon=12``).

    Raises:
        ConfigError: Unknown system, variant, key or bad value.
        DataNotFoundError: ``systems_dir`` lacks the system's folder or master file.
    """
    from marl_vvc.errors import DataNotFoundError

    if str(name).lower().endswith((".yaml", ".yml")):  # a user's own system file
        path = Path(name).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"system file not found: {path}")
        base, flags, scale = path.stem, set(), 1.0
    else:
        base, flags, scale = parse_name(name)
        path = configs_dir() / f"{base}.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    # A system too large to ship names its feeder data instead of a circuit file.
    fetched = isinstance(data, dict) and "feeder_data" in data
    discover = isinstance(data, dict) and data.get("discover") is True
    _check_keys(
        str(path.name),
        data,
        _TOP_KEYS,
        ({"circuit"} if discover else {"reward"}) | {"feeder_data" if fetched else "circuit"},
    )
    _check_types(path.name, data)
    if discover:  # devices found in the circuit; listed ones override discovery
        return _discovered(path, data, quirks, profiles_dir, overrides)

    reward = dict(data["reward"])
    anm = None
    if reward.get("kind") == "anm":
        reward.pop("kind")
        _check_keys(
            f"{path.name}: reward", reward, {"lam", "clip_loss", "clip_penalty", "gamma"}, set()
        )
        anm = AnmReward(**{k: _number(f"reward.{k}", v) for k, v in reward.items()})
        reward = dict.fromkeys(_WEIGHT_KEYS, 0.0)
    reward.pop("kind", None)
    soc_variant = reward.pop("soc_variant", None)
    weights = _weights(f"{path.name}: reward", reward)
    if "soc" in flags:
        if soc_variant is None:
            raise ConfigError(f"{base} has no '_soc' variant (reward.soc_variant missing)")
        _check_keys(f"{path.name}: reward.soc_variant", soc_variant, _WEIGHT_KEYS, set())
        weights = replace(
            weights, **{k: _number(f"reward.soc_variant.{k}", v) for k, v in soc_variant.items()}
        )
    if scale != 1.0:  # PowerGym scales the SoC weight with the square of the load scale.
        weights = replace(weights, soc_w=weights.soc_w * scale**2)

    layout = None
    if "powergym" in data:
        pg = data["powergym"]
        _check_keys(
            f"{path.name}: powergym",
            pg,
            {"folder", "master", "loadshape_files", "battery_csv"},
            {"folder", "master"},
        )
        layout = PowerGymLayout(
            folder=pg["folder"],
            master=pg["master"],
            loadshape_files=tuple(pg.get("loadshape_files", ())),
            battery_csv=pg.get("battery_csv", "Battery.csv"),
        )

    batteries = _batteries(data.get("batteries", []))
    folder: Path | None = None
    if systems_dir is not None:
        if layout is None:
            raise ConfigError(f"{base} has no PowerGym layout, so systems_dir cannot be used")
        folder = Path(systems_dir).expanduser().resolve() / layout.folder
        circuit = folder / layout.master
        if not circuit.is_file():
            raise DataNotFoundError(
                f"systems_dir={systems_dir}: expected the master file {circuit} (PowerGym layout "
                f"'<systems_dir>/{layout.folder}/{layout.master}')"
            )
    elif "feeder_data" in data:  # env var folder, else user cache, else checksummed download
        from marl_vvc.systems.feeder_data import locate_feeder

        circuit = locate_feeder(str(data["feeder_data"]))
        folder = circuit.parent
    else:
        circuit = (path.parent / data["circuit"]).resolve()
    if folder is not None:
        csv = folder / (layout.battery_csv if layout else "Battery.csv")
        if csv.is_file():  # the folder's ratings; placements still come from our config
            placements = {b.name: b.placement for b in batteries}
            batteries = tuple(
                replace(b, placement=placements.get(b.name)) for b in read_battery_csv(csv)
            )
        if profiles_dir is None and (folder / "loadshape").is_dir():
            profiles_dir = folder / "loadshape"

    pv_generators: tuple[GeneratorConfig, ...] = ()
    pv_setup: tuple[str, ...] = ()
    if "pv" in flags:
        if "pv_variant" not in data:
            raise ConfigError(f"{base} has no '_pv' variant (pv_variant missing in {path.name})")
        pv_generators, pv_setup, curtail_w = _pv_units(path.name, data["pv_variant"])
        weights = replace(weights, curtail_w=curtail_w)
        if quirks is None:  # PowerGym's start at tap 1.1 would hide the PV over-voltage
            quirks = False
    if quirks is None:
        quirk_set = Quirks.powergym() if data.get("quirks") == "powergym" else Quirks()
    elif isinstance(quirks, bool):
        quirk_set = Quirks.powergym() if quirks else Quirks()
    elif isinstance(quirks, Quirks):
        quirk_set = quirks
    elif isinstance(quirks, dict):
        allowed = {f.name for f in fields(Quirks)}
        _check_keys("quirks", quirks, allowed, set())
        quirk_set = Quirks(**{k: bool(v) for k, v in quirks.items()})
    else:
        raise ConfigError(f"quirks: expected None, a bool, a dict or Quirks, got {quirks!r}")

    plain: dict[str, Any] = {}
    for key in ("scenario", "truncate_at_horizon"):
        if key in data:
            plain[key] = data[key]
    for key in ("horizon", "reg_levels", "bat_levels", "regulator_winding", "max_iterations"):
        if key in data:
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise ConfigError(f"{path.name}: {key} must be an integer, got {data[key]!r}")
            plain[key] = data[key]
    for key in (
        "step_hours",
        "tap_min",
        "tap_max",
        "v_min",
        "v_max",
        "divergence_penalty",
        "base_mva",
    ):
        if key in data:
            plain[key] = _number(f"{path.name}: {key}", data[key])
    if "pv" in flags:  # PV availability from the solar model; P and Q in MW
        plain.update(scenario="solar", base_mva=1.0)
        plain["setup_commands"] = pv_setup + tuple(overrides.pop("setup_commands", ()))
    allowed_overrides = {f.name for f in fields(SystemConfig)} - {"name", "base"}
    unknown = sorted(set(overrides) - allowed_overrides)
    if unknown:
        raise ConfigError(
            f"unknown system option(s) {unknown}; allowed: {sorted(allowed_overrides)}"
        )
    try:
        return SystemConfig(
            name=name,
            base=base,
            circuit=circuit,
            capacitors=tuple(str(c).lower() for c in data.get("capacitors", [])),
            regulators=tuple(str(r).lower() for r in data.get("regulators", [])),
            batteries=batteries,
            weights=weights,
            continuous_batteries="cbat" in flags,
            scale=scale,
            quirks=quirk_set,
            powergym=layout,
            profiles_dir=None if profiles_dir is None else Path(profiles_dir),
            generators=pv_generators
            + _units(path.name, "generators", data.get("generators", []), GeneratorConfig),
            storage_units=_units(
                path.name, "storage_units", data.get("storage_units", []), StorageConfig
            ),
            anm=anm,
            branch_ratings=tuple(
                (str(k).lower(), _number(f"branch_ratings.{k}", v))
                for k, v in data.get("branch_ratings", {}).items()
            ),
            state_devices=tuple(str(d).lower() for d in data.get("state_devices", [])),
            **{**plain, **overrides},
        )
    except TypeError as exc:  # a bad override type reaching the dataclass
        raise ConfigError(str(exc)) from exc
