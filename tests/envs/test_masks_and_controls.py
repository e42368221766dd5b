"""OpenDSS-controller baseline and PettingZoo-style action masks."""

from __future__ import annotations

import numpy as np
import pytest

from marl_vvc import parallel_env
from marl_vvc.core.devices import Battery
from marl_vvc.tools.runner import run_episodes


def test_controller_baseline_moves_devices_and_beats_hold_and_random() -> None:
    dss = run_episodes("13Bus", mode="single", policy="dss", episodes=3)
    hold = run_episodes("13Bus", mode="single", policy="hold", episodes=3)
    rand = run_episodes("13Bus", mode="single", policy="random", episodes=3)
    mean = {
        k: np.mean([r["return"] for r in v])
        for k, v in {"dss": dss, "hold": hold, "random": rand}.items()
    }
    assert mean["dss"] > mean["hold"] > mean["random"]
    # RegControls pull the taps down from PowerGym's 1.1 start: tap travel is charged.
    assert all(r["control"] < 0 for r in dss)
    assert sum(r["voltage"] for r in dss) > sum(r["voltage"] for r in hold)


def test_opendss_controls_move_taps_and_report_them() -> None:
    env = parallel_env("13Bus", controls="opendss")
    env.reset(seed=0, options={"profile": 3})
    _, _, _, _, infos = env.step(env.hold_actions())
    regs = env.core.fleet["regulator"]
    taps = [infos[r.agent_id]["applied"] for r in regs.devices]
    assert taps == regs.index and max(taps) < 32  # moved down from PowerGym's top start
    np.testing.assert_allclose(
        regs.tap, [r.tap(i) for r, i in zip(regs.devices, taps, strict=True)]
    )
    assert infos["regulator_reg1"]["av_reg_err"] == pytest.approx(np.mean(32 - np.array(taps)))
    assert infos["regulator_reg1"]["control"] < 0  # tap travel is charged like an agent's
    env.close()


def test_agent_step_after_a_controller_step_keeps_the_taps() -> None:
    env = parallel_env("13Bus")
    env.reset(seed=0, options={"profile": 3})
    core = env.core
    out = core.step_validated(core.check_values(core.hold_values()), controls="opendss")
    assert out.info["converged"] and core.t == 1
    before = list(core.fleet["regulator"].index)
    env.step(env.hold_actions())
    assert core.fleet["regulator"].index == before
    env.close()


def test_battery_feasible_levels() -> None:
    bat = Battery("b", "x", max_kw=200, pf=0.95, max_kwh=1000, initial_kwh=1000)
    full = bat.feasible_levels(1000, 1.0)
    assert full[:16].sum() == 0 and full[16:].all()
    empty = bat.feasible_levels(0, 1.0)
    assert empty[:17].all() and empty[17:].sum() == 0
    half = bat.feasible_levels(500, 1.0)
    assert half.all()
    some = bat.feasible_levels(30, 1.0)  # 2 levels of 12.5 kW fit
    assert some[17:19].all() and some[19:].sum() == 0
    for kwh in (0, 30, 487.5, 990, 1000):
        mask = bat.feasible_levels(kwh, 1.0)
        for level in range(33):
            assert bool(mask[level]) == (bat.project_level(level, kwh, 1.0)[0] == level)


def test_masked_observations_follow_pettingzoo_convention() -> None:
    env = parallel_env("13Bus", action_masks=True)
    obs, _ = env.reset(seed=0)
    for agent in env.agents:
        space = env.observation_space(agent)
        assert space.contains(obs[agent])
        assert set(obs[agent]) == {"observation", "action_mask"}
        assert obs[agent]["action_mask"].shape == (env.action_space(agent).n,)
    assert obs["battery_batt1"]["action_mask"][:16].sum() == 0  # full: cannot charge
    for _ in range(5):
        obs, *_ = env.step({a: 32 if a.startswith("battery") else 1 for a in env.agents})
    mask = obs["battery_batt1"]["action_mask"]
    kwh = env.core.fleet["battery"].kwh[0]
    assert mask[17:].sum() == int(kwh // 12.5)
    cont = parallel_env("13Bus_cbat", action_masks=True)
    obs, _ = cont.reset(seed=0)
    assert isinstance(obs["battery_batt1"], np.ndarray)  # continuous: no mask
    assert "action_mask" in obs["capacitor_cap1"]
