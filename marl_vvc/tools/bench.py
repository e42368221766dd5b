"""``marl-vvc bench``: how close an env step is to the bare OpenDSS work of the same step.

For each system, one run times, interleaved in rounds so machine noise hits all alike:

- **bare**: the engine calls a step needs, replayed on a separate engine without any env code:
  write the capacitors and taps that changed and the battery setpoints, one solve, one bulk
  voltage read, losses, source power and battery powers;
- the **single-agent** wrapper's ``step`` and the **parallel** env's ``step`` on the same
  actions,

under random actions and under hold-still actions (nothing changes: no Y rebuild). It also
times ``reset`` (no recompiling), resident memory per env instance, memory across many resets,
and two envs in one process (interleaved in one thread, and one per thread).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

from marl_vvc.tools.baselines import hold_actions, random_actions
from marl_vvc.systems.config import load_system
from marl_vvc.core.engine import OpenDSSEngine
from marl_vvc.errors import MarlVVCError
from marl_vvc.core.grid import GridCore

DEFAULT_SYSTEMS = ("13Bus", "34Bus", "123Bus", "8500Node")


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux ``/proc``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:  # pragma: no cover - not Linux
        pass
    return float("nan")


def _record(core: GridCore, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the actions through a core and record the engine writes each step makes."""
    ops = []
    core.reset(np.random.default_rng(0), {"profile": 0})
    for act in actions:
        caps, taps = core.cap_status, core.tap_index
        core.step(act)
        over_pf = core.config.quirks.battery_kvar_over_pf
        cap_changed = np.flatnonzero(core.cap_status != caps)
        tap_changed = np.flatnonzero(core.tap_index != taps)
        setpoints = core.battery_setpoint.tolist()
        ops.append(
            {
                "caps": [(core.capacitors[i].name, int(core.cap_status[i])) for i in cap_changed],
                "taps": [
                    (core.regulators[i].name, core.regulators[i].winding, float(core.tap[i]))
                    for i in tap_changed
                ],
                "bats": [
                    (b.name, kw, b.kvar(kw, over_pf))
                    for b, kw in zip(core.batteries, setpoints, strict=True)
                ],
            }
        )
        if core.t >= core.config.horizon:
            core.reset(np.random.default_rng(0), {"profile": 0})
    return ops


class _Bare:
    """The engine work of a step, without the environment."""

    def __init__(self, core: GridCore) -> None:
        self.engine = OpenDSSEngine(core.config.circuit)
        self.core = core
        for reg in core.regulators:
            self.engine.set_tap_limits(
                reg.name, reg.winding, reg.tap_min, reg.tap_max, reg.levels - 1
            )
        self.batteries = tuple(f"Generator.{b.name}" for b in core.batteries)
        self.order = self.engine.bus_node_order

    def reset(self) -> None:
        core, eng = self.core, self.engine
        eng.set_load_profiles(core.multipliers, core.config.step_hours * 3600.0)
        eng.rewind()
        for reg, tap in zip(core.regulators, core.tap, strict=True):
            eng.set_tap(reg.name, reg.winding, tap)
        eng.solve(advance=False)

    def step(self, op: dict[str, Any]) -> None:
        eng = self.engine
        for name, s in op["caps"]:
            eng.set_capacitor(name, s)
        for name, w, tap in op["taps"]:
            eng.set_tap(name, w, tap)
        for name, kw, kvar in op["bats"]:
            eng.set_generator(name, kw, kvar)
        eng.solve()
        eng.node_vmag_pu()[self.order]
        eng.losses_kw()
        eng.total_power_kw()
        for element in self.batteries:
            eng.element_powers(element)


def _time_steps(reset, step, items: list[Any], horizon: int) -> float:
    """Seconds per step over ``items``, resets excluded."""
    total = 0.0
    for start in range(0, len(items), horizon):
        reset()
        chunk = items[start : start + horizon]
        t0 = time.perf_counter()
        for item in chunk:
            step(item)
        total += time.perf_counter() - t0
    return total / len(items)


