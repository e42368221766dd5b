"""How fast can a PowerGym step be? The floor under issue 9's speed goals, measured.

The same steps done five ways, timed in one run, interleaved episode by episode on the same
recorded actions and loads:

- ``bare``: the OpenDSS work only (:class:`~marl_vvc.tools.bare_engine.BareEngine`, the
  denominator of ``marl-vvc bench``);
- ``inlined``: a hand-inlined PowerGym step on an environment's own engine: the same engine
  writes, solve and reads, PowerGym's reward terms, the observation and the info values,
  but no layers (no fleets, task, typed outcome, validation messages or collapse check);
- ``env``: :class:`~marl_vvc.envs.single.PowerGymEnv` ``step``;
- ``inlined_parallel``: the inlined step plus what PettingZoo needs (a dict action, local
  observations, ``split`` rewards, per-agent infos);
- ``parallel``: :class:`~marl_vvc.envs.parallel.VVCParallelEnv` ``step``.

It then times the solves alone, inside the bare loop and inside the environment's loop: the
same solves (same iterations, same voltages) cost more after the environment's Python work,
which evicts OpenDSS's data from the CPU caches; an isolated solve with and without 2 MB of
memory touched in between shows the size of that effect.

Only the flat steps and the solve timer reach into ``env.core`` (its engine and fleets), on
purpose: they measure the core itself; everything else uses the public env API. The inlined step
reproduces the environment's numbers (``tests/examples/test_step_floor.py``), so the floor is
a floor of the same work. Run::

    python examples/step_floor.py --env 13Bus --rounds 300
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import marl_vvc
from marl_vvc.core.fleets import DISCHARGE_BOUND
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
        self.eng = core.engine
        caps, regs, bats = (core.fleet[k] for k in ("capacitor", "regulator", "battery"))
        self.caps, self.regs, self.bats = caps, regs, bats
        self.n_cap, self.n_reg = len(caps.devices), len(regs.devices)
        sizes = [2] * self.n_cap + [d.levels for d in (*regs.devices, *bats.devices)]
        self.upper = np.array(sizes)
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
        reward, info = self._solve_and_score(v)
        n_cap, n_reg = self.n_cap, self.n_reg
        ticks = self.tap if self.task.tap_ratio_obs else v[n_cap : n_cap + n_reg]
        bats = zip(self.soc, self.kw, self.bats.max_kw, strict=True)
        bat_obs = [x for s, kw, m in bats for x in (s, -kw / m)]
        obs = np.concatenate((self.volts, v[:n_cap], ticks, bat_obs))
        return obs, reward, info

    def _solve_and_score(self, v: list[int]) -> tuple[float, dict[str, Any]]:
        """Writes, solve, reads and PowerGym's reward of device-order values ``v``."""
        eng, n_cap, n_reg = self.eng, self.n_cap, self.n_reg
        taps, kws = self._write(v)
        eng.solve()
        self.t += 1
        pl = eng.generator_powers_kw(self.bats.names).tolist()
        for j, m in enumerate(self.bats.max_kwh.tolist()):
            e = min(max(self.kwh[j] + pl[j] * self.dt, 0.0), m)
            self.kwh[j] = float(round(e)) if self.bats.integer_kwh else e
        volts = eng.node_vmag_pu()[self.order]
        self.vmax = vmax = np.maximum.reduceat(volts, self.offsets)
        self.vmin = vmin = np.minimum.reduceat(volts, self.offsets)
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
        self.loss = loss = -ratio * power_w
        reward = loss + voltage + control + 0.0
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
        self.volts, self.viol, self.costs, self.kw, self.soc = volts, viol, costs, pl, socs
        return reward, info


class InlinedParallelStep(InlinedStep):
    """The parallel environment's step written out flat (``split`` rewards, local views).

    What the single-agent step does, plus what PettingZoo needs: a dict action checked
    agent by agent, each agent's local observation (one gather from a system-wide feature
    vector), its split reward and its info dict. Takes the observation indices and the
    influence weights the environment measured when it was built (constants).
    """

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        if env.splitter.mode != "split" or env.splitter.local_ratio != 1.0:
            raise ValueError("the inlined parallel step covers the default split reward only")
        self.ids = list(env.possible_agents)
        self.index = [env.observe.index[a] for a in self.ids]
        self.weights = env.influence.bus_weights
        self.loss_weights = env.influence.loss_weights
        self.levels = [r.levels - 1 for r in self.regs.devices]
        self.upper_list = self.upper.tolist()
        self.time_features = env.observe.time_features

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:  # type: ignore[override]
        """One step of a joint action of in-range integers (raises ValueError otherwise)."""
        if actions.keys() != set(self.ids):
            raise ValueError("one action per agent")
        v = [int(actions[a]) for a in self.ids]
        if not all(0 <= x < u for x, u in zip(v, self.upper_list, strict=True)):
            raise ValueError("action out of range")
        _, info = self._solve_and_score(v)
        n_cap, n_reg = self.n_cap, self.n_reg
        feats = v[:n_cap] + [
            i / n for i, n in zip(v[n_cap : n_cap + n_reg], self.levels, strict=True)
        ]
        bats = zip(self.soc, self.kw, self.bats.max_kw.tolist(), strict=True)
        b = DISCHARGE_BOUND
        feats += [x for s, kw, m in bats for x in (s, min(max(-kw / m, -b), b))]
        parts: tuple[Any, ...] = (feats, self.vmin, self.vmax)
        if self.time_features:
            angle = 2.0 * math.pi * (self.t * self.dt % 24.0) / 24.0
            parts += ((math.sin(angle), math.cos(angle)),)
        f = np.concatenate(parts, dtype=np.float32)
        obs = {a: f[i] for a, i in zip(self.ids, self.index, strict=True)}
        charge = self.weights @ self.viol
        shares = -(np.array(self.costs) + charge - self.loss_weights * self.loss)
        rewards = {a: float(r) for a, r in zip(self.ids, shares, strict=True)}
        applied = info.pop("applied")
        glob = {**info, "loss": self.loss, "converged": True, "failure_penalty": 0.0}
        glob["voltage"], glob["control"] = info["vol_reward"], info["ctrl_reward"]
        glob["battery_kwh"] = float(np.abs(self.kw).sum()) * self.dt
        last = self.t >= self.task.horizon
        infos = {
            a: {**glob, "own_cost": c, "applied": x, "cost": w}
            for a, c, x, w in zip(self.ids, self.costs, applied, charge.tolist(), strict=True)
        }
        dones = dict.fromkeys(self.ids, last)
        return obs, rewards, dones, dict.fromkeys(self.ids, False), infos


