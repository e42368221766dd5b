"""The hand-inlined step of ``examples/step_floor.py`` does the environment's work exactly.

The floor it measures is only a floor of the same work if it computes the same numbers: the
same observations bit for bit, the same reward and PowerGym info terms, the same applied
actions (battery levels after projection).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import marl_vvc

_PATH = Path(__file__).resolve().parents[2] / "examples" / "step_floor.py"
_spec = importlib.util.spec_from_file_location("step_floor", _PATH)
assert _spec is not None and _spec.loader is not None
sf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sf)


@pytest.mark.parametrize("system", ["13Bus", "34Bus", "123Bus", "13Bus_soc", "13Bus_s2.0"])
def test_inlined_step_reproduces_the_env(system: str) -> None:
    env, twin = marl_vvc.make_env(system), marl_vvc.make_env(system)
    inlined = sf.InlinedStep(twin)
    moved = 0
    for episode in range(2):
        env.reset(seed=episode)
        twin.reset(seed=episode)
        inlined.start()
        env.action_space.seed(episode)
        for _ in range(env.horizon):
            action = env.action_space.sample()
            obs, reward, _, _, info = env.step(action)
            obs2, reward2, info2 = inlined.step(action)
            assert np.array_equal(obs, obs2)
            assert reward2 == reward
            for key in sf.POWERGYM_TERMS:
                assert info2[key] == info[key], key
            assert info2["violating_buses"] == info["violating_buses"]
            assert info2["applied"] == list(info["applied"].values())
            moved += int(np.any(action != info2["applied"]))
    env.close()
    twin.close()
    assert moved > 0  # some battery commands were projected, and both agreed on how


def test_inlined_step_refuses_what_it_does_not_cover() -> None:
    env = marl_vvc.make_env("13Bus_cbat")
    with pytest.raises(ValueError, match="discrete batteries"):
        sf.InlinedStep(env)
    env.close()
    env = marl_vvc.make_env("13Bus")
    env.reset(seed=0)
    inlined = sf.InlinedStep(env)
    inlined.start()
    with pytest.raises(ValueError, match="out of range"):
        inlined.step(np.array([2, 0, 0, 0, 0, 0]))
    env.close()


def test_measure_reports_consistent_ratios() -> None:
    r = sf.measure("13Bus", rounds=2)
    timed = ("bare_us", "inlined_us", "env_us", "solve_in_bare_us", "solve_in_env_us")
    timed += ("isolated_solve_us", "isolated_solve_touched_us")
    assert r["system"] == "13Bus"
    assert all(r[key] > 0.0 for key in timed)
    assert r["inlined_ratio"] == pytest.approx(r["inlined_us"] / r["bare_us"])
    assert r["env_ratio"] == pytest.approx(r["env_us"] / r["bare_us"])
