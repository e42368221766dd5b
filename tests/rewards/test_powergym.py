"""PowerGym's reward as a pure function: hand-computed terms on a tiny snapshot."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from marl_vvc.core.outcome import GridSnapshot
from marl_vvc.rewards.powergym import VvcState, powergym_reward

W = SimpleNamespace(power_w=10.0, cap_w=0.5, reg_w=0.1, soc_w=2.0, dis_w=0.3, curtail_w=0.7)


def _snap(vmax: list[float], vmin: list[float], losses: float, total: float) -> GridSnapshot:
    v = np.array(vmax + vmin)
    return GridSnapshot(v, np.array(vmax), np.array(vmin), losses, 0.0, total, 0.0, True, None)


def _state(**kw) -> VvcState:
    base = {
        "cap_prev": [1, 0],
        "cap": [0, 0],
        "tap_prev": [1.1, 1.0],
        "tap": [1.0, 1.0],
        "tap_step": [0.2 / 32, 0.2 / 32],
        "bat_setpoint": [50.0],
        "bat_soc": [0.4],
        "bat_soc0": [0.5],
        "bat_max_kw": [100.0],
        "pv_curtail": np.zeros(0),
    }
    base.update(kw)
    return VvcState(**base)


def test_terms_costs_and_info_by_hand() -> None:
    snap = _snap([1.06, 1.0, 0.99], [1.0, 0.93, 0.99], losses=20.0, total=-400.0)
    out = powergym_reward(W, 0.95, 1.05, _state(), snap, last=False)
    # one switching, 16 tap steps, half discharge; no SoC cost before the last step
    np.testing.assert_allclose(out.device_costs, [0.5, 0.0, 0.1 * 16, 0.0, 0.3 * 0.5])
    np.testing.assert_allclose(out.violation, [0.01, 0.02, 0.0], atol=1e-12)
    assert out.terms.power_loss_ratio == pytest.approx(0.05)
    assert out.terms.loss == pytest.approx(-0.5)
    assert out.terms.voltage == pytest.approx(-0.03)
    assert out.terms.control == pytest.approx(-(0.5 + 1.6 + 0.15))
    assert out.terms.reward == pytest.approx(out.terms.loss + out.terms.voltage + out.terms.control)
    assert out.info["av_cap_err"] == pytest.approx(0.5)
    assert out.info["av_reg_err"] == pytest.approx(8.0)
    assert out.info["av_soc_err"] == pytest.approx(0.1)


def test_soc_cost_only_at_the_last_step_and_pv_curtailment() -> None:
    snap = _snap([1.0], [1.0], losses=1.0, total=-100.0)
    state = _state(pv_curtail=np.array([0.5, 0.0]))
    mid = powergym_reward(W, 0.95, 1.05, state, snap, last=False)
    end = powergym_reward(W, 0.95, 1.05, state, snap, last=True)
    assert end.device_costs[4] - mid.device_costs[4] == pytest.approx(2.0 * 0.1)
    np.testing.assert_allclose(end.device_costs[5:], [0.7 * 0.5, 0.0])


def test_the_function_is_pure() -> None:
    snap = _snap([1.06], [0.93], losses=5.0, total=-50.0)
    state = _state()
    a = powergym_reward(W, 0.95, 1.05, state, snap, last=True)
    b = powergym_reward(W, 0.95, 1.05, state, snap, last=True)
    assert a.terms == b.terms
    np.testing.assert_array_equal(a.device_costs, b.device_costs)
    assert state.cap == [0, 0] and state.bat_soc == [0.4]


def test_loss_ratio_is_clipped_and_handles_no_supply() -> None:
    out = powergym_reward(W, 0.95, 1.05, _state(), _snap([1.0], [1.0], 5.0, 0.0), last=False)
    assert out.terms.power_loss_ratio == 1.0
    out = powergym_reward(W, 0.95, 1.05, _state(), _snap([1.0], [1.0], 5.0, 100.0), last=False)
    assert out.terms.power_loss_ratio == 0.0
