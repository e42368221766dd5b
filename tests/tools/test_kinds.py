"""Every subcommand on every system kind: VVC, PV, ANM6Easy, capacitor switching, BYO YAML,
a bare .dss master. One short episode each; the numbers must be finite and add up."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import CIRCUITS

from marl_vvc.tools.cli import main

PARTS = ("loss", "voltage", "control", "penalty")
KINDS = ["vvc", "pv", "anm", "capswitch", "yaml", "dss"]


@pytest.fixture(params=KINDS)
def env_arg(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """``(kind, --env value)``."""
    kind = request.param
    if kind == "yaml":  # a bring-your-own system file next to nothing of ours
        path = tmp_path / "mine.yaml"
        master = (CIRCUITS / "ieee13" / "ieee13.dss").as_posix()
        path.write_text(f"circuit: {master}\ndiscover: true\nhorizon: 6\n")
        return kind, str(path)
    if kind == "dss":
        return kind, str(CIRCUITS / "ieee13" / "ieee13.dss")
    name = {"vvc": "13Bus", "pv": "13Bus_pv", "anm": "ANM6Easy", "capswitch": "13Bus_capswitch"}
    return kind, name[kind]


def _finite(row: dict) -> None:
    for key in ("return", *PARTS, "violation_rate"):
        assert math.isfinite(row[key]), (key, row)
    assert row["return"] == pytest.approx(sum(row[k] for k in PARTS), abs=1e-9)
    assert isinstance(row["converged"], bool) and row["diverged"] >= 0


def test_run(env_arg: tuple[str, str], capsys: pytest.CaptureFixture) -> None:
    kind, env = env_arg
    args = ["run", "--env", env, "--episodes", "2", "--steps", "4", "--json", "--quiet"]
    assert main(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["episode"] for r in rows] == [0, 1]
    for row in rows:
        _finite(row)
        assert 1 <= row["steps"] <= 4
        if kind != "capswitch":  # switching sequences may end before the budget
            assert row["steps"] == 4
        assert (row["profile"] is None) == (kind == "anm")


def test_eval(env_arg: tuple[str, str], capsys: pytest.CaptureFixture) -> None:
    kind, env = env_arg
    days = ["--episodes", "1"] if kind == "anm" else ["--profiles", "300"]
    assert main(["eval", "--env", env, *days, "--steps", "3", "--json", "--quiet"]) == 0
    rows = {(r := json.loads(line))["policy"]: r for line in capsys.readouterr().out.splitlines()}
    # no dss where OpenDSS controls nothing (ANM) or the env has no controls= (switching);
    # the exhaustive optimum only where capacitors switch, the oracle everywhere else
    expected = {"random", "hold"} if kind in ("anm", "capswitch") else {"random", "hold", "dss"}
    if kind == "capswitch":
        expected.add("optimum")
        best_other = max(rows["hold"]["return"], rows["random"]["return"])
        assert rows["optimum"]["return"] >= best_other - 1e-6  # power-flow tolerance 1e-8 pu
    else:  # the one-step look-ahead needs the parallel env's what_if
        expected.add("oracle")
    if kind == "anm":  # Gym-ANM's MPC policies
        expected |= {"mpc_constant", "mpc_perfect"}
    assert set(rows) == expected
    for row in rows.values():
        _finite(row)
        assert row["n"] == 1 and len(row["episodes"]) == 1
        assert row["diverged"] == sum(e["diverged"] for e in row["episodes"])
    assert rows["hold"]["control"] == pytest.approx(0.0, abs=1e-12)  # nothing moves


def test_list(env_arg: tuple[str, str], capsys: pytest.CaptureFixture) -> None:
    import marl_vvc

    _, env = env_arg
    assert main(["list", "--env", env]) == 0
    out = capsys.readouterr().out
    assert "None" not in out
    head, _, *rows = out.splitlines()
    system, kwargs = (None, {"circuit": env}) if env.endswith(".dss") else (env, {})
    agents = marl_vvc.parallel_env(system, **kwargs).possible_agents
    n = len(agents)
    assert head.startswith(f"{env}: {n} agent{'s' if n != 1 else ''}")
    assert [r.split()[0] for r in rows] == list(agents)


def test_plot(env_arg: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _, env = env_arg
    out = tmp_path / "report"
    assert main(["plot", "--env", env, "--steps", "4", "--out", str(out), "--quiet"]) == 0
    written = [Path(p) for p in capsys.readouterr().out.split()]
    names = {p.name for p in written}
    assert {"voltage_envelope.png", "device_actions.png", "reward_components.png"} <= names
    assert "agent_rewards.png" in names
    for path in written:
        assert path.parent == out and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench(env_arg: tuple[str, str], capsys: pytest.CaptureFixture) -> None:
    kind, env = env_arg
    args = ["bench", "--env", env, "--steps", "8", "--resets", "5", "--rounds", "1"]
    assert main([*args, "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped"] == {}
    if kind == "anm":  # timed against Gym-ANM instead
        assert report["anm"]["ours_us"] > 0 and report["systems"] == []
        return
    (row,) = report["systems"]
    assert row["single_agent"] == (kind not in ("pv", "capswitch"))
    for actions in ("random", "hold"):
        r = row[actions]
        assert r["bare_us"] > 0 and r["parallel_ratio"] > 0
        assert r["parallel_us"] == pytest.approx(r["parallel_ratio"] * r["bare_us"])
    assert report["memory_over_resets"]["resets"] == 5
