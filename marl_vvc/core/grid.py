"""The grid core: engine + device fleets + a task, one power flow per step.

:class:`GridCore` knows nothing about PettingZoo, Gymnasium or which task it runs. What
differs between Volt-Var control, active network management, PV and capacitor switching is
the :class:`Task` handed in (scenario and reward) and the fleets (devices). A step validates
a joint action (every device, each inside its space; nothing changes if anything is wrong),
lets each fleet write its setpoints, solves once and asks the task to score the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any, Protocol

import numpy as np

from marl_vvc.core.checkpoint import Checkpoint
from marl_vvc.core.devices import Device
from marl_vvc.core.engine import OpenDSSEngine
from marl_vvc.core.fleets import Fleet
from marl_vvc.core.outcome import GridSnapshot, RewardTerms, Scored, StepOutcome
from marl_vvc.errors import InvalidActionError, ResetNeededError

CONTROLS = ("agents", "opendss")
COLLAPSE_FLOOR_PU = 0.5  # a converged solution with a live node below this is a collapse


class Task(Protocol):
    """What a task hands the core: its scenario (time, loads, availability) and its reward."""

    # Read-only here, so a task may hold them as class constants, attributes or properties.
    @property
    def horizon(self) -> int | None:
        """Steps per episode (None: endless)."""
        ...

    @property
    def truncate_at_horizon(self) -> bool:
        """Whether reaching the horizon truncates (rather than terminates) the episode."""
        ...

    @property
    def divergence_penalty(self) -> float:
        """Charged (> 0) when a power flow fails."""
        ...

    @property
    def reset_options(self) -> tuple[str, ...]:
        """The ``reset(options=...)`` keys the task understands."""
        ...

    def reset(self, core: GridCore, rng: np.random.Generator, options: Mapping[str, Any]) -> None:
        """Start an episode: scenario draws, device start state, and the reset solve."""
        ...

    def before_step(self, core: GridCore) -> None:
        """Scenario inputs of the coming step (e.g. generator availability)."""
        ...

    def score(self, core: GridCore, snap: GridSnapshot, last: bool) -> Scored:
        """Reward terms of a converged step (after the fleets settled)."""
        ...

    def state_vector(self, core: GridCore) -> np.ndarray:
        """The task's global state vector."""
        ...

    def clock(self, core: GridCore) -> int:
        """Steps since midnight of the current time (for time-of-day features)."""
        ...

    def state_size(self, core: GridCore) -> int:
        """Length of :meth:`state_vector` (the environments' global state space)."""
        ...


