"""The grid core: engine + devices + scenario, one power flow per step.

:class:`GridCore` knows nothing about PettingZoo or Gymnasium. ``reset`` starts an episode;
``step`` validates a joint action (every device, each inside its space; nothing changes if
anything is wrong), projects it to setpoints, applies them, solves once and returns a
:class:`StepOutcome` with an immutable :class:`GridSnapshot`, the global reward terms and the
per-device control costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from marl_vvc.tasks.anm import AnmPart
from marl_vvc.core.capability import GeneratorCapability, StorageCapability
from marl_vvc.systems.config import SystemConfig
from marl_vvc.core.devices import (
    Battery,
    Capacitor,
    Device,
    Generator,
    Regulator,
    Storage,
    check_box,
    check_discrete,
    check_pq,
)
from marl_vvc.core.engine import OpenDSSEngine
from marl_vvc.errors import CircuitLoadError, InvalidActionError, InvalidOptionError
from marl_vvc.rewards.terms import RewardTerms, bus_violation, loss_ratio
from marl_vvc.tasks.profiles import SyntheticProfiles, YearlyProfiles, explicit_profile


class GridSnapshot(NamedTuple):
    """What one power flow produced (immutable; its arrays are read-only).

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


class StepOutcome(NamedTuple):
    """Result of one step of the grid core.

    Attributes:
        snapshot: The power-flow snapshot after the step.
        terms: Global reward terms.
        device_costs: ``(n_devices,)`` control cost ``C_i`` of each device (≥ 0).
        violation: ``(n_buses,)`` voltage violation of each bus (≥ 0).
        info: PowerGym's info terms plus ``converged``.
        t: Steps taken in this episode.
        terminated: The episode ended (horizon reached or power flow diverged).
        truncated: The horizon was reached on a system whose episodes are cut by a time limit.
    """

    snapshot: GridSnapshot
    terms: RewardTerms
    device_costs: np.ndarray
    violation: np.ndarray
    info: dict[str, Any]
    t: int
    terminated: bool
    truncated: bool = False

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
        self.engine = OpenDSSEngine(config.circuit, max_iterations=config.max_iterations)
        self._setup()
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
        self._battery_names = tuple(b.name for b in self.batteries)
        # Episode state (set by reset).
        self.t = 0
        self.profile_index: int | None = None
        self.multipliers = np.empty((len(self.load_names), config.horizon))
        # Device state as Python lists (a handful of devices: scalars beat tiny arrays);
        # read it through the array properties below.
        self._cap_names = tuple(c.name for c in self.capacitors)
        self._cap: list[int] = [1] * self.n_cap
        self._tap_idx: list[int] = [0] * self.n_reg
        self._tap: list[float] = [0.0] * self.n_reg
        self._kwh: list[float] = [b.initial_kwh for b in self.batteries]
        self._setpoint: list[float] = [0.0] * self.n_bat
        self._level: list[int] = [b.idle_level for b in self.batteries]
        n_v = len(self.engine.bus_node_order)
        self._state = np.empty(n_v + self.n_cap + self.n_reg + 2 * self.n_bat)
        self._max_kw = np.array([b.max_kw for b in self.batteries], dtype=float)
        self._max_kwh = np.array([b.max_kwh for b in self.batteries], dtype=float)
        self.snapshot: GridSnapshot | None = None
        self.last_outcome: StepOutcome | None = None
        self.diverged = False
        self.n_gen = sum(isinstance(d, Generator) for d in self.devices)
        self.n_unit = sum(isinstance(d, Storage) for d in self.devices)
        self.anm = AnmPart(self) if self.n_gen or self.n_unit else None

    # ------------------------------------------------------------------ construction
    def _build_devices(self) -> tuple[Device, ...]:
        cfg, eng = self.config, self.engine
        devices: list[Device] = []
        windings = eng.regcontrol_targets()  # a RegControl names the winding it drives
        for name in cfg.capacitors:
            self._require(f"Capacitor.{name}")
            devices.append(Capacitor(name, eng.element_buses(f"Capacitor.{name}")[0]))
        for name in cfg.regulators:
            self._require(f"Transformer.{name}")
            buses = eng.element_buses(f"Transformer.{name}")
            winding = windings.get(name, cfg.regulator_winding)
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
        for gen in cfg.generators:
            self._require(f"Generator.{gen.name}")
            devices.append(
                Generator(
                    gen.name,
                    eng.element_buses(f"Generator.{gen.name}")[0],
                    GeneratorCapability.from_physical(
                        base_mva=cfg.base_mva,
                        p_max=gen.p_max,
                        q_max=gen.q_max,
                        q_min=gen.q_min,
                        p_min=gen.p_min,
                        p_plus=gen.p_plus,
                        q_plus=gen.q_plus,
                        q_minus=gen.q_minus,
                    ),
                    cfg.base_mva,
                )
            )
        for unit in cfg.storage_units:
            self._require(f"Generator.{unit.name}")
            devices.append(
                Storage(
                    unit.name,
                    eng.element_buses(f"Generator.{unit.name}")[0],
                    StorageCapability.from_physical(
                        base_mva=cfg.base_mva,
                        p_max=unit.p_max,
                        p_min=unit.p_min,
                        q_max=unit.q_max,
                        q_min=unit.q_min,
                        soc_max=unit.soc_max,
                        soc_min=unit.soc_min,
                        eff=unit.eff,
                        p_plus=unit.p_plus,
                        p_minus=unit.p_minus,
                        q_plus=unit.q_plus,
                        q_minus=unit.q_minus,
                    ),
                    cfg.base_mva,
                )
            )
        return tuple(devices)

    def _setup(self) -> None:
        """After compiling: the configured setup commands, then missing batteries."""
        for command in self.config.setup_commands:
            self.engine.command(command)
        self._place_batteries()

    def _place_batteries(self) -> None:
        """Declare configured batteries that the circuit file lacks (idle Generators)."""
        for bat in self.config.batteries:
            if bat.placement is None or self.engine.has_element(f"Generator.{bat.name}"):
                continue
            bus = bat.placement.bus1.split(".")[0]
            if bus not in self.engine.bus_names:  # a new bus would invalidate the node maps
                raise CircuitLoadError(
                    f"system {self.config.name}: battery {bat.name} is placed at bus {bus!r}, "
                    f"which the circuit {self.config.circuit} does not have"
                )
            self.engine.command(bat.placement.command(bat.name, bat.pf))

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
        if self.config.anm is not None:  # Gym-ANM's own reset
            self._reset_device_state()
            self.t = 0
            snap = self.anm.reset(rng, options)
            self.snapshot, self.last_outcome, self.diverged = snap, None, not snap.converged
            return snap
        if "load_multipliers" in options and options["load_multipliers"] is not None:
            # Given multipliers are final: the system's load scale is not applied again.
            mult = explicit_profile(options["load_multipliers"], self.load_names, cfg.horizon)
            profile_index = None
        else:
            k = options.get("profile")
            if k is None:
                first, stop = cfg.profile_pool or (0, self.profiles.num_profiles)
                if stop > self.profiles.num_profiles:
                    raise InvalidOptionError(
                        f"profile_pool {cfg.profile_pool} exceeds the {self.profiles.num_profiles} "
                        "available profiles"
                    )
                k = int(rng.integers(first, stop))
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
        self._reset_device_state()
        self.t = 0
        snap = self._restore_and_solve()
        if not snap.converged:  # a diverged past can poison the restore: start from scratch
            eng.compile()
            self._setup()
            for reg in self.regulators:
                eng.set_tap_limits(reg.name, reg.winding, reg.tap_min, reg.tap_max, reg.levels - 1)
            eng.set_load_profiles(shape, cfg.step_hours * 3600.0)
            snap = self._restore_and_solve()
        self.snapshot = snap
        self.last_outcome = None
        self.diverged = not snap.converged
        return snap

    def _reset_device_state(self) -> None:
        cfg = self.config
        start = (
            (cfg.reg_levels - 1) if cfg.quirks.taps_at_max_on_reset else (cfg.reg_levels - 1) // 2
        )
        self._tap_idx = [start] * self.n_reg
        self._tap = [r.tap(start) for r in self.regulators]
        self._cap = [1] * self.n_cap
        self._kwh = [b.initial_kwh for b in self.batteries]
        self._setpoint = [0.0] * self.n_bat
        self._level = [b.idle_level for b in self.batteries]

    def _restore_and_solve(self) -> GridSnapshot:
        eng = self.engine
        eng.rewind()
        for reg, tap in zip(self.regulators, self._tap, strict=True):
            eng.set_tap(reg.name, reg.winding, tap)
        for cap in self.capacitors:
            eng.set_capacitor(cap.name, 1)
        for bat in self.batteries:
            eng.set_generator(bat.name, 0.0, 0.0)
        if self.anm is not None:  # PV on a VVC feeder
            self.anm.restore_solar()
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
            elif isinstance(dev, Generator | Storage):
                out.append(check_pq(dev.agent_id, a, *dev.bounds))
            elif dev.levels is None:
                out.append(check_box(dev.agent_id, a))
            else:
                out.append(check_discrete(dev.agent_id, a, dev.levels))
        return out

    def step(self, actions: Mapping[str, Any]) -> StepOutcome:
        """Validate, apply, solve once and score a joint action keyed by agent id."""
        return self.step_validated(self.validate(actions))

    def step_validated(self, values: list[Any]) -> StepOutcome:
        """Apply an already validated joint action given in device order.

        Device counts are small (≤ 32), so the per-device work runs on Python scalars; the
        per-bus work (violations, voltages) is numpy.
        """
        cfg, eng, w = self.config, self.engine, self.config.weights
        n_cap, n_reg, n_bat = self.n_cap, self.n_reg, self.n_bat
        costs = [0.0] * len(self.devices)

        # capacitors: absolute status; write only those that changed
        cap_prev = self._cap
        caps = [int(a) for a in values[:n_cap]]
        cap_switches = 0
        for i in range(n_cap):
            if caps[i] != cap_prev[i]:
                eng.set_capacitor(self._cap_names[i], caps[i])
                costs[i] = w.cap_w
                cap_switches += 1
        self._cap = caps

        # regulators: tap position -> ratio; write only taps that moved (a write rebuilds Y)
        tap_prev, idx_prev = self._tap, self._tap_idx
        idx = [int(a) for a in values[n_cap : n_cap + n_reg]]
        taps = [0.0] * n_reg
        reg_travel = 0.0
        for i in range(n_reg):
            reg = self.regulators[i]
            taps[i] = tap = idx[i] * reg.step + reg.tap_min
            travel = abs(tap_prev[i] - tap) / reg.step
            reg_travel += travel
            costs[n_cap + i] = w.reg_w * travel
            if idx[i] != idx_prev[i]:
                eng.set_tap(reg.name, reg.winding, tap)
        self._tap, self._tap_idx = taps, idx

        # batteries: project onto what the stored energy allows
        over_pf = cfg.quirks.battery_kvar_over_pf
        setpoints = [0.0] * n_bat
        for j in range(n_bat):
            bat, a = self.batteries[j], values[n_cap + n_reg + j]
            if bat.levels is None:
                kw = bat.project_continuous(a, self._kwh[j], self._duration_h)
            else:
                self._level[j], kw = bat.project_level(int(a), self._kwh[j], self._duration_h)
            setpoints[j] = kw
            eng.set_generator(bat.name, kw, bat.kvar(kw, over_pf))
        self._setpoint = setpoints
        if self.anm is not None:
            first = n_cap + n_reg + n_bat
            self.anm.apply(
                values[first : first + self.n_gen], values[first + self.n_gen : len(self.devices)]
            )
        converged, error = eng.solve(advance=True)
        return self._score(converged, error, costs, cap_switches, reg_travel)

    def step_controllers(self) -> StepOutcome:
        """One step under OpenDSS's own controllers (RegControl, CapControl), batteries idle.

        PowerGym's ``dss`` mode: the controllers move taps and capacitors during the solve;
        the moves are read back and scored with the same reward as an agent's.
        """
        eng, w = self.engine, self.config.weights
        for bat in self.batteries:
            eng.set_generator(bat.name, 0.0, 0.0)
        self._setpoint = [0.0] * self.n_bat
        eng.set_control_mode("static")
        try:
            converged, error = eng.solve(advance=True)
        finally:
            eng.set_control_mode("off")
        costs = [0.0] * len(self.devices)
        caps = [eng.capacitor_state(c.name) for c in self.capacitors]
        cap_switches = sum(a != b for a, b in zip(caps, self._cap, strict=True))
        for i in range(self.n_cap):
            costs[i] = w.cap_w * abs(caps[i] - self._cap[i])
        taps = [eng.tap(r.name, r.winding) for r in self.regulators]
        reg_travel = 0.0
        for i, reg in enumerate(self.regulators):
            travel = abs(self._tap[i] - taps[i]) / reg.step
            costs[self.n_cap + i] = w.reg_w * travel
            reg_travel += travel
        self._cap, self._tap = caps, taps
        self._tap_idx = [
            round((tap - r.tap_min) / r.step) for r, tap in zip(self.regulators, taps, strict=True)
        ]
        return self._score(converged, error, costs, cap_switches, reg_travel)

    def _score(
        self,
        converged: bool,
        error: str | None,
        costs: list[float],
        cap_switches: int,
        reg_travel: float,
    ) -> StepOutcome:
        """Read the solved state, update the batteries and compute the reward terms."""
        cfg, w = self.config, self.config.weights
        n_cap, n_reg, n_bat = self.n_cap, self.n_reg, self.n_bat
        setpoints = self._setpoint
        self.t += 1
        snap = self._read(converged, error)
        self.snapshot = snap
        last = self.t >= cfg.horizon
        if not converged:
            self.diverged = True
            self.last_outcome = self._diverged_outcome(snap)
            return self.last_outcome
        if self.config.anm is not None:
            terms, anm_costs, violation, info = self.anm.score(snap)
            anm_costs[: len(costs)] += np.array(costs)[: len(costs)]
            end = not cfg.truncate_at_horizon and last
            cut = cfg.truncate_at_horizon and last
            self.last_outcome = StepOutcome(
                snap,
                terms._replace(control=-float(anm_costs.sum())),
                anm_costs,
                violation,
                info,
                self.t,
                end,
                cut,
            )
            return self.last_outcome

        # battery energy update with the power the network actually took
        soc_sum = soc_err_sum = dis_sum = 0.0
        if n_bat:
            p = snap.battery_kw.tolist()
            kwh = self._kwh
            for j in range(n_bat):
                bat = self.batteries[j]
                e = min(max(kwh[j] + p[j] * self._duration_h, 0.0), bat.max_kwh)
                kwh[j] = e = float(round(e)) if cfg.quirks.integer_kwh else e
                soc = e / bat.max_kwh
                soc_err = abs(soc - bat.initial_soc)
                dis = max(setpoints[j], 0.0) / bat.max_kw
                costs[n_cap + n_reg + j] = w.dis_w * dis + (w.soc_w * soc_err if last else 0.0)
                soc_sum += soc
                soc_err_sum += soc_err
                dis_sum += dis

        violation = bus_violation(snap.bus_vmax, snap.bus_vmin, cfg.v_min, cfg.v_max)
        ratio = loss_ratio(snap.losses_kw, snap.total_power_kw)
        cost_arr = np.array(costs)
        if self.anm is not None:  # PV inverters: curtailment cost
            first = n_cap + n_reg + n_bat
            cost_arr[first : first + self.n_gen] = self.anm.solar_costs()
        terms = RewardTerms(
            power_loss_ratio=ratio,
            loss=-ratio * w.power_w,
            voltage=-float(violation.sum()),
            control=-float(cost_arr.sum()),
        )
        eps = 1e-10
        info = {
            "power_loss_ratio": ratio,
            "vol_reward": terms.voltage,
            "ctrl_reward": terms.control,
            "av_cap_err": cap_switches / (n_cap + eps),
            "av_reg_err": reg_travel / (n_reg + eps),
            "av_dis_err": dis_sum / (n_bat + eps),
            "av_soc_err": soc_err_sum / (n_bat + eps),
            "av_soc": soc_sum / (n_bat + eps),
            "converged": True,
        }
        self.last_outcome = StepOutcome(snap, terms, cost_arr, violation, info, self.t, last)
        return self.last_outcome

    def _diverged_outcome(self, snap: GridSnapshot) -> StepOutcome:
        penalty = (
            float(self.config.divergence_penalty)
            if self.anm is None
            else -self.anm.diverged_reward()
        )
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
        bat_kw = eng.generator_powers_kw(self._battery_names)
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
        if self.config.anm is not None:
            return self.anm.state_vector()
        out = self._state.copy()
        n_v = len(snap.v)
        a, b, c = n_v + self.n_cap, n_v + self.n_cap + self.n_reg, len(out)
        out[:n_v] = snap.v
        out[n_v:a] = self._cap
        out[a:b] = self._tap if self.config.quirks.tap_ratio_obs else self._tap_idx
        if self.n_bat:
            out[b:c:2] = np.divide(self._kwh, self._max_kwh)
            out[b + 1 : c : 2] = -snap.battery_kw / self._max_kw
        return out

    # Device state as read-only arrays.
    @property
    def cap_status(self) -> np.ndarray:
        """``(n_cap,)`` capacitor status (1 closed)."""
        return np.array(self._cap, dtype=np.int64)

    @property
    def tap_index(self) -> np.ndarray:
        """``(n_reg,)`` regulator tap positions."""
        return np.array(self._tap_idx, dtype=np.int64)

    @property
    def tap(self) -> np.ndarray:
        """``(n_reg,)`` regulator tap ratios."""
        return np.array(self._tap, dtype=float)

    @property
    def kwh(self) -> np.ndarray:
        """``(n_bat,)`` stored energy in kWh."""
        return np.array(self._kwh, dtype=float)

    @property
    def battery_setpoint(self) -> np.ndarray:
        """``(n_bat,)`` projected battery command of the last step (kW, + = discharge)."""
        return np.array(self._setpoint, dtype=float)

    @property
    def battery_level(self) -> np.ndarray:
        """``(n_bat,)`` discrete battery level after projection."""
        return np.array(self._level, dtype=np.int64)

    @property
    def state_size(self) -> int:
        """Length of :meth:`state_vector`."""
        if self.config.anm is not None:
            n_dev = 1 + len(self.load_names) + self.n_gen + self.n_unit
            return 2 * n_dev + self.n_unit + self.n_gen + 1
        return len(self.engine.bus_node_order) + self.n_cap + self.n_reg + 2 * self.n_bat

    def close(self) -> None:
        """Release the engine."""
        self.engine.close()
