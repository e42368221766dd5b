"""Gymnasium conformance and bad input of the PowerGym single-agent wrapper."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import marl_vvc
from marl_vvc import InvalidActionError, ResetNeededError, make_env


@pytest.mark.parametrize("system", ["13Bus", "13Bus_cbat", "13Bus_soc_s1.5"])
def test_check_env(system: str) -> None:
    env = make_env(system)
    check_env(env, skip_render_check=True)
    env.close()


def test_registered_ids_and_render_check() -> None:
    env = gymnasium.make("marl_vvc/13Bus_cbat_soc-v0")
    assert env.unwrapped.config.name == "13Bus_cbat_soc"
    assert env.unwrapped.config.reward.weights.soc_w == pytest.approx(20 / 33)
    check_env(env.unwrapped)  # includes the render checks (re-makes the env per render mode)
    env.close()


def test_spaces_follow_powergym() -> None:
    env = make_env("13Bus")
    assert env.action_space.nvec.tolist() == [2, 2, 33, 33, 33, 33]
    assert env.observation_space.shape == (48,)
    cont = make_env("13Bus_cbat")
    assert isinstance(cont.action_space, gymnasium.spaces.Tuple)
    assert cont.action_space[0].nvec.tolist() == [2, 2, 33, 33, 33]
    assert cont.action_space[1].shape == (1,)
    env.close()
    cont.close()


def test_reset_state_matches_quirks() -> None:
    env = make_env("13Bus")
    obs, info = env.reset(seed=0)
    assert obs[41:43].tolist() == [1.0, 1.0]  # capacitors closed
    assert obs[43:46].tolist() == [1.1, 1.1, 1.1]  # PowerGym: taps at the top, as ratios
    assert obs[46] == 1.0 and obs[47] == 0.0
    plain = make_env("13Bus", quirks=False)
    obs, _ = plain.reset(seed=0)
    assert obs[43:46].tolist() == [16.0, 16.0, 16.0]  # tap positions, mid-range
    assert 0 <= info["profile"] < 365
    env.close()
    plain.close()


def test_rgb_render() -> None:
    env = make_env("13Bus", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    img = env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.std() > 10  # something is drawn
    env.close()


@pytest.mark.parametrize(
    ("action", "match"),
    [
        ([1, 1, 16, 16, 16], r"shape \(6,\)"),
        ([1, 1, 16, 16, 16, 16, 0], r"shape \(6,\)"),
        ([2, 1, 16, 16, 16, 16], "capacitor_cap1"),
        ([1, 1, 16, 40, 16, 16], "regulator_reg2"),
        ([1, 1, 16, 16, 16, float("nan")], "battery_batt1"),
        ("up", "action"),
    ],
)
def test_bad_actions_raise_and_leave_state(action, match) -> None:
    env = make_env("13Bus")
    obs0, _ = env.reset(seed=1)
    with pytest.raises(InvalidActionError, match=match):
        env.step(action)
    np.testing.assert_array_equal(env.unwrapped.core.state_vector(), obs0)
    assert env.unwrapped.core.t == 0
    obs, *_ = env.step([1, 1, 16, 16, 16, 16])
    assert obs.shape == (48,)
    env.close()


def test_tuple_action_and_flat_form_agree() -> None:
    a, b = make_env("13Bus_cbat"), make_env("13Bus_cbat")
    a.reset(seed=4)
    b.reset(seed=4)
    oa, ra, *_ = a.step((np.array([1, 0, 10, 12, 14]), np.array([0.5], np.float32)))
    ob, rb, *_ = b.step([1, 0, 10, 12, 14, 0.5])
    np.testing.assert_array_equal(oa, ob)
    assert ra == rb
    with pytest.raises(InvalidActionError, match="Box"):
        a.step((np.array([1, 0, 10, 12, 14]), np.array([1.5], np.float32)))


def test_step_needs_reset() -> None:
    env = make_env("13Bus")
    with pytest.raises(ResetNeededError):
        env.step([1, 1, 16, 16, 16, 16])
    env.reset(seed=0)
    for _ in range(24):
        *_, terminated, truncated, _ = env.step([1, 1, 16, 16, 16, 16])
    assert terminated and not truncated
    with pytest.raises(ResetNeededError):
        env.step([1, 1, 16, 16, 16, 16])


def test_parallel_and_single_share_the_core_physics() -> None:
    single, par = make_env("13Bus"), marl_vvc.parallel_env("13Bus")
    s_obs, _ = single.reset(seed=8)
    par.reset(seed=8)
    np.testing.assert_allclose(par.state(), s_obs.astype(np.float32))
    action = [0, 1, 20, 18, 10, 25]
    s_obs, s_rew, *_ = single.step(action)
    _, rewards, _, _, infos = par.step(dict(zip(par.possible_agents, action, strict=True)))
    assert infos["battery_batt1"]["global_reward"] == pytest.approx(s_rew, abs=1e-12)
    assert sum(rewards.values()) == pytest.approx(s_rew, abs=1e-9)
    np.testing.assert_allclose(par.state(), s_obs.astype(np.float32))
