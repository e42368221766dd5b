"""Acceptance: replay PowerGym's recorded traces through the single-agent wrapper.

Rules in ../shared/parity/powergym/README.md. Observations, rewards and every info term must
agree within 1e-6, with multipliers from the CSV chop scheme (``profile``) and given directly
(``load_multipliers``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import POWERGYM_TRACES, REFERENCE

from marl_vvc import make_env

TOL = 1e-6
FAST = ["13Bus", "13Bus_cbat", "13Bus_soc", "34Bus", "123Bus", "123Bus_s1.5"]
TRACES = [f"{env}_profile{p:02d}_seed1.json" for env in FAST for p in (0, 5)]


def _load(name: str) -> dict:
    path = POWERGYM_TRACES / name
    if not path.exists():
        pytest.skip(f"needs {path} (../shared parity data beside the repository); absent here")
    return json.loads(path.read_text())


def _replay(trace: dict, options: dict) -> None:
    env = make_env(trace["env_name"], systems_dir=str(REFERENCE))
    try:
        obs, _ = env.reset(seed=0, options=options)
        np.testing.assert_allclose(obs, trace["reset"]["obs"], rtol=0, atol=TOL)
        assert env.observation_space.contains(obs)
        for rec in trace["steps"]:
            obs, reward, terminated, truncated, info = env.step(rec["action"])
            where = f"step {rec['t']}"
            np.testing.assert_allclose(obs, rec["obs"], rtol=0, atol=TOL, err_msg=where)
            assert reward == pytest.approx(rec["reward"], abs=TOL), where
            for key, value in rec["info"].items():
                assert info[key] == pytest.approx(value, abs=TOL), f"{where}: info[{key!r}]"
            assert terminated == rec["done"] and not truncated
            batt = [b["kwh"] for b in rec["debug"]["batteries"]]
            np.testing.assert_array_equal(
                env.unwrapped.core.fleet["battery"].kwh, batt, err_msg=where
            )
    finally:
        env.close()


@pytest.mark.parametrize("trace_name", TRACES)
def test_replay_with_profile_from_csv_chop(trace_name: str) -> None:
    trace = _load(trace_name)
    _replay(trace, {"profile": trace["load_profile_idx"]})


@pytest.mark.parametrize("trace_name", TRACES)
def test_replay_with_given_multipliers(trace_name: str) -> None:
    trace = _load(trace_name)
    _replay(trace, {"load_multipliers": trace["load_profile"]["multipliers"]})


@pytest.mark.parametrize("trace_name", [t for t in TRACES if "cbat" not in t])
def test_chopped_profile_equals_recorded_multipliers(trace_name: str) -> None:
    trace = _load(trace_name)
    env = make_env(trace["env_name"], systems_dir=str(REFERENCE))
    env.reset(options={"profile": trace["load_profile_idx"]})
    core = env.unwrapped.core
    assert core.task.profiles.num_profiles == trace["num_profiles"]
    assert list(core.load_names) == [n.lower() for n in trace["load_profile"]["load_names"]]
    given = {k.lower(): v for k, v in trace["load_profile"]["multipliers"].items()}
    recorded = np.array([given[n] for n in core.load_names])
    np.testing.assert_array_equal(core.task.multipliers, recorded)
    env.close()


def test_two_episodes_in_one_env_match_fresh_replays() -> None:
    """Reset restores state without recompiling, bit for bit."""
    first, second = _load(TRACES[0]), _load(TRACES[1])
    env = make_env("13Bus", systems_dir=str(REFERENCE))
    for trace in (first, second, first):
        obs, _ = env.reset(options={"profile": trace["load_profile_idx"]})
        np.testing.assert_array_equal(obs, trace["reset"]["obs"])
        for rec in trace["steps"]:
            obs, *_ = env.step(rec["action"])
        np.testing.assert_allclose(obs, trace["steps"][-1]["obs"], rtol=0, atol=1e-12)
    env.close()
