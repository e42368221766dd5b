"""The capacitor-switching reward as a pure function."""

from __future__ import annotations

import numpy as np
import pytest

from marl_vvc.rewards.switching import switching_reward

W = np.array([[0.75, 0.0], [0.25, 1.0]])


def test_change_mode_by_hand_and_split_adds_up() -> None:
    out = switching_reward(
        [1, 0],
        (100.0, 90.0, 80.0),
        (np.array([0.02, 0.0]), np.array([0.01, 0.01])),
        W,
        violation_weight=2.0,
        switch_cost=0.01,
    )
    assert out.loss_reduction == pytest.approx(0.1)
    assert out.violation_penalty == pytest.approx(0.0)
    assert out.reward == pytest.approx(0.1 - 0.01)
    assert out.split.sum() == pytest.approx(out.reward)
    np.testing.assert_allclose(
        out.split, [0.1 - 2 * (0.75 * -0.01) - 0.01, -2 * (0.25 * -0.01 + 0.01)]
    )


def test_absolute_mode_and_no_toggle() -> None:
    out = switching_reward(
        [0, 0],
        (100.0, 80.0, 80.0),
        (np.array([0.0, 0.0]), np.array([0.01, 0.0])),
        W,
        violation_weight=1.0,
        switch_cost=0.5,
        mode="absolute",
    )
    assert out.switches == 0 and out.reward == pytest.approx(-0.01)
    assert out.split.sum() == pytest.approx(out.reward)


def test_zero_initial_losses_give_no_loss_term() -> None:
    out = switching_reward(
        [1, 1], (0.0, 0.0, 5.0), (np.zeros(2), np.zeros(2)), W, violation_weight=1, switch_cost=0
    )
    assert out.loss_reduction == 0.0 and out.reward == 0.0
