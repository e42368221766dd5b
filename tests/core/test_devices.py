"""Setpoint projection rules (PowerGym's) and action validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marl_vvc.core.action_checks import check_box, check_discrete
from marl_vvc.core.devices import Battery, Regulator
from marl_vvc.errors import InvalidActionError

BAT = Battery("b", "680", max_kw=200.0, pf=0.95, max_kwh=1000.0, initial_kwh=1000.0)


def test_regulator_taps_match_powergym_arithmetic() -> None:
    reg = Regulator("r", 2, "rg60")
    assert reg.step == (1.1 - 0.9) / 32 == 0.006250000000000002
    assert reg.tap(32) == pytest.approx(1.1) and reg.tap(0) == 0.9
    assert reg.tap(12) == 12 * reg.step + 0.9


def test_discrete_levels() -> None:
    kw = BAT.level_kw()
    assert kw[16] == 0 and kw[0] == -200 and kw[32] == 200 and kw[17] == 12.5


@given(level=st.integers(0, 32), kwh=st.floats(0, 1000))
def test_discrete_projection_respects_energy(level: int, kwh: float) -> None:
    new, kw = BAT.project_level(level, kwh, 1.0)
    assert 0 <= new <= 32
    assert kw <= kwh + 1e-6  # cannot discharge more than stored
    assert kw >= kwh - 1000 - 1e-6  # cannot charge beyond capacity
    assert abs(new - 16) <= abs(level - 16) and (new - 16) * (level - 16) >= 0


def test_discrete_projection_examples() -> None:
    assert BAT.project_level(32, 1000, 1.0) == (32, 200.0)
    assert BAT.project_level(0, 1000, 1.0) == (16, 0.0)  # full: cannot charge
    assert BAT.project_level(32, 30, 1.0) == (18, 25.0)  # 30 kWh left: 2 levels
    assert BAT.project_level(0, 990, 1.0) == (16, 0.0)  # 10 kWh room < one level
    assert BAT.project_level(0, 950, 1.0) == (12, -50.0)


@given(u=st.floats(-1, 1), kwh=st.floats(0, 1000))
def test_continuous_projection(u: float, kwh: float) -> None:
    kw = BAT.project_continuous(u, kwh, 1.0)
    assert kwh - 1000 - 1e-9 <= kw <= kwh + 1e-9
    assert abs(kw) <= 200 + 1e-9
    assert kw * u >= 0


def test_battery_kvar_rules() -> None:
    assert BAT.kvar(95.0, over_pf=True) == pytest.approx(100.0)
    assert BAT.kvar(95.0, over_pf=False) == pytest.approx(95.0 * math.tan(math.acos(0.95)))


@pytest.mark.parametrize("bad", [2, -1, 1.5, float("nan"), True, "1", None, np.array([0, 1])])
def test_check_discrete_rejects(bad) -> None:
    with pytest.raises(InvalidActionError, match=r"cap: .*Discrete\(2\)"):
        check_discrete("cap", bad, 2)


@pytest.mark.parametrize("good", [0, 1, np.int64(1), 1.0, np.array(1), np.array([1])])
def test_check_discrete_accepts(good) -> None:
    assert check_discrete("cap", good, 2) == int(np.asarray(good).reshape(()))


@pytest.mark.parametrize("bad", [1.01, -2, float("inf"), float("nan"), [0.1, 0.2], "x"])
def test_check_box_rejects(bad) -> None:
    with pytest.raises(InvalidActionError, match="bat"):
        check_box("bat", bad)