_THREADS_CODE = """
import json, sys, threading, time
import numpy as np
import marl_vvc
system, n, kwargs = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
envs = [marl_vvc.make_env(system, **kwargs) for _ in range(2)]
envs[0].action_space.seed(1)
actions = [envs[0].action_space.sample() for _ in range(n)]
def run(env):
    env.reset(seed=0, options={"profile": 0})
    for a in actions:
        *_, done, _, _ = env.step(a)
        if done:
            env.reset(seed=0, options={"profile": 0})
t0 = time.perf_counter()
run(envs[0])
one = (time.perf_counter() - t0) / n
threads = [threading.Thread(target=run, args=(e,)) for e in envs]
t0 = time.perf_counter()
for th in threads:
    th.start()
for th in threads:
    th.join()
print(one, (time.perf_counter() - t0) / (2 * n))
"""


def _threads_in_fresh_process(system: str, n: int, kwargs: dict[str, Any]) -> tuple[float, float]:
    """Seconds per step of one env, then of two envs stepping in two threads, in a new process.

    A new process because the OpenDSS runtime (Free Pascal) crashes in threads started after
    the process environment was changed in-process, which any imported library may do.
    """
    done = subprocess.run(
        [sys.executable, "-c", _THREADS_CODE, system, str(n), json.dumps(kwargs)],
        capture_output=True,
        text=True,
        check=True,
    )
    one, two = (float(x) for x in done.stdout.strip().splitlines()[-1].split())
    return one, two


