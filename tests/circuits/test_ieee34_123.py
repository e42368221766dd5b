"""Our IEEE 34-bus and 123-bus circuits against PowerGym's reference models, by power flow.

``circuits/ieee34`` and ``circuits/ieee123`` are our own files, written from the IEEE test
feeder data. These tests prove them electrically identical to the daily masters PowerGym
runs (``ieee34Mod1_daily.dss``, ``IEEE123Master_daily.dss``), apart from the daily parts
we leave out on purpose: load shapes, ``daily=`` on loads and ``Set mode=Daily``.

The reference masters redirect a ``loadshape.dss`` that PowerGym writes at run time, so
each reference folder is copied into pytest's temporary directory with a generated file
of flat 24-point shapes (every multiplier 1.0). Both circuits are then solved in snapshot
mode from a flat start, with controls off and a tight convergence tolerance, so any
difference in the answers is a difference in the circuits.

Only ``test_own_circuit_compiles_and_converges`` runs without ``../shared``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import CIRCUITS

from marl_vvc.core.engine import OpenDSSEngine

VOLTAGE_ATOL = 1e-6  # pu
LOSS_RTOL = 1e-6
TAP_GRID = 0.9 + 0.00625 * np.arange(33)  # 0.9 ... 1.1 in 32 steps
LOAD_LEVELS = (0.3, 0.7, 1.0, 1.4)


@dataclass(frozen=True)
class Feeder:
    """One feeder: our master, the reference master and what the circuit must contain."""

    key: str
    ours: Path
    ref_folder: str
    ref_master: str
    n_buses: int
    n_nodes: int
    n_loads: int
    capacitors: tuple[str, ...]
    regcontrols: tuple[str, ...]
    batteries: tuple[str, ...]
    battery_kw: float  # rating of each battery (PowerGym's Battery.csv)
    base_losses_kw: float  # at loadmult 1, neutral taps, capacitors in, batteries idle, tol 1e-10
    n_coords: int  # buses with coordinates


FEEDERS = {
    "ieee34": Feeder(
        key="ieee34",
        ours=CIRCUITS / "ieee34" / "ieee34.dss",
        ref_folder="34Bus",
        ref_master="ieee34Mod1_daily.dss",
        n_buses=37,
        n_nodes=95,
        n_loads=68,
        capacitors=("c844", "c848"),
        regcontrols=("creg1a", "creg1b", "creg1c", "creg2a", "creg2b", "creg2c"),
        batteries=("batt1", "batt2"),
        battery_kw=500.0,
        base_losses_kw=221.8079097703317,
        n_coords=37,
    ),
    "ieee123": Feeder(
        key="ieee123",
        ours=CIRCUITS / "ieee123" / "ieee123.dss",
        ref_folder="123Bus",
        ref_master="IEEE123Master_daily.dss",
        n_buses=132,
        n_nodes=278,
        n_loads=91,
        capacitors=("c83", "c88a", "c90b", "c92c"),
        regcontrols=("creg1a", "creg2a", "creg3a", "creg3c", "creg4a", "creg4b", "creg4c"),
        batteries=("batt1", "batt2", "batt3", "batt4"),
        battery_kw=100.0,
        base_losses_kw=96.73148755639443,
        n_coords=130,
    ),
}

# Properties compared element by element (OpenDSS text values, read from both circuits).
PROPERTIES = {
    "load": ("bus1", "phases", "conn", "model", "kv", "kw", "kvar", "vminpu", "vmaxpu"),
    "capacitor": ("bus1", "bus2", "phases", "kvar", "kv", "conn"),
    "regcontrol": ("transformer", "winding", "vreg", "band", "ptratio", "ctprim", "r", "x"),
    "generator": (
        "bus1",
        "phases",
        "kv",
        "kw",
        "kvar",
        "pf",
        "conn",
        "model",
        "vminpu",
        "vmaxpu",
    ),
    "transformer": ("buses", "conns", "kvs", "kvas", "%rs", "xhl", "ppm_antifloat"),
}


# ---------------------------------------------------------------------------- helpers
def _reference_copy(reference_dir: Path, feeder: Feeder, dest: Path) -> Path:
    """Copy the reference folder and add flat load shapes for every ``daily=`` it names."""
    folder = dest / feeder.ref_folder
    shutil.copytree(reference_dir / feeder.ref_folder, folder)
    shapes: list[str] = []
    for dss in sorted(folder.iterdir()):
        if dss.suffix.lower() == ".dss":
            for name in re.findall(r"(?i)\bdaily=(\S+)", dss.read_text(errors="replace")):
                if name.lower() not in {s.lower() for s in shapes}:
                    shapes.append(name)
    flat = " ".join(["1.0"] * 24)
    (folder / "loadshape.dss").write_text(
        "".join(f"New Loadshape.{s} npts=24 interval=1 mult=({flat})\n" for s in shapes)
    )
    assert len(shapes) >= feeder.n_loads
    return folder / feeder.ref_master


def _prepare(eng: OpenDSSEngine) -> None:
    """Snapshot mode, flat start, controls off, tight tolerance (same for both circuits)."""
    eng.command("set mode=snapshot")
    eng.command("set controlmode=off")
    eng.command("set tolerance=1e-10")


def _solve(
    eng: OpenDSSEngine,
    loadmult: float,
    taps: dict[str, float],
    caps: dict[str, int],
    gens: dict[str, tuple[float, float]],
) -> tuple[dict[str, float], tuple[float, float]]:
    """One power flow from a flat start; voltages by node name and losses (kW, kvar)."""
    _prepare(eng)  # re-issuing the mode also forgets the previous solution
    eng.command(f"set loadmult={loadmult}")
    for reg, tap in taps.items():
        transformer, winding = eng.regulator_winding(reg)
        eng.set_tap(transformer, winding, tap)
    for cap, state in caps.items():
        eng.set_capacitor(cap, state)
    for gen, (kw, kvar) in gens.items():
        eng.set_generator(gen, kw, kvar)
    converged, err = eng.solve(advance=False)
    assert converged, f"{eng.master.name}: {err}"
    return dict(zip(eng.node_names, eng.node_vmag_pu(), strict=True)), eng.losses_kw()


def _neutral(feeder: Feeder) -> tuple[dict, dict, dict]:
    """Taps at 1.0, capacitors in, batteries idle: the state right after compiling."""
    return (
        dict.fromkeys(feeder.regcontrols, 1.0),
        dict.fromkeys(feeder.capacitors, 1),
        dict.fromkeys(feeder.batteries, (0.0, 0.0)),
    )


def _cases(feeder: Feeder) -> list[tuple[str, float, dict, dict, dict]]:
    """Load levels x tap settings x capacitor states, plus battery cases (seeded)."""
    rng = np.random.default_rng(20240521 + feeder.n_nodes)
    cases = []
    for level in LOAD_LEVELS:
        settings = {
            "taps_all_1.1": dict.fromkeys(feeder.regcontrols, 1.1),
            "taps_mix_1": {r: float(rng.choice(TAP_GRID)) for r in feeder.regcontrols},
            "taps_mix_2": {r: float(rng.choice(TAP_GRID)) for r in feeder.regcontrols},
        }
        for label, taps in settings.items():
            caps = {c: int(rng.integers(0, 2)) for c in feeder.capacitors}
            cases.append((f"load{level}_{label}", level, taps, caps, {}))
    for sign, label in ((1.0, "discharge"), (-1.0, "charge")):
        kw = sign * 0.5 * feeder.battery_kw
        gens = dict.fromkeys(feeder.batteries, (kw, kw / 0.95))
        taps = {r: float(rng.choice(TAP_GRID)) for r in feeder.regcontrols}
        caps = {c: int(rng.integers(0, 2)) for c in feeder.capacitors}
        cases.append((f"batteries_{label}_50pct", 1.0, taps, caps, gens))
    return cases


CASES = [(key, case) for key, feeder in FEEDERS.items() for case in _cases(feeder)]


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def engines(reference_dir, tmp_path_factory):
    """Lazily built (ours, reference) engine pairs, one per feeder."""
    built: dict[str, tuple[OpenDSSEngine, OpenDSSEngine]] = {}

    def get(key: str) -> tuple[OpenDSSEngine, OpenDSSEngine]:
        if key not in built:
            feeder = FEEDERS[key]
            ref_master = _reference_copy(reference_dir, feeder, tmp_path_factory.mktemp(key))
            built[key] = (OpenDSSEngine(feeder.ours), OpenDSSEngine(ref_master))
        return built[key]

    yield get
    for ours, ref in built.values():
        ours.close()
        ref.close()


# ---------------------------------------------------------------------------- tests
@pytest.mark.parametrize("key", FEEDERS)
def test_own_circuit_compiles_and_converges(key):
    """Needs no ../shared: our circuit compiles, holds what it must, and solves."""
    feeder = FEEDERS[key]
    eng = OpenDSSEngine(feeder.ours)
    try:
        assert len(eng.bus_names) == feeder.n_buses
        assert len(eng.node_names) == feeder.n_nodes
        assert len(eng.element_names("load")) == feeder.n_loads
        assert eng.element_names("capacitor") == feeder.capacitors
        assert eng.element_names("regcontrol") == feeder.regcontrols
        assert eng.element_names("generator") == feeder.batteries
        # No daily machinery: snapshot mode, no load shapes attached.
        assert eng.command("get mode").lower().startswith("snap")
        assert eng.element_names("loadshape") in ((), ("default",))
        assert all(eng.element_property(f"Load.{n}", "daily") == "" for n in eng.load_names)
        for gen in feeder.batteries:
            assert float(eng.element_property(f"Generator.{gen}", "kw")) == 0.0
            assert float(eng.element_property(f"Generator.{gen}", "pf")) == 0.95
            assert eng.element_property(f"Generator.{gen}", "model") == "1"

        volts, (loss_kw, _) = _solve(eng, 1.0, *_neutral(feeder))
        v = np.array(list(volts.values()))
        assert 0.75 < v.min() and v.max() < 1.1  # no regulation: the 34-bus far end sags
        assert loss_kw == pytest.approx(feeder.base_losses_kw, rel=LOSS_RTOL)
    finally:
        eng.close()


@pytest.mark.parametrize("key", FEEDERS)
def test_bus_and_node_order_match_reference(engines, key):
    ours, ref = engines(key)
    assert len(ref.bus_names) == FEEDERS[key].n_buses
    assert len(ref.node_names) == FEEDERS[key].n_nodes
    assert ours.bus_names == ref.bus_names
    assert ours.node_names == ref.node_names


@pytest.mark.parametrize(("key", "case"), CASES, ids=[f"{k}-{c[0]}" for k, c in CASES])
def test_power_flow_matches_reference(engines, key, case):
    _, loadmult, taps, caps, gens = case
    ours, ref = engines(key)
    v_ours, loss_ours = _solve(ours, loadmult, taps, caps, gens)
    v_ref, loss_ref = _solve(ref, loadmult, taps, caps, gens)
    assert v_ours.keys() == v_ref.keys()
    dv = max(abs(v_ours[n] - v_ref[n]) for n in v_ref)
    assert dv <= VOLTAGE_ATOL, f"max |dV| = {dv:.3g} pu"
    assert loss_ours[0] == pytest.approx(loss_ref[0], rel=LOSS_RTOL)
    assert loss_ours[1] == pytest.approx(loss_ref[1], rel=LOSS_RTOL)
    # The case really exercised the circuit (not a degenerate all-zero solution).
    assert loss_ref[0] > 0.0 and 0.5 < min(v_ref.values())


@pytest.mark.parametrize("key", FEEDERS)
def test_devices_really_act(engines, key):
    """Taps, capacitors and batteries move the solution, identically in both circuits."""
    feeder = FEEDERS[key]
    ours, ref = engines(key)
    neutral, caps_in, idle = _neutral(feeder)
    cases = {
        "base": (neutral, caps_in, idle),
        "taps": (dict.fromkeys(feeder.regcontrols, 1.05), caps_in, idle),
        "caps": (neutral, dict.fromkeys(feeder.capacitors, 0), idle),
        "batt": (neutral, caps_in, dict.fromkeys(feeder.batteries, (0.5 * feeder.battery_kw, 0.0))),
    }
    results = {}
    for label, (taps, caps, gens) in cases.items():
        v_ours, loss_ours = _solve(ours, 1.0, taps, caps, gens)
        v_ref, loss_ref = _solve(ref, 1.0, taps, caps, gens)
        assert max(abs(v_ours[n] - v_ref[n]) for n in v_ref) <= VOLTAGE_ATOL
        assert loss_ours[0] == pytest.approx(loss_ref[0], rel=LOSS_RTOL)
        results[label] = np.array([v_ref[n] for n in ref.node_names])
        if label == "batt":
            for b in feeder.batteries:
                p_ours = ours.element_powers(f"Generator.{b}")[0]
                assert p_ours == pytest.approx(ref.element_powers(f"Generator.{b}")[0], rel=1e-6)
                assert p_ours < -0.4 * feeder.battery_kw  # negative: injecting into the grid
    for label in ("taps", "caps", "batt"):
        assert np.max(np.abs(results[label] - results["base"])) > 1e-3, label


@pytest.mark.parametrize("key", FEEDERS)
def test_elements_and_settings_match_reference(engines, key):
    ours, ref = engines(key)
    classes = (
        *PROPERTIES,
        *("line", "vsource", "reactor", "capcontrol", "swtcontrol", "energymeter", "storage"),
    )
    for cls in classes:
        assert ours.element_names(cls) == ref.element_names(cls), cls  # same names, same order
    assert len(ours.element_names("line")) == {"ieee34": 32, "ieee123": 126}[key]
    assert len(ours.element_names("transformer")) == 8
    for cls, props in PROPERTIES.items():
        for name in ref.element_names(cls):
            for prop in props:
                full = f"{cls}.{name}"
                assert ours.element_property(full, prop) == ref.element_property(full, prop), (
                    full,
                    prop,
                )
    kw_ours, kvar_ours = ours.base_load_powers()
    kw_ref, kvar_ref = ref.base_load_powers()
    assert ours.load_names == ref.load_names
    np.testing.assert_array_equal(kw_ours, kw_ref)
    np.testing.assert_array_equal(kvar_ours, kvar_ref)
    assert kw_ours.sum() == pytest.approx({"ieee34": 1769.0, "ieee123": 3490.0}[key])


@pytest.mark.parametrize("key", FEEDERS)
def test_system_admittance_matches_reference(engines, key):
    """Same Y matrix, same node order: lines, transformers, capacitors, source agree."""
    ours, ref = engines(key)
    for eng in (ours, ref):
        _solve(eng, 1.0, *_neutral(FEEDERS[key]))
    y_ours, order_ours = ours.system_y()
    y_ref, order_ref = ref.system_y()
    assert order_ours == order_ref
    assert y_ours.shape == (FEEDERS[key].n_nodes, FEEDERS[key].n_nodes)
    scale = np.max(np.abs(y_ref))
    assert np.max(np.abs(y_ours - y_ref)) <= 1e-12 * scale


@pytest.mark.parametrize("key", FEEDERS)
def test_bus_coordinates_match_reference(engines, key, tmp_path):
    ours, ref = engines(key)
    coords = []
    for eng, tag in ((ours, "ours"), (ref, "ref")):
        out = tmp_path / f"{tag}.csv"
        eng.command(f'export buscoords "{out}"')
        table = {}
        for line in out.read_text().splitlines():
            if line.strip():
                bus, x, y = (s.strip() for s in line.split(","))
                table[bus.lower()] = (float(x), float(y))
        coords.append(table)
    assert len(coords[1]) == FEEDERS[key].n_coords
    assert coords[0] == coords[1]


@pytest.mark.parametrize("key", FEEDERS)
def test_circuit_files_are_not_copies(reference_dir, key):
    """Our files are our own writing: no file is byte-identical to a reference file."""

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    reference = {digest(p) for p in reference_dir.rglob("*") if p.is_file()}
    ours = [p for p in (CIRCUITS / key).iterdir() if p.is_file()]
    assert len(ours) >= 3
    assert not [p.name for p in ours if digest(p) in reference]
