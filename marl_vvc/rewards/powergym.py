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
    w: Weights,
    v_min: float,
    v_max: float,
    s: VvcState,
    snap: GridSnapshot,
    last: bool,
    mean_voltage: bool = False,
) -> Scored:
    """PowerGym's terms, per-device costs (device order), bus violations and info terms.

    With ``mean_voltage`` the voltage term is the buses' mean violation instead of their sum
    (the per-bus violations returned are scaled alike, so they still add up to the term).
    """
    cap_w, reg_w, dis_w = w.cap_w, w.reg_w, w.dis_w
    soc_w = w.soc_w if last else 0.0
    costs: list[float] = []
    cap_switches = 0
    for a, b in zip(s.cap, s.cap_prev, strict=True):
        if a != b:
            cap_switches += 1
            costs.append(cap_w)
        else:
            costs.append(0.0)
    reg_travel = 0.0
    for prev, tap, step in zip(s.tap_prev, s.tap, s.tap_step, strict=True):
        travel = abs(prev - tap) / step
        reg_travel += travel
        costs.append(reg_w * travel)
    soc_sum = soc_err_sum = dis_sum = 0.0
    for soc, soc0, kw, max_kw in zip(
        s.bat_soc, s.bat_soc0, s.bat_setpoint, s.bat_max_kw, strict=True
    ):
        soc_err = abs(soc - soc0)
        dis = max(kw, 0.0) / max_kw
        costs.append(dis_w * dis + soc_w * soc_err)
        soc_sum += soc
        soc_err_sum += soc_err
        dis_sum += dis
    if len(s.pv_curtail):
        costs.extend((w.curtail_w * s.pv_curtail).tolist())
    violation = bus_violation(snap.bus_vmax, snap.bus_vmin, v_min, v_max)
    if mean_voltage:
        violation /= len(violation)
    ratio = loss_ratio(snap.losses_kw, snap.total_power_kw)
    voltage, control = -float(np.add.reduce(violation)), -sum(costs)
    terms = RewardTerms(ratio, -ratio * w.power_w, voltage, control)
    n_cap, n_reg, n_bat = len(s.cap) + _EPS, len(s.tap) + _EPS, len(s.bat_soc) + _EPS
    info: dict[str, Any] = {
        "power_loss_ratio": ratio,
        "vol_reward": voltage,
        "ctrl_reward": control,
        "av_cap_err": cap_switches / n_cap,
        "av_reg_err": reg_travel / n_reg,
        "av_dis_err": dis_sum / n_bat,
        "av_soc_err": soc_err_sum / n_bat,
        "av_soc": soc_sum / n_bat,
    }
    return Scored(terms, np.array(costs), violation, info)
