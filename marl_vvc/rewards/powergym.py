"""PowerGym's Volt-Var reward as a pure function of the step's device states and snapshot.

Global reward ``R = p + v + c`` (each term ≤ 0):

- ``p = −clip(losses / supplied power, 0, 1)·power_w``
- ``v = −Σ_bus [max(0, max V_bus − v_max) + max(0, v_min − min V_bus)]`` (only the highest and
  lowest node of each bus count)
- ``c = −Σ_i C_i``, the devices' control costs: ``cap_w`` per capacitor switching,
  ``reg_w`` per tap step moved, ``dis_w`` × discharge fraction per battery plus, at the last
  step, ``soc_w`` × |SoC − initial SoC|; PV inverters (``_pv`` systems) pay ``curtail_w`` ×
  curtailed fraction of their rating.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from marl_vvc.core.outcome import GridSnapshot, RewardTerms, Scored
from marl_vvc.rewards.terms import bus_violation, loss_ratio

_EPS = 1e-10


class Weights(Protocol):
    """PowerGym reward weights (see :class:`marl_vvc.systems.config.RewardWeights`)."""

    power_w: float
    cap_w: float
    reg_w: float
    soc_w: float
    dis_w: float
    curtail_w: float


class VvcState(NamedTuple):
    """Device states a PowerGym reward reads (before and after the step).

    Attributes:
        cap_prev: ``(n_cap,)`` capacitor statuses before the step.
        cap: ``(n_cap,)`` statuses after.
        tap_prev: ``(n_reg,)`` tap ratios before.
        tap: ``(n_reg,)`` tap ratios after.
        tap_step: ``(n_reg,)`` ratio per tap position.
        bat_setpoint: ``(n_bat,)`` projected kW commands (+ = discharge).
        bat_soc: ``(n_bat,)`` state of charge after the step.
        bat_soc0: ``(n_bat,)`` state of charge at reset.
        bat_max_kw: ``(n_bat,)`` rated kW.
        pv_curtail: ``(n_pv,)`` curtailed fraction of each PV inverter's rating.
    """

    cap_prev: Sequence[int]
    cap: Sequence[int]
    tap_prev: Sequence[float]
    tap: Sequence[float]
    tap_step: Sequence[float]
    bat_setpoint: Sequence[float]
    bat_soc: Sequence[float]
    bat_soc0: Sequence[float]
    bat_max_kw: Sequence[float]
    pv_curtail: np.ndarray


def powergym_reward(
    w: Weights, v_min: float, v_max: float, s: VvcState, snap: GridSnapshot, last: bool
) -> Scored:
    """PowerGym's terms, per-device costs (device order), bus violations and info terms."""
    n_cap, n_reg, n_bat = len(s.cap), len(s.tap), len(s.bat_soc)
    costs = [0.0] * (n_cap + n_reg + n_bat)
    cap_switches = 0
    for i in range(n_cap):
        if s.cap[i] != s.cap_prev[i]:
            costs[i] = w.cap_w
            cap_switches += 1
    reg_travel = 0.0
    for i in range(n_reg):
        travel = abs(s.tap_prev[i] - s.tap[i]) / s.tap_step[i]
        reg_travel += travel
        costs[n_cap + i] = w.reg_w * travel
    soc_sum = soc_err_sum = dis_sum = 0.0
    for j in range(n_bat):
        soc = s.bat_soc[j]
        soc_err = abs(soc - s.bat_soc0[j])
        dis = max(s.bat_setpoint[j], 0.0) / s.bat_max_kw[j]
        costs[n_cap + n_reg + j] = w.dis_w * dis + (w.soc_w * soc_err if last else 0.0)
        soc_sum += soc
        soc_err_sum += soc_err
        dis_sum += dis
    violation = bus_violation(snap.bus_vmax, snap.bus_vmin, v_min, v_max)
    ratio = loss_ratio(snap.losses_kw, snap.total_power_kw)
    cost_arr = (
        np.concatenate((costs, w.curtail_w * s.pv_curtail))
        if len(s.pv_curtail)
        else (np.array(costs))
    )
    terms = RewardTerms(
        power_loss_ratio=ratio,
        loss=-ratio * w.power_w,
        voltage=-float(violation.sum()),
        control=-float(cost_arr.sum()),
    )
    info: dict[str, Any] = {
        "power_loss_ratio": ratio,
        "vol_reward": terms.voltage,
        "ctrl_reward": terms.control,
        "av_cap_err": cap_switches / (n_cap + _EPS),
        "av_reg_err": reg_travel / (n_reg + _EPS),
        "av_dis_err": dis_sum / (n_bat + _EPS),
        "av_soc_err": soc_err_sum / (n_bat + _EPS),
        "av_soc": soc_sum / (n_bat + _EPS),
    }
    return Scored(terms, cost_arr, violation, info)
