"""The bare OpenDSS work of an env step, replayed without any env code (``marl-vvc bench``).

:class:`BareEngine` compiles the system's circuit on an engine of its own (from the system's
config, never from an env) and turns the actions an env reported in ``info["applied"]`` into
the engine writes a step needs: the capacitors and taps that changed, every battery and
generator setpoint; then one solve, one bulk voltage read, losses, source power and the
device powers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from marl_vvc.core.engine import OpenDSSEngine

#: ``("cap", name, status)``, ``("tap", name, winding, ratio)`` or ``("gen", name, kW, kvar)``.
Op = tuple[Any, ...]


@dataclass(frozen=True)
class _Writer:
    """How one agent's applied action becomes an engine write."""

    kind: str  # capacitor | regulator | battery | pq
    name: str
    scale: float = 1.0  # regulator: tap step; battery: kW per unit; pq: kW per MW
    offset: float = 0.0  # regulator: tap_min; battery: idle level
    kvar_factor: float = 0.0  # battery kvar per kW
    winding: int = 0


def _battery_writer(bat: Any, devices: Any, over_pf: bool) -> _Writer:
    factor = 1.0 / bat.pf if over_pf else math.tan(math.acos(bat.pf))
    if devices.continuous_batteries:
        return _Writer("battery", bat.name, bat.max_kw, 0.0, factor)
    mid = devices.bat_levels // 2
    return _Writer("battery", bat.name, bat.max_kw / mid, float(mid), factor)


def writers(config: Any) -> dict[str, _Writer]:
    """Agent id -> writer for every device of a system config (ids as the envs name them)."""
    d = config.devices
    step = (d.tap_max - d.tap_min) / (d.reg_levels - 1)
    out = {f"capacitor_{c}": _Writer("capacitor", c) for c in d.capacitors}
    out.update(
        {
            f"regulator_{r}": _Writer("regulator", r, step, d.tap_min, 0.0, d.regulator_winding)
            for r in d.regulators
        }
    )
    over_pf = config.quirks.battery_kvar_over_pf
    out.update({f"battery_{b.name}": _battery_writer(b, d, over_pf) for b in d.batteries})
    out.update({f"generator_{g.name}": _Writer("pq", g.name, 1000.0) for g in d.generators})
    out.update({f"storage_{s.name}": _Writer("pq", s.name, 1000.0) for s in d.storage_units})
    return out


def _write(w: _Writer, action: Any) -> Op:
    if w.kind == "capacitor":
        return ("cap", w.name, int(action))
    if w.kind == "regulator":
        return ("tap", w.name, w.winding, w.offset + int(action) * w.scale)
    if w.kind == "battery":
        kw = (float(np.ravel(action)[0]) - w.offset) * w.scale
        return ("gen", w.name, kw, kw * w.kvar_factor)
    p, q = np.ravel(action)[:2]
    return ("gen", w.name, float(p) * w.scale, float(q) * w.scale)


def engine_ops(
    config: Any, start: Mapping[str, Any], applied: Sequence[Mapping[str, Any]]
) -> tuple[list[Op], list[list[Op]]]:
    """Engine writes at reset and per step, from the reset positions and applied actions.

    Args:
        config: The system config the env was built from.
        start: Agent -> hold action right after reset (device positions).
        applied: Per step, agent -> applied action (``info["applied"]``).

    Returns:
        ``(reset writes, writes of every step)``; capacitors and taps only when they change.
    """
    ws = writers(config)
    first = [_write(ws[a], act) for a, act in start.items() if ws[a].kind != "battery"]
    prev = {a: _write(ws[a], act) for a, act in start.items()}
    steps = []
    for acts in applied:
        ops = []
        for agent, act in acts.items():
            op = _write(ws[agent], act)
            if op[0] == "gen" or op != prev[agent]:
                ops.append(op)
            prev[agent] = op
        steps.append(ops)
    return [op for op in first if op[0] != "gen"], steps


class BareEngine:
    """A private engine of a system's circuit doing exactly the OpenDSS work of env steps."""

    def __init__(self, config: Any, *, tolerance: float | None = None) -> None:
        self.engine = OpenDSSEngine(
            config.feeder.circuit, max_iterations=config.feeder.max_iterations
        )
        eng = self.engine
        for command in config.feeder.setup_commands:
            eng.command(command)
        for bat in config.devices.batteries:
            if bat.placement is not None and not eng.has_element(f"Generator.{bat.name}"):
                eng.command(bat.placement.command(bat.name, bat.pf))
        d = config.devices
        for reg in d.regulators:
            eng.set_tap_limits(reg, d.regulator_winding, d.tap_min, d.tap_max, d.reg_levels - 1)
        if tolerance is not None:
            eng.command(f"set tolerance={tolerance!r}")
        pq = [*d.batteries, *d.generators, *d.storage_units]
        self.elements = tuple(f"Generator.{x.name}" for x in pq)
        self.step_seconds = config.scenario.step_hours * 3600.0

    @property
    def load_names(self) -> tuple[str, ...]:
        """Loads of the circuit, in the order of :meth:`reset`'s multiplier rows."""
        return self.engine.load_names

    def reset(self, multipliers: np.ndarray, ops: Sequence[Op]) -> None:
        """Load shapes, rewind, the reset positions, one solve without advancing time."""
        eng = self.engine
        eng.set_load_profiles(multipliers, self.step_seconds)
        eng.rewind()
        self.apply(ops)
        eng.solve(advance=False)

    def apply(self, ops: Sequence[Op]) -> None:
        """Write setpoints."""
        eng = self.engine
        for op in ops:
            if op[0] == "cap":
                eng.set_capacitor(op[1], op[2])
            elif op[0] == "tap":
                eng.set_tap(op[1], op[2], op[3])
            else:
                eng.set_generator(op[1], op[2], op[3])

    def step(self, ops: Sequence[Op]) -> None:
        """One step: writes, solve, bulk voltage read, losses, source and device powers."""
        eng = self.engine
        self.apply(ops)
        eng.solve()
        eng.node_vmag_pu()[eng.bus_node_order]
        eng.losses_kw()
        eng.total_power_kw()
        for element in self.elements:
            eng.element_powers(element)

    def close(self) -> None:
        """Release the engine."""
        self.engine.close()
