"""How fast can a PowerGym step be? The floor under issue 9's speed goals, measured.

Three ways of doing the same step, timed in one run, interleaved episode by episode on the
same recorded actions and loads:

- ``bare``: the OpenDSS work only (:class:`~marl_vvc.tools.bare_engine.BareEngine`, the
  denominator of ``marl-vvc bench``);
- ``inlined``: a hand-inlined PowerGym step on the environment's own engine: the same engine
  writes, solve and reads, PowerGym's reward terms, the observation and the info values,
  but no layers (no fleets, task, typed outcome, validation messages or collapse check);
- ``env``: :class:`~marl_vvc.envs.single.PowerGymEnv` ``step``.

It then times the solves alone, inside the bare loop and inside the environment's loop: the
same solves (same iterations, same voltages) cost more after the environment's Python work,
which evicts OpenDSS's data from the CPU caches; an isolated solve with and without 2 MB of
memory touched in between shows the size of that effect.

This script reaches into ``env.core`` on purpose: it measures the core itself. The inlined step
reproduces the environment's numbers (``tests/examples/test_step_floor.py``), so the floor is
a floor of the same work. Run::

    python examples/step_floor.py --env 13Bus --rounds 300
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import marl_vvc
from marl_vvc.systems import resolve_system
from marl_vvc.tools.bare_engine import BareEngine, engine_ops
from marl_vvc.tools.bench import daily_multipliers

POWERGYM_TERMS = (
    "power_loss_ratio",
    "vol_reward",
    "ctrl_reward",
    "av_cap_err",
    "av_reg_err",
    "av_dis_err",
    "av_soc_err",
    "av_soc",
)


class InlinedStep:
    """PowerGym's step written out flat over one environment's engine (discrete batteries).

    Call :meth:`start` after every ``env.reset``; :meth:`step` then does what ``env.step``
    does for an in-range ``MultiDiscrete`` action and returns ``(obs, reward, info)``.
    """

    def __init__(self, env: Any) -> None:
        core, task = env.core, env.task
        if env.config.devices.continuous_batteries:
            raise ValueError("the inlined step covers discrete batteries only (not _cbat)")
        self.env, self.eng = env, core.engine
        caps, regs, bats = (core.fleet[k] for k in ("capacitor", "regulator", "battery"))
        self.caps, self.regs, self.bats = caps, regs, bats
        self.n_cap, self.n_reg = len(caps.devices), len(regs.devices)
        self.upper = np.array([2] * self.n_cap + [r.levels for r in regs.devices])
        self.upper = np.concatenate((self.upper, [b.levels for b in bats.devices]))
        w = task.weights
        self.w = (w.power_w, w.cap_w, w.reg_w, w.dis_w, w.soc_w)
        self.band = (task.v_min, task.v_max)
        self.task = task
        self.dt = core.step_hours
        self.order, self.offsets = self.eng.bus_node_order, self.eng.bus_offsets

    def start(self) -> None:
        """Take the device state the environment's reset left."""
        self.cap = list(self.caps.status)
        self.idx = list(self.regs.index)
        self.tap = list(self.regs.tap)
        self.kwh = list(self.bats.kwh)
        self.soc0 = [b.initial_soc for b in self.bats.devices]
        self.t = 0

    def _write(self, v: list[int]) -> tuple[list[float], list[float]]:
        """Engine writes of an action; returns (new tap ratios, battery setpoints).

        The battery entries of ``v`` become the levels the projection kept.
        """
        eng, n_cap, n_reg = self.eng, self.n_cap, self.n_reg
        for i in range(n_cap):
            if v[i] != self.cap[i]:
                eng.set_capacitor(self.caps.names[i], v[i])
        taps = []
        for i, reg in enumerate(self.regs.devices):
            taps.append(v[n_cap + i] * reg.step + reg.tap_min)
            if v[n_cap + i] != self.idx[i]:
                eng.set_tap(reg.name, reg.winding, taps[i])
        kws = []
        over_pf = self.bats.kvar_over_pf
        for j, bat in enumerate(self.bats.devices):
            level, kw = bat.project_level(v[n_cap + n_reg + j], self.kwh[j], self.dt)
            v[n_cap + n_reg + j] = level
            kws.append(kw)
            eng.set_generator(bat.name, kw, bat.kvar(kw, over_pf))
        return taps, kws

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, dict[str, Any]]:
        """One step of an in-range action (raises ValueError otherwise)."""
        if not ((action >= 0).all() and (action < self.upper).all()):
            raise ValueError("action out of range")
        v = action.tolist()
        eng, n_cap, n_reg = self.eng, self.n_cap, self.n_reg
        taps, kws = self._write(v)
        eng.solve()
        self.t += 1
        p = eng.generator_powers_kw(self.bats.names)
        pl = p.tolist()
        for j, m in enumerate(self.bats.max_kwh.tolist()):
            e = min(max(self.kwh[j] + pl[j] * self.dt, 0.0), m)
            self.kwh[j] = float(round(e)) if self.bats.integer_kwh else e
        volts = eng.node_vmag_pu()[self.order]
        vmax = np.maximum.reduceat(volts, self.offsets)
        vmin = np.minimum.reduceat(volts, self.offsets)
        loss_kw, _ = eng.losses_kw()
        tot_kw, _ = eng.total_power_kw()
        power_w, cap_w, reg_w, dis_w, soc_w = self.w
        soc_w = soc_w if self.t >= self.task.horizon else 0.0
        switched = [a != b for a, b in zip(v[:n_cap], self.cap, strict=True)]
        costs = [cap_w if s else 0.0 for s in switched]
        regs = self.regs.devices
        travel = [abs(a - b) / r.step for a, b, r in zip(self.tap, taps, regs, strict=True)]
        costs += [reg_w * x for x in travel]
        socs = [e / m for e, m in zip(self.kwh, self.bats.max_kwh.tolist(), strict=True)]
        dis = [max(kw, 0.0) / m for kw, m in zip(kws, self.bats.max_kw.tolist(), strict=True)]
        soc_err = [abs(s - s0) for s, s0 in zip(socs, self.soc0, strict=True)]
        costs += [dis_w * d + soc_w * e for d, e in zip(dis, soc_err, strict=True)]
        lo, hi = self.band
        viol = np.maximum(vmax - hi, 0.0) + np.maximum(lo - vmin, 0.0)
        if self.task.mean_voltage:
            viol /= len(viol)
        ratio = 1.0 if tot_kw == 0.0 else min(max(-loss_kw / tot_kw, 0.0), 1.0)
        voltage, control = -float(np.add.reduce(viol)), -sum(costs)
        loss = -ratio * power_w
        reward = loss + voltage + control + 0.0
        ticks = taps if self.task.tap_ratio_obs else v[n_cap : n_cap + n_reg]
        bats = zip(socs, pl, self.bats.max_kw, strict=True)
        bat_obs = [x for s, kw, m in bats for x in (s, -kw / m)]
        obs = np.concatenate((volts, v[:n_cap], ticks, bat_obs))
        eps = 1e-10
        info = {
            "power_loss_ratio": ratio,
            "vol_reward": voltage,
            "ctrl_reward": control,
            "av_cap_err": sum(switched) / (n_cap + eps),
            "av_reg_err": sum(travel) / (n_reg + eps),
            "av_dis_err": sum(dis) / (len(dis) + eps),
            "av_soc_err": sum(soc_err) / (len(dis) + eps),
            "av_soc": sum(socs) / (len(dis) + eps),
            "global_reward": reward,
            "violating_buses": int(np.count_nonzero(viol)),
            "n_buses": len(viol),
            "loss_kw": loss_kw,
            "applied": v,
        }
        self.cap, self.idx, self.tap = v[:n_cap], v[n_cap : n_cap + n_reg], taps
        return obs, reward, info


