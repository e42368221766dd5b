"""What-if steps (``GridCore.trial``): scored like a real step, and leave no trace."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import marl_vvc
from marl_vvc.errors import ResetNeededError


def _nearby(env: Any) -> dict[str, Any]:
    """Random discrete settings; box actions a tenth of the way from hold to a random point
    (far-off ANM6 set-points collapse the grid, where the solution depends on the start)."""
    hold = env.hold_actions()
    out = {}
    for agent in env.agents:
        a = env.action_space(agent).sample()
        out[agent] = (
            a if np.ndim(a) == 0 else (hold[agent] + 0.1 * (a - hold[agent])).astype(a.dtype)
        )
    return out


def _fleet_state(core: Any) -> list[dict[str, Any]]:
    return [
        {k: np.array(v, copy=True) for k, v in vars(f).items() if isinstance(v, list | np.ndarray)}
        for f in core.fleets
    ]


@pytest.mark.parametrize("system", ["13Bus", "ANM6Easy"])
def test_trial_scores_like_the_real_step_and_restores_everything(system: str) -> None:
    env = marl_vvc.parallel_env(system)
    env.reset(seed=4)
    core = env.core
    rng = np.random.default_rng(1)
    for agent in env.possible_agents:
        env.action_space(agent).seed(int(rng.integers(1000)))
    for _ in range(3):
        env.step(_nearby(env))
    before = (core.t, core.snapshot, core.engine.clock(), env.state(), _fleet_state(core))
    values = core.validate(_nearby(env))
    trial = core.trial(values)
    assert core.t == before[0] and core.snapshot is before[1]
    assert core.engine.clock() == before[2]
    np.testing.assert_array_equal(env.state(), before[3])
    for saved, now in zip(before[4], _fleet_state(core), strict=True):
        for key, value in saved.items():
            np.testing.assert_array_equal(now[key], value, err_msg=key)
    real = core.step_validated(values)
    assert real.t == trial.t
    assert real.reward == pytest.approx(trial.reward, abs=1e-4)
    np.testing.assert_allclose(real.snapshot.v, trial.snapshot.v, atol=1e-5)
    env.close()


def test_trial_needs_a_running_episode() -> None:
    env = marl_vvc.parallel_env("13Bus")
    with pytest.raises(ResetNeededError, match="reset"):
        env.core.trial(env.core.hold_values())
    env.close()
