"""High-PV variants of the IEEE feeders: PV inverters as agents next to the VVC devices."""

from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

pytest.importorskip("pvlib", reason="the _pv systems need pvlib (pip install 'marl-vvc[pv]')")

import marl_vvc
from marl_vvc import ConfigError, load_system

SUMMER = 172  # June 21


def _episode(env, policy) -> list[float]:
    env.reset(seed=0, options={"profile": SUMMER})
    vmax = []
    while env.agents:
        _, rewards, _, _, infos = env.step(policy(env))
        total = infos[env.possible_agents[0]]["global_reward"]
        assert abs(sum(rewards.values()) - total) <= 1e-9
        vmax.append(float(env.core.snapshot.v.max()))
    return vmax


def test_agents_config_and_conformance() -> None:
    cfg = load_system("13Bus_pv")
    assert [g.name for g in cfg.devices.generators] == ["pv675", "pv680", "pv634", "pv611", "pv652"]
    assert cfg.reward.weights.curtail_w == pytest.approx(1 / 33) and cfg.scenario.kind == "solar"
    assert not cfg.quirks.taps_at_max_on_reset  # mid taps: the PV over-voltage is visible
    env = marl_vvc.parallel_env("13Bus_pv")
    assert env.possible_agents[:6] == marl_vvc.parallel_env("13Bus").possible_agents
    assert env.action_space("generator_pv675").shape == (2,)
    assert env.action_space("generator_pv675").high[0] == pytest.approx(2.5)  # MW
    parallel_api_test(env, num_cycles=60)
    with pytest.raises(ConfigError, match="parallel_env"):
        marl_vvc.make_env("13Bus_pv")


def test_midday_over_voltage_and_inverter_control_fixes_it() -> None:
    env = marl_vvc.parallel_env("13Bus_pv")
    pv_all = _episode(env, lambda e: e.hold_actions())  # full PV output, unity pf
    avail = env.core.task.availability
    assert avail[:, :4].max() == 0.0 and avail[:, 21:].max() == 0.0  # night
    assert avail[:, 11].max() > 1.0  # MW at noon on a summer day
    assert max(pv_all[9:15]) > 1.05 and max(pv_all[:5]) < 1.05

    def absorb(env):  # inverters absorb their full reactive range and curtail a third
        acts = env.hold_actions()
        for dev in env.core.task.gens.devices:
            lo, hi = dev.bounds
            acts[dev.agent_id] = np.array([hi[0] * 0.66, lo[1]], dtype=np.float32)
        return acts

    controlled = _episode(env, absorb)
    assert max(controlled[9:15]) < max(pv_all[9:15]) - 0.01
    assert env.core.snapshot.converged


def test_curtailment_is_charged_to_the_inverter() -> None:
    env = marl_vvc.parallel_env("13Bus_pv")
    env.reset(seed=0, options={"profile": SUMMER})
    for _ in range(11):  # to noon
        env.step(env.hold_actions())
    acts = env.hold_actions()
    gen = env.core.task.gens.devices[0]
    acts[gen.agent_id] = np.array([0.0, 0.0], dtype=np.float32)  # curtail everything
    _, _, _, _, infos = env.step(acts)
    pot = env.core.task.gens.p_pot[0]
    assert pot > 0.5
    assert infos[gen.agent_id]["own_cost"] == pytest.approx(pot / 2.5 / 33, rel=1e-9)
    assert infos["generator_pv680"]["own_cost"] == pytest.approx(0.0, abs=1e-12)


def test_123_bus_pv_runs() -> None:
    env = marl_vvc.parallel_env("123Bus_pv")
    assert sum(a.startswith("generator_") for a in env.possible_agents) == 10
    vmax = _episode(env, lambda e: e.hold_actions())
    assert max(vmax) > 1.05
