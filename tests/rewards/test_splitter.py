"""Reward splitters: shares add up to the global reward; shared, local and blends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marl_vvc.core.outcome import RewardTerms
from marl_vvc.errors import ConfigError
from marl_vvc.rewards.splitter import RewardSplitter

BUS_W = np.array([[0.8, 0.0, 0.5], [0.2, 1.0, 0.5]])
LOSS_W = np.array([0.3, 0.7])


def _terms(costs: np.ndarray, viol: np.ndarray, loss: float) -> RewardTerms:
    return RewardTerms(0.0, loss, -float(viol.sum()), -float(costs.sum()))


@given(
    st.lists(st.floats(0, 10), min_size=2, max_size=2),
    st.lists(st.floats(0, 1), min_size=3, max_size=3),
    st.floats(-5, 0),
)
def test_split_shares_add_up(costs: list[float], viol: list[float], loss: float) -> None:
    c, v = np.array(costs), np.array(viol)
    terms = _terms(c, v, loss)
    shares = RewardSplitter(BUS_W, LOSS_W)(terms, c, v)
    assert shares.sum() == pytest.approx(terms.reward, abs=1e-9)


def test_shared_local_and_blend() -> None:
    c, v = np.array([1.0, 0.0]), np.array([0.1, 0.2, 0.4])
    terms = _terms(c, v, -2.0)
    np.testing.assert_allclose(RewardSplitter(BUS_W, LOSS_W, "shared")(terms, c, v), terms.reward)
    # zones: bus 0 -> agent 0 (0.8), bus 1 -> agent 1, bus 2 tie -> agent 0 (first)
    local = RewardSplitter(BUS_W, LOSS_W, "local")(terms, c, v)
    np.testing.assert_allclose(local, [-(1.0 + 0.1 + 0.4), -0.2])
    half = RewardSplitter(BUS_W, LOSS_W, "local", local_ratio=0.5)(terms, c, v)
    np.testing.assert_allclose(half, 0.5 * terms.reward + 0.5 * local)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "selfish"}, "reward_mode"),
        ({"local_ratio": 1.5}, "local_ratio"),
        ({"bus_weights": BUS_W * 2}, "bus weights"),
        ({"loss_weights": -LOSS_W}, "loss weights"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"bus_weights": BUS_W, "loss_weights": LOSS_W, **kwargs}
    with pytest.raises(ConfigError, match=match):
        RewardSplitter(**args)


def test_difference_mode_is_reward_minus_counterfactual() -> None:
    c, v = np.array([1.0, 0.0]), np.array([0.1, 0.2, 0.4])
    terms = _terms(c, v, -2.0)
    splitter = RewardSplitter(BUS_W, LOSS_W, "difference")
    shares = splitter(terms, c, v, np.array([terms.reward - 0.25, np.nan]))
    np.testing.assert_allclose(shares, [0.25, 0.0])  # the holding agent gets no credit
    with pytest.raises(ConfigError, match="counterfactual"):
        splitter(terms, c, v)
