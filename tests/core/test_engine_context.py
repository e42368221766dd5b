"""Engine resources: private contexts that are really freed, private scratch folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from conftest import run_python

from marl_vvc.core.engine import OpenDSSEngine
from marl_vvc.paths import data_dir

IEEE13 = data_dir("circuits") / "ieee13" / "ieee13.dss"

REG_FEEDER = """clear
new circuit.reg basekv=12.47 pu=1.0 phases=3 bus1=src
new transformer.t1 phases=3 windings=2 buses=[src b0] conns=[wye wye] kvs=[12.47 12.47]
~ kvas=[5000 5000] xhl=1
new regcontrol.r1 transformer=t1 winding=2 vreg=122 band=2 ptratio=60 debugtrace=yes
new line.l1 bus1=b0 bus2=b1 phases=3 r1=0.5 x1=1.0 r0=1.5 x0=3 length=1 units=km
new load.ld1 bus1=b1 phases=3 kv=12.47 kw=2000 kvar=500
set voltagebases=[12.47]
calcv
solve
export voltages
show voltages
"""


def _solve(eng: OpenDSSEngine) -> np.ndarray:
    assert eng.solve(advance=False) == (True, None)
    return eng.node_vmag_pu().copy()


def test_memory_stays_flat_over_300_create_close_cycles() -> None:
    proc = run_python(
        f"""
        import os
        from marl_vvc.core.engine import OpenDSSEngine

        def rss_mb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

        for _ in range(20):  # warm up
            OpenDSSEngine({str(IEEE13)!r}).close()
        start = rss_mb()
        for _ in range(300):
            OpenDSSEngine({str(IEEE13)!r}).close()
        print(rss_mb() - start)
        """
    )
    assert proc.returncode == 0, proc.stderr
    growth_mb = float(proc.stdout.split()[-1])
    assert growth_mb < 30.0  # each cycle kept ~1.45 MB (433 MB in all) before contexts were freed


def test_live_engines_never_share_a_context() -> None:
    a, b = OpenDSSEngine(IEEE13), OpenDSSEngine(IEEE13)
    assert a._dss._api_util.ctx != b._dss._api_util.ctx
    a.command("set loadmult=0.5")
    b.command("set loadmult=1.2")
    va, vb = _solve(a), _solve(b)
    solo = OpenDSSEngine(IEEE13)
    solo.command("set loadmult=0.5")
    np.testing.assert_array_equal(va, _solve(solo))
    assert not np.allclose(va, vb)
    for eng in (a, b, solo):
        eng.close()


def test_an_engine_after_released_contexts_behaves_like_the_first(tmp_path: Path) -> None:
    first = OpenDSSEngine(IEEE13)
    reference = _solve(first)
    first.close()
    tiny = tmp_path / "tiny.dss"
    tiny.write_text(REG_FEEDER.replace("debugtrace=yes", ""))
    for k in range(10):  # state that OpenDSS's ClearAll would keep in a reused context
        eng = OpenDSSEngine(tiny if k % 2 else IEEE13)
        eng.command("set defaultbasefrequency=50")
        eng.command("set loadmult=1.7")
        eng.solve(advance=False)
        eng.close()
    again = OpenDSSEngine(IEEE13)
    assert again.command("get defaultbasefrequency") == "60"
    np.testing.assert_array_equal(_solve(again), reference)
    again.close()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_opendss_output_goes_to_private_scratch_folders(tmp_path: Path) -> None:
    feeder = tmp_path / "feeder"
    feeder.mkdir()
    (feeder / "master.dss").write_text(REG_FEEDER)
    before = _tree(feeder)
    mtimes = {p: p.stat().st_mtime_ns for p in feeder.iterdir()}
    cwd = os.getcwd()
    engines = [OpenDSSEngine(feeder / "master.dss") for _ in range(2)]  # used to fail: file lock
    scratch = [eng.scratch_dir for eng in engines]
    assert scratch[0] != scratch[1]
    for eng, folder in zip(engines, scratch, strict=True):
        eng.set_control_mode("static")
        assert eng.solve(advance=False) == (True, None)
        written = {p.name for p in folder.iterdir()}
        assert {"REG_r1.csv", "reg_EXP_VOLTAGES.csv", "reg_VLN.txt"} <= written
        assert "b1" in (folder / "reg_EXP_VOLTAGES.csv").read_text().lower()
        eng.close()
        assert not folder.exists()
    assert _tree(feeder) == before
    assert {p: p.stat().st_mtime_ns for p in feeder.iterdir()} == mtimes
    assert os.getcwd() == cwd
