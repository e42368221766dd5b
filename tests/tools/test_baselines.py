"""Reference policies on the public env API: hold, random (seeded, masked) and dss."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

import marl_vvc
from marl_vvc.errors import ConfigError
from marl_vvc.tools.baselines import baseline, random_policy
from marl_vvc.tools.rollout import Episode, rollout

OPTIONS = {"profile": 3}


def _episode(name: str, system: str = "13Bus", **kwargs) -> tuple[Episode, list[str]]:
    chosen = baseline(name, seed=0)
    env = marl_vvc.parallel_env(system, **{**kwargs, **chosen.env_kwargs})
    try:
        episode = rollout(env, chosen.policy, seed=0, options=OPTIONS, max_steps=24)
        kinds = {a: env.agent_kind(a) for a in env.possible_agents}
        switched = [a for a, k in kinds.items() if k in ("capacitor", "regulator")]
    finally:
        env.close()
    return episode, switched


def _moves(episode: Episode, agents: list[str]) -> np.ndarray:
    """Per step, how far the capacitors and taps moved (from the reset position on)."""
    path = [episode.start, *(s.applied for s in episode.steps)]
    return np.array([sum(abs(int(b[a]) - int(p[a])) for a in agents) for p, b in pairwise(path)])


def test_dss_tap_moves_come_from_applied() -> None:
    episode, switched = _episode("dss")
    regs = [a for a in switched if a.startswith("regulator")]
    assert all(int(episode.start[a]) == 32 for a in regs)  # PowerGym's start at the top
    assert all(int(episode.steps[0].applied[a]) < 32 for a in regs)  # RegControl pulled down
    moves = _moves(episode, switched)
    control = episode.series("control")
    assert moves.sum() > len(regs)  # taps keep moving during the day
    # OpenDSS's moves are charged like an agent's: a cost exactly where something moved
    np.testing.assert_array_equal(control < 0, moves > 0)
    assert episode.converged


def test_agents_replaying_the_dss_actions_score_the_same() -> None:
    """What ``applied`` reports is what OpenDSS did: agents doing it get the same reward."""
    dss, _ = _episode("dss")
    env = marl_vvc.parallel_env("13Bus")
    steps = iter(dss.steps)
    replay = rollout(env, lambda obs, e: dict(next(steps).applied), seed=0, options=OPTIONS)
    env.close()
    # the same taps and statuses; only the solution path differs (OpenDSS's 1e-4 pu tolerance)
    np.testing.assert_allclose(replay.series("reward"), dss.series("reward"), rtol=5e-4)
    np.testing.assert_allclose(replay.series("control"), dss.series("control"), atol=1e-12)


@pytest.mark.parametrize("system", ["13Bus", "13Bus_pv"])
def test_hold_keeps_every_device_where_it_is(system: str) -> None:
    episode, switched = _episode("hold", system)
    assert _moves(episode, switched).sum() == 0
    assert episode.totals()["control"] == pytest.approx(0.0, abs=1e-12)
    for step in episode.steps:
        for agent, action in step.applied.items():
            act, start = np.asarray(action, float), np.asarray(episode.start[agent], float)
            if agent.startswith("generator"):  # full available output: the sun limits P
                assert 0.0 <= act[0] <= start[0] + 1e-9 and act[1] == start[1] == 0.0
            else:
                np.testing.assert_allclose(act, start)


def _toggles(env, seed: int) -> list[list[dict[str, int]]]:
    """Per episode, the actions a seeded random policy gave on the switching task."""
    policy, episodes = random_policy(seed), []

    def act(obs, e):
        episodes[-1].append({a: int(v) for a, v in policy(obs, e).items()})
        return episodes[-1][-1]

    for ep in range(6):  # the env raises on a masked toggle: every step must be legal
        episodes.append([])
        rollout(env, act, seed=ep, options={"profile": ep}, max_steps=96)
    return episodes


def test_random_is_seeded_and_keeps_to_the_action_masks() -> None:
    """On the switching task a bank toggles at most once: the mask then forbids toggling."""
    env = marl_vvc.parallel_env("13Bus_capswitch")
    first, again, other = _toggles(env, 7), _toggles(env, 7), _toggles(env, 8)
    env.close()
    assert first == again != other
    for episode in first:
        for agent in env.possible_agents:
            assert sum(step.get(agent, 0) for step in episode) <= 1
    assert sum(sum(step.values()) for episode in first for step in episode) > 0


def test_unknown_baseline() -> None:
    with pytest.raises(ConfigError, match="unknown baseline 'greedy'"):
        baseline("greedy")
