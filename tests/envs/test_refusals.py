"""Every refused call leaves the env untouched: whole trajectories with and without refused
calls are identical, on every env kind (parallel, AEC, single-agent, ANM6-Easy, capacitor
switching, PV), and a refused reset does not consume the env's random draws."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pettingzoo.utils.conversions import parallel_to_aec

import marl_vvc
from marl_vvc import InvalidActionError, InvalidOptionError, MarlVVCError

BAD_RESETS = [
    {"seed": 99, "options": {"profile": 999}},
    {"seed": 99, "options": {"prolife": 3}},
    {"options": "x"},
    {"seed": -1},
    {"seed": "3"},
    {"seed": 2.5},
]


def _obs_key(obs: Any) -> list:
    if isinstance(obs, dict):
        return [(k, _obs_key(obs[k])) for k in sorted(obs)]
    return np.asarray(obs, dtype=float).round(15).tolist()


def _parallel_actions(env: Any, t: int) -> dict:
    acts = env.hold_actions()
    for agent in env.agents:
        if env.agent_kind(agent) == "regulator":
            acts[agent] = (t * 7 + len(agent)) % 33
    return acts


def _run_parallel(env: Any, refuse: Callable[[Any], None] | None, steps: int = 6) -> list:
    out = [_obs_key(env.reset(seed=4)[0])]
    for t in range(steps):
        if refuse is not None and t == 2:
            refuse(env)
        obs, rew, *_ = env.step(_parallel_actions(env, t))
        out.append((_obs_key(obs), sorted(rew.items())))
    out.append(_obs_key(env.reset()[0]))  # an unseeded reset: the next draw of the env's rng
    return out


def _bad_parallel_calls(env: Any) -> None:
    bad_actions = [
        {**env.hold_actions(), "battery_batt1": np.array([0.5 + 1j])},
        {**env.hold_actions(), "battery_batt1": "0.5"},
        {**env.hold_actions(), "capacitor_cap1": np.array([[1]])},
        {**env.hold_actions(), "regulator_reg1": 33},
        {**env.hold_actions(), "intruder": 0},
        {a: v for a, v in env.hold_actions().items() if a != "capacitor_cap2"},
        [0, 1, 2],
    ]
    for act in bad_actions:
        with pytest.raises(InvalidActionError):
            env.step(act)
    for kwargs in BAD_RESETS:
        with pytest.raises(InvalidOptionError):
            env.reset(**kwargs)


@pytest.mark.parametrize("name", ["13Bus_cbat", "13Bus_pv"])
def test_parallel_env_untouched_by_refused_calls(name: str) -> None:
    env = marl_vvc.parallel_env(name)
    clean = _run_parallel(env, None)
    assert _run_parallel(env, _bad_parallel_calls) == clean
    env.close()


def test_aec_env_untouched_by_a_refused_action() -> None:
    def run(refuse: bool) -> list:
        env = parallel_to_aec(marl_vvc.parallel_env("13Bus"))
        env.reset(seed=4)
        out = []
        for i, agent in enumerate(env.agent_iter(max_iter=12)):
            obs, rew, *_ = env.last()
            out.append((agent, _obs_key(obs), rew))
            if refuse and i == 5:  # the last agent of the first cycle: the joint step runs
                with pytest.raises(MarlVVCError):
                    env.step(99)
            env.step(16 if agent.startswith(("regulator", "battery")) else 1)
        env.close()
        return out

    assert run(True) == run(False)


def _single_actions(env: Any, t: int) -> Any:
    hold = env.unwrapped.hold_action()
    if isinstance(hold, tuple):
        disc, cont = hold
        disc = disc.copy()
        disc[2] = (t * 5) % 33
        return disc, cont
    hold = hold.copy()
    hold[2] = (t * 5) % 33
    return hold


def _run_single(env: Any, refuse: Callable[[Any], None] | None, act: Callable, steps: int = 6):
    out = [_obs_key(env.reset(seed=4)[0])]
    for t in range(steps):
        if refuse is not None and t == 2:
            refuse(env)
        obs, rew, term, *_ = env.step(act(env, t))
        out.append((_obs_key(obs), rew, term))
    out.append(_obs_key(env.reset()[0]))
    return out


def _bad_single_calls(env: Any) -> None:
    for act in (
        (np.array([0, 0, 5, 5, 5]), np.array([0.5 + 1j])),
        (np.array([0, 0, 5, 5, 5]), np.array([np.nan])),
        (np.array([0, 0, 5, 5, 99]), np.array([0.5])),
        (np.array([True, False, 5, 5]), np.array([0.5])),
        ["1", "0", "5", "5", "5", "0.5"],
    ):
        with pytest.raises(InvalidActionError):
            env.step(act)
    for kwargs in BAD_RESETS:
        with pytest.raises(InvalidOptionError):
            env.reset(**kwargs)


def test_single_agent_env_untouched_by_refused_calls() -> None:
    env = marl_vvc.make_env("13Bus_cbat")
    clean = _run_single(env, None, _single_actions)
    assert _run_single(env, _bad_single_calls, _single_actions) == clean
    env.close()


def _anm_actions(env: Any, t: int) -> np.ndarray:
    act = env.unwrapped.hold_action()
    act[-2] = 10.0 * np.sin(t)  # the storage unit's P
    return act


def _bad_anm_calls(env: Any) -> None:
    for act in (np.zeros(5), np.full(6, np.nan), "x", np.array([1e9, 0, 0, 0, 0, 0])):
        with pytest.raises(InvalidActionError):
            env.step(act)
    for kwargs in ({"options": {"start": -1}}, {"options": {"start": 96}}, *BAD_RESETS[2:]):
        with pytest.raises(InvalidOptionError):
            env.reset(**kwargs)


def test_anm6easy_untouched_by_refused_calls() -> None:
    env = marl_vvc.make_env("ANM6Easy")
    clean = _run_single(env, None, _anm_actions, steps=100)
    assert _run_single(env, _bad_anm_calls, _anm_actions, steps=100) == clean
    env.close()


def test_capswitch_untouched_by_refused_calls() -> None:
    def run(refuse: bool) -> list:
        env = marl_vvc.parallel_env("123Bus_capswitch")
        out = [_obs_key(env.reset(seed=4)[0])]
        for t in range(3):
            if refuse and t == 1:
                toggled = env.possible_agents[0]
                with pytest.raises(InvalidActionError, match="masked"):
                    env.step({a: int(a == toggled) for a in env.agents})
                for kwargs in ({"options": {"hour": 99}}, {"options": {"initial_status": 2}}):
                    with pytest.raises(InvalidOptionError):
                        env.reset(**kwargs)
            obs, rew, *_ = env.step({a: int(i == t) for i, a in enumerate(env.agents)})
            out.append((_obs_key(obs), sorted(rew.items())))
        out.append(_obs_key(env.reset()[0]))
        env.close()
        return out

    assert run(True) == run(False)


def test_errors_name_the_value_and_the_expectation() -> None:
    env = marl_vvc.parallel_env("13Bus")
    with pytest.raises(InvalidOptionError, match=r"options: expected None or a dict, got str"):
        env.reset(options="x")
    with pytest.raises(InvalidOptionError, match=r"unknown key\(s\) \['prolife'\]"):
        env.reset(options={"prolife": 1})
    with pytest.raises(MarlVVCError, match="reset"):
        env.state()
    env.reset(seed=np.int64(3))  # numpy integers are seeds too
    env.close()
    with pytest.raises(MarlVVCError, match="closed"):
        env.reset()
    with pytest.raises(MarlVVCError, match="render_mode"):
        marl_vvc.parallel_env("13Bus", render_mode="bogus")