class GridCore:
    """One feeder with its device fleets, stepping a joint action through one power flow.

    Args:
        engine: The compiled circuit.
        fleets: Device fleets in joint-action order.
        task: Scenario and reward.
        setup: Engine commands run after every later compile (e.g. placing batteries); the
            engine handed in has run them already.
        fixed: Fleets of devices that are not agents: restored and read like the others,
            held by the task (e.g. the regulators of the capacitor-switching task).
        name: System name (for messages).
        step_hours: Length of a step.
        collapse_floor: A step whose solution puts a node that was live at reset below this
            voltage (pu) is a voltage collapse: OpenDSS "converges" to such physical nonsense
            when constant-impedance loads absorb an impossible load, so it is treated like a
            power flow that failed (the task's penalty, ``converged=False``, episode over).
    """

    def __init__(
        self,
        engine: OpenDSSEngine,
        fleets: Sequence[Fleet],
        task: Task,
        *,
        setup: Sequence[str] = (),
        fixed: Sequence[Fleet] = (),
        name: str = "system",
        step_hours: float = 1.0,
        collapse_floor: float = COLLAPSE_FLOOR_PU,
    ) -> None:
        self.engine = engine
        self.fleets = tuple(fleets)
        self.fixed = tuple(fixed)
        self._all = self.fleets + self.fixed
        self._settling = tuple(f for f in self._all if f.devices)
        self.task = task
        self.setup = tuple(setup)
        self.name = name
        self.step_hours = step_hours
        self.devices: tuple[Device, ...] = tuple(d for f in self.fleets for d in f.devices)
        self.agent_ids = tuple(d.agent_id for d in self.devices)
        self._id_set = frozenset(self.agent_ids)
        self.fleet = {f.kind: f for f in self.fleets}
        # The joint-vector layout: the only place that knows each fleet's offset.
        bounds = np.cumsum([0, *(len(f.devices) for f in self.fleets)])
        self.slices = tuple(slice(int(a), int(b)) for a, b in pairwise(bounds))
        self._spans = tuple(
            (f, s) for f, s in zip(self.fleets, self.slices, strict=True) if f.devices
        )
        self.bus_names = engine.bus_names
        self.bus_index = {b: i for i, b in enumerate(self.bus_names)}
        self.load_names = engine.load_names
        self._prepare_fleets()
        self.collapse_floor = collapse_floor
        self._live = np.ones(len(engine.bus_node_order), dtype=bool)
        self.t = 0
        self.snapshot: GridSnapshot | None = None

    # ------------------------------------------------------------------ engine set-up
    def _prepare_fleets(self) -> None:
        for fleet in self._all:
            fleet.prepare(self.engine)

    def recompile(self) -> None:
        """Compile the circuit from scratch, run the setup commands and prepare the fleets."""
        self.engine.compile()
        for command in self.setup:
            self.engine.command(command)
        self._prepare_fleets()

    def restore(self) -> None:
        """Rewind the engine and put every fleet in its start state."""
        self.engine.rewind()
        for fleet in self._all:
            fleet.restore(self.engine)

    def solve(self, *, advance: bool) -> GridSnapshot:
        """Solve once and read the snapshot (the fleets read their own powers)."""
        converged, error = self.engine.solve(advance=advance)
        for fleet in self._all:
            fleet.settle(self.engine, False)
        return self.read(converged, error)

    def read(self, converged: bool, error: str | None) -> GridSnapshot:
        """Read the solved state as an immutable snapshot."""
        eng = self.engine
        v = eng.node_vmag_pu()[eng.bus_node_order]
        if not converged:
            v = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
        vmax = np.maximum.reduceat(v, eng.bus_offsets)
        vmin = np.minimum.reduceat(v, eng.bus_offsets)
        loss_kw, loss_kvar = eng.losses_kw()
        tot_kw, tot_kvar = eng.total_power_kw()
        for arr in (v, vmax, vmin):
            arr.flags.writeable = False
        return GridSnapshot(v, vmax, vmin, loss_kw, loss_kvar, tot_kw, tot_kvar, converged, error)

    # ------------------------------------------------------------------ episode
    def reset(
        self, rng: np.random.Generator, options: Mapping[str, Any] | None = None
    ) -> GridSnapshot:
        """Start an episode (the task's reset rule; see its documentation for ``options``).

        Raises:
            InvalidOptionError: A bad option (nothing changed).
        """
        self.task.reset(self, rng, options or {})
        self.t = 0
        assert self.snapshot is not None
        snap = self.snapshot
        self._live = snap.v > 0.0  # de-energised nodes (open switches) read exactly 0
        error = self._collapse(snap)
        if snap.converged and error is not None:
            self.snapshot = snap = snap._replace(converged=False, error=error)
        return snap

    def _collapse(self, snap: GridSnapshot) -> str | None:
        """Why ``snap`` is a voltage collapse, or None."""
        if np.minimum.reduce(snap.bus_vmin) >= self.collapse_floor:
            return None
        low = snap.v[self._live]
        if low.size and low.min() < self.collapse_floor:
            return f"voltage collapse: {low.min():.3g} pu < {self.collapse_floor} pu"
        return None

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
        ids = self.agent_ids
        if actions.keys() != self._id_set:
            missing = [a for a in ids if a not in actions]
            unknown = sorted(str(a) for a in actions if a not in self._id_set)
            raise InvalidActionError(
                f"joint action must hold exactly one action per live agent; missing {missing}, "
                f"unknown {unknown}"
            )
        return self.check_values([actions[a] for a in ids])

    def check_values(self, values: Sequence[Any]) -> list[Any]:
        """Validate a joint action given in device order (raises, changes nothing)."""
        out: list[Any] = []
        for fleet, span in self._spans:
            out += fleet.check(values[span])
        return out

    def step(self, actions: Mapping[str, Any], *, controls: str = "agents") -> StepOutcome:
        """Validate, apply, solve once and score a joint action keyed by agent id."""
        return self.step_validated(self.validate(actions), controls=controls)

    def step_validated(self, values: list[Any], *, controls: str = "agents") -> StepOutcome:
        """Apply an already validated joint action given in device order.

        Args:
            values: One validated value per device.
            controls: ``agents``, or ``opendss``: OpenDSS's RegControl/CapControl move the
                taps and capacitors during the solve (PowerGym's ``dss`` mode; those
                devices' values are ignored), and their choices are read back and scored
                like an agent's.
        """
        if self.snapshot is None:
            raise ResetNeededError("call reset() before step()")
        if controls not in CONTROLS:
            raise InvalidActionError(f"controls must be one of {CONTROLS}, got {controls!r}")
        eng = self.engine
        self.task.before_step(self)
        if controls == "agents":
            for fleet, span in self._spans:
                fleet.apply(values[span], eng)
            converged, error = eng.solve(advance=True)
            return self._finish(converged, error)
        for fleet, span in self._spans:
            if not fleet.opendss_controlled:
                fleet.apply(values[span], eng)
        eng.set_control_mode("static")
        try:
            converged, error = eng.solve(advance=True)
        finally:
            eng.set_control_mode("off")
        for fleet in self.fleets:
            fleet.adopt(eng)
        return self._finish(converged, error)

    def trial(self, values: list[Any], *, controls: str = "agents") -> StepOutcome:
        """What an already validated joint action would score now, without taking it.

        One power flow, then everything is put back (see
        :class:`~marl_vvc.core.checkpoint.Checkpoint`): counterfactual credit and
        look-ahead search build on it.
        """
        if self.snapshot is None:
            raise ResetNeededError("call reset() before trial()")
        saved = Checkpoint.of(self)
        try:
            return self.step_validated(values, controls=controls)
        finally:
            saved.restore(self)

    def _finish(self, converged: bool, error: str | None) -> StepOutcome:
        self.t += 1
        for fleet in self._settling:
            fleet.settle(self.engine, converged)
        snap = self.read(converged, error)
        self.snapshot = snap
        task = self.task
        last = task.horizon is not None and self.t >= task.horizon
        if not converged:
            return self.failed(snap)
        error = self._collapse(snap)
        if error is not None:
            return self.failed(snap, "collapse", error)
        terms, costs, violation, info = task.score(self, snap, last)
        info["converged"] = True
        end = last and not task.truncate_at_horizon
        cut = last and task.truncate_at_horizon
        return StepOutcome(snap, terms, costs, violation, info, self.t, end, cut)

    def failed(
        self, snap: GridSnapshot, reason: str = "diverged", error: str | None = None
    ) -> StepOutcome:
        """The outcome of a step whose power flow failed: the task's penalty, episode over.

        The penalty is shared equally by the devices so the per-device costs add up.

        Args:
            snap: The failed step's snapshot.
            reason: ``diverged`` or ``collapse`` (``info["failure"]``).
            error: The message (default: OpenDSS's).
        """
        penalty = float(self.task.divergence_penalty)
        terms = RewardTerms(float("nan"), 0.0, 0.0, 0.0, -penalty)
        costs = np.full(len(self.devices), penalty / max(len(self.devices), 1))
        info = {"converged": False, "error": error or snap.error or reason, "failure": reason}
        return StepOutcome(snap, terms, costs, np.zeros(len(self.bus_names)), info, self.t, True)

    # ------------------------------------------------------------------ views
    def state_vector(self) -> np.ndarray:
        """The task's global state vector.

        Raises:
            ResetNeededError: Before the first reset.
        """
        if self.snapshot is None:
            raise ResetNeededError("call reset() before state()")
        return self.task.state_vector(self)

    @property
    def all_devices(self) -> tuple[Device, ...]:
        """Agent devices followed by the fixed fleets' devices."""
        return self.devices + tuple(d for f in self.fixed for d in f.devices)

    def hold_values(self) -> list[Any]:
        """Device-order actions that keep every device where it is."""
        return [a for f, _ in self._spans for a in f.hold()]

    def applied_values(self) -> list[Any]:
        """Device-order actions each device took in the last step."""
        out: list[Any] = []
        for fleet, _ in self._spans:
            out += fleet.applied()
        return out

    def close(self) -> None:
        """Release the engine."""
        self.engine.close()
