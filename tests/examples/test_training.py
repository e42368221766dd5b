"""Evaluation helpers, and the RLlib / stable-baselines3 training examples end to end.

The examples run as subprocesses with their own environment (HOME, RAY_TMPDIR and
RAY_AUTH_MODE point into temporary folders): this process never imports ray and never changes
``os.environ``. Both matter: once OpenDSS is loaded, anything that adds a variable to the
process environment (``import ray`` sets ``RAY_CLIENT_MODE``) makes the OpenDSS library crash
in threads started later, which would take down other tests of the session.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from marl_vvc import make_env, parallel_env
from marl_vvc.errors import ConfigError
from marl_vvc.tools.evaluation import (
    baseline_table,
    evaluate,
    format_table,
    load_policy,
    parse_profiles,
    read_run_info,
    voltage_deviation,
    voltage_entries,
    write_run_info,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROFILES = [300, 301]


# ---------------------------------------------------------------------- evaluation.py
@pytest.fixture(scope="module")
def baselines() -> dict:
    return baseline_table("13Bus", PROFILES)


def test_baseline_table_ranks_dss_over_hold_over_random(baselines: dict) -> None:
    assert list(baselines) == ["random", "hold", "dss", "oracle"]
    assert baselines["dss"]["return"] > baselines["hold"]["return"] > baselines["random"]["return"]
    assert baselines["oracle"]["return"] > baselines["hold"]["return"]
    for row in baselines.values():
        assert row["n"] == 2 and row["converged"]
        assert [e["profile"] for e in row["episodes"]] == PROFILES
        assert all(e["steps"] == 24 for e in row["episodes"])
        parts = row["loss"] + row["voltage"] + row["control"]
        assert parts == pytest.approx(row["return"], abs=1e-9)
    assert baselines["hold"]["control"] == 0.0
    assert baselines["dss"]["voltage"] > baselines["hold"]["voltage"]


def _hold_from_observation(obs: dict, env: object) -> dict:
    """Hold-still policy that reads only the local observations."""
    acts = {}
    for agent, o in obs.items():
        if agent.startswith("capacitor"):
            acts[agent] = round(float(o[0]))  # status
        elif agent.startswith("regulator"):
            acts[agent] = round(float(o[0]) * 32)  # tap position in [0, 1]
        else:
            acts[agent] = 16  # idle level
    return acts


def test_evaluate_with_hold_policy_equals_hold_baseline(baselines: dict) -> None:
    result = evaluate(_hold_from_observation, "13Bus", PROFILES, name="mine")
    hold = baselines["hold"]
    assert result["policy"] == "mine" and result["mode"] == "parallel"
    for key in ("return", "loss", "voltage", "control"):
        assert result[key] == hold[key]
    assert result["episodes"] == hold["episodes"]


def test_single_mode_scores_like_parallel_mode(baselines: dict) -> None:
    single = baseline_table("13Bus", PROFILES, "single", policies=("hold", "dss"))
    for name in ("hold", "dss"):
        for key in ("return", "loss", "voltage", "control"):
            assert single[name][key] == pytest.approx(baselines[name][key], abs=1e-9)

    def hold(obs: np.ndarray, env: object) -> list[int]:
        core = env.core  # type: ignore[attr-defined]
        return [*list(core.fleet["capacitor"].status), *list(core.fleet["regulator"].index), 16]

    mine = evaluate(hold, "13Bus", PROFILES, mode="single")
    assert mine["return"] == pytest.approx(baselines["hold"]["return"], abs=1e-9)


def test_random_baseline_is_seeded() -> None:
    a = baseline_table("13Bus", [310], policies=("random",), seed=3)["random"]
    b = baseline_table("13Bus", [310], policies=("random",), seed=3)["random"]
    c = baseline_table("13Bus", [310], policies=("random",), seed=4)["random"]
    assert a["return"] == b["return"] != c["return"]


def test_format_table_is_parseable(baselines: dict) -> None:
    text = format_table(baselines, title="13Bus")
    rows = _parse_table(text)
    assert set(rows) == {"random", "hold", "dss"}
    assert rows["dss"][0] == pytest.approx(baselines["dss"]["return"], abs=5e-4)
    assert text.splitlines()[0] == "13Bus"


def test_parse_profiles() -> None:
    assert parse_profiles("300:365") == list(range(300, 365))
    assert parse_profiles("300:310:5") == [300, 305]
    assert parse_profiles("1, 5,9") == [1, 5, 9]
    assert parse_profiles("7") == [7]
    assert parse_profiles(range(2)) == [0, 1]
    assert parse_profiles(4) == [4]
    for bad in ("a:b", "3:3", "", "1:2:3:4", "x"):
        with pytest.raises(ConfigError):
            parse_profiles(bad)


def test_bad_arguments_raise_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mode"):
        evaluate(_hold_from_observation, "13Bus", [300], mode="aec")
    with pytest.raises(ConfigError, match="baseline"):
        baseline_table("13Bus", [300], policies=("greedy",))
    with pytest.raises(ConfigError, match="algo"):
        load_policy(tmp_path, algo="dqn")
    with pytest.raises(ConfigError, match="does not exist"):
        load_policy(tmp_path / "missing", algo="rllib")
    with pytest.raises(ConfigError, match="not an RLlib"):
        load_policy(tmp_path, algo="rllib")  # checked before ray is imported


def test_voltage_entries_are_the_voltages() -> None:
    env = parallel_env("13Bus")
    obs, _ = env.reset(seed=0, options={"profile": 300})
    k = env.observe.k
    for agent in env.possible_agents:
        mask = voltage_entries(env.observation_space(agent))
        own = 2 if agent.startswith("battery") else 1  # SoC and discharge, or status/tap
        assert mask.tolist() == [False] * own + [True] * (2 * k) + [False, False]  # sin, cos
        scaled = voltage_deviation(obs[agent], mask)
        np.testing.assert_allclose(scaled[mask], (obs[agent][mask] - 1) / 0.05, rtol=1e-5)
        np.testing.assert_array_equal(scaled[~mask], obs[agent][~mask])
    env.close()
    single = make_env("13Bus")
    n_v = len(single.core.engine.bus_node_order)
    mask = voltage_entries(single.observation_space)
    assert mask[:n_v].all() and not mask[n_v:].any()
    single.close()


def test_run_info_round_trip(tmp_path: Path) -> None:
    path = write_run_info(
        tmp_path / "ckpt",
        algo="rllib",
        system="34Bus",
        mode="parallel",
        env_kwargs={"neighbourhood": 3, "profile_pool": (0, 300)},
        env_steps=10,
    )
    assert path.name == "marl_vvc_run.json"
    info = read_run_info(tmp_path / "ckpt")
    assert info["system"] == "34Bus" and info["env_kwargs"] == {"neighbourhood": 3}
    assert info["env_steps"] == 10
    assert read_run_info(tmp_path / "ckpt" / "model.zip") == info  # a file inside the folder
    assert read_run_info(tmp_path) == {}


# ---------------------------------------------------------------------- examples end to end
def _parse_table(text: str) -> dict[str, list[float]]:
    """Rows ``name return loss voltage control penalty viol% diverged episodes`` of the table."""
    rows: dict[str, list[float]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 9 and parts[0] in {"ppo", "random", "hold", "dss"}:
            rows[parts[0]] = [float(p) for p in parts[1:]]
    return rows


def _require(*modules: str) -> None:
    # find_spec does not import the module (importing ray here would change os.environ)
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (pip install 'marl-vvc[rl]')")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """Empty HOME and TMPDIR, and a short Ray temp folder (socket paths must stay < 108 bytes)."""
    home, tmpdir = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmpdir.mkdir()
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": str(ray_tmp),
        "TMPDIR": str(tmpdir),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }
    try:
        yield tmp_path, env
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


def _check_table(out: str) -> dict[str, list[float]]:
    rows = _parse_table(out)
    assert set(rows) == {"ppo", "random", "hold", "dss"}, out
    for name, (ret, loss, voltage, control, penalty, _viol, diverged, n) in rows.items():
        assert all(math.isfinite(x) for x in (ret, loss, voltage, control, penalty)), name
        assert ret == pytest.approx(loss + voltage + control + penalty, abs=3e-3)
        assert n == 2 and diverged == 0
    assert rows["dss"][0] > rows["random"][0]
    assert rows["ppo"][0] > -200  # no diverged power flow
    return rows


def _files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _assert_wrote_only_run(tmp: Path, env: dict[str, str]) -> None:
    """Only --checkpoint-dir got files: nothing in HOME, TMPDIR or the working folder."""
    assert _files_under(Path(env["HOME"])) == [], "wrote into HOME"
    # torch creates its (empty) compile-cache folder in TMPDIR at import
    stray = [f for f in _files_under(Path(env["TMPDIR"])) if not f.startswith("torchinductor_")]
    assert stray == [], "wrote into TMPDIR"
    assert sorted(p.name for p in tmp.iterdir()) == ["home", "run", "tmp"], "wrote into cwd"


@pytest.mark.slow
@pytest.mark.parametrize(("runners", "transform"), [(0, "voltage_deviation"), (1, "none")])
def test_rllib_example_end_to_end(
    sandbox: tuple[Path, dict[str, str]], runners: int, transform: str
) -> None:
    _require("ray", "torch")
    tmp, env = sandbox
    run = tmp / "run"
    out = _run(
        [
            str(EXAMPLES / "train_rllib.py"),
            "--stop-iters=1",
            f"--num-env-runners={runners}",
            f"--obs-transform={transform}",
            "--train-batch=480",
            "--minibatch=120",
            "--epochs=1",
            "--eval-episodes=2",
            f"--checkpoint-dir={run}",
        ],
        cwd=tmp,
        env=env,
    )
    _check_table(out)
    assert "trained 1 iterations, 480 env steps" in out
    ckpt = run / "checkpoint"
    modules = ckpt / "learner_group" / "learner" / "rl_module"
    kinds = {p.name for p in modules.iterdir() if p.is_dir()}
    assert kinds == {"capacitor", "regulator", "battery"}
    info = json.loads((ckpt / "marl_vvc_run.json").read_text())
    assert info["system"] == "13Bus" and info["mode"] == "parallel"
    assert info["profile_pool"] == [0, 300] and info["obs_transform"] == transform
    _assert_wrote_only_run(tmp, env)
    if runners == 0:
        # a fresh process scores the checkpoint the way `marl-vvc eval` will (the observation
        # transform comes from marl_vvc_run.json)
        code = (
            "from marl_vvc.tools.evaluation import load_policy, evaluate\n"
            f"p = load_policy({str(ckpt)!r}, algo='rllib')\n"
            "r = evaluate(p.policy_fn, p.system, [300, 301], p.mode)\n"
            "print(repr(r['return']))\n"
        )
        again = float(_run(["-c", code], cwd=tmp, env=env).strip().splitlines()[-1])
        assert again == pytest.approx(_parse_table(out)["ppo"][0], abs=1e-3)


@pytest.mark.slow
def test_rllib_example_on_anm6_scores_by_gym_anm_protocol(
    sandbox: tuple[Path, dict[str, str]],
) -> None:
    _require("ray", "torch")
    tmp, env = sandbox
    run = tmp / "run"
    args = ["--env=ANM6Easy", "--stop-iters=1", "--num-env-runners=0", "--train-batch=200"]
    args += ["--minibatch=100", "--epochs=1", f"--checkpoint-dir={run}"]
    out = _run([str(EXAMPLES / "train_rllib.py"), *args], cwd=tmp, env=env)
    assert "Gym-ANM protocol (T=3000, gamma=0.995)" in out
    modules = run / "checkpoint" / "learner_group" / "learner" / "rl_module"
    assert {p.name for p in modules.iterdir() if p.is_dir()} == {"generator", "storage"}
    row = json.loads((run / "evaluation.json").read_text())["ppo"]
    assert set(row) >= {"return", "discounted_return", "violation_rate"}
    assert math.isfinite(row["discounted_return"]) and row["discounted_return"] <= 0.0
    assert f"ppo discounted return: {row['discounted_return']:.1f}" in out


@pytest.mark.slow
def test_sb3_example_end_to_end(sandbox: tuple[Path, dict[str, str]]) -> None:
    _require("stable_baselines3", "torch")
    tmp, env = sandbox
    run = tmp / "run"
    out = _run(
        [
            str(EXAMPLES / "train_sb3.py"),
            "--timesteps=256",
            "--eval-episodes=2",
            f"--checkpoint-dir={run}",
        ],
        cwd=tmp,
        env=env,
    )
    _check_table(out)
    assert (run / "model.zip").is_file()
    assert json.loads((run / "marl_vvc_run.json").read_text())["mode"] == "single"
    _assert_wrote_only_run(tmp, env)
