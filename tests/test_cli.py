"""The marl-vvc command and the example scripts, driven as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from marl_vvc.tools.cli import main


def test_list_systems_and_agents(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "13Bus" in out and "123Bus" in out
    assert main(["list", "--env", "13Bus_cbat"]) == 0
    out = capsys.readouterr().out
    assert "battery_batt1" in out and "Box(-1.0, 1.0, (1,), float32)" in out
    assert "regulator_reg3" in out and "Discrete(33)" in out


@pytest.mark.parametrize("mode", ["single", "parallel", "episodic"])
def test_run_prints_returns_and_components(capsys, mode: str) -> None:
    assert (
        main(["run", "--env", "13Bus", "--mode", mode, "--episodes", "2", "--json", "--quiet"]) == 0
    )
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 2
    for r in results:
        assert r["steps"] == 24 and r["converged"]
        assert r["return"] == pytest.approx(r["loss"] + r["voltage"] + r["control"])
        assert r["return"] < 0
    if mode == "episodic":
        assert [r["profile"] for r in results] == [0, 1]


def test_hold_policy_has_no_control_cost(capsys) -> None:
    assert (
        main(
            ["run", "--policy", "hold", "--mode", "single", "--episodes", "1", "--json", "--quiet"]
        )
        == 0
    )
    (result,) = json.loads(capsys.readouterr().out)
    assert result["control"] == 0.0


def test_bench_reports_ratios(capsys) -> None:
    assert main(["bench", "--env", "13Bus", "--steps", "48", "--resets", "50", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (row,) = report["systems"]
    for kind in ("random", "hold"):
        r = row[kind]
        assert r["bare_us"] > 0 and r["single_ratio"] > 0 and r["parallel_ratio"] > 0
        assert r["single_us"] == pytest.approx(r["single_ratio"] * r["bare_us"])
    assert row["reset_ms"] > 0 and row["memory_per_env_mb"] > 0
    assert report["memory_over_resets"]["resets"] == 50


def test_user_errors_exit_2_with_one_line(capsys) -> None:
    assert main(["run", "--env", "14Bus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("marl-vvc: error: unknown system '14Bus'")
    with pytest.raises(SystemExit) as exc:
        main(["run", "--episodes", "0"])
    assert exc.value.code == 2


def test_console_script_and_example_run() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "marl_vvc.tools.cli", "run", "--episodes", "1", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "mean return" in done.stdout
    example = REPO_ROOT / "examples" / "random_agent.py"
    done = subprocess.run(
        [sys.executable, str(example), "--env", "13Bus", "--mode", "single", "--episodes", "2"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("episode")]
    assert len(lines) == 2 and "return" in lines[0]


def test_fetch_without_network_explains_what_to_do(tmp_path, monkeypatch, capsys) -> None:
    from marl_vvc.systems import feeder_data as fd

    # a private environment mapping (never os.environ: see feeder_data._ENV)
    monkeypatch.setattr(fd, "_ENV", {fd.ENV_CACHE: str(tmp_path / "cache")})
    assert main(["fetch", "--url", "http://127.0.0.1:9/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("marl-vvc: error: IEEE 8500-node test feeder")
    assert "MARL_VVC_8500_DIR" in err and "LineCodes2.dss" in err
    assert not any((tmp_path / "cache").glob("8500-Node-*"))  # nothing half-written


def test_eval_prints_the_baseline_table(capsys) -> None:
    assert main(["eval", "--env", "13Bus", "--profiles", "300:303", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert set(rows) == {"random", "hold", "dss"}
    assert rows["dss"]["return"] > rows["hold"]["return"] > rows["random"]["return"]
    for row in rows.values():
        assert row["n"] == 3
        assert row["return"] == pytest.approx(row["loss"] + row["voltage"] + row["control"])
    assert main(["eval", "--profiles", "300:303"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("13Bus") and any(line.startswith("dss") for line in table)
