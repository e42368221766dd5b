"""The bench's bare side does the env's OpenDSS work: same writes, same power flow."""

from __future__ import annotations

import numpy as np
import pytest

from marl_vvc.tools.bare_engine import BareEngine, engine_ops
from marl_vvc.tools.baselines import random_policy
from marl_vvc.tools.bench import daily_multipliers, target
from marl_vvc.tools.report import print_report
from marl_vvc.tools.rollout import rollout


def _outside(engine, band: tuple[float, float]) -> int:
    """Buses whose lowest or highest node voltage leaves the band (the env's count)."""
    v = engine.node_vmag_pu()[engine.bus_node_order]
    lo = np.minimum.reduceat(v, engine.bus_offsets)
    hi = np.maximum.reduceat(v, engine.bus_offsets)
    return int(np.count_nonzero((lo < band[0]) | (hi > band[1])))


@pytest.mark.parametrize("system", ["13Bus", "13Bus_cbat"])
def test_bare_replay_gives_the_env_power_flow(system: str) -> None:
    t = target(system)
    env, par, config = t.make(False), t.make(True), t.config()
    bare = BareEngine(config)
    mult = daily_multipliers(len(bare.load_names), env.horizon)
    options = {"load_multipliers": dict(zip(bare.load_names, mult.tolist(), strict=True))}
    episode = rollout(env, random_policy(2), seed=0, options=options)
    par.reset(seed=0, options=options)
    first, ops = engine_ops(config, par.hold_actions(), [s.applied for s in episode.steps])
    assert all(op[0] in ("cap", "tap") for op in first)
    assert any(op[0] == "tap" for step in ops for op in step)  # random taps move
    bare.reset(mult, first)
    counts = []
    for step_ops, step in zip(ops, episode.steps, strict=True):
        bare.step(step_ops)
        counts.append((_outside(bare.engine, (0.95, 1.05)), step.violating_buses))
    got, want = zip(*counts, strict=True)
    assert got == want and sum(want) > 0
    for e in (env, par):
        e.close()
    bare.close()


def test_report_without_a_single_agent_env(capsys: pytest.CaptureFixture) -> None:
    side = {"bare_us": 10.0, "parallel_us": 30.0, "parallel_ratio": 3.0}
    side |= {"parallel_steps_per_s": 1e5 / 3, "single_us": None, "single_ratio": None}
    side |= {"single_steps_per_s": None}
    two = {"interleaved_ratio": 1.0, "threads_speedup": float("nan")}
    row = {"system": "13Bus_capswitch", "random": side, "hold": side, "reset_ms": 1.0}
    row |= {"two_envs": two, "memory_per_env_mb": 2.0}
    print_report({"systems": [row], "skipped": {"8500Node": "no data"}})
    lines = capsys.readouterr().out.splitlines()
    cells = lines[2].split()
    assert cells[:3] == ["13Bus_capswitch", "random", "10.0"] and cells[3:5] == ["—", "—"]
    assert cells[5:8] == ["30.0", "3.00", "33333"]
    assert lines[-1] == "skipped 8500Node: no data"
