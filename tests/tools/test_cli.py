"""The marl-vvc command and the example scripts, driven as a user would."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CIRCUITS, REPO_ROOT

from marl_vvc.tools.cli import main

PARTS = ("loss", "voltage", "control", "penalty")


def _rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_list_systems_and_agents(capsys) -> None:
    assert main(["list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    for name in ("13Bus", "123Bus", "13Bus_pv", "123Bus_pv", "13Bus_capswitch", "ANM6Easy"):
        assert name in names
    assert "34Bus_pv" not in names and "ANM6Easy_capswitch" not in names
    assert main(["list", "--env", "13Bus_cbat"]) == 0
    out = capsys.readouterr().out
    assert "battery_batt1" in out and "Box(-1.0, 1.0, (1,), float32)" in out
    assert "regulator_reg3" in out and "Discrete(33)" in out
    assert main(["list", "--env", "13Bus_capswitch"]) == 0
    out = capsys.readouterr().out
    assert "BoxNone" not in out and "Dict(" in out and "action_mask: Box(2,)" in out


def test_list_says_1_agent(tmp_path: Path, capsys) -> None:
    path = tmp_path / "one.yaml"
    master = (CIRCUITS / "ieee13" / "ieee13.dss").as_posix()
    path.write_text(
        f"circuit: {master}\ndiscover: true\ncapacitors: [cap1]\nregulators: []\nbatteries: []\n"
    )
    assert main(["list", "--env", str(path)]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head.startswith(f"{path}: 1 agent,")


@pytest.mark.parametrize("mode", ["single", "parallel", "episodic"])
def test_run_prints_returns_and_components(capsys, mode: str) -> None:
    args = ["run", "--env", "13Bus", "--mode", mode, "--episodes", "2", "--json", "--quiet"]
    assert main(args) == 0
    results = _rows(capsys.readouterr().out)  # one JSON object per episode and line
    assert len(results) == 2
    for r in results:
        assert r["steps"] == 24 and r["converged"] and r["diverged"] == 0
        assert r["return"] == pytest.approx(sum(r[k] for k in PARTS))
        assert r["return"] < 0 and r["penalty"] == 0.0
        assert 0.0 <= r["violation_rate"] <= 1.0
    if mode == "episodic":
        assert [r["profile"] for r in results] == [0, 1]


def test_run_table_has_penalty_and_diverged_columns(capsys) -> None:
    assert main(["run", "--env", "13Bus", "--episodes", "1", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "13Bus  mode=parallel  policy=random"
    assert lines[1].split()[-3:] == ["penalty", "viol%", "diverged"]
    assert lines[-1].endswith("over 1 episode (0 diverged)")


def test_hold_policy_has_no_control_cost(capsys) -> None:
    args = ["run", "--policy", "hold", "--mode", "single", "--episodes", "1", "--json", "--quiet"]
    assert main(args) == 0
    (result,) = _rows(capsys.readouterr().out)
    assert result["control"] == 0.0


def test_dss_mode_says_what_runs_and_refuses_another_policy(capsys) -> None:
    assert main(["run", "--mode", "dss", "--episodes", "1", "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "13Bus  mode=single  policy=dss"
    assert main(["run", "--mode", "dss", "--policy", "random", "--episodes", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("marl-vvc: error: --mode dss runs OpenDSS's own controllers")
    assert "--policy random" in err


def test_dss_file_is_accepted_as_circuit(capsys) -> None:
    master = str(CIRCUITS / "ieee13" / "ieee13.dss")
    assert main(["run", "--env", master, "--episodes", "1", "--steps", "2", "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(master)


def test_bench_reports_ratios(capsys) -> None:
    args = ["bench", "--env", "13Bus", "--steps", "48", "--resets", "50", "--json", "--quiet"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    (row,) = report["systems"]
    for kind in ("random", "hold"):
        r = row[kind]
        assert r["bare_us"] > 0 and r["single_ratio"] > 0 and r["parallel_ratio"] > 0
        assert r["single_us"] == pytest.approx(r["single_ratio"] * r["bare_us"])
    # resident memory of new envs may reuse pages freed by earlier tests: a number, maybe 0
    assert row["reset_ms"] > 0 and math.isfinite(row["memory_per_env_mb"])
    assert report["memory_over_resets"]["resets"] == 50


def test_user_errors_exit_2_with_one_line(capsys) -> None:
    assert main(["run", "--env", "14Bus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("marl-vvc: error: unknown system '14Bus'")
    for bad in (["run", "--episodes", "0"], ["eval", "--steps", "0"], ["bench", "--rounds", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(bad)
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
    assert len(lines) == 2 and "return" in lines[0] and "penalty" in lines[0]


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
    assert main(["eval", "--env", "13Bus", "--profiles", "300:303", "--json", "--quiet"]) == 0
    rows = {r["policy"]: r for r in _rows(capsys.readouterr().out)}  # one line per policy
    assert list(rows) == ["random", "hold", "dss", "oracle"]
    assert rows["dss"]["return"] > rows["hold"]["return"] > rows["random"]["return"]
    assert rows["oracle"]["return"] > rows["hold"]["return"]
    assert rows["dss"]["controllable_rate"] > rows["hold"]["controllable_rate"]
    assert rows["random"]["tap_steps"] > rows["dss"]["tap_steps"] > rows["hold"]["tap_steps"] == 0
    for row in rows.values():
        assert row["n"] == 3 and row["diverged"] == 0 and row["converged"]
        assert row["loss_kw"] > 0 and 0 <= row["controllable_rate"] <= 1
        assert row["return"] == pytest.approx(sum(row[k] for k in PARTS))
        assert [e["profile"] for e in row["episodes"]] == [300, 301, 302]
    assert main(["eval", "--profiles", "300:303", "--quiet"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "13Bus: mean episode return on profiles 300..302"
    assert table[1].split() == [
        "policy",
        "return",
        *PARTS,
        "viol%",
        "diverged",
        "episodes",
    ]
    dss = next(line.split() for line in table if line.startswith("dss"))
    assert float(dss[1]) == pytest.approx(rows["dss"]["return"], abs=5e-4)
    assert dss[-2:] == ["0", "3"]


def test_eval_shows_progress_on_endless_systems(capsys) -> None:
    assert main(["eval", "--env", "ANM6Easy", "--episodes", "2", "--steps", "5"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "ANM6Easy: mean episode return on 2 episodes of 5 steps"
    assert "random" in captured.err and "10/10" in captured.err  # tqdm on stderr


def test_eval_and_run_the_shipped_pretrained_policy(capsys) -> None:
    args = ["eval", "--env", "13Bus", "--policy", "pretrained", "--profiles", "300:302"]
    assert main([*args, "--baselines", "hold", "--json", "--quiet"]) == 0
    rows = {r["policy"]: r for r in _rows(capsys.readouterr().out)}
    assert list(rows) == ["pretrained", "hold"]
    assert rows["pretrained"]["return"] > rows["hold"]["return"]  # it acts, and sensibly
    assert rows["pretrained"]["tap_steps"] > 0
    assert main(["run", "--env", "13Bus", "--policy", "pretrained", "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "policy=pretrained" in out and "mode=parallel" in out


def test_pretrained_policy_refuses_systems_without_one(capsys) -> None:
    assert main(["eval", "--env", "13Bus_pv", "--policy", "pretrained", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no pretrained policy for system '13Bus_pv'; shipped:" in err and "13Bus" in err


def test_eval_horizon_lengthens_anm6_days_for_gym_anms_protocol(capsys) -> None:
    args = ["eval", "--env", "ANM6Easy", "--episodes", "1", "--steps", "120", "--baselines", "hold"]
    assert main([*args, "--json", "--quiet"]) == 0
    (short,) = _rows(capsys.readouterr().out)
    assert short["episodes"][0]["steps"] == 96  # the parallel env's day
    assert main([*args, "--horizon", "120", "--gamma", "0.9", "--json", "--quiet"]) == 0
    (long,) = _rows(capsys.readouterr().out)
    assert long["episodes"][0]["steps"] == 120
    assert long["discounted_return"] > long["return"]  # rewards are negative
