"""Engine contract: private contexts, no side effects, non-convergence as an outcome."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import CIRCUITS

from marl_vvc.core.engine import OpenDSSEngine
from marl_vvc.errors import CircuitLoadError, EngineError

IEEE13 = CIRCUITS / "ieee13" / "ieee13.dss"


def test_contexts_are_independent() -> None:
    a, b = OpenDSSEngine(IEEE13), OpenDSSEngine(IEEE13)
    a.command("set loadmult=0.5")
    b.command("set loadmult=1.2")
    a.solve(advance=False)
    b.solve(advance=False)
    va, vb = a.node_vmag_pu().copy(), b.node_vmag_pu().copy()
    solo = OpenDSSEngine(IEEE13)
    solo.command("set loadmult=0.5")
    solo.solve(advance=False)
    np.testing.assert_array_equal(va, solo.node_vmag_pu())
    assert not np.allclose(va, vb)
    for e in (a, b, solo):
        e.close()


def test_compile_leaves_cwd_and_files_alone(tmp_path: Path) -> None:
    before_cwd = os.getcwd()
    before = sorted(p.name for p in IEEE13.parent.iterdir())
    eng = OpenDSSEngine(IEEE13)
    eng.solve(advance=False)
    eng.close()
    assert os.getcwd() == before_cwd
    assert sorted(p.name for p in IEEE13.parent.iterdir()) == before


def test_maps_follow_node_names() -> None:
    eng = OpenDSSEngine(IEEE13)
    eng.solve(advance=False)
    v = eng.node_vmag_pu()[eng.bus_node_order]
    # bus 692 lists its nodes as 3,1,2 in AllNodeNames; the bus-major order follows Bus.Nodes
    assert len(v) == len(eng.node_names) == 41
    assert eng.bus_offsets[0] == 0 and eng.bus_node_counts.sum() == 41
    assert eng.load_names[:3] == ("671", "634a", "634b")
    eng.close()


def test_rewind_reproduces_a_fresh_compile_bit_for_bit() -> None:
    eng = OpenDSSEngine(IEEE13)
    shape = np.linspace(0.5, 1.0, 24)[None, :].repeat(len(eng.load_names), axis=0)
    eng.set_load_profiles(shape, 3600.0)
    eng.rewind()
    eng.solve(advance=False)
    first = eng.node_vmag_pu().copy()
    for _ in range(5):
        eng.set_tap("reg1", 2, 1.05)
        eng.solve()
    eng.set_tap("reg1", 2, 1.0)
    eng.rewind()
    eng.solve(advance=False)
    np.testing.assert_array_equal(eng.node_vmag_pu(), first)
    assert eng.hour() == 0.0
    eng.solve()
    assert eng.hour() == 1.0
    eng.close()


def test_non_convergence_is_returned_not_raised() -> None:
    eng = OpenDSSEngine(IEEE13, max_iterations=1)
    eng.command("batchedit load..* vminpu=0 model=1")
    eng.command("set loadmult=30")
    converged, error = eng.solve(advance=False)
    assert converged is False and "converge" in error
    eng.close()


def test_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(CircuitLoadError, match="not found"):
        OpenDSSEngine(tmp_path / "missing.dss")
    bad = tmp_path / "bad.dss"
    bad.write_text("clear\nnew circuit.x basekv=12.47\nnew line.l1 bus1=a bus2=b colour=red\n")
    with pytest.raises(CircuitLoadError, match=r"bad\.dss"):
        OpenDSSEngine(bad)
    eng = OpenDSSEngine(IEEE13)
    with pytest.raises(EngineError, match="flux"):
        eng.command("set flux=3")
    with pytest.raises(CircuitLoadError, match=r"Generator\.nope"):
        eng.element_powers("Generator.nope")
    assert eng.command("get mode").lower().startswith("snap")
    eng.close()
