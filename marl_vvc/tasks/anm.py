"""Active network management inside the grid core: generators, storage and Gym-ANM's reward.

:class:`AnmPart` is owned by a :class:`~marl_vvc.core.grid.GridCore` whose system has renewable
generators or storage units. It follows Gym-ANM (``../shared/parity/gym-anm/README.md``):

- time: a fixed day of ``S`` steps of ``Δt`` hours repeats forever; the action taken at time
  index ``k`` meets the demand and availability of ``k + 1``;
- generators: the set-point ``(P, Q)/baseMVA`` is projected onto the PQ region and the power
  available in the step (closed form, :mod:`marl_vvc.core.capability`);
- storage: projected with the state of charge before the step, then
  ``SoC ← SoC − Δt·η·P`` (charging) or ``SoC − Δt·P/η`` (discharging), clipped;
- reward (p.u.): ``e_loss = Δt·(losses + curtailment − P_storage)`` and
  ``penalty = Δt·λ·(Σ_bus voltage excursions + Σ_branch overloads)``, clipped to
  ``[−clip_loss, clip_loss]`` and ``[0, clip_penalty]``; ``reward = −(e_loss + penalty)``, and
  ``−clip_penalty/(1 − γ)`` with termination when the power flow does not converge.

For the per-agent split each generator is charged its own curtailment and each storage unit
its (negative) energy, losses go through the loss weights and each bus's excursion, plus the
overload of the branches feeding it, through the bus weights; clipping scales every share by
the same factor, so the shares still add up to the reward.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from marl_vvc.tasks import anm6_data as anm6
from marl_vvc.core.devices import Generator, Storage
from marl_vvc.errors import ConfigError, InvalidOptionError
from marl_vvc.rewards.terms import RewardTerms

if TYPE_CHECKING:  # pragma: no cover
    from marl_vvc.core.grid import GridCore, GridSnapshot


class AnmPart:
    """Generator and storage agents of a grid core, with Gym-ANM's time, reset and reward."""

    def __init__(self, core: GridCore) -> None:
        cfg = core.config
        self.core = core
        self.gens = tuple(d for d in core.devices if isinstance(d, Generator))
        self.units = tuple(d for d in core.devices if isinstance(d, Storage))
        self.base = cfg.base_mva
        self.dt = cfg.step_hours
        self.solar_mode = cfg.scenario == "solar"
        if self.solar_mode:
            self._init_solar()
            return
        if cfg.scenario != "anm6easy":
            raise ConfigError(
                f"system {cfg.name}: generators and storage units need a scenario giving demand "
                f"and availability; expected scenario: anm6easy or solar, got {cfg.scenario!r}"
            )
        loads_mw = anm6.load_series()
        self.availability = anm6.availability_series()
        if loads_mw.shape[0] != len(core.load_names) or self.availability.shape[0] != len(
            self.gens
        ):
            raise ConfigError(
                f"system {cfg.name}: scenario anm6easy has 3 loads and 2 generators; the circuit "
                f"has {len(core.load_names)} loads and the config {len(self.gens)} generators"
            )
        self.n_steps = loads_mw.shape[1]
        peak_kw, peak_kvar = core.engine.base_load_powers()
        self.loads_mw = loads_mw
        self.load_qp = peak_kvar / peak_kw
        self.load_pmin_mw = -peak_kw / 1000.0
        self.multipliers = -loads_mw * 1000.0 / peak_kw[:, None]
        self.branches = tuple(name for name, _ in cfg.branch_ratings)
        self.ratings = np.array([mva for _, mva in cfg.branch_ratings]) / self.base
        to_bus = [core.engine.element_buses(b)[-1] for b in self.branches]
        self.branch_bus = np.array([core.bus_index[b] for b in to_bus], dtype=np.intp)
        n_g, n_u = len(self.gens), len(self.units)
        self.time_index = 0
        self.p_pot = np.zeros(n_g)  # p.u., clipped to [p_min, p_max]
        self.gen_pq = np.zeros((n_g, 2))  # applied, p.u.
        self.unit_pq = np.zeros((n_u, 2))
        self.soc = np.zeros(n_u)  # MWh
        self.slack_pq = np.zeros(2)  # MW, MVAr
        self.last_info: dict[str, float] = {}

    def _init_solar(self) -> None:
        """PV on a VVC feeder: PowerGym's loads and reward, pvlib availability per day."""
        cfg = self.core.config
        if self.units or cfg.anm is not None:
            raise ConfigError(f"system {cfg.name}: the solar scenario takes PV generators only")
        try:
            from marl_vvc.tasks.solar import SolarProfiles
        except ImportError as exc:  # pvlib is the optional 'pv' extra
            raise ConfigError(
                f"system {cfg.name} needs pvlib for its PV profiles: pip install 'marl-vvc[pv]'"
            ) from exc
        self.solar = SolarProfiles(len(self.gens), cfg.horizon, step_hours=cfg.step_hours)
        self.rating = np.array([g.capability.p_max for g in self.gens])
        self.availability = np.zeros((len(self.gens), cfg.horizon))
        self.n_steps = cfg.horizon
        self.branches = ()
        n_g = len(self.gens)
        self.time_index = 0
        self.p_pot = np.zeros(n_g)
        self.gen_pq = np.zeros((n_g, 2))
        self.unit_pq = np.zeros((0, 2))
        self.soc = np.zeros(0)
        self.slack_pq = np.zeros(2)
        self.last_info = {}

    def restore_solar(self) -> None:
        """Start of a PV episode (called before the reset solve): the day's availability."""
        core = self.core
        day = (core.profile_index or 0) % self.solar.num_profiles
        self.availability = self.solar.profile(day) * self.rating[:, None] * self.base
        self.time_index = 0
        # the reset solve is at midnight, the end of the day's last step
        self._apply_generators(self.availability[:, -1], np.zeros(len(self.gens)), -1)

    def solar_costs(self) -> np.ndarray:
        """Curtailed fraction of each inverter's rating × ``curtail_w`` (after a step)."""
        self.time_index = self.core.t
        curtail = np.maximum(self.p_pot - self.gen_pq[:, 0], 0.0) / self.rating
        return self.core.config.weights.curtail_w * curtail

    # ------------------------------------------------------------------ reset
    def reset(self, rng: np.random.Generator, options: Mapping[str, Any]) -> GridSnapshot:
        """Gym-ANM's initial state: draws ``t0``, each generator's Q, each storage SoC.

        Like Gym-ANM, the draws use the p.u. bounds but apply the values as MVAr / MWh, and
        the state is drawn again (up to 100 times) when its power flow does not converge.
        ``options={"start": k}`` fixes the time index.
        """
        core, eng = self.core, self.core.engine
        start = options.get("start")
        if start is not None and (
            isinstance(start, bool)
            or not isinstance(start, int | np.integer)
            or not 0 <= start < self.n_steps
        ):
            raise InvalidOptionError(
                f"start: expected an integer in [0, {self.n_steps}), got {start!r}"
            )
        # A rewind leaves the generators' admittances of the last episode in the system matrix,
        # which moves the next solution within the solver tolerance (~1e-10); a recompile of
        # this small circuit (~2 ms) makes ``reset(seed)`` exactly repeatable.
        eng.compile()
        core._setup()
        eng.set_load_profiles(np.roll(self.multipliers, -1, axis=1), self.dt * 3600.0)
        for _ in range(100):
            t0 = int(rng.integers(0, self.n_steps)) if start is None else int(start)
            q0 = [rng.uniform(g.capability.q_min, g.capability.q_max) for g in self.gens]
            soc0 = [rng.uniform(u.capability.soc_min, u.capability.soc_max) for u in self.units]
            self.time_index = t0
            self._apply_generators(self.availability[:, t0], q0, t0)
            self.soc = np.zeros(len(self.units))
            self._apply_storage([(0.0, 0.0)] * len(self.units))
            eng.rewind(t0 * self.dt)  # after the writes: the next solve starts from scratch
            converged, error = eng.solve(advance=False)
            snap = core._read(converged, error)
            if converged:
                break
        self.soc = np.array(soc0, dtype=float)
        self._read_slack()
        return snap

    # ------------------------------------------------------------------ step
    def apply(
        self, gen_actions: list[tuple[float, float]], unit_actions: list[tuple[float, float]]
    ) -> None:
        """Project and write the set-points (MW, MVAr) for the next time index."""
        nxt = self.core.t if self.solar_mode else (self.time_index + 1) % self.n_steps
        self._apply_generators([p for p, _ in gen_actions], [q for _, q in gen_actions], nxt)
        self._apply_storage(unit_actions)

    def _apply_generators(self, p_mw: Any, q_mvar: Any, index: int) -> None:
        eng, base = self.core.engine, self.base
        for i, gen in enumerate(self.gens):
            cap = gen.capability
            pot = cap.clip_available(self.availability[i, index] / base)
            p, q = cap.project(float(p_mw[i]) / base, float(q_mvar[i]) / base, pot)
            self.p_pot[i] = pot
            self.gen_pq[i] = p, q
            eng.set_generator(gen.name, p * base * 1000.0, q * base * 1000.0)

    def _apply_storage(self, actions: list[tuple[float, float]]) -> None:
        eng, base = self.core.engine, self.base
        for j, unit in enumerate(self.units):
            p, q = unit.capability.project(
                actions[j][0] / base, actions[j][1] / base, self.soc[j] / base, self.dt
            )
            self.unit_pq[j] = p, q
            eng.set_generator(unit.name, p * base * 1000.0, q * base * 1000.0)

    def _read_slack(self) -> None:
        p, q = self.core.engine.total_power_kw()
        self.slack_pq[:] = -p / 1000.0, -q / 1000.0

    def score(
        self, snap: GridSnapshot
    ) -> tuple[RewardTerms, np.ndarray, np.ndarray, dict[str, Any]]:
        """Reward terms, per-device costs and per-bus violations after a converged solve."""
        core, cfg, base, dt = self.core, self.core.config, self.base, self.dt
        anm = cfg.anm
        assert anm is not None
        for j, unit in enumerate(self.units):
            self.soc[j] = (
                unit.capability.next_soc(self.soc[j] / base, self.unit_pq[j, 0], dt) * base
            )
        self.time_index = (self.time_index + 1) % self.n_steps
        self._read_slack()

        losses = core.engine.losses_kw()[0] / 1000.0 / base
        curtail = np.maximum(self.p_pot - self.gen_pq[:, 0], 0.0)
        e_raw = dt * (losses + curtail.sum() - self.unit_pq[:, 0].sum())
        bus_excursion = np.maximum(snap.bus_vmax - cfg.v_max, 0.0) + np.maximum(
            cfg.v_min - snap.bus_vmin, 0.0
        )
        overload = np.zeros(len(core.bus_names))
        if self.branches:
            s = core.engine.branch_apparent_kva(self.branches) / 1000.0 / base
            np.add.at(overload, self.branch_bus, np.maximum(s - self.ratings, 0.0))
        violation = dt * anm.lam * (bus_excursion + overload)
        pen_raw = float(violation.sum())
        e_loss = float(np.sign(e_raw) * min(abs(e_raw), anm.clip_loss))
        penalty = min(max(pen_raw, 0.0), anm.clip_penalty)
        fe = e_loss / e_raw if e_raw != 0.0 else 1.0
        fp = penalty / pen_raw if pen_raw > 0.0 else 1.0
        costs = np.zeros(len(core.devices))
        offset = core.n_cap + core.n_reg + core.n_bat
        costs[offset : offset + len(self.gens)] = dt * curtail * fe
        costs[offset + len(self.gens) :] = -dt * self.unit_pq[:, 0] * fe
        terms = RewardTerms(
            power_loss_ratio=e_loss,
            loss=-dt * losses * fe,
            voltage=-penalty,
            control=-float(costs.sum()),
        )
        info = {
            "e_loss": e_loss,
            "penalty": penalty,
            "e_loss_raw": e_raw,
            "penalty_raw": pen_raw,
            "converged": True,
        }
        return terms, costs, violation * fp, info

    def diverged_reward(self) -> float:
        """Gym-ANM's reward for a power flow that does not converge."""
        anm = self.core.config.anm
        assert anm is not None
        return -anm.clip_penalty / (1.0 - anm.gamma)

    # ------------------------------------------------------------------ views
    def device_pq(self) -> dict[str, tuple[float, float]]:
        """Injected (MW, MVAr) of every device by name, plus ``slack``."""
        out = {"slack": (float(self.slack_pq[0]), float(self.slack_pq[1]))}
        k = self.time_index
        for i, name in enumerate(self.core.load_names):
            p = float(self.loads_mw[i, k])
            out[name] = (p, p * float(self.load_qp[i]))
        for i, gen in enumerate(self.gens):
            out[gen.name] = (
                float(self.gen_pq[i, 0] * self.base),
                float(self.gen_pq[i, 1] * self.base),
            )
        for j, unit in enumerate(self.units):
            out[unit.name] = (
                float(self.unit_pq[j, 0] * self.base),
                float(self.unit_pq[j, 1] * self.base),
            )
        return out

    def state_vector(self) -> np.ndarray:
        """Gym-ANM's observation vector.

        P and Q of every device (``state_devices`` order, MW/MVAr), storage SoC (MWh),
        available generator power (MW) and the time index.
        """
        order = self.core.config.state_devices or (
            "slack",
            *self.core.load_names,
            *(g.name for g in self.gens),
            *(u.name for u in self.units),
        )
        pq = self.device_pq()
        p = [pq[d][0] for d in order]
        q = [pq[d][1] for d in order]
        return np.array(
            [*p, *q, *self.soc, *(self.p_pot * self.base), float(self.time_index)], dtype=float
        )
