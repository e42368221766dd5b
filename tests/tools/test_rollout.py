"""The one rollout loop: records built from reset/step/info only, budgets, bad infos."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import marl_vvc
from marl_vvc.errors import ConfigError
from marl_vvc.tools.baselines import hold_policy, random_policy
from marl_vvc.tools.rollout import rollout

from .conftest import FakeParallelEnv


def _tap_up(obs: Any, env: Any) -> dict[str, Any]:
    return {"capacitor_a": 0, "regulator_b": 17}


def test_records_every_step_from_info(fake_env: FakeParallelEnv) -> None:
    episode = rollout(fake_env, _tap_up, seed=3, options={"profile": 4})
    assert episode.profile == 4 and episode.seed == 3
    assert len(episode.steps) == 3 and episode.converged and not episode.diverged
    assert dict(episode.start) == {"capacitor_a": 1, "regulator_b": 16}
    np.testing.assert_array_equal(episode.series("voltage"), [-1.0, -2.0, -3.0])
    assert [dict(s.applied) for s in episode.steps] == [{"capacitor_a": 0, "regulator_b": 17}] * 3
    totals = episode.totals()
    assert totals == {
        "return": -10.5,
        "loss": -3.0,
        "voltage": -6.0,
        "control": -1.5,
        "penalty": 0.0,
    }
    for step in episode.steps:
        assert sum(step.agent_rewards.values()) == pytest.approx(step.reward)
    assert episode.violation_rate() == pytest.approx((1 + 2 + 3) / 3 / 4)
    row = episode.summary()
    assert row["steps"] == 3 and row["diverged"] == 0 and row["converged"] is True
    parts = ("loss", "voltage", "control", "penalty")
    assert row["return"] == pytest.approx(sum(row[k] for k in parts))


def test_divergence_ends_the_episode_and_books_the_penalty_apart() -> None:
    env = FakeParallelEnv(horizon=5, diverge_at=2)
    episode = rollout(env, hold_policy)
    assert len(episode.steps) == 2 and episode.diverged
    row = episode.summary()
    assert row["penalty"] == -100.0 and row["control"] == 0.0 and row["diverged"] == 1


def test_step_budget_and_endless_episodes() -> None:
    env = FakeParallelEnv(horizon=None)
    with pytest.raises(ConfigError, match="never end"):
        rollout(env, hold_policy)
    assert len(rollout(env, hold_policy, max_steps=7).steps) == 7
    assert len(env.given) == 7
    with pytest.raises(ConfigError, match=">= 1"):
        rollout(FakeParallelEnv(), hold_policy, max_steps=0)


def test_an_info_without_the_terms_is_a_clear_error(fake_env: FakeParallelEnv) -> None:
    step = fake_env.step

    def without_loss(actions: dict) -> tuple:
        *rest, infos = step(actions)
        return (*rest, {a: {k: v for k, v in i.items() if k != "loss"} for a, i in infos.items()})

    fake_env.step = without_loss  # type: ignore[method-assign]
    with pytest.raises(ConfigError, match="'loss'"):
        rollout(fake_env, hold_policy)


def test_random_policy_is_seeded_and_leaves_the_env_spaces_alone(fake_env) -> None:
    first = rollout(fake_env, random_policy(5))
    again = rollout(fake_env, random_policy(5))
    other = rollout(fake_env, random_policy(6))
    acts = [[dict(s.applied) for s in e.steps] for e in (first, again, other)]
    assert acts[0] == acts[1] != acts[2]
    state = fake_env.action_space("regulator_b").np_random  # untouched: never seeded
    assert state is fake_env.action_space("regulator_b").np_random


def test_parallel_and_single_env_score_hold_alike() -> None:
    """The same loop on both front doors: same profile, same hold actions, same numbers."""
    par = marl_vvc.parallel_env("13Bus")
    single = marl_vvc.make_env("13Bus")
    a = rollout(par, hold_policy, seed=0, options={"profile": 5})
    b = rollout(single, hold_policy, seed=0, options={"profile": 5})
    assert len(a.steps) == len(b.steps) == par.horizon == 24
    for key, value in a.totals().items():
        assert b.totals()[key] == pytest.approx(value, abs=1e-9)
    assert a.totals()["control"] == 0.0  # nothing moved
    for step in a.steps:
        assert sum(step.agent_rewards.values()) == pytest.approx(step.reward, abs=1e-9)
        parts = step.loss + step.voltage + step.control + step.penalty
        assert parts == pytest.approx(step.reward, abs=1e-12)
        assert 0 <= step.violating_buses <= step.n_buses == len(par.bus_names)
    taps = {k: v for k, v in a.start.items() if par.agent_kind(k) == "regulator"}
    assert all(int(a.steps[-1].applied[k]) == int(v) for k, v in taps.items())
    assert dict(b.steps[0].applied).keys() == set(par.possible_agents)


def test_operations_rates_extras_and_discount_on_a_real_feeder() -> None:
    env = marl_vvc.parallel_env("13Bus")

    def policy(obs: Any, env: Any) -> dict[str, Any]:
        calls.append(1)
        joint = env.hold_actions()
        joint["regulator_reg1"] = 32 - len(calls)  # one tap step down per step
        joint["capacitor_cap1"] = 0  # switched off once (it starts on)
        joint["battery_batt1"] = 20  # discharges every step
        return joint

    calls: list[int] = []
    episode = rollout(env, policy, seed=0, options={"profile": 300}, max_steps=4)
    row = episode.summary(gamma=0.5)
    assert row["tap_steps"] == 4 and row["cap_switches"] == 1
    viol = episode.series("violating_buses")
    assert row["controllable_rate"] == pytest.approx(np.mean(viol == 0))
    rewards = episode.series("reward")
    assert row["discounted_return"] == pytest.approx(sum(r * 0.5**t for t, r in enumerate(rewards)))
    assert row["loss_kw"] > 0 and row["battery_kwh"] > 0
    assert "loss_reduction" not in row  # only capacitor switching reports it
    env.close()
