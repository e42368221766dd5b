"""Circuit files the engine must build: long profiles, daily-solve masters, relative paths.

The crash-prone parts run in a fresh interpreter, so a regression fails a test instead of
killing pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from marl_vvc.core.engine import MAX_PROFILE_POINTS, OpenDSSEngine
from marl_vvc.errors import ConfigError
from marl_vvc.paths import data_dir

IEEE13 = data_dir("circuits") / "ieee13" / "ieee13.dss"

TINY = """clear
new circuit.tiny basekv=12.47 pu=1.0 phases=3 bus1=src
new line.l1 bus1=src bus2=b1 phases=3 r1=0.5 x1=1.0 r0=1.5 x0=3 length=1 units=km
new load.ld1 bus1=b1 phases=3 kv=12.47 kw=500 kvar=100
new load.ld2 bus1=b1.1 phases=1 kv=7.2 kw=100 kvar=30
set voltagebases=[12.47]
calcv
"""
DAILY_SOLVE = "Set mode=Daily\nSet number=24\nSolve\n"  # as OpenDSS's PeakShaveRun.dss ends


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _day(master: Path) -> np.ndarray:
    """Voltages over four solves of a 24-point day (hour 0 uses the last point)."""
    eng = OpenDSSEngine(master)
    eng.set_load_profiles(np.linspace(0.5, 1.0, 24)[None, :].repeat(2, axis=0), 3600.0)
    eng.rewind()
    assert eng.solve(advance=False) == (True, None)
    out = [eng.node_vmag_pu().tolist()]
    for _ in range(3):
        assert eng.solve() == (True, None)
        out.append(eng.node_vmag_pu().tolist())
    eng.close()
    return np.array(out)


def test_profiles_longer_than_262k_points_resize_without_crashing() -> None:
    # Resizing shapes through the `npts` text property segfaulted from ~150k points on.
    proc = _run(
        f"""
        import json
        import numpy as np
        from marl_vvc.core.engine import OpenDSSEngine

        eng = OpenDSSEngine({str(IEEE13)!r})
        n = len(eng.load_names)
        out = []
        for npts, mult in ((1, 1.0), (300_000, 0.7), (24, 0.9), (1_000_000, 0.7)):
            profile = np.ones((n, npts))
            profile[:, npts - 2] = mult  # used by the solve at hour npts - 1
            eng.set_load_profiles(profile, 3600.0)
            eng.rewind(npts - 1)
            converged, _ = eng.solve(advance=False)
            out.append([converged, list(eng.clock()), eng.node_vmag_pu().tolist()])
        print(json.dumps(out))
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads(proc.stdout)
    hours = [0, 299_999, 23, 999_999]
    assert [r[:2] for r in runs] == [[True, [h, 0.0]] for h in hours]
    eng = OpenDSSEngine(IEEE13)
    eng.command("set loadmult=0.7")
    eng.solve(advance=False)
    at_07 = eng.node_vmag_pu()
    assert np.max(np.abs(np.array(runs[1][2]) - at_07)) < 1e-9
    np.testing.assert_array_equal(runs[1][2], runs[3][2])  # same multiplier, same voltages
    assert not np.allclose(runs[2][2], runs[1][2])
    eng.close()


def test_profile_length_is_checked_before_reaching_opendss() -> None:
    eng = OpenDSSEngine(IEEE13)
    n = len(eng.load_names)
    eng.set_load_profiles(np.full((n, 24), 0.8), 3600.0)
    too_long = np.broadcast_to(1.0, (n, MAX_PROFILE_POINTS + 1))  # no memory behind it
    with pytest.raises(ConfigError, match=f"MAX_PROFILE_POINTS = {MAX_PROFILE_POINTS}"):
        eng.set_load_profiles(too_long, 3600.0)
    with pytest.raises(ConfigError, match="0 points"):
        eng.set_load_profiles(np.ones((n, 0)), 3600.0)
    with pytest.raises(ValueError, match="expected 15 load rows"):
        eng.set_load_profiles(np.ones((3, 24)), 3600.0)
    eng.rewind()  # the 24-point shapes are untouched
    assert eng.solve(advance=False) == (True, None)
    eng.close()
    assert MAX_PROFILE_POINTS == 2**31 - 1


