"""OpenDSS power-flow engine: the only module of marl_vvc that imports OpenDSS.

Each :class:`OpenDSSEngine` owns one private DSS C-API context (never the process-global one),
so several engines live side by side in one process (and release the GIL while solving), and
one private scratch folder, OpenDSS's output folder, for every file OpenDSS writes. The engine
knows nothing about agents or rewards: it compiles, writes setpoints, solves, and reads whole
vectors through maps built once per compile. ``close()`` frees the context and the folder.

Load profiles run through OpenDSS's own daily mode: every load gets a private load shape of
``npts`` points, written once per episode, so a step writes no load data at all and the solve
at hour ``h`` uses point ``h - 1`` (hour 0 wraps to the last point).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import opendssdirect as _odd
from dss_python_backend.events import EventCallbackManager as _Manager
from opendssdirect.OpenDSSDirect import OpenDSSDirect as _OpenDSSDirect

from marl_vvc.core.engine_context import (
    ClosedContext,
    context_registries,
    open_context,
    release_context,
    scratch_folder,
)
from marl_vvc.core.engine_maps import bus_major_order, terminal_layout
from marl_vvc.core.engine_shapes import (
    MAX_PROFILE_POINTS,
    check_profiles,
    define_shapes,
    write_shapes,
)
from marl_vvc.errors import CircuitLoadError, EngineError

__all__ = ["MAX_PROFILE_POINTS", "OpenDSSEngine"]

DSSException = _odd.DSSException
# dss-python's private per-context registries, emptied on close (see engine_context)
_REGISTRIES = context_registries(type(_odd.Basic._api_util), _OpenDSSDirect, _Manager)


class OpenDSSEngine:
    """One compiled OpenDSS circuit in a private engine context.

    Args:
        master: Path of the OpenDSS master file to compile.
        max_iterations: Power-flow iteration limit (``Set MaxIterations``).
        max_control_iterations: Control iteration limit (``Set MaxControlIter``).

    Raises:
        CircuitLoadError: The file is missing or OpenDSS rejects it (message names the file).
    """

    def __init__(
        self, master: str | Path, *, max_iterations: int = 50, max_control_iterations: int = 100
    ) -> None:
        self.master = Path(master).resolve()
        self._max_iterations = int(max_iterations)
        self._max_control_iterations = int(max_control_iterations)
        self._step_seconds = 3600.0
        self._shape_points = 0
        self._shape_indices: list[int] = []
        self._thread = threading.get_ident()  # __del__ closes only in this thread
        self._dss: Any = ClosedContext(self.master)  # until opened: close() is always safe
        self._scratch, self._remove_scratch = scratch_folder(self)
        self._dss = open_context(_odd, _OpenDSSDirect)
        self._lib: Any = self._dss._lib  # raw CFFI calls for the hot path (~2 µs a wrapper call)
        self._check: Any = self._dss._check_for_error
        self._float64_gr: Callable[[], np.ndarray] = self._dss._get_float64_gr_array
        try:
            self.compile()
        except BaseException:
            self.close()
            raise

    @property
    def scratch_dir(self) -> Path:
        """The private folder where OpenDSS writes its files (removed by :meth:`close`)."""
        return self._scratch

    # ------------------------------------------------------------------ compile and maps
    def compile(self) -> None:
        """(Re)compile the master file and rebuild every name→index map.

        OpenDSS's data (output) folder is the scratch folder and the master is read with
        ``redirect`` (``compile`` would make the feeder's folder the output folder): relative
        paths inside the files still resolve against the file that holds them, and the working
        directory never changes. A master left in another solution mode (e.g. after its own
        daily solve) goes back to snapshot mode.
        """
        dss = self._dss
        basic = dss.Basic  # raises EngineError once closed
        if not self.master.is_file():
            raise CircuitLoadError(f"circuit file not found: {self.master}")
        try:
            basic.AllowChangeDir(False)  # process-wide in DSS C-API: insist before each build
            dss.Text.Command("clear")
            basic.DataPath(str(self._scratch))
            dss.Text.Command(f'redirect "{self.master}"')
            n_buses = dss.Circuit.NumBuses() if basic.NumCircuits() else 0
        except DSSException as exc:
            raise CircuitLoadError(f"OpenDSS could not compile {self.master}: {exc}") from exc
        if n_buses == 0:
            raise CircuitLoadError(f"{self.master} defines no circuit (no 'New Circuit' line?)")
        basic.DataPath(str(self._scratch))  # a nested `compile` in the files may have moved it
        if dss.Solution.Mode() != 0:  # 0 = snapshot
            self.command("set mode=snapshot")
        self.command(f"set maxiterations={self._max_iterations}")
        self.command(f"set maxcontroliter={self._max_control_iterations}")
        self.set_control_mode("off")
        self._shape_points = 0
        self._pd_layout: dict[tuple[str, ...], Any] = {}
        self._build_maps()

    def _build_maps(self) -> None:
        dss = self._dss
        self.node_names: tuple[str, ...] = tuple(str(n).lower() for n in dss.Circuit.AllNodeNames())
        self.bus_names: tuple[str, ...] = tuple(str(b).lower() for b in dss.Circuit.AllBusNames())
        nodes_of_bus: list[tuple[int, ...]] = []
        for bus in self.bus_names:
            dss.Circuit.SetActiveBus(bus)
            nodes_of_bus.append(tuple(int(k) for k in dss.Bus.Nodes()))
        self.bus_nodes: tuple[tuple[int, ...], ...] = tuple(nodes_of_bus)
        #: Permutation from AllNodeNames order to bus-major order (each bus's nodes in
        #: ``Bus.Nodes`` order), the layout of PowerGym's observation.
        self.bus_node_order, self.bus_node_counts, self.bus_offsets = bus_major_order(
            self.node_names, self.bus_names, self.bus_nodes
        )
        self.load_names: tuple[str, ...] = tuple(str(n).lower() for n in dss.Loads.AllNames())
        if self.load_names == ("none",):
            self.load_names = ()
        # 1-based positions used to activate devices without passing names in the hot path.
        self._index = {
            cls: {n: i + 1 for i, n in enumerate(self.element_names(cls))}
            for cls in ("Transformer", "Capacitor", "Generator")
        }
        self._set_index: Any = {cls: getattr(self._lib, f"{cls}s_Set_idx") for cls in self._index}

    # ------------------------------------------------------------------ generic access
    def command(self, text: str) -> str:
        """Run one OpenDSS text command and return its result.

        Relative file names in ``text`` resolve against the scratch folder first (OpenDSS's
        current folder after a build), then the working directory: pass absolute paths.

        Raises:
            EngineError: OpenDSS rejected the command.
        """
        try:
            self._dss.Text.Command(text)
        except DSSException as exc:
            raise EngineError(f"OpenDSS rejected {text!r}: {exc}") from exc
        return str(self._dss.Text.Result() or "")

    def has_element(self, full_name: str) -> bool:
        """Whether the circuit has an element such as ``Capacitor.cap1``."""
        return bool(self._dss.Circuit.SetActiveElement(full_name) >= 0)

    def element_names(self, cls: str) -> tuple[str, ...]:
        """Names (lower case, without class) of every element of class ``cls``."""
        self._dss.Circuit.SetActiveClass(cls)
        return tuple(str(n).lower() for n in self._dss.ActiveClass.AllNames() or ())

    def element_buses(self, full_name: str) -> tuple[str, ...]:
        """Bus names (node suffixes stripped) that an element connects to."""
        return tuple(b.split(".")[0] for b in self.element_bus_specs(full_name))

    def element_bus_specs(self, full_name: str) -> tuple[str, ...]:
        """Full bus specifications (with node suffixes) that an element connects to."""
        self._activate(full_name)
        return tuple(str(b).lower() for b in self._dss.CktElement.BusNames())

    def element_property(self, full_name: str, prop: str) -> str:
        """Read one property of an element as OpenDSS text."""
        self._activate(full_name)
        return str(self._dss.Properties.Value(prop))

    def element_powers(self, full_name: str) -> tuple[float, float]:
        """Total (kW, kvar) flowing into an element's terminal 1 (negative = injecting)."""
        self._activate(full_name)
        p = self._dss.CktElement.TotalPowers()
        return float(p[0]), float(p[1])

    def _activate(self, full_name: str) -> None:
        if self._dss.Circuit.SetActiveElement(full_name) < 0:
            raise CircuitLoadError(f"{self.master.name} has no element {full_name!r}")

    def bus_coordinates(self) -> np.ndarray:
        """``(n_buses, 2)`` x/y coordinates in :attr:`bus_names` order (NaN where unknown)."""
        xy = np.full((len(self.bus_names), 2), np.nan)
        for i, bus in enumerate(self.bus_names):
            self._dss.Circuit.SetActiveBus(bus)
            if self._dss.Bus.Coorddefined():
                xy[i] = self._dss.Bus.X(), self._dss.Bus.Y()
        return xy

    def branches(self) -> list[tuple[str, str]]:
        """(bus, bus) pairs of every line and transformer winding pair (for drawing)."""
        pairs: list[tuple[str, str]] = []
        for cls in ("Line", "Transformer"):
            for name in self.element_names(cls):
                buses = self.element_buses(f"{cls}.{name}")
                pairs.extend((buses[0], b) for b in buses[1:] if b != buses[0])
        return pairs

    # ------------------------------------------------------------------ devices
    def regulator_winding(self, regcontrol: str) -> tuple[str, int]:
        """The (transformer, winding) that a RegControl drives."""
        self._dss.RegControls.Name(regcontrol)
        return str(self._dss.RegControls.Transformer()).lower(), int(
            self._dss.RegControls.Winding()
        )

    def _activate_index(self, cls: str, name: str) -> None:
        index = self._index[cls].get(name)
        if index is None:  # added after compiling? refresh the map once
            self._index[cls] = {n: i + 1 for i, n in enumerate(self.element_names(cls))}
            index = self._index[cls].get(name)
            if index is None:
                raise CircuitLoadError(f"{self.master.name} has no element {cls}.{name}")
        self._set_index[cls](index)

    def regcontrol_targets(self) -> dict[str, int]:
        """``{transformer: winding}`` of every RegControl, in RegControl order."""
        out: dict[str, int] = {}
        for name in self.element_names("RegControl"):
            transformer, winding = self.regulator_winding(name)
            out.setdefault(transformer, winding)
        return out

    def set_tap(self, transformer: str, winding: int, tap: float) -> None:
        """Set the per-unit tap of one transformer winding (rebuilds Y at the next solve)."""
        self._activate_index("Transformer", transformer)
        lib = self._lib
        lib.Transformers_Set_Wdg(winding)
        self._check(lib.Transformers_Set_Tap(float(tap)))

    def set_tap_limits(self, transformer: str, winding: int, lo: float, hi: float, n: int) -> None:
        """Set MinTap, MaxTap and NumTaps of one transformer winding."""
        t = self._dss.Transformers
        t.Name(transformer)
        t.Wdg(winding)
        t.MinTap(float(lo))
        t.MaxTap(float(hi))
        t.NumTaps(int(n))

    def tap(self, transformer: str, winding: int) -> float:
        """Current per-unit tap of one transformer winding."""
        t = self._dss.Transformers
        t.Name(transformer)
        t.Wdg(winding)
        return float(t.Tap())

    def set_capacitor(self, name: str, state: int) -> None:
        """Open (0) or close (1) every step of a capacitor bank."""
        self._activate_index("Capacitor", name)
        self._check(self._lib.Capacitors_Close() if state else self._lib.Capacitors_Open())

    def capacitor_state(self, name: str) -> int:
        """1 if any step of the capacitor is closed, else 0."""
        c = self._dss.Capacitors
        c.Name(name)
        return int(np.any(np.asarray(c.States()) > 0))

    def set_generator(self, name: str, kw: float, kvar: float) -> None:
        """Set a Generator's kW and kvar (positive = injecting into the grid)."""
        self._activate_index("Generator", name)
        lib = self._lib
        # From kW = 0 with kvar != 0 (power factor 0) OpenDSS would ignore a new kW: reset the
        # power factor first; setting kvar last fixes it again.
        lib.Generators_Set_PF(1.0)
        lib.Generators_Set_kW(float(kw))
        self._check(lib.Generators_Set_kvar(float(kvar)))

    def generator_powers_kw(self, names: tuple[str, ...]) -> np.ndarray:
        """Terminal kW of each named Generator (negative = injecting)."""
        lib = self._lib
        out = np.empty(len(names))
        for i, name in enumerate(names):
            self._activate_index("Generator", name)
            self._check(lib.CktElement_Get_TotalPowers_GR())
            out[i] = self._float64_gr()[0]
        return out

    def set_control_mode(self, mode: str) -> None:
        """Set OpenDSS's control mode: ``off`` (agents own devices) or ``static``."""
        self.command(f"set controlmode={mode}")

    # ------------------------------------------------------------------ loads and time
    def base_load_powers(self) -> tuple[np.ndarray, np.ndarray]:
        """Nominal (kW, kvar) of every load, in :attr:`load_names` order."""
        loads = self._dss.Loads
        kw = np.empty(len(self.load_names))
        kvar = np.empty(len(self.load_names))
        for i, name in enumerate(self.load_names):
            loads.Name(name)
            kw[i] = loads.kW()
            kvar[i] = loads.kvar()
        return kw, kvar

    def set_load_profiles(self, multipliers: np.ndarray, step_seconds: float) -> None:
        """Give every load a private daily load shape (one row of ``multipliers`` each).

        The first call after a compile creates the shapes, a call with another length or step
        resizes them, later calls only overwrite the points. Solving at hour ``h`` then uses
        point ``h - 1``.

        Args:
            multipliers: Array of shape ``(n_loads, npts)`` in :attr:`load_names` order.
            step_seconds: Length of one point (and of one solve step) in seconds.

        Raises:
            ValueError: Not one row per load.
            ConfigError: ``npts`` is 0 or above :data:`MAX_PROFILE_POINTS` (checked before
                anything reaches OpenDSS).
        """
        npts = check_profiles(np.shape(multipliers), len(self.load_names))
        mult = np.ascontiguousarray(multipliers, dtype=float)
        if npts == self._shape_points and step_seconds == self._step_seconds:
            write_shapes(self._dss, self._shape_indices, mult)
            return
        self._shape_indices = define_shapes(self._dss, self.load_names, mult, float(step_seconds))
        self._shape_points = npts
        self._step_seconds = float(step_seconds)

    def rewind(self, start_hours: float = 0.0) -> None:
        """Go back to ``start_hours`` and forget the previous solution (next solve starts flat).

        Re-issuing the mode command marks the solution uninitialised, so the next solve
        is bit-for-bit the one right after a fresh compile, without recompiling.
        """
        hour = int(start_hours // 1)
        sec = (start_hours - hour) * 3600.0
        self.command(
            f"set mode=daily number=1 hour={hour} sec={sec:.12g} stepsize={self._step_seconds:.12g}"
        )

    def branch_apparent_kva(self, full_names: tuple[str, ...]) -> np.ndarray:
        """Largest apparent power (kVA) over the terminals of each named power-delivery element.

        One bulk read (``PDElements.AllPowers``) per call; the layout is built once per
        compile and set of names.
        """
        key = tuple(n.lower() for n in full_names)
        layout = self._pd_layout.get(key)
        if layout is None:
            pd = self._dss.PDElements
            names = [str(n).lower() for n in pd.AllNames()]
            conds = np.asarray(pd.AllNumConductors(), dtype=np.intp)
            terms = np.asarray(pd.AllNumTerminals(), dtype=np.intp)
            try:
                layout = (*terminal_layout(names, conds, terms, key), len(key))
            except KeyError as exc:
                raise CircuitLoadError(
                    f"{self.master.name} has no element {exc.args[0]!r}"
                ) from None
            self._pd_layout[key] = layout
        bounds, owner, n = layout
        self._check(self._lib.PDElements_Get_AllPowers_GR())
        flat = self._float64_gr()
        s = flat[0::2] + 1j * flat[1::2]
        per_terminal = np.abs(np.add.reduceat(s, bounds[:-1]))
        out = np.zeros(n)
        np.maximum.at(out, owner, per_terminal)
        return out

    # ------------------------------------------------------------------ solve and read
    def solve(self, *, advance: bool = True) -> tuple[bool, str | None]:
        """Solve the power flow once.

        Args:
            advance: Step the clock by one step first (daily mode ``Solve``); if False, solve at
                the current time without running controls (``SolveNoControl``).

        Returns:
            ``(converged, error)``: non-convergence is an outcome, never an exception.
        """
        lib = self._lib
        try:
            self._check(lib.Solution_Solve() if advance else lib.Solution_SolveNoControl())
        except DSSException as exc:
            return False, str(exc)
        if not lib.Solution_Get_Converged():
            iterations = lib.Solution_Get_Iterations()
            return False, f"power flow did not converge in {iterations} iterations"
        return True, None

    def node_vmag_pu(self) -> np.ndarray:
        """Per-unit voltage magnitude of every node, in :attr:`node_names` order."""
        self._check(self._lib.Circuit_Get_AllBusVmagPu_GR())
        return self._float64_gr()

    def losses_kw(self) -> tuple[float, float]:
        """Total circuit losses as (kW, kvar)."""
        self._check(self._lib.Circuit_Get_Losses_GR())
        loss = self._float64_gr()
        return float(loss[0]) / 1000.0, float(loss[1]) / 1000.0

    def total_power_kw(self) -> tuple[float, float]:
        """Power at the source as (kW, kvar); negative = supplied by the source."""
        self._check(self._lib.Circuit_Get_TotalPower_GR())
        p = self._float64_gr()
        return float(p[0]), float(p[1])

    def clock(self) -> tuple[int, float]:
        """The solution clock as (hour, seconds); :meth:`set_clock` puts it back."""
        return int(self._dss.Solution.Hour()), float(self._dss.Solution.Seconds())

    def set_clock(self, clock: tuple[int, float]) -> None:
        """Set the solution clock without touching the last solution (a what-if's undo)."""
        self._dss.Solution.Hour(int(clock[0]))
        self._dss.Solution.Seconds(float(clock[1]))

    def system_y(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """Complex system admittance matrix (Siemens) and its node order (lower case)."""
        flat = np.asarray(self._dss.Circuit.SystemY(), dtype=float)
        order = tuple(str(n).lower() for n in self._dss.Circuit.YNodeOrder())
        n = len(order)
        y = (flat[0::2] + 1j * flat[1::2]).reshape(n, n)
        return y, order

    def close(self) -> None:
        """Free the OpenDSS context and remove the scratch folder (idempotent).

        Every later call that needs OpenDSS raises :class:`~marl_vvc.errors.EngineError`
        ("engine closed"); plain attributes such as :attr:`node_names` stay readable.
        """
        dss = self._dss
        if not isinstance(dss, ClosedContext):
            closed = ClosedContext(self.master)
            self._dss = self._lib = self._check = self._float64_gr = self._set_index = closed
            release_context(dss, _REGISTRIES, DSSException)
        self._remove_scratch()

    def __del__(self) -> None:  # pragma: no cover - best effort when never closed
        # Only in the building thread: OpenDSS calls from a thread the garbage collector
        # happens to run in can crash the process (a leak is better than a crash).
        if threading.get_ident() != getattr(self, "_thread", None):
            return
        try:
            self.close()
        except Exception:
            pass
