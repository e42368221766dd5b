"""OpenDSS power-flow engine: the only module of marl_vvc that touches OpenDSS.

Each :class:`OpenDSSEngine` owns one private DSS C-API context (``NewContext``), never the
process-global one, so several engines live side by side in one process (and release the GIL
while solving). The engine knows nothing about agents or rewards: it compiles a circuit, sets
element properties, solves, and reads whole vectors into numpy arrays through maps built once
per compile.

Load profiles run through OpenDSS's own daily mode: every load gets a private load shape of
``npts`` points, written once per episode, so a step writes no load data at all and the solve
at hour ``h`` uses point ``h - 1`` (hour 0 wraps to the last point).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import opendssdirect as _odd
from opendssdirect.OpenDSSDirect import OpenDSSDirect as _OpenDSSDirect

from marl_vvc.errors import CircuitLoadError, EngineError

_DSSException = _odd.DSSException
_SHAPE_PREFIX = "marl_vvc_shape_"


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
        self._ctx = _odd.NewContext()
        # Same context, numpy-returning view: bulk reads come back as ndarrays.
        self._dss = _OpenDSSDirect(self._ctx._api_util, prefer_lists=False)
        self._dss.Basic.AllowChangeDir(False)
        self._dss.Basic.AllowEditor(False)
        # Raw CFFI calls for the per-step hot path (the wrappers cost ~2 µs a call).
        self._lib = self._dss._lib
        self._check = self._dss._check_for_error
        self._float64_gr = self._dss._get_float64_gr_array
        self._step_seconds = 3600.0
        self._shape_points = 0
        self.compile()

    # ------------------------------------------------------------------ compile and maps
    def compile(self) -> None:
        """(Re)compile the master file and rebuild every name→index map."""
        if not self.master.is_file():
            raise CircuitLoadError(f"circuit file not found: {self.master}")
        try:
            self._dss.Text.Command("clear")
            self._dss.Text.Command(f'compile "{self.master}"')
        except _DSSException as exc:
            raise CircuitLoadError(f"OpenDSS could not compile {self.master}: {exc}") from exc
        if self._dss.Circuit.NumBuses() == 0:
            raise CircuitLoadError(f"{self.master} defines no circuit (no 'New Circuit' line?)")
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
        node_index = {n: i for i, n in enumerate(self.node_names)}
        order: list[int] = []
        counts: list[int] = []
        nodes_of_bus: list[tuple[int, ...]] = []
        for bus in self.bus_names:
            dss.Circuit.SetActiveBus(bus)
            nodes = tuple(int(k) for k in dss.Bus.Nodes())
            nodes_of_bus.append(nodes)
            order.extend(node_index[f"{bus}.{k}"] for k in nodes)
            counts.append(len(nodes))
        #: Permutation from AllNodeNames order to bus-major order (each bus's nodes in
        #: ``Bus.Nodes`` order), the layout of PowerGym's observation.
        self.bus_node_order = np.asarray(order, dtype=np.intp)
        self.bus_node_counts = np.asarray(counts, dtype=np.intp)
        self.bus_offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp)
        self.bus_nodes: tuple[tuple[int, ...], ...] = tuple(nodes_of_bus)
        self.load_names: tuple[str, ...] = tuple(str(n).lower() for n in dss.Loads.AllNames())
        if self.load_names == ("none",):
            self.load_names = ()
        self.load_index = {n: i for i, n in enumerate(self.load_names)}
        # 1-based positions used to activate devices without passing names in the hot path.
        self._index = {
            cls: {n: i + 1 for i, n in enumerate(self.element_names(cls))}
            for cls in ("Transformer", "Capacitor", "Generator")
        }
        self._set_index = {cls: getattr(self._lib, f"{cls}s_Set_idx") for cls in self._index}

    # ------------------------------------------------------------------ generic access
    def command(self, text: str) -> str:
        """Run one OpenDSS text command and return its result.

        Raises:
            EngineError: OpenDSS rejected the command.
        """
        try:
            self._dss.Text.Command(text)
        except _DSSException as exc:
            raise EngineError(f"OpenDSS rejected {text!r}: {exc}") from exc
        return str(self._dss.Text.Result() or "")

    def has_element(self, full_name: str) -> bool:
        """Whether the circuit has an element such as ``Capacitor.cap1``."""
        return self._dss.Circuit.SetActiveElement(full_name) >= 0

    def element_names(self, cls: str) -> tuple[str, ...]:
        """Names (lower case, without class) of every element of class ``cls``."""
        self._dss.Circuit.SetActiveClass(cls)
        return tuple(str(n).lower() for n in self._dss.ActiveClass.AllNames() or ())

    def element_buses(self, full_name: str) -> tuple[str, ...]:
        """Bus names (node suffixes stripped) that an element connects to."""
        self._activate(full_name)
        return tuple(str(b).split(".")[0].lower() for b in self._dss.CktElement.BusNames())

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

        The first call creates the shapes and switches the circuit to daily mode; later calls
        only overwrite the points. Solving at hour ``h`` then uses point ``h - 1``.

        Args:
            multipliers: Array of shape ``(n_loads, npts)`` in :attr:`load_names` order.
            step_seconds: Length of one point (and of one solve step) in seconds.
        """
        mult = np.ascontiguousarray(multipliers, dtype=float)
        n_loads, npts = mult.shape
        if n_loads != len(self.load_names):
            raise ValueError(f"expected {len(self.load_names)} load rows, got {n_loads}")
        shapes = self._dss.LoadShape
        if npts != self._shape_points or step_seconds != self._step_seconds:
            loads = self._dss.Loads
            for i, name in enumerate(self.load_names):
                self.command(
                    f"new loadshape.{_SHAPE_PREFIX}{i} npts={npts} sinterval={step_seconds}"
                )
                loads.Name(name)
                loads.Daily(f"{_SHAPE_PREFIX}{i}")
            self._shape_points = npts
            self._step_seconds = float(step_seconds)
        for i in range(n_loads):
            shapes.Name(f"{_SHAPE_PREFIX}{i}")
            shapes.PMult(mult[i])

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
        layout = self._pd_layout.get(key) if hasattr(self, "_pd_layout") else None
        if layout is None:
            pd = self._dss.PDElements
            names = [str(n).lower() for n in pd.AllNames()]
            conds = np.asarray(pd.AllNumConductors(), dtype=np.intp)
            terms = np.asarray(pd.AllNumTerminals(), dtype=np.intp)
            sizes = conds * terms
            starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
            offsets, owner = [], []
            for k, name in enumerate(key):
                try:
                    e = names.index(name)
                except ValueError:
                    raise CircuitLoadError(f"{self.master.name} has no element {name!r}") from None
                for t in range(terms[e]):
                    offsets.append(starts[e] + t * conds[e])
                    owner.append(k)
            bounds = np.array([*offsets, int(sizes.sum())], dtype=np.intp)
            layout = (bounds, np.asarray(owner, dtype=np.intp), len(key))
            self._pd_layout = getattr(self, "_pd_layout", {})
            self._pd_layout[key] = layout
        bounds, owner, n = layout
        self._check(self._lib.PDElements_Get_AllPowers_GR())
        flat = self._float64_gr()
        s = flat[0::2] + 1j * flat[1::2]
        per_terminal = np.abs(np.add.reduceat(s, bounds[:-1]))
        out = np.zeros(n)
        np.maximum.at(out, owner, per_terminal)
        return out

    def terminal_powers(self, full_name: str) -> np.ndarray:
        """``(n_terminals, 2)`` (kW, kvar) flowing into each terminal of an element."""
        self._activate(full_name)
        cktel = self._dss.CktElement
        powers = np.asarray(cktel.Powers(), dtype=float).reshape(-1, 2)
        n_cond = int(cktel.NumConductors())
        return powers.reshape(-1, n_cond, 2).sum(axis=1)

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
        except _DSSException as exc:
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

    def iterations(self) -> int:
        """Iterations used by the last solve."""
        return int(self._dss.Solution.Iterations())

    def hour(self) -> float:
        """Current solution time in hours."""
        return float(self._dss.Solution.Hour()) + float(self._dss.Solution.Seconds()) / 3600.0

    def system_y(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """Complex system admittance matrix (Siemens) and its node order (lower case)."""
        flat = np.asarray(self._dss.Circuit.SystemY(), dtype=float)
        order = tuple(str(n).lower() for n in self._dss.Circuit.YNodeOrder())
        n = len(order)
        y = (flat[0::2] + 1j * flat[1::2]).reshape(n, n)
        return y, order

    def close(self) -> None:
        """Release the context's circuit memory (OpenDSS keeps it otherwise)."""
        if self._dss is not None:
            try:
                self._dss.Basic.ClearAll()
            except _DSSException:  # pragma: no cover - nothing left to release
                pass
            self._dss = None  # type: ignore[assignment]

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:
            pass
