"""Gym-ANM's reward as a pure function: clipping and shares that add up."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from marl_vvc.core.outcome import GridSnapshot
from marl_vvc.rewards.anm import AnmFlows, anm_reward, diverged_reward

P = SimpleNamespace(lam=100.0, clip_loss=1.0, clip_penalty=100.0, gamma=0.995)


def _snap(vmax: list[float], vmin: list[float]) -> GridSnapshot:
    return GridSnapshot(
        np.array(vmax), np.array(vmax), np.array(vmin), 0.0, 0.0, 0.0, 0.0, True, None
    )


def test_unclipped_terms_by_hand() -> None:
    flows = AnmFlows(0.02, np.array([0.1, 0.0]), np.array([0.05]), np.zeros(3), n_other=1)
    out = anm_reward(P, 0.25, 0.95, 1.05, flows, _snap([1.07, 1.0, 1.0], [1.0, 1.0, 0.94]))
    e = 0.25 * (0.02 + 0.1 - 0.05)
    assert out.info["e_loss"] == pytest.approx(e)
    np.testing.assert_allclose(out.violation, 0.25 * 100 * np.array([0.02, 0.0, 0.01]))
    assert out.terms.voltage == pytest.approx(-0.25 * 100 * 0.03)
    np.testing.assert_allclose(out.device_costs, [0.0, 0.25 * 0.1, 0.0, -0.25 * 0.05])
    # losses + device costs + violations make up the reward
    total = -(0.25 * 0.02 + out.device_costs.sum() + out.violation.sum())
    assert out.terms.reward == pytest.approx(total)


def test_clipping_scales_every_share() -> None:
    flows = AnmFlows(10.0, np.array([4.0]), np.zeros(0), np.array([50.0, 0.0]), n_other=0)
    out = anm_reward(P, 1.0, 0.95, 1.05, flows, _snap([1.0, 1.0], [1.0, 1.0]))
    assert out.info["e_loss"] == pytest.approx(1.0) and out.info["penalty"] == 100.0
    assert out.violation.sum() == pytest.approx(100.0)
    shares = -(out.device_costs.sum() + out.violation.sum()) + out.terms.loss
    assert shares == pytest.approx(out.terms.reward)
    assert out.terms.reward == pytest.approx(-101.0)


def test_diverged_reward() -> None:
    assert diverged_reward(P) == pytest.approx(-100.0 / 0.005)