def _per_step(reset: Callable[[], Any], step: Callable[[Any], Any], items: list[Any]) -> float:
    reset()
    t0 = time.perf_counter()
    for item in items:
        step(item)
    return (time.perf_counter() - t0) / len(items)


def _variants(system: str, options: dict[str, Any]) -> dict[str, tuple[Any, Any, Any]]:
    """Name -> (env, reset, step) of the four env-side variants, each on its own env."""
    out: dict[str, tuple[Any, Any, Any]] = {}
    for name, make, inline in (
        ("inlined", marl_vvc.make_env, InlinedStep),
        ("env", marl_vvc.make_env, None),
        ("inlined_parallel", marl_vvc.parallel_env, InlinedParallelStep),
        ("parallel", marl_vvc.parallel_env, None),
    ):
        env = make(system)
        if inline is None:
            out[name] = (env, partial(env.reset, options=options), env.step)
            continue
        flat = inline(env)

        def reset(env: Any = env, flat: Any = flat) -> None:
            env.reset(options=options)
            flat.start()

        out[name] = (env, reset, flat.step)
    return out


def measure(system: str = "13Bus", rounds: int = 300, seed: int = 0) -> dict[str, Any]:
    """Median µs per step of every variant, and the solves' own cost in the bare and env loops."""
    config = resolve_system(system)
    bare = BareEngine(config)
    horizon = config.scenario.horizon
    mult = daily_multipliers(len(bare.load_names), horizon, config.scenario.scale)
    options = {"load_multipliers": dict(zip(bare.load_names, mult.tolist(), strict=True))}
    variants = _variants(system, options)
    env = variants["env"][0]
    env.reset(seed=seed, options=options)
    env.action_space.seed(seed)
    start = dict(zip(env.agent_ids, env.hold_action().tolist(), strict=True))
    actions = [env.action_space.sample() for _ in range(horizon)]
    applied = [env.step(a)[4]["applied"] for a in actions]
    joint = [dict(zip(env.agent_ids, a.tolist(), strict=True)) for a in actions]
    first, steps = engine_ops(config, start, applied)
    solves = {"bare": 0.0, "env": 0.0}
    _time_solves(bare.engine, solves, "bare")
    _time_solves(env.core.engine, solves, "env")
    times: dict[str, list[float]] = {"bare": [], **{k: [] for k in variants}}
    for _ in range(rounds):
        times["bare"].append(_per_step(lambda: bare.reset(mult, first), bare.step, steps))
        for name, (_, reset, step) in variants.items():
            items = joint if "parallel" in name else actions
            times[name].append(_per_step(reset, step, items))
    per = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    n = rounds * (horizon + 1)  # every episode's reset solve is in the total
    out: dict[str, Any] = {"system": system, **{f"{k}_us": v for k, v in per.items()}}
    out.update({f"{k}_ratio": per[k] / per["bare"] for k in variants})
    out["solve_in_bare_us"] = solves["bare"] / n * 1e6
    out["solve_in_env_us"] = solves["env"] / n * 1e6
    out.update(isolated_solves(bare, mult, first))
    for e, _, _ in variants.values():
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
    print(f"  {'bare':18s} {r['bare_us']:8.1f}")
    for name in ("inlined", "env", "inlined_parallel", "parallel"):
        print(f"  {name:18s} {r[name + '_us']:8.1f}  ({r[name + '_ratio']:.2f}x)")
    print("the same solves, alone:")
    print(f"  {'in the bare loop':18s} {r['solve_in_bare_us']:8.1f}")
    print(f"  {'in the env loop':18s} {r['solve_in_env_us']:8.1f}")
    print("a solve without writes:")
    print(f"  {'isolated':18s} {r['isolated_solve_us']:8.1f}")
    print(f"  {'2 MB touched first':18s} {r['isolated_solve_touched_us']:8.1f}")


if __name__ == "__main__":
    main()
