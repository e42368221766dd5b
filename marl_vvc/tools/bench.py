"""``marl-vvc bench``: how close an env step is to the bare OpenDSS work of the same step.

For each system, one run times, interleaved in rounds so machine noise hits all alike:

- **bare**: the engine calls a step needs, replayed on a separate engine built from the
  system's config without any env code (:mod:`marl_vvc.tools.bare_engine`): write the
  capacitors and taps that changed and the battery/generator setpoints, one solve, one bulk
  voltage read, losses, source power and device powers;
- the **single-agent** env's ``step`` and the **parallel** env's ``step`` on the same
  actions (the parallel env replays the actions the single-agent env reported as applied),

under random actions and under hold-still actions (nothing changes: no Y rebuild). Both sides
see the same loads: a fixed daily shape handed to the env as ``load_multipliers``. It also
times ``reset`` (no recompiling), resident memory per env instance, memory across many resets,
and two envs in one process (interleaved in one thread, and one per thread).

Any system kind works: named systems and variants, YAML system files, ``.dss`` master files,
capacitor switching (parallel env only; the bare side loads every load at the episode's mean
load level) and ANM6Easy (timed against Gym-ANM instead, when installed).
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from marl_vvc.errors import MarlVVCError
from marl_vvc.tools.bare_engine import BareEngine, engine_ops
from marl_vvc.tools.memory import memory_over_resets, memory_per_instance, rss_mb
from marl_vvc.tools.report import print_report
from marl_vvc.tools.rollout import progress_bar
from marl_vvc.tools.timing import (
    interleaved,
    record,
    threads_in_fresh_process,
    time_episodes,
)

if TYPE_CHECKING:
    from marl_vvc.envs.anm6 import ANM6EasyEnv

__all__ = ["DEFAULT_SYSTEMS", "bench_anm", "bench_system", "print_report", "rss_mb"]

DEFAULT_SYSTEMS = ("13Bus", "34Bus", "123Bus", "8500Node")
KINDS = ("random", "hold")


@dataclass(frozen=True)
class Target:
    """What ``--env`` names: a system (name or YAML) or a master file, and how to build it."""

    label: str
    system: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def capswitch(self) -> bool:
        """Capacitor switching (multi-agent only)."""
        import marl_vvc

        return self.system is not None and marl_vvc.is_capswitch_name(self.system)

    @property
    def anm(self) -> bool:
        """ANM6Easy (timed against Gym-ANM)."""
        return str(self.system).split("_")[0] == "ANM6Easy"

    def make(self, parallel: bool) -> Any:
        """A fresh env of the target."""
        import marl_vvc

        make = marl_vvc.parallel_env if parallel else marl_vvc.make_env
        return make(self.system, **self.kwargs)

    def config(self) -> Any:
        """The system config the bare engine is built from (a switching task's base system)."""
        from marl_vvc.envs.capswitch import base_system_name
        from marl_vvc.systems import resolve_system

        if self.capswitch:  # the switching env builds its base system with quirks off
            return resolve_system(base_system_name(str(self.system)), quirks=False, **self.kwargs)
        return resolve_system(self.system, **self.kwargs)


def target(text: str, systems_dir: str | None = None) -> Target:
    """The :class:`Target` of an ``--env`` value (a ``.dss`` file is ``circuit=``)."""
    if text.lower().endswith(".dss"):
        return Target(text, None, {"circuit": text})
    return Target(text, text, {"systems_dir": systems_dir} if systems_dir else {})


def daily_multipliers(n_loads: int, horizon: int, scale: float = 1.0) -> np.ndarray:
    """A fixed daily load shape (0.6 at night to 1.0 in the evening) for every load."""
    t = np.arange(horizon) / max(horizon, 1)
    shape = 0.8 - 0.2 * np.cos(2 * np.pi * (t - 0.05))
    return np.tile(shape * scale, (n_loads, 1))


def _loads(t: Target, bare: BareEngine, env: Any, horizon: int) -> tuple[Any, np.ndarray]:
    """Reset options of the env and the bare engine's multipliers (the same loads)."""
    n = len(bare.load_names)
    if t.capswitch:
        options = {"profile": 0, "hour": 12, "scale": 1.0}
        _, infos = env.reset(seed=0, options=options)
        level = float(next(iter(infos.values()))["load_level"])
        return options, np.full((n, horizon), level)
    mult = daily_multipliers(n, horizon, t.config().scenario.scale)
    return {"load_multipliers": dict(zip(bare.load_names, mult.tolist(), strict=True))}, mult


def _medians(times: dict[str, list[float]]) -> dict[str, float | None]:
    med = {k: statistics.median(v) if v else None for k, v in times.items()}
    bare = cast(float, med["bare"])  # the bare engine is always timed
    out: dict[str, float | None] = {"bare_us": bare * 1e6}
    for side in ("single", "parallel"):
        m = med[side]
        out[f"{side}_us"] = None if m is None else m * 1e6
        out[f"{side}_ratio"] = None if m is None else m / bare
        out[f"{side}_steps_per_s"] = None if m is None else 1.0 / m
    return out


def _time_kind(
    kind: str,
    envs: dict[str, Any],
    bare: BareEngine,
    setup: tuple[Any, Any, Any],
    rounds: int,
    steps: int,
    tick: Callable[[], Any],
) -> dict[str, float | None]:
    """Median µs per step of bare, single and parallel on one kind of actions."""
    config, options, mult = setup
    recorder = envs.get("single") or envs["parallel"]
    rec = record(recorder, kind, steps, options)
    envs["parallel"].reset(seed=0, options=options)
    start = envs["parallel"].hold_actions()
    first, _ = engine_ops(config, start, [])
    ops = [engine_ops(config, start, ep)[1] for ep in rec.applied]
    replays: dict[str, tuple[Callable[[], Any], Callable[[Any], Any], list[Any]]] = {
        "bare": (lambda: bare.reset(mult, first), bare.step, ops)
    }
    for side, env in envs.items():
        items = rec.given if env is recorder else rec.applied
        replays[side] = (partial(env.reset, seed=0, options=options), env.step, items)
    times: dict[str, list[float]] = {"bare": [], "single": [], "parallel": []}
    for _ in range(rounds):
        for side, (reset, step, items) in replays.items():
            times[side].append(time_episodes(reset, step, items))
            tick()
    return _medians(times)


def _two_envs(t: Target, env: Any, steps: int, options: Any, parallel: bool) -> dict[str, float]:
    """Two envs in one process: interleaved in one thread, then one per thread."""
    episodes = record(env, "random", steps, options).given
    other = t.make(parallel)
    one = interleaved([env], episodes, options)
    two = interleaved([env, other], episodes, options)
    other.close()
    try:
        one_alone, threads = threads_in_fresh_process(t.system, t.kwargs, steps, options, parallel)
    except subprocess.CalledProcessError:  # the child's error is in its stderr
        one_alone = threads = float("nan")
    return {
        "one_env_us": one * 1e6,
        "interleaved_us_per_step": two * 1e6,
        "interleaved_ratio": two / one,
        "threads_us_per_step": threads * 1e6,
        "threads_speedup": one_alone / threads,
    }


def _reset_ms(env: Any, n: int) -> float:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        env.reset(seed=i)
        out.append(time.perf_counter() - t0)
    return statistics.median(out) * 1e3


def bench_system(
    t: Target | str, steps: int = 480, rounds: int = 5, *, progress: bool = False
) -> dict[str, Any]:
    """Benchmark one system; see the module docstring."""
    t = target(t) if isinstance(t, str) else t
    envs = {"parallel": t.make(True)}
    if not t.capswitch:
        try:
            envs["single"] = t.make(False)
        except MarlVVCError:  # no single-agent layout (PV inverters): parallel only
            pass
    config, main = t.config(), envs.get("single") or envs["parallel"]
    big = len(main.bus_names) > 1000
    rounds, steps = (min(rounds, 3), min(steps, 96)) if big else (rounds, steps)
    horizon = main.horizon or 96
    steps = max(horizon, steps // horizon * horizon)
    bare = BareEngine(config, tolerance=1e-8 if t.capswitch else None)
    try:
        options, mult = _loads(t, bare, envs["parallel"], horizon)
        out: dict[str, Any] = {"system": t.label, "steps": steps, "buses": len(main.bus_names)}
        out["single_agent"] = "single" in envs
        with progress_bar(len(KINDS) * rounds * (len(envs) + 1), t.label, progress) as bar:
            for kind in KINDS:
                setup = (config, options, mult)
                out[kind] = _time_kind(kind, envs, bare, setup, rounds, steps, bar.update)
        out["reset_ms"] = _reset_ms(main, 20 if big else 200)
        out["two_envs"] = _two_envs(t, main, steps, options, "single" not in envs)
    finally:
        for env in envs.values():
            env.close()
        bare.close()
    return out


def bench_anm(steps: int = 300, seed: int = 0) -> dict[str, Any]:
    """ANM6-Easy steps/s of ours against Gym-ANM's (when installed), same random actions."""
    import marl_vvc

    ours = cast("ANM6EasyEnv", marl_vvc.make_env("ANM6Easy"))
    rng = np.random.default_rng(seed)
    # actions within a third of the box: most steps converge in both simulators
    box = ours.action_space
    actions = [rng.uniform(box.low, box.high) * 0.3 for _ in range(steps)]

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


def _memory(t: Target, resets: int, parallel: bool) -> dict[str, Any]:
    env = t.make(parallel)
    try:
        return {"system": t.label, **memory_over_resets(env, resets)}
    finally:
        env.close()


def run_benchmark(
    systems: Sequence[str] | None = None,
    *,
    steps: int = 480,
    resets: int = 10_000,
    systems_dir: str | None = None,
    rounds: int = 5,
    progress: bool = False,
) -> dict[str, Any]:
    """Benchmark every system that can be built here; report skips with their reason.

    Args:
        systems: ``--env`` values (names, YAML or ``.dss`` files); default the shipped feeders
            and ANM6Easy.
        steps: Steps per timing block (8500-node scale: at most 96).
        resets: Resets of the memory check.
        systems_dir: A PowerGym-layout systems folder for named systems.
        rounds: Timing rounds; medians are reported (8500-node scale: 3).
        progress: Show progress bars on stderr.
    """
    targets = [target(s, systems_dir) for s in systems or DEFAULT_SYSTEMS]
    report: dict[str, Any] = {"systems": [], "skipped": {}}
    built: list[Target] = []
    for t in targets:
        if t.anm:
            continue
        try:
            row = bench_system(t, steps=steps, rounds=rounds, progress=progress)
            big = row["buses"] > 1000
            row["memory_per_env_mb"] = memory_per_instance(partial(t.make, True), n=2 if big else 4)
        except MarlVVCError as exc:
            report["skipped"][t.label] = str(exc)
            continue
        report["systems"].append(row)
        built.append(t)
    if systems is None or any(t.anm for t in targets):
        report["anm"] = bench_anm(steps=min(steps, 300))
    if built:
        parallel = not report["systems"][0]["single_agent"]
        report["memory_over_resets"] = _memory(built[0], resets, parallel)
    return report
