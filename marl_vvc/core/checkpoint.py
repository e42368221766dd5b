"""A snapshot of the grid core's episode state, taken before a what-if step and put back after.

What a step changes: the core's clock and last snapshot, the Python state of every fleet and of
the task (statuses, taps, stored energy, time indices), and in OpenDSS the device settings and
the solution clock. :class:`Checkpoint` saves all of it in memory (no file, no recompile):

- Python state: every instance attribute, with lists, dicts and small arrays copied (they are
  what a step replaces or writes into); arrays larger than :data:`COPY_LIMIT` entries are
  tables a step only reads (load multipliers, availability series) and are kept by reference.
- OpenDSS: capacitors and regulators are written back only where the what-if moved them
  (a tap write rebuilds the admittance matrix); batteries, generators and storage are written
  on every real step anyway. The solution clock is set back.

Only the solver's warm start is not rewound: the next solve starts from the what-if's voltages,
so it agrees with one taken without the what-if to within the power-flow tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from marl_vvc.core.grid import GridCore

#: Arrays with more entries than this are read-only tables, kept by reference.
COPY_LIMIT = 65536


def _copied(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy() if value.size <= COPY_LIMIT else value
    if isinstance(value, list | dict):
        return value.copy()
    return value


def _state(obj: Any) -> dict[str, Any]:
    return {k: _copied(v) for k, v in vars(obj).items()}


@dataclass(frozen=True)
class Checkpoint:
    """The episode state of a :class:`~marl_vvc.core.grid.GridCore` at one moment."""

    clock: tuple[int, float]
    t: int
    snapshot: Any
    hold: list[Any]
    states: tuple[tuple[Any, dict[str, Any]], ...]

    @classmethod
    def of(cls, core: GridCore) -> Checkpoint:
        """Save ``core``'s state (cheap: a few small copies)."""
        owners = (*core.fleets, *core.fixed, core.task)
        return cls(
            core.engine.clock(),
            core.t,
            core.snapshot,
            core.hold_values(),
            tuple((o, _state(o)) for o in owners),
        )

    def restore(self, core: GridCore) -> None:
        """Put ``core`` (and its engine's devices and clock) back where :meth:`of` found it."""
        engine = core.engine
        for fleet, span in zip(core.fleets, core.slices, strict=True):
            if fleet.devices and fleet.opendss_controlled:
                fleet.apply(self.hold[span], engine)  # writes back only what moved
        for owner, state in self.states:
            owner.__dict__.update(state)
        engine.set_clock(self.clock)
        core.t = self.t
        core.snapshot = self.snapshot
