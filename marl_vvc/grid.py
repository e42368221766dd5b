"""The grid core: engine + devices + scenario, one power flow per step.

:class:`GridCore` knows nothing about PettingZoo or Gymnasium. ``reset`` starts an episode;
``step`` validates a joint action (every device, each inside its space; nothing changes if
anything is wrong), projects it to setpoints, applies them, solves once and returns a
:class:`StepOutcome` with an immutable :class:`GridSnapshot`, the global reward terms and the
per-device control costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from marl_vvc.config import SystemConfig
from marl_vvc.devices import Battery, Capacitor, Device, Regulator, check_box, check_discrete
from marl_vvc.engine import OpenDSSEngine
from marl_vvc.errors import CircuitLoadError, InvalidActionError, InvalidOptionError
from marl_vvc.rewards import RewardTerms, bus_violation, loss_ratio
from marl_vvc.scenarios import SyntheticProfiles, YearlyProfiles, explicit_profile


@dataclass(frozen=True)
class GridSnapshot:
    """What one power flow produced (arrays are read-only views owned by the snapshot).

    Attributes:
        v: ``(n_nodes,)`` per-unit node voltages, bus-major (PowerGym observation order).
        bus_vmax: ``(n_buses,)`` highest node voltage of each bus.
        bus_vmin: ``(n_buses,)`` lowest node voltage of each bus.
        losses_kw: Circuit losses.
        losses_kvar: Circuit reactive losses.
        total_power_kw: Source power (negative = supplied by the source).
        total_power_kvar: Source reactive power.
        battery_kw: ``(n_batteries,)`` terminal kW of each battery (negative = discharging).
        converged: Whether the power flow converged.
        error: OpenDSS's message when it did not.
        hour: Solution time in hours.
    """

    v: np.ndarray
    bus_vmax: np.ndarray
    bus_vmin: np.ndarray
    losses_kw: float
    losses_kvar: float
    total_power_kw: float
    total_power_kvar: float
    battery_kw: np.ndarray
    converged: bool
    error: str | None
    hour: float


@dataclass(frozen=True)
class StepOutcome:
    """Result of one step of the grid core.

    Attributes:
        snapshot: The power-flow snapshot after the step.
        terms: Global reward terms.
        device_costs: ``(n_devices,)`` control cost ``C_i`` of each device (≥ 0).
        violation: ``(n_buses,)`` voltage violation of each bus (≥ 0).
        info: PowerGym's info terms plus ``converged``.
        t: Steps taken in this episode.
        terminated: The episode ended (horizon reached or power flow diverged).
    """

    snapshot: GridSnapshot
    terms: RewardTerms
    device_costs: np.ndarray
    violation: np.ndarray
    info: dict[str, Any]
    t: int
    terminated: bool

    @property
    def reward(self) -> float:
        """Global reward."""
        return self.terms.reward


class GridCore:
    """One feeder with its devices, stepping a joint action through one power flow.

    Args:
        config: The system to build.

    Raises:
        CircuitLoadError: The circuit cannot be compiled or lacks a configured element.
        DataNotFoundError: Configured load-shape data cannot be found.
    """

    def __init__(self, config: SystemConfig) -> None:
        self.config = config
        self.engine = OpenDSSEngine(config.circuit)
        self.devices: tuple[Device, ...] = self._build_devices()
        self.capacitors = tuple(d for d in self.devices if isinstance(d, Capacitor))
        self.regulators = tuple(d for d in self.devices if isinstance(d, Regulator))
        self.batteries = tuple(d for d in self.devices if isinstance(d, Battery))
        self.agent_ids = tuple(d.agent_id for d in self.devices)
        self.n_cap, self.n_reg, self.n_bat = (
            len(self.capacitors),
            len(self.regulators),
            len(self.batteries),
        )
        self.bus_names = self.engine.bus_names
        self.bus_index = {b: i for i, b in enumerate(self.bus_names)}
        self.load_names = self.engine.load_names
        self._duration_h = config.step_hours
        self.profiles = self._build_profiles()
        for reg in self.regulators:
            self.engine.set_tap_limits(
                reg.name, reg.winding, reg.tap_min, reg.tap_max, reg.levels - 1
            )
        self._battery_elements = tuple(f"Generator.{b.name}" for b in self.batteries)
        # Episode state (set by reset).
        self.t = 0
        self.profile_index: int | None = None
        self.multipliers = np.empty((len(self.load_names), config.horizon))
        self.cap_status = np.ones(self.n_cap, dtype=np.int64)
        self.tap_index = np.zeros(self.n_reg, dtype=np.int64)
        self.tap = np.zeros(self.n_reg)
        self.kwh = np.array([b.initial_kwh for b in self.batteries], dtype=float)
        self.battery_setpoint = np.zeros(self.n_bat)
        self.battery_level = np.array([b.idle_level for b in self.batteries], dtype=np.int64)
        self.snapshot: GridSnapshot | None = None
        self.last_outcome: StepOutcome | None = None
        self.diverged = False

    # ------------------------------------------------------------------ construction
    def _build_devices(self) -> tuple[Device, ...]:
        cfg, eng = self.config, self.engine
        devices: list[Device] = []
        for name in cfg.capacitors:
            self._require(f"Capacitor.{name}")
            devices.append(Capacitor(name, eng.element_buses(f"Capacitor.{name}")[0]))
        for name in cfg.regulators:
            self._require(f"Transformer.{name}")
            buses = eng.element_buses(f"Transformer.{name}")
            winding = cfg.regulator_winding
            devices.append(
                Regulator(
                    name,
                    winding,
                    buses[min(winding, len(buses)) - 1],
                    cfg.tap_min,
                    cfg.tap_max,
                    cfg.reg_levels,
                )
            )
        for bat in cfg.batteries:
            self._require(f"Generator.{bat.name}")
            devices.append(
                Battery(
                    bat.name,
                    eng.element_buses(f"Generator.{bat.name}")[0],
                    bat.max_kw,
                    bat.pf,
                    bat.max_kwh,
                    bat.initial_kwh,
                    None if cfg.continuous_batteries else cfg.bat_levels,
                )
            )
        return tuple(devices)

    def _require(self, full_name: str) -> None:
        if not self.engine.has_element(full_name):
            raise CircuitLoadError(
                f"system {self.config.name}: the circuit {self.config.circuit} has no element "
                f"{full_name!r} named in its configuration"
            )

    def _build_profiles(self) -> YearlyProfiles | SyntheticProfiles:
        cfg = self.config
        if cfg.profiles_dir is not None:
            files = cfg.powergym.loadshape_files if cfg.powergym else ()
            if files and not all((cfg.profiles_dir / f).is_file() for f in files):
                files = ()
            return YearlyProfiles(cfg.profiles_dir, len(self.load_names), cfg.horizon, files)
        return SyntheticProfiles(len(self.load_names), cfg.horizon)

    # ------------------------------------------------------------------ reset
    def reset(
        self, rng: np.random.Generator, options: Mapping[str, Any] | None = None
    ) -> GridSnapshot:
        """Start an episode.

        Args:
            rng: The environment's generator (draws the profile when none is given).
            options: ``{"profile": k}`` picks load profile ``k``; ``{"load_multipliers":
                {load: [horizon floats]}}`` gives the multipliers directly. Other keys are
                ignored.

        Raises:
            InvalidOptionError: A bad profile index or multiplier table (nothing changed).
        """
        cfg = self.config
        options = options or {}
        if "load_multipliers" in options and options["load_multipliers"] is not None:
            # Given multipliers are final: the system's load scale is not applied again.
            mult = explicit_profile(options["load_multipliers"], self.load_names, cfg.horizon)
            profile_index = None
        else:
            k = options.get("profile")
            if k is None:
                k = int(rng.integers(self.profiles.num_profiles))
            elif isinstance(k, bool) or not isinstance(k, int | np.integer):
                raise InvalidOptionError(f"profile: expected an integer index, got {k!r}")
            mult = self.profiles.profile(int(k))
            mult = mult * cfg.scale if cfg.scale != 1.0 else mult.copy()
            profile_index = int(k)
        self.multipliers = mult
        self.profile_index = profile_index
        shape = mult if cfg.quirks.reset_uses_last_multiplier else np.roll(mult, -1, axis=1)

        eng = self.engine
        eng.set_load_profiles(shape, cfg.step_hours * 3600.0)
        start = (
            (cfg.reg_levels - 1) if cfg.quirks.taps_at_max_on_reset else (cfg.reg_levels - 1) // 2
        )
        self.tap_index[:] = start
        self.tap = np.array([r.tap(start) for r in self.regulators], dtype=float)
        self.cap_status[:] = 1
        self.kwh = np.array([b.initial_kwh for b in self.batteries], dtype=float)
        self.battery_setpoint[:] = 0.0
        self.battery_level[:] = [b.idle_level for b in self.batteries]
        self.t = 0
        snap = self._restore_and_solve()
        if not snap.converged:  # a diverged past can poison the restore: start from scratch
            eng.compile()
            for reg in self.regulators:
                eng.set_tap_limits(reg.name, reg.winding, reg.tap_min, reg.tap_max, reg.levels - 1)
            eng.set_load_profiles(shape, cfg.step_hours * 3600.0)
            snap = self._restore_and_solve()
        self.snapshot = snap
        self.last_outcome = None
        self.diverged = not snap.converged
        return snap

    def _restore_and_solve(self) -> GridSnapshot:
        eng = self.engine
        eng.rewind()
        for reg, tap in zip(self.regulators, self.tap, strict=True):
            eng.set_tap(reg.name, reg.winding, tap)
        for cap in self.capacitors:
            eng.set_capacitor(cap.name, 1)
        for bat in self.batteries:
            eng.set_generator(bat.name, 0.0, 0.0)
        converged, error = eng.solve(advance=False)
        return self._read(converged, error)

    # ------------------------------------------------------------------ step
    def validate(self, actions: Mapping[str, Any]) -> list[Any]:
        """Check a joint action and return it in device order (raises, changes nothing).

        Raises:
            InvalidActionError: Missing or unknown agents, or an action outside its space.
        """
        if not isinstance(actions, Mapping):
            raise InvalidActionError(
                f"expected a dict agent -> action for agents {list(self.agent_ids)}, got "
                f"{type(actions).__name__}"
            )
        if len(actions) != len(self.agent_ids) or any(a not in actions for a in self.agent_ids):
            missing = [a for a in self.agent_ids if a not in actions]
            unknown = sorted(str(a) for a in actions if a not in set(self.agent_ids))
            raise InvalidActionError(
                f"joint action must hold exactly one action per live agent; missing {missing}, "
                f"unknown {unknown}"
            )
        out: list[Any] = []
        for dev in self.devices:
            a = actions[dev.agent_id]
            if isinstance(dev, Capacitor):
                out.append(check_discrete(dev.agent_id, a, 2))
            elif isinstance(dev, Regulator):
                out.append(check_discrete(dev.agent_id, a, dev.levels))
            elif dev.levels is None:
                out.append(check_box(dev.agent_id, a))
            else:
                out.append(check_discrete(dev.agent_id, a, dev.levels))
        return out

    def step(self, actions: Mapping[str, Any]) -> StepOutcome:
        """Validate, apply, solve once and score a joint action keyed by agent id."""
        out = self.step_validated(self.validate(actions))
        self.last_outcome = out
        return out

    def step_validated(self, values: list[Any]) -> StepOutcome:
        """Apply an already validated joint action given in device order."""
        cfg, eng, q = self.config, self.engine, self.config.quirks
        n_cap, n_reg = self.n_cap, self.n_reg
        costs = np.zeros(len(self.devices))

        # capacitors: absolute status
        caps = np.asarray(values[:n_cap], dtype=np.int64)
        cap_diff = np.abs(caps - self.cap_status)
        for i in np.flatnonzero(cap_diff):
            eng.set_capacitor(self.capacitors[i].name, int(caps[i]))
        self.cap_status = caps
        costs[:n_cap] = cfg.weights.cap_w * cap_diff

        # regulators: tap index -> ratio; write only taps that changed (a write rebuilds Y)
        idx = np.asarray(values[n_cap : n_cap + n_reg], dtype=np.int64)
        new_tap = np.array([r.tap(int(n)) for r, n in zip(self.regulators, idx, strict=True)])
        steps = np.array([r.step for r in self.regulators])
        reg_diff = np.abs(self.tap - new_tap) / steps if n_reg else np.zeros(0)
        for i in np.flatnonzero(idx != self.tap_index):
            eng.set_tap(self.regulators[i].name, self.regulators[i].winding, new_tap[i])
        self.tap_index, self.tap = idx, new_tap
        costs[n_cap : n_cap + n_reg] = cfg.weights.reg_w * reg_diff

        # batteries: project onto what the stored energy allows
        setpoints = np.zeros(self.n_bat)
        for j, (bat, a) in enumerate(zip(self.batteries, values[n_cap + n_reg :], strict=True)):
            if bat.levels is None:
                setpoints[j] = bat.project_continuous(a, self.kwh[j], self._duration_h)
            else:
                self.battery_level[j], setpoints[j] = bat.project_level(
                    a, self.kwh[j], self._duration_h
                )
            eng.set_generator(
                bat.name, setpoints[j], bat.kvar(setpoints[j], q.battery_kvar_over_pf)
            )
        self.battery_setpoint = setpoints

        converged, error = eng.solve(advance=True)
        self.t += 1
        snap = self._read(converged, error)
        self.snapshot = snap
        last = self.t >= cfg.horizon
        if not converged:
            self.diverged = True
            return self._diverged_outcome(snap, costs)

        # battery energy update with the power the network actually took
        if self.n_bat:
            max_kwh = np.array([b.max_kwh for b in self.batteries])
            kwh = np.clip(self.kwh + snap.battery_kw * self._duration_h, 0.0, max_kwh)
            self.kwh = np.round(kwh) if q.integer_kwh else kwh
            max_kw = np.array([b.max_kw for b in self.batteries])
            soc = self.kwh / max_kwh
            soc_err = np.abs(soc - np.array([b.initial_soc for b in self.batteries]))
            dis_err = np.maximum(setpoints, 0.0) / max_kw
            costs[n_cap + n_reg :] = cfg.weights.dis_w * dis_err + (
                cfg.weights.soc_w * soc_err if last else 0.0
            )
        else:
            soc = soc_err = dis_err = np.zeros(0)

        violation = bus_violation(snap.bus_vmax, snap.bus_vmin, cfg.v_min, cfg.v_max)
        ratio = loss_ratio(snap.losses_kw, snap.total_power_kw)
        terms = RewardTerms(
            power_loss_ratio=ratio,
            loss=-ratio * cfg.weights.power_w,
            voltage=-float(violation.sum()),
            control=-float(costs.sum()),
        )
        eps = 1e-10
        info = {
            "power_loss_ratio": ratio,
            "vol_reward": terms.voltage,
            "ctrl_reward": terms.control,
            "av_cap_err": float(cap_diff.sum()) / (n_cap + eps),
            "av_reg_err": float(reg_diff.sum()) / (n_reg + eps),
            "av_dis_err": float(dis_err.sum()) / (self.n_bat + eps),
            "av_soc_err": float(soc_err.sum()) / (self.n_bat + eps),
            "av_soc": float(soc.sum()) / (self.n_bat + eps),
            "converged": True,
        }
        return StepOutcome(snap, terms, costs, violation, info, self.t, last)

    def _diverged_outcome(self, snap: GridSnapshot, costs: np.ndarray) -> StepOutcome:
        penalty = float(self.config.divergence_penalty)
        terms = RewardTerms(power_loss_ratio=float("nan"), loss=0.0, voltage=0.0, control=-penalty)
        # The penalty is charged as a shared control cost so the per-device costs still add up.
        costs = np.full(len(self.devices), penalty / max(len(self.devices), 1))
        info = {
            "power_loss_ratio": float("nan"),
            "vol_reward": 0.0,
            "ctrl_reward": -penalty,
            "converged": False,
            "error": snap.error,
        }
        return StepOutcome(snap, terms, costs, np.zeros(len(self.bus_names)), info, self.t, True)

    # ------------------------------------------------------------------ reading
    def _read(self, converged: bool, error: str | None) -> GridSnapshot:
        eng = self.engine
        v = eng.node_vmag_pu()[eng.bus_node_order]
        if not converged:
            v = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
        offsets = eng.bus_offsets
        vmax = np.maximum.reduceat(v, offsets)
        vmin = np.minimum.reduceat(v, offsets)
        loss_kw, loss_kvar = eng.losses_kw()
        tot_kw, tot_kvar = eng.total_power_kw()
        bat_kw = np.array([eng.element_powers(e)[0] for e in self._battery_elements], dtype=float)
        for arr in (v, vmax, vmin, bat_kw):
            arr.flags.writeable = False
        return GridSnapshot(
            v,
            vmax,
            vmin,
            loss_kw,
            loss_kvar,
            tot_kw,
            tot_kvar,
            bat_kw,
            converged,
            error,
            eng.hour(),
        )

    # ------------------------------------------------------------------ views
    def state_vector(self) -> np.ndarray:
        """PowerGym-layout global state ``[V | caps | taps | (soc, discharge) per battery]``."""
        snap = self.snapshot
        if snap is None:
            raise RuntimeError("state_vector() before reset()")
        taps = self.tap if self.config.quirks.tap_ratio_obs else self.tap_index.astype(float)
        bats = np.empty(2 * self.n_bat)
        if self.n_bat:
            max_kwh = np.array([b.max_kwh for b in self.batteries])
            max_kw = np.array([b.max_kw for b in self.batteries])
            bats[0::2] = self.kwh / max_kwh
            bats[1::2] = -snap.battery_kw / max_kw
        return np.concatenate((snap.v, self.cap_status.astype(float), taps, bats))

    @property
    def state_size(self) -> int:
        """Length of :meth:`state_vector`."""
        return len(self.engine.bus_node_order) + self.n_cap + self.n_reg + 2 * self.n_bat

    def close(self) -> None:
        """Release the engine."""
        self.engine.close()
