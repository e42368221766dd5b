"""Gym-ANM's MPC baselines on ANM6-Easy: valid actions on both envs, better than random."""

from __future__ import annotations

import numpy as np
import pytest

import marl_vvc
from marl_vvc.errors import ConfigError
from marl_vvc.tools.baselines import hold_policy, random_policy
from marl_vvc.tools.mpc import MPC_SETTINGS, mpc_baseline, mpc_policy
from marl_vvc.tools.rollout import rollout

# the module imports gym-anm (its MPC agents) and cvxpy only when a policy is built
pytest.importorskip("cvxpy", reason="cvxpy (brought by gym-anm, a dev dependency) is missing")
pytest.importorskip("gym_anm", reason="gym-anm (a dev dependency) is not installed")

SEED = 3
STEPS = 5


@pytest.fixture(scope="module", params=sorted(MPC_SETTINGS))
def policy(request: pytest.FixtureRequest):
    return mpc_baseline(request.param)


def test_single_env_actions_are_valid(policy) -> None:
    env = marl_vvc.make_env("ANM6Easy")
    obs, _ = env.reset(seed=SEED)
    for _ in range(STEPS):
        action = policy(obs, env)
        assert action.shape == env.action_space.shape
        assert env.action_space.contains(action)
        assert np.all(action[2:4] == 0.0) and action[5] == 0.0  # the DCOPF sets no Q
        obs, _, terminated, _, info = env.step(action)
        assert info["converged"] and not terminated
    env.close()


def test_parallel_env_actions_are_valid_and_match_the_single_env(policy) -> None:
    """The split of the action among the agents steps the same grid as the single action."""
    single, par = marl_vvc.make_env("ANM6Easy"), marl_vvc.parallel_env("ANM6Easy")
    obs, _ = single.reset(seed=SEED)
    par_obs, _ = par.reset(seed=SEED)
    for _ in range(STEPS):
        actions = policy(par_obs, par)
        assert set(actions) == set(par.agents)
        for agent, a in actions.items():
            assert par.action_space(agent).contains(a), agent
        par_obs, rewards, *_ = par.step(actions)
        obs, reward, *_ = single.step(policy(obs, single))
        assert sum(rewards.values()) == pytest.approx(reward, abs=1e-4)
        np.testing.assert_allclose(par.state(), obs, rtol=1e-5, atol=1e-4)
    single.close()
    par.close()


def test_constant_mpc_beats_random_actions_and_holding() -> None:
    def total(policy) -> float:
        env = marl_vvc.make_env("ANM6Easy")
        episode = rollout(env, policy, seed=SEED, max_steps=20)
        env.close()
        return float(episode.series("reward").sum())

    mpc = total(mpc_baseline("mpc_constant"))
    assert mpc > total(random_policy(0))  # measured: -15.3 against -578.8
    assert mpc > total(hold_policy)  # full generation, storage idle: -70.2


def test_deterministic() -> None:
    env = marl_vvc.make_env("ANM6Easy")
    obs, _ = env.reset(seed=SEED)
    first, second = mpc_policy("constant", 4, 0.9), mpc_policy("constant", 4, 0.9)
    np.testing.assert_array_equal(first(obs, env), second(obs, env))
    env.close()


def test_config_errors() -> None:
    policy = mpc_policy("constant", 4, 0.9)
    for env in (marl_vvc.parallel_env("13Bus"), marl_vvc.make_env("13Bus")):
        obs, _ = env.reset(seed=0)
        with pytest.raises(ConfigError, match="ANM6-Easy"):
            policy(obs, env)
        env.close()
    with pytest.raises(ConfigError, match="kind"):
        mpc_policy("oracle", 4, 0.9)
    with pytest.raises(ConfigError, match="safety_margin"):
        mpc_policy("perfect", 4, 1.5)
    with pytest.raises(ConfigError, match="planning_steps"):
        mpc_policy("perfect", 0, 0.9)
    with pytest.raises(ConfigError, match="unknown MPC baseline"):
        mpc_baseline("mpc")
