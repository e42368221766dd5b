"""What every power-flow engine must do (after Grid2Op's ``aaa_test_backend_interface.py``).

Ordered like Grid2Op's suite: build, maps, reads, writes, rewind, divergence, errors, close.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from marl_vvc.core.engine import OpenDSSEngine
from marl_vvc.errors import CircuitLoadError, EngineError
from marl_vvc.paths import data_dir

IEEE13 = data_dir("circuits") / "ieee13" / "ieee13.dss"


@pytest.fixture
def eng():
    engine = OpenDSSEngine(IEEE13)
    yield engine
    engine.close()


def _profiles(eng: OpenDSSEngine, npts: int = 24) -> np.ndarray:
    return np.linspace(0.5, 1.0, npts)[None, :].repeat(len(eng.load_names), axis=0)


def _trajectory(eng: OpenDSSEngine, steps: int = 4) -> np.ndarray:
    eng.solve(advance=False)
    out = [eng.node_vmag_pu().copy()]
    for _ in range(steps):
        assert eng.solve() == (True, None)
        out.append(eng.node_vmag_pu().copy())
    return np.array(out)


def test_00_compiles_the_shipped_feeder_without_side_effects(eng: OpenDSSEngine) -> None:
    before = sorted(p.name for p in IEEE13.parent.iterdir())
    cwd = os.getcwd()
    other = OpenDSSEngine(IEEE13)
    assert other.solve(advance=False) == (True, None)
    other.close()
    assert (len(eng.bus_names), len(eng.node_names), len(eng.load_names)) == (16, 41, 15)
    assert eng.element_names("Capacitor") == ("cap1", "cap2")
    assert eng.element_names("Generator") == ("batt1",)
    assert eng.regcontrol_targets() == {"reg1": 2, "reg2": 2, "reg3": 2}
    assert eng.load_names[:3] == ("671", "634a", "634b")
    assert eng.command("get mode").lower().startswith("snap")
    assert os.getcwd() == cwd
    assert sorted(p.name for p in IEEE13.parent.iterdir()) == before


def test_01_maps_are_consistent_with_node_names(eng: OpenDSSEngine) -> None:
    order, counts, offsets = eng.bus_node_order, eng.bus_node_counts, eng.bus_offsets
    assert sorted(order.tolist()) == list(range(len(eng.node_names)))  # a permutation
    assert counts.sum() == len(eng.node_names) and offsets[0] == 0
    for b, bus in enumerate(eng.bus_names):
        assert counts[b] == len(eng.bus_nodes[b])
        for j, node in enumerate(eng.bus_nodes[b]):
            assert eng.node_names[order[offsets[b] + j]] == f"{bus}.{node}"
    # bus 692 is listed 3,1,2 in AllNodeNames; the bus-major order follows Bus.Nodes
    assert eng.bus_nodes[eng.bus_names.index("692")] == (1, 2, 3)


def test_02_bulk_voltages_equal_per_node_reads(eng: OpenDSSEngine) -> None:
    assert eng.solve(advance=False) == (True, None)
    bulk = eng.node_vmag_pu().copy()
    dss = eng._dss  # an independent per-bus read through the same context
    for bus in eng.bus_names:
        dss.Circuit.SetActiveBus(bus)
        mags = dss.Bus.puVmagAngle()[0::2]
        for node, mag in zip(dss.Bus.Nodes(), mags, strict=True):
            assert bulk[eng.node_names.index(f"{bus}.{node}")] == mag
    assert 0.9 < bulk.min() and bulk.max() < 1.1
    kw, kvar = eng.losses_kw()
    assert kw > 0 and kvar > 0
    assert eng.total_power_kw()[0] < -kw  # the source supplies the loads plus the losses


def test_03_setpoint_writes_take_effect(eng: OpenDSSEngine) -> None:
    eng.solve(advance=False)
    v0 = eng.node_vmag_pu().copy()
    eng.set_tap("reg1", 2, 1.05)
    assert eng.tap("reg1", 2) == 1.05
    eng.set_capacitor("cap1", 0)
    assert eng.capacitor_state("cap1") == 0
    eng.set_generator("batt1", 100.0, 30.0)
    assert float(eng.element_property("Generator.batt1", "kW")) == 100.0
    assert float(eng.element_property("Generator.batt1", "kvar")) == 30.0
    assert eng.solve(advance=False) == (True, None)
    assert eng.generator_powers_kw(("batt1",))[0] == pytest.approx(-100.0, abs=0.01)
    assert eng.element_powers("Generator.batt1")[1] == pytest.approx(-30.0, abs=0.01)
    v1 = eng.node_vmag_pu().copy()
    phase_a = [eng.node_names.index(f"{b}.1") for b in ("675", "680")]
    assert np.all(v1[phase_a] - v0[phase_a] > 0.01)  # +5 % tap on phase a outweighs the cap
    eng.set_capacitor("cap1", 1)
    assert eng.capacitor_state("cap1") == 1


def test_04_rewind_reproduces_a_fresh_compile_bit_for_bit(eng: OpenDSSEngine) -> None:
    fresh = OpenDSSEngine(IEEE13)
    fresh.set_load_profiles(_profiles(fresh), 3600.0)
    fresh.rewind()
    reference = _trajectory(fresh)
    fresh.close()
    eng.set_load_profiles(_profiles(eng, 48) * 1.3, 1800.0)
    eng.rewind(5.5)
    for k in range(6):
        eng.set_tap("reg2", 2, 1.0 + 0.01 * k)
        eng.set_capacitor("cap2", k % 2)
        eng.set_generator("batt1", -50.0 * k, 10.0)
        eng.solve()
    eng.set_load_profiles(_profiles(eng), 3600.0)
    eng.set_tap("reg2", 2, 1.0)
    eng.set_capacitor("cap2", 1)
    eng.set_generator("batt1", 0.0, 0.0)
    eng.rewind()
    assert eng.clock() == (0, 0.0)
    np.testing.assert_array_equal(_trajectory(eng), reference)
    assert eng.clock() == (4, 0.0)


def test_05_divergence_is_a_returned_outcome(eng: OpenDSSEngine) -> None:
    eng.solve(advance=False)
    healthy = eng.node_vmag_pu().copy()
    eng.command("set maxiterations=1")
    eng.command("batchedit load..* vminpu=0 model=1")
    eng.command("set loadmult=30")
    converged, error = eng.solve(advance=False)
    assert converged is False and "did not converge in 1 iterations" in error
    eng.compile()  # the engine stays usable: a rebuild is as good as new
    assert eng.solve(advance=False) == (True, None)
    np.testing.assert_array_equal(eng.node_vmag_pu(), healthy)
    strict = OpenDSSEngine(IEEE13, max_iterations=3, max_control_iterations=7)
    assert strict.command("get maxiterations") == "3"
    assert strict.command("get maxcontroliter") == "7"
    strict.close()


def test_06_compile_errors_are_circuit_load_errors_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(CircuitLoadError, match=r"not found: .*missing\.dss"):
        OpenDSSEngine(tmp_path / "missing.dss")
    bad = tmp_path / "bad.dss"
    bad.write_text("clear\nnew circuit.x basekv=12.47\nnew line.l1 bus1=a bus2=b colour=red\n")
    with pytest.raises(CircuitLoadError, match=r"bad\.dss") as err:
        OpenDSSEngine(bad)
    assert "colour" in str(err.value) and "line: 3" in str(err.value)
    (tmp_path / "lost.dss").write_text("clear\nnew circuit.x basekv=12.47\nredirect gone.dss\n")
    with pytest.raises(CircuitLoadError, match=r"lost\.dss") as err:
        OpenDSSEngine(tmp_path / "lost.dss")
    assert "gone.dss" in str(err.value)
    (tmp_path / "empty.dss").write_text("clear\n")
    with pytest.raises(CircuitLoadError, match=r"empty\.dss defines no circuit"):
        OpenDSSEngine(tmp_path / "empty.dss")


def test_07_command_and_element_errors_are_typed(eng: OpenDSSEngine) -> None:
    with pytest.raises(EngineError, match="flux"):
        eng.command("set flux=3")
    with pytest.raises(CircuitLoadError, match=r"Generator\.nope"):
        eng.element_powers("Generator.nope")
    with pytest.raises(CircuitLoadError, match=r"line\.nope"):
        eng.branch_apparent_kva(("Line.650632", "Line.nope"))
    assert not eng.has_element("Capacitor.cap9") and eng.has_element("Capacitor.cap1")


def test_08_close_is_idempotent_and_later_calls_raise_engine_closed() -> None:
    eng = OpenDSSEngine(IEEE13)
    eng.solve(advance=False)
    names = eng.node_names
    eng.close()
    eng.close()
    calls = {
        "solve": lambda: eng.solve(),
        "node_vmag_pu": eng.node_vmag_pu,
        "losses_kw": eng.losses_kw,
        "set_tap": lambda: eng.set_tap("reg1", 2, 1.0),
        "set_capacitor": lambda: eng.set_capacitor("cap1", 1),
        "set_generator": lambda: eng.set_generator("batt1", 1.0, 0.0),
        "generator_powers_kw": lambda: eng.generator_powers_kw(("batt1",)),
        "branch_apparent_kva": lambda: eng.branch_apparent_kva(("Line.650632",)),
        "command": lambda: eng.command("get mode"),
        "rewind": eng.rewind,
        "set_load_profiles": lambda: eng.set_load_profiles(np.ones((15, 24)), 3600.0),
        "compile": eng.compile,
        "element_names": lambda: eng.element_names("Line"),
        "clock": eng.clock,
        "set_clock": lambda: eng.set_clock((0, 0.0)),
    }
    for what, call in calls.items():
        with pytest.raises(EngineError, match="engine closed") as err:
            call()
        assert "ieee13.dss" in str(err.value), what
    assert eng.node_names == names  # plain attributes stay readable
