"""The one-step look-ahead oracle: candidates, group moves and its per-step objective."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

import marl_vvc
from marl_vvc.errors import ConfigError
from marl_vvc.tools.lookahead import candidates, group_moves, objective, oracle_policy


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


def test_oracle_never_does_worse_than_holding_on_its_objective() -> None:
    env = marl_vvc.parallel_env("13Bus")
    obs, _ = env.reset(seed=0, options={"profile": 320})
    policy = oracle_policy(sweeps=1, reach=2, hold_steps=6)
    improved = 0
    for _ in range(3):
        action = policy(obs, env)
        chosen = objective(env.what_if(action), 6)
        held = objective(env.what_if(env.hold_actions()), 6)
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