def _per_step(reset: Callable[[], Any], step: Callable[[Any], Any], items: list[Any]) -> float:
    reset()
    t0 = time.perf_counter()
    for item in items:
        step(item)
    return (time.perf_counter() - t0) / len(items)


def measure(system: str = "13Bus", rounds: int = 300, seed: int = 0) -> dict[str, Any]:
    """Median µs per step of bare, inlined and env, and the solves' own cost in each loop."""
    config = resolve_system(system)
    bare = BareEngine(config)
    env, twin = marl_vvc.make_env(system), marl_vvc.make_env(system)
    horizon = env.horizon
    mult = daily_multipliers(len(bare.load_names), horizon, config.scenario.scale)
    options = {"load_multipliers": dict(zip(bare.load_names, mult.tolist(), strict=True))}
    env.reset(seed=seed, options=options)
    env.action_space.seed(seed)
    start = dict(zip(env.agent_ids, env.core.hold_values(), strict=True))
    actions = [env.action_space.sample() for _ in range(horizon)]
    applied = [env.step(a)[4]["applied"] for a in actions]
    first, steps = engine_ops(config, start, applied)
    inlined = InlinedStep(twin)
    solves = {"bare": 0.0, "env": 0.0}
    _time_solves(bare.engine, solves, "bare")
    _time_solves(env.core.engine, solves, "env")
    times: dict[str, list[float]] = {"bare": [], "inlined": [], "env": []}

    def inlined_reset() -> None:
        twin.reset(options=options)
        inlined.start()

    for _ in range(rounds):
        times["bare"].append(_per_step(lambda: bare.reset(mult, first), bare.step, steps))
        times["inlined"].append(_per_step(inlined_reset, inlined.step, actions))
        times["env"].append(_per_step(lambda: env.reset(options=options), env.step, actions))
    per = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    n = rounds * (horizon + 1)  # every episode's reset solve is in the total
    out: dict[str, Any] = {"system": system, **{f"{k}_us": v for k, v in per.items()}}
    out["inlined_ratio"] = per["inlined"] / per["bare"]
    out["env_ratio"] = per["env"] / per["bare"]
    out["solve_in_bare_us"] = solves["bare"] / n * 1e6
    out["solve_in_env_us"] = solves["env"] / n * 1e6
    out.update(isolated_solves(bare, mult, first))
    for e in (env, twin):
        e.close()
    bare.close()
    return out


