"""Gym-ANM's ANM6-Easy task: its fixed day, reset draws, time and reward.

It follows Gym-ANM (``../shared/parity/gym-anm/README.md``):

- time: a fixed day of ``S`` steps of ``Δt`` hours repeats forever; the action taken at time
  index ``k`` meets the demand and availability of ``k + 1``;
- generators: the set-point ``(P, Q)/baseMVA`` is projected onto the PQ region and the power
  available in the step; storage: projected with the SoC before the step, then
  ``SoC ← SoC − Δt·η·P`` (charging) or ``SoC − Δt·P/η`` (discharging), clipped;
- reward: :func:`marl_vvc.rewards.anm.anm_reward`; a power flow that does not converge
  ends the episode with ``−clip_penalty/(1 − γ)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from marl_vvc.core.grid import GridCore
from marl_vvc.core.outcome import GridSnapshot, Scored
from marl_vvc.core.pq_fleets import GeneratorFleet, StorageFleet
from marl_vvc.errors import ConfigError, InvalidOptionError
from marl_vvc.rewards.anm import AnmFlows, AnmParams, anm_reward, diverged_reward
from marl_vvc.tasks import anm6_data

RESET_OPTIONS = ("start",)


class Anm6Task:
    """ANM6-Easy's scenario and reward on a grid core of generators and storage.

    Args:
        core_loads: Names of the circuit's loads (3).
        peak: ``(kW, kvar)`` arrays of the loads' base powers.
        gens: Generator fleet (PV, wind).
        units: Storage fleet.
        params: Gym-ANM reward constants.
        step_hours: ``Δt``.
        v_band: ``(v_min, v_max)``.
        branches: ``(element, rating MVA, to-bus index)`` of each rated branch.
        state_devices: Device order of the state vector (Gym-ANM's).
        horizon: Steps after which the parallel env truncates (None: endless).

    Raises:
        ConfigError: The circuit does not have ANM6-Easy's three loads and two generators.
    """

    reset_options = RESET_OPTIONS

    def __init__(
        self,
        core_loads: tuple[str, ...],
        peak: tuple[np.ndarray, np.ndarray],
        gens: GeneratorFleet,
        units: StorageFleet,
        params: AnmParams,
        *,
        step_hours: float,
        v_band: tuple[float, float],
        branches: tuple[tuple[str, float, int], ...],
        state_devices: tuple[str, ...] = (),
        horizon: int | None = None,
        truncate_at_horizon: bool = True,
    ) -> None:
        loads_mw = anm6_data.load_series()
        self.availability = anm6_data.availability_series()
        if loads_mw.shape[0] != len(core_loads) or self.availability.shape[0] != len(gens.devices):
            raise ConfigError(
                f"scenario anm6easy has 3 loads and 2 generators; the circuit has "
                f"{len(core_loads)} loads and the config {len(gens.devices)} generators"
            )
        self.gens, self.units, self.params = gens, units, params
        self.load_names = core_loads
        self.step_hours = step_hours
        self.v_min, self.v_max = v_band
        self.horizon = horizon
        self.truncate_at_horizon = truncate_at_horizon
        self.n_steps = loads_mw.shape[1]
        peak_kw, peak_kvar = peak
        self.loads_mw = loads_mw
        self.load_qp = peak_kvar / peak_kw
        self.load_pmin_mw = -peak_kw / 1000.0
        self.multipliers = -loads_mw * 1000.0 / peak_kw[:, None]
        self.branches = tuple(b for b, _, _ in branches)
        self.ratings = np.array([mva for _, mva, _ in branches]) / gens.base
        self.branch_bus = np.array([bus for _, _, bus in branches], dtype=np.intp)
        self.state_devices = state_devices or (
            "slack",
            *core_loads,
            *(g.name for g in gens.devices),
            *(u.name for u in units.devices),
        )
        self.time_index = 0
        self.slack_pq = np.zeros(2)  # MW, MVAr

    @property
    def divergence_penalty(self) -> float:
        """Gym-ANM's penalty for a failed power flow, ``clip_penalty/(1 − γ)``."""
        return -diverged_reward(self.params)

    @property
    def num_profiles(self) -> None:
        """ANM6-Easy has one fixed day, no profiles."""
        return None

    # ------------------------------------------------------------------ episode
    def check_start(self, options: Mapping[str, Any]) -> int | None:
        """The ``start`` option, validated (raises :class:`InvalidOptionError`)."""
        start = options.get("start")
        if start is not None and (
            isinstance(start, bool)
            or not isinstance(start, int | np.integer)
            or not 0 <= start < self.n_steps
        ):
            raise InvalidOptionError(
                f"start: expected an integer in [0, {self.n_steps}), got {start!r}"
            )
        return None if start is None else int(start)

    def reset(self, core: GridCore, rng: np.random.Generator, options: Mapping[str, Any]) -> None:
        """Gym-ANM's initial state: draws ``t0``, each generator's Q, each storage SoC.

        Like Gym-ANM, the draws use the p.u. bounds but apply the values as MVAr / MWh, and
        the state is drawn again (up to 100 times) when its power flow does not converge.
        ``options={"start": k}`` fixes the time index.
        """
        start = self.check_start(options)
        # A rewind leaves the generators' admittances of the last episode in the system
        # matrix, which moves the next solution within the solver tolerance (~1e-10); a
        # recompile of this small circuit (~2 ms) makes ``reset(seed)`` exactly repeatable.
        core.recompile()
        eng, gens, units = core.engine, self.gens, self.units
        eng.set_load_profiles(np.roll(self.multipliers, -1, axis=1), self.step_hours * 3600.0)
        for _ in range(100):
            t0 = int(rng.integers(0, self.n_steps)) if start is None else start
            q0 = [rng.uniform(g.capability.q_min, g.capability.q_max) for g in gens.devices]
            soc0 = [rng.uniform(u.capability.soc_min, u.capability.soc_max) for u in units.devices]
            self.time_index = t0
            gens.available = self.availability[:, t0]
            gens.set_pq(eng, self.availability[:, t0], q0)
            units.restore(eng)
            eng.rewind(t0 * self.step_hours)  # after the writes: the next solve starts afresh
            snap = core.solve(advance=False)
            if snap.converged:
                break
        units.soc = np.array(soc0, dtype=float)
        self._read_slack(core)
        core.snapshot = snap

    def before_step(self, core: GridCore) -> None:
        """Availability of the next time index."""
        self.gens.available = self.availability[:, (self.time_index + 1) % self.n_steps]

    def clock(self, core: GridCore) -> int:
        """The time index of the fixed day."""
        return self.time_index

    def _read_slack(self, core: GridCore) -> None:
        p, q = core.engine.total_power_kw()
        self.slack_pq[:] = -p / 1000.0, -q / 1000.0

    # ------------------------------------------------------------------ reward and state
    def score(self, core: GridCore, snap: GridSnapshot, last: bool) -> Scored:
        """Gym-ANM's reward of a converged step (after the storage SoC moved)."""
        self.time_index = (self.time_index + 1) % self.n_steps
        self._read_slack(core)
        base = self.gens.base
        overload = np.zeros(len(core.bus_names))
        if self.branches:
            s = core.engine.branch_apparent_kva(self.branches) / 1000.0 / base
            np.add.at(overload, self.branch_bus, np.maximum(s - self.ratings, 0.0))
        flows = AnmFlows(
            losses=snap.losses_kw / 1000.0 / base,
            curtail=self.gens.curtailment(),
            storage_p=self.units.pq[:, 0],
            overload=overload,
            n_other=len(core.devices) - len(self.gens.devices) - len(self.units.devices),
        )
        return anm_reward(self.params, self.step_hours, self.v_min, self.v_max, flows, snap)

    def device_pq(self) -> dict[str, tuple[float, float]]:
        """Injected (MW, MVAr) of every device by name, plus ``slack``."""
        out = {"slack": (float(self.slack_pq[0]), float(self.slack_pq[1]))}
        k = self.time_index
        for i, name in enumerate(self.load_names):
            p = float(self.loads_mw[i, k])
            out[name] = (p, p * float(self.load_qp[i]))
        for fleet in (self.gens, self.units):
            for dev, (p, q) in zip(fleet.devices, fleet.pq * fleet.base, strict=True):
                out[dev.name] = (float(p), float(q))
        return out

    def state_vector(self, core: GridCore) -> np.ndarray:
        """Gym-ANM's observation vector.

        P and Q of every device (MW/MVAr), storage SoC (MWh), available generator power (MW)
        and the time index.
        """
        pq = self.device_pq()
        p = [pq[d][0] for d in self.state_devices]
        q = [pq[d][1] for d in self.state_devices]
        pot = self.gens.p_pot * self.gens.base
        return np.array([*p, *q, *self.units.soc, *pot, float(self.time_index)], dtype=float)

    def state_size(self, core: GridCore) -> int:
        """Length of :meth:`state_vector`."""
        n_dev = 1 + len(self.load_names) + len(self.gens.devices) + len(self.units.devices)
        return 2 * n_dev + len(self.units.devices) + len(self.gens.devices) + 1
