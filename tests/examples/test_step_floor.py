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


@pytest.mark.parametrize("system", ["13Bus", "34Bus", "123Bus"])
def test_inlined_parallel_step_reproduces_the_parallel_env(system: str) -> None:
    env, twin = marl_vvc.parallel_env(system), marl_vvc.parallel_env(system)
    inlined = sf.InlinedParallelStep(twin)
    for episode in range(2):
        env.reset(seed=episode)
        twin.reset(seed=episode)
        inlined.start()
        for _ in range(env.horizon):
            actions = {a: env.action_space(a).sample() for a in env.agents}
            obs, rewards, terms, truncs, infos = env.step(actions)
            obs2, rewards2, terms2, truncs2, infos2 = inlined.step(actions)
            assert (rewards2, terms2, truncs2) == (rewards, terms, truncs)
            for agent, o in obs.items():
                assert o.dtype == obs2[agent].dtype and np.array_equal(o, obs2[agent])
                assert infos2[agent] == infos[agent]
    env.close()
    twin.close()


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
    env = marl_vvc.parallel_env("13Bus", reward_mode="local")
    with pytest.raises(ValueError, match="split reward"):
        sf.InlinedParallelStep(env)
    env.close()


def test_measure_reports_consistent_ratios() -> None:
    r = sf.measure("13Bus", rounds=2)
    variants = ("inlined", "env", "inlined_parallel", "parallel")
    timed = ("bare", *variants, "solve_in_bare", "solve_in_env", "isolated_solve")
    assert r["system"] == "13Bus"
    assert all(r[f"{key}_us"] > 0.0 for key in timed)
    for name in variants:
        assert r[f"{name}_ratio"] == pytest.approx(r[f"{name}_us"] / r["bare_us"])
