"""The exhaustive optimum of capacitor switching: no one-step plan does better."""

from __future__ import annotations

import itertools

import pytest

import marl_vvc
from marl_vvc.tools.baselines import best_statuses, optimum_policy
from marl_vvc.tools.evaluation import applicable_baselines
from marl_vvc.tools.rollout import rollout


def _episode_return(env, toggles: list[int], options: dict) -> float:
    """Reset to the condition, toggle these banks, then keep: the summed shared reward."""
    env.reset(options=options)
    total = 0.0
    plan = dict(zip(env.possible_agents, toggles, strict=True))
    first = True
    while env.agents:
        acts = {a: (plan[a] if first else 0) for a in env.agents}
        _, rewards, _, _, _ = env.step(acts)
        total += next(iter(rewards.values()))
        first = False
    return total


@pytest.mark.parametrize("mode", ["change", "absolute"])
def test_the_optimum_beats_or_ties_every_one_step_plan(mode: str) -> None:
    env = marl_vvc.parallel_env("13Bus_capswitch", violation_mode=mode, violation_weight=2.0)
    for seed in range(3):
        env.reset(seed=seed)
        condition = env.condition
        best = best_statuses(env)
        assert env.condition == condition  # the search ran on a copy
        returns = {}
        for status in itertools.product((0, 1), repeat=len(env.possible_agents)):
            toggles = [
                int(a != b) for a, b in zip(status, condition["initial_status"], strict=True)
            ]
            returns[status] = _episode_return(env, toggles, condition)
        env.reset(options=condition)
        episode = rollout(env, optimum_policy(), seed=seed, options=condition)
        assert episode.summary()["return"] == pytest.approx(max(returns.values()), abs=1e-9)
        assert returns[tuple(best)] == pytest.approx(max(returns.values()), abs=1e-9)
    env.close()


def test_optimum_applies_to_switching_only() -> None:
    switching = marl_vvc.parallel_env("13Bus_capswitch")
    feeder = marl_vvc.parallel_env("13Bus")
    assert "optimum" in applicable_baselines(switching)
    assert "optimum" not in applicable_baselines(feeder)
    switching.close()
    feeder.close()
