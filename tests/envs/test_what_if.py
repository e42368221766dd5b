"""``what_if`` and the ``difference`` reward: counterfactual power flows on the env's engine."""

from __future__ import annotations

import numpy as np
import pytest

import marl_vvc
from marl_vvc.errors import InvalidActionError, ResetNeededError

MOVES = {"regulator_reg1": 20, "capacitor_cap2": 0}


def _joint(env: object, **moves: int) -> dict:
    joint = env.hold_actions()  # type: ignore[attr-defined]
    joint.update(moves)
    return joint


def test_what_if_predicts_the_step_and_changes_nothing() -> None:
    env, twin = marl_vvc.parallel_env("13Bus"), marl_vvc.parallel_env("13Bus")
    env.reset(seed=2, options={"profile": 310})
    twin.reset(seed=2, options={"profile": 310})
    for hour in range(4):
        joint = _joint(env, regulator_reg1=28 - hour, capacitor_cap1=hour % 2)
        predicted = env.what_if(_joint(env, regulator_reg2=10))  # a different question
        assert predicted["converged"] is True and predicted["n_buses"] == len(env.bus_names)
        wanted = env.what_if(joint)["global_reward"]
        _, rewards, *_, infos = env.step(joint)
        _, twin_rewards, *_ = twin.step(joint)
        got = infos["capacitor_cap1"]["global_reward"]
        assert got == pytest.approx(wanted, abs=1e-4)
        for agent, r in twin_rewards.items():
            assert rewards[agent] == pytest.approx(r, abs=1e-4)


def test_what_if_refuses_bad_input_and_closed_episodes() -> None:
    env = marl_vvc.parallel_env("13Bus")
    with pytest.raises(ResetNeededError):
        env.what_if(env.hold_actions())
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="regulator_reg1"):
        env.what_if({**env.hold_actions(), "regulator_reg1": 99})


def test_difference_reward_is_the_counterfactual_gain() -> None:
    env = marl_vvc.parallel_env("13Bus", reward_mode="difference")
    probe = marl_vvc.parallel_env("13Bus")
    env.reset(seed=0, options={"profile": 300})
    probe.reset(seed=0, options={"profile": 300})
    joint = _joint(env, **MOVES)
    without = {
        agent: probe.what_if({**joint, agent: probe.hold_actions()[agent]})["global_reward"]
        for agent in MOVES
    }
    _, rewards, *_, infos = env.step(joint)
    total = infos["battery_batt1"]["global_reward"]
    for agent in MOVES:
        assert rewards[agent] == pytest.approx(total - without[agent], abs=1e-4)
        assert rewards[agent] != 0.0
    held = [a for a in env.possible_agents if a not in MOVES]
    assert all(rewards[a] == 0.0 for a in held)
    assert np.isfinite(list(rewards.values())).all()
