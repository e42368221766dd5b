"""Copies and pickles of every env kind continue the episode exactly like the original."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import marl_vvc

Policy = Callable[[Any, np.random.Generator], Any]


def _flat(obs: Any) -> np.ndarray:
    if isinstance(obs, dict):
        return np.concatenate([_flat(obs[k]) for k in sorted(obs)])
    return np.asarray(obs, dtype=float).ravel()


def _parallel_policy(env: Any, rng: np.random.Generator) -> dict:
    acts = {}
    for agent in env.agents:
        space = env.action_space(agent)
        if isinstance(space, gym.spaces.Discrete):
            acts[agent] = int(rng.integers(space.n))
        else:
            acts[agent] = rng.uniform(space.low, space.high).astype(np.float32)
    return acts


def _capswitch_policy(env: Any, rng: np.random.Generator) -> dict:
    """Toggle one capacitor that has not switched yet (the masks' rule)."""
    free = [
        a for a, done in zip(env.possible_agents, env.core.task.toggled, strict=True) if not done
    ]
    pick = free[int(rng.integers(len(free)))]
    return {a: int(a == pick) for a in env.agents}


def _single_policy(env: Any, rng: np.random.Generator) -> Any:
    space = env.action_space
    if isinstance(space, gym.spaces.Tuple):
        disc = np.array([rng.integers(n) for n in space[0].nvec])
        return disc, rng.uniform(-1, 1, space[1].shape).astype(np.float32)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return np.array([rng.integers(n) for n in space.nvec])
    return rng.uniform(space.low, space.high)


def _rollout(env: Any, policy: Callable, steps: int, seed: int, parallel: bool) -> list:
    rng, out = np.random.default_rng(seed), []
    for _ in range(steps):
        if parallel:
            if not env.agents:
                break
            obs, rew, term, trunc, _ = env.step(policy(env, rng))
            out.append((_flat(obs), sorted(rew.items()), sorted(term.items())))
        else:
            obs, rew, term, trunc, _ = env.step(policy(env, rng))
            out.append((_flat(obs), rew, term))
            if term or trunc:
                break
    return out


CASES = [
    ("parallel 13Bus_cbat", lambda: marl_vvc.parallel_env("13Bus_cbat"), _parallel_policy, True),
    ("parallel ANM6Easy", lambda: marl_vvc.parallel_env("ANM6Easy"), _parallel_policy, True),
    ("capswitch", lambda: marl_vvc.parallel_env("123Bus_capswitch"), _capswitch_policy, True),
    ("single 13Bus", lambda: marl_vvc.make_env("13Bus"), _single_policy, False),
    ("single 13Bus_cbat", lambda: marl_vvc.make_env("13Bus_cbat"), _single_policy, False),
    ("single ANM6Easy", lambda: marl_vvc.make_env("ANM6Easy"), _single_policy, False),
    ("gym.make 13Bus", lambda: gym.make("marl_vvc/13Bus-v0"), _single_policy, False),
]


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize(("name", "make", "policy", "parallel"), CASES, ids=[c[0] for c in CASES])
def test_copy_mid_episode_continues_exactly(
    name: str, make: Callable, policy: Callable, parallel: bool, how: str
) -> None:
    env = make()
    env.reset(seed=3)
    _rollout(env, policy, 1, seed=0, parallel=parallel)
    clone = copy.deepcopy(env) if how == "deepcopy" else pickle.loads(pickle.dumps(env))
    ours = _rollout(env, policy, 30, seed=1, parallel=parallel)
    theirs = _rollout(clone, policy, 30, seed=1, parallel=parallel)
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:] == b[1:]
    # the copy has its own engine: stepping it did not move the original
    assert clone.unwrapped.core.engine is not env.unwrapped.core.engine
    env.close()
    clone.close()


def test_copy_of_a_fresh_or_closed_env() -> None:
    env = marl_vvc.parallel_env("13Bus")
    fresh = copy.deepcopy(env)
    assert fresh.agents == [] and fresh.possible_agents == env.possible_agents
    env.close()
    closed = pickle.loads(pickle.dumps(env))
    obs, _ = closed.reset(seed=0)  # a copy of a closed env is a new, usable env
    assert set(obs) == set(env.possible_agents)
    fresh.close()
    closed.close()
