"""The one-step look-ahead oracle: candidates, group moves and its per-step objective."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

import marl_vvc
from marl_vvc.errors import ConfigError
from marl_vvc.tools.lookahead import (
    candidates,
    group_moves,
    objective,
    oracle_policy,
    with_group_moves,
)


def test_candidates_window_mask_and_box() -> None:
    assert list(candidates(spaces.Discrete(33), 30, reach=4, box_points=3)) == [
        26,
        27,
        28,
        29,
        31,
        32,
    ]
    mask = np.array([1, 0, 1], dtype=np.int8)
    assert list(candidates(spaces.Discrete(3), 0, reach=4, box_points=3, mask=mask)) == [2]
    box = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    tried = list(candidates(box, np.zeros(2, np.float32), reach=1, box_points=3))
    assert len(tried) == 4  # -1 and 1 for each dimension (0 is the current value)
    assert all(np.count_nonzero(t) == 1 for t in tried)


def test_group_moves_shift_a_kind_together_within_range() -> None:
    env = marl_vvc.parallel_env("13Bus")
    env.reset(seed=0)
    joint = env.hold_actions()  # taps at the top (32)
    moves = list(group_moves(env, joint, reach=2))
    regs = [a for a in joint if a.startswith("regulator")]
    assert [m["regulator_reg1"] for m in moves if m["regulator_reg2"] != 32] == [30, 31]
    assert all(len({m[a] - joint[a] for a in regs}) == 1 for m in moves if m[regs[0]] != 32)
    env.close()


def test_compound_moves_pair_an_agent_with_the_other_kinds_group_moves() -> None:
    env = marl_vvc.parallel_env("13Bus")
    env.reset(seed=0)
    joint = {**env.hold_actions(), "capacitor_cap1": 0}
    tries = list(with_group_moves(env, joint, "capacitor_cap1", reach=2))
    assert tries[0] == joint
    assert len(tries) == 1 + 2  # taps at the top: only the two moves down
    assert all(t["capacitor_cap1"] == 0 for t in tries)
    assert [t["regulator_reg3"] for t in tries] == [32, 30, 31]
    # the capacitors (a kind of two) are not moved as a group with a capacitor
    assert all(t["capacitor_cap2"] == joint["capacitor_cap2"] for t in tries)
    # a regulator's compounds move the capacitors together, never the other regulators
    reg = list(with_group_moves(env, env.hold_actions(), "regulator_reg1", reach=2))
    assert all(t["regulator_reg2"] == 32 for t in reg)
    assert {t["capacitor_cap1"] for t in reg} == {0, 1}
    env.close()


def test_violation_weight_charges_each_bus_out_of_band() -> None:
    info = {"global_reward": -1.0, "control": -0.5, "voltage": -0.01, "violating_buses": 3}
    base = objective(info, 2)
    assert objective(info, 2, violation_weight=0.1) == pytest.approx(base - 2 * 0.3)
    assert objective(info, 2, voltage_weight=3.0) == pytest.approx(base - 2 * 2 * 0.01)
    # a band narrower than the env's counts the buses close to its limits too
    near = {**info, "bus_vmax": np.array([1.046, 1.02]), "bus_vmin": np.array([1.0, 0.952])}
    assert objective(near, 1, violation_weight=1.0, band=(0.955, 1.045)) == pytest.approx(
        objective(near, 1) - 2.0
    )
    assert objective(near, 1, violation_weight=1.0, band=(0.95, 1.05)) == objective(near, 1)
    with pytest.raises(ConfigError, match="margin"):
        oracle_policy(margin=-0.01)
    with pytest.raises(ConfigError, match="violation_weight"):
        oracle_policy(violation_weight=-1.0)
    with pytest.raises(ConfigError, match="unexpected keyword"):
        oracle_policy(sweep=2)


def test_oracle_never_does_worse_than_holding_on_its_objective() -> None:
    env = marl_vvc.parallel_env("13Bus")
    obs, _ = env.reset(seed=0, options={"profile": 320})
    policy = oracle_policy(sweeps=1, reach=2, hold_steps=6, compound=True)
    improved = 0
    for _ in range(3):
        action = policy(obs, env)
        chosen = objective(env.what_if(action), 6)
        held_info = env.what_if(env.hold_actions())
        held = objective(held_info, 6)
        assert held_info["bus_vmax"].shape == (len(env.bus_names),)
        assert held_info["violating_buses"] == np.count_nonzero(
            (held_info["bus_vmax"] > 1.05) | (held_info["bus_vmin"] < 0.95)
        )
        assert chosen >= held
        improved += chosen > held
        obs, *_ = env.step(action)
    assert improved >= 1  # PowerGym starts every tap at the top: moving pays
    env.close()


def test_oracle_refuses_envs_without_what_if_and_bad_settings() -> None:
    env = marl_vvc.make_env("13Bus")
    obs, _ = env.reset(seed=0)
    with pytest.raises(ConfigError, match="parallel"):
        oracle_policy()(obs, env)
    with pytest.raises(ConfigError, match="hold_steps"):
        oracle_policy(hold_steps=0)
    env.close()