def test_a_master_that_runs_a_daily_solve_builds_and_solves(tmp_path: Path) -> None:
    plain, daily = tmp_path / "plain.dss", tmp_path / "daily.dss"
    plain.write_text(TINY)
    daily.write_text(TINY + DAILY_SOLVE)
    # The shape handed to a load at hour 24 of daily mode was still empty: a segfault.
    proc = _run(
        f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_engine_files import _day
        from pathlib import Path
        print(json.dumps(_day(Path({str(daily)!r})).tolist()))
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = np.array(json.loads(proc.stdout))
    np.testing.assert_array_equal(got, _day(plain))  # the master's own solve leaves no trace
    # hour 0 uses the last point (1.0, the heaviest load), hours 1..3 points 0..2 (0.5, ...)
    assert got[0, -1] < got[3, -1] < got[2, -1] < got[1, -1]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_relative_paths_resolve_against_the_file_that_holds_them(tmp_path: Path) -> None:
    feeder, elsewhere = tmp_path / "feeder", tmp_path / "elsewhere"
    head = TINY.split("new load")[0]
    tail = "set voltagebases=[12.47]\ncalcv\nbuscoords sub/xy.csv\n"
    _write(feeder / "master.dss", head + "redirect sub/lines.dss\n" + tail)
    _write(feeder / "sub" / "lines.dss", "new line.l2 bus1=b1 bus2=b2\nredirect loads.dss\n")
    _write(
        feeder / "sub" / "loads.dss",
        "new loadshape.day npts=3 interval=1 mult=(file=shape.csv)\n"
        "new load.ld1 bus1=b2 kv=12.47 kw=500 kvar=100 daily=day\n",
    )
    _write(feeder / "sub" / "shape.csv", "0.25\n0.5\n0.75\n")
    _write(feeder / "sub" / "xy.csv", "src,0,0\nb1,1,2\nb2,3,4\n")
    # decoys with the same relative names, where a cwd-relative lookup would find them
    _write(elsewhere / "sub" / "lines.dss", "new line.decoy bus1=b1 bus2=b9 length=1\n")
    _write(elsewhere / "shape.csv", "9\n9\n9\n")
    _write(elsewhere / "sub" / "xy.csv", "b2,9,9\n")
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        eng = OpenDSSEngine(Path("..") / "feeder" / "master.dss")
        assert os.getcwd() == str(elsewhere)
    finally:
        os.chdir(cwd)
    assert eng.element_names("Line") == ("l1", "l2")
    assert eng.load_names == ("ld1",)
    assert eng.command("? loadshape.day.mult").strip("[] ").split() == ["0.25", "0.5", "0.75"]
    np.testing.assert_array_equal(eng.bus_coordinates(), [[0, 0], [1, 2], [3, 4]])
    assert eng.solve(advance=False) == (True, None)
    eng.close()


def test_the_first_engine_of_a_process_leaves_the_working_directory_alone(tmp_path: Path) -> None:
    # NewContext() moved the process to the folder OpenDSS was loaded from while the
    # process-wide AllowChangeDir flag was still on, i.e. for the first engine of a process.
    start, work, feeder = tmp_path / "start", tmp_path / "work", tmp_path / "feeder"
    for folder in (start, work):
        folder.mkdir()
    _write(feeder / "master.dss", TINY.split("new load")[0] + "redirect sub/loads.dss\ncalcv\n")
    _write(feeder / "sub" / "loads.dss", "new load.ld1 bus1=b1 kv=12.47 kw=500 kvar=100\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys\n"
            "from marl_vvc.core.engine import OpenDSSEngine\n"
            "os.chdir(sys.argv[1])\n"
            "eng = OpenDSSEngine(os.path.join('..', 'feeder', 'master.dss'))\n"
            "print(os.getcwd(), eng.load_names)\n",
            str(work),
        ],
        cwd=start,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [str(work), "('ld1',)"]