def _time_solves(engine: Any, acc: dict[str, float], key: str) -> None:
    """Wrap ``engine.solve`` so that its seconds add up in ``acc[key]``."""
    solve = engine.solve

    def timed(*, advance: bool = True) -> tuple[bool, str | None]:
        t0 = time.perf_counter()
        result = solve(advance=advance)
        acc[key] += time.perf_counter() - t0
        return result

    engine.solve = timed


def isolated_solves(bare: BareEngine, mult: np.ndarray, first: list[Any]) -> dict[str, float]:
    """µs of a solve with no writes, alone and with 2 MB of memory touched before each."""
    junk = np.zeros(1 << 18)
    out = {}
    for label, touch in (("isolated_solve_us", False), ("isolated_solve_touched_us", True)):
        runs = []
        for _ in range(40):
            bare.reset(mult, first)
            total = 0.0
            for _ in range(mult.shape[1] - 1):
                if touch:
                    junk += 1.0
                t0 = time.perf_counter()
                bare.engine.solve()
                total += time.perf_counter() - t0
            runs.append(total / (mult.shape[1] - 1))
        out[label] = statistics.median(runs) * 1e6
    return out


def main() -> None:
    """Print the measurements (``--json`` for the raw numbers)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="13Bus", help="a PowerGym system with discrete batteries")
    p.add_argument("--rounds", type=int, default=300, help="episodes timed per variant")
    p.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = p.parse_args()
    r = measure(args.env, args.rounds)
    if args.json:
        print(json.dumps(r, indent=1))
        return
    print(f"{r['system']}: µs per step (ratio to the bare OpenDSS work)")
    print(f"  bare     {r['bare_us']:8.1f}")
    print(f"  inlined  {r['inlined_us']:8.1f}  ({r['inlined_ratio']:.2f}x)")
    print(f"  env      {r['env_us']:8.1f}  ({r['env_ratio']:.2f}x)")
    print(f"solve alone: {r['solve_in_bare_us']:.1f} µs in the bare loop, ")
    print(f"  {r['solve_in_env_us']:.1f} µs in the env loop (same solves)")
    print(f"isolated solve: {r['isolated_solve_us']:.1f} µs, ")
    print(f"  {r['isolated_solve_touched_us']:.1f} µs with 2 MB touched before each")


if __name__ == "__main__":
    main()