def bench_system(system: str, steps: int, rounds: int = 5, **kwargs: Any) -> dict[str, Any]:
    """Benchmark one system; see the module docstring."""
    import marl_vvc

    single = marl_vvc.make_env(system, **kwargs)
    par = marl_vvc.parallel_env(system, **kwargs)
    core = single.core
    horizon = core.config.horizon
    steps = max(horizon, steps // horizon * horizon)
    rng = np.random.default_rng(1)
    out: dict[str, Any] = {"system": system, "steps": steps}
    bare = _Bare(core)
    for kind in ("random", "hold"):
        actions: list[dict[str, Any]] = []
        core.reset(np.random.default_rng(0), {"profile": 0})
        for _ in range(steps):
            act = random_actions(core, rng) if kind == "random" else hold_actions(core)
            actions.append(act)
            if kind == "random":
                core.step(act)
                if core.t >= horizon:
                    core.reset(np.random.default_rng(0), {"profile": 0})
        ops = _record(core, actions)
        flat = [[a[k] for k in core.agent_ids] for a in actions]

        def reset_single() -> None:
            single.reset(seed=0, options={"profile": 0})

        def reset_par() -> None:
            par.reset(seed=0, options={"profile": 0})

        def reset_bare() -> None:
            core.reset(np.random.default_rng(0), {"profile": 0})
            bare.reset()

        times: dict[str, list[float]] = {"bare": [], "single": [], "parallel": []}
        for _ in range(rounds):
            times["bare"].append(_time_steps(reset_bare, bare.step, ops, horizon))
            times["single"].append(_time_steps(reset_single, single.step, flat, horizon))
            times["parallel"].append(_time_steps(reset_par, par.step, actions, horizon))
        med = {k: statistics.median(v) for k, v in times.items()}
        out[kind] = {
            "bare_us": med["bare"] * 1e6,
            "single_us": med["single"] * 1e6,
            "parallel_us": med["parallel"] * 1e6,
            "single_ratio": med["single"] / med["bare"],
            "parallel_ratio": med["parallel"] / med["bare"],
            "single_steps_per_s": 1.0 / med["single"],
            "parallel_steps_per_s": 1.0 / med["parallel"],
        }
    n_reset = 20 if len(core.bus_names) > 1000 else 200
    t_reset = []
    for i in range(n_reset):
        t0 = time.perf_counter()
        single.reset(seed=i)
        t_reset.append(time.perf_counter() - t0)
    out["reset_ms"] = statistics.median(t_reset) * 1e3

    # two envs in one process: interleaved in one thread, then one per thread
    other = marl_vvc.make_env(system, **kwargs)

    def run(env: Any, n: int) -> None:
        env.reset(seed=0, options={"profile": 0})
        for i in range(n):
            env.step(flat[i % len(flat)])
            if (i + 1) % horizon == 0:
                env.reset(seed=0, options={"profile": 0})

    n = steps
    t0 = time.perf_counter()
    run(single, n)
    one = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    single.reset(seed=0, options={"profile": 0})
    other.reset(seed=0, options={"profile": 0})
    for i in range(n):
        for env in (single, other):
            env.step(flat[i % len(flat)])
        if (i + 1) % horizon == 0:
            single.reset(seed=0, options={"profile": 0})
            other.reset(seed=0, options={"profile": 0})
    two_interleaved = (time.perf_counter() - t0) / (2 * n)
    one_alone, two_threads = _threads_in_fresh_process(system, n, kwargs)
    out["two_envs"] = {
        "one_env_us": one * 1e6,
        "interleaved_us_per_step": two_interleaved * 1e6,
        "interleaved_ratio": two_interleaved / one,
        "threads_us_per_step": two_threads * 1e6,
        "threads_speedup": one_alone / two_threads,
    }
    for env in (single, par, other):
        env.close()
    bare.engine.close()
    return out


def bench_anm(steps: int = 300, seed: int = 0) -> dict[str, Any]:
    """ANM6-Easy steps/s of ours against Gym-ANM's (when installed), same random actions."""
    from marl_vvc.envs.anm6 import ANM6EasyEnv

    ours = ANM6EasyEnv()
    rng = np.random.default_rng(seed)
    # actions within a third of the box: most steps converge in both simulators
    actions = [
        rng.uniform(ours.action_space.low, ours.action_space.high) * 0.3 for _ in range(steps)
    ]

    def run(env: Any) -> float:
        env.reset(seed=seed)
        t0 = time.perf_counter()
        for a in actions:
            *_, terminated, _, _ = env.step(a)
            if terminated:
                env.reset(seed=seed)
        return (time.perf_counter() - t0) / steps

    out: dict[str, Any] = {"steps": steps, "ours_us": run(ours) * 1e6}
    out["ours_steps_per_s"] = 1e6 / out["ours_us"]
    ours.close()
    try:
        import gym_anm
    except ImportError:
        out["gym_anm"] = "not installed (pip install gym-anm)"
        return out
    ref = gym_anm.envs.ANM6Easy()
    out["gym_anm_us"] = run(ref) * 1e6
    out["speedup"] = out["gym_anm_us"] / out["ours_us"]
    return out


def memory_per_instance(system: str, n: int = 4, **kwargs: Any) -> float:
    """Resident MB added per parallel env instance (compiled, reset)."""
    import marl_vvc

    warm = marl_vvc.parallel_env(system, **kwargs)
    warm.reset(seed=0)
    before = rss_mb()
    envs = [marl_vvc.parallel_env(system, **kwargs) for _ in range(n)]
    for e in envs:
        e.reset(seed=0)
    per = (rss_mb() - before) / n
    for e in (warm, *envs):
        e.close()
    return per


def memory_over_resets(system: str, resets: int, **kwargs: Any) -> dict[str, float]:
    """Resident memory before and after ``resets`` resets, each followed by one step."""
    import marl_vvc

    env = marl_vvc.make_env(system, **kwargs)
    hold = None
    for i in range(200):  # warm up allocator and caches
        env.reset(seed=i)
        hold = [hold_actions(env.core)[a] for a in env.core.agent_ids]
        env.step(hold)
    start = rss_mb()
    t0 = time.perf_counter()
    for i in range(resets):
        env.reset(seed=i)
        env.step(hold)
    elapsed = time.perf_counter() - t0
    end = rss_mb()
    env.close()
    return {
        "resets": resets,
        "rss_start_mb": start,
        "rss_end_mb": end,
        "growth_mb": end - start,
        "seconds": elapsed,
    }


def run_benchmark(
    systems: list[str] | None = None,
    *,
    steps: int = 480,
    resets: int = 10_000,
    systems_dir: str | None = None,
) -> dict[str, Any]:
    """Benchmark every system that can be built here; report skips with their reason."""
    kwargs = {"systems_dir": systems_dir} if systems_dir else {}
    report: dict[str, Any] = {"systems": [], "skipped": {}}
    for system in systems or DEFAULT_SYSTEMS:
        if system == "ANM6Easy":
            continue
        try:
            load_system(system, **kwargs)
            big = system.startswith("8500")
            row = bench_system(
                system, steps=min(steps, 96) if big else steps, rounds=3 if big else 5, **kwargs
            )
            row["memory_per_env_mb"] = memory_per_instance(system, n=2 if big else 4, **kwargs)
        except MarlVVCError as exc:
            report["skipped"][system] = str(exc)
            continue
        report["systems"].append(row)
    if systems is None or "ANM6Easy" in systems:
        report["anm"] = bench_anm(steps=min(steps, 300))
    first = next(s for s in (*(systems or ()), *DEFAULT_SYSTEMS) if s != "ANM6Easy")
    try:
        mem = memory_over_resets(first, resets, **kwargs)
        report["memory_over_resets"] = {"system": first, **mem}
    except MarlVVCError as exc:
        report["skipped"]["memory_over_resets"] = str(exc)
    return report


def print_report(report: dict[str, Any]) -> None:
    """Print the benchmark as tables."""
    print("env step vs bare OpenDSS work of the same step (medians; ratio = env / bare)")
    print(
        f"{'system':<10} {'actions':<7} {'bare µs':>9} {'single µs':>10} {'ratio':>6} "
        f"{'parallel µs':>12} {'ratio':>6} {'steps/s':>9}"
    )
    for row in report["systems"]:
        for kind in ("random", "hold"):
            r = row[kind]
            print(
                f"{row['system']:<10} {kind:<7} {r['bare_us']:>9.1f} {r['single_us']:>10.1f} "
                f"{r['single_ratio']:>6.2f} {r['parallel_us']:>12.1f} {r['parallel_ratio']:>6.2f} "
                f"{r['single_steps_per_s']:>9.0f}"
            )
    print()
    print(
        f"{'system':<10} {'reset ms':>9} {'MB/env':>7} {'2 envs interleaved':>19} "
        f"{'2 threads speedup':>18}"
    )
    for row in report["systems"]:
        two = row["two_envs"]
        print(
            f"{row['system']:<10} {row['reset_ms']:>9.2f} {row['memory_per_env_mb']:>7.1f} "
            f"{two['interleaved_ratio']:>18.2f}x {two['threads_speedup']:>17.2f}x"
        )
    anm = report.get("anm")
    if anm:
        line = f"\nANM6Easy: {anm['ours_us']:.0f} µs/step ({anm['ours_steps_per_s']:.0f} steps/s)"
        if "speedup" in anm:
            line += (
                f" vs Gym-ANM {anm['gym_anm_us'] / 1e3:.1f} ms/step: {anm['speedup']:.0f}x faster"
            )
        else:
            line += f"; Gym-ANM {anm['gym_anm']}"
        print(line)
    mem = report.get("memory_over_resets")
    if mem:
        print(
            f"\nmemory over {mem['resets']} resets ({mem['system']}): {mem['rss_start_mb']:.1f} → "
            f"{mem['rss_end_mb']:.1f} MB ({mem['growth_mb']:+.1f} MB) in {mem['seconds']:.1f} s"
        )
    for system, why in report["skipped"].items():
        print(f"skipped {system}: {why}")
