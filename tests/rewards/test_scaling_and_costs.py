"""Feeder-size-independent voltage term and the per-agent constraint cost."""

from __future__ import annotations

import numpy as np
import pytest

import marl_vvc
from marl_vvc import ConfigError


def _episode(env, steps: int = 8) -> list[dict]:
    env.reset(seed=2, options={"profile": 7})
    out = []
    for t in range(steps):
        acts = env.hold_actions()
        acts["regulator_reg1"] = (5 * t) % 33  # move a tap to make violations
        _, rewards, _, _, infos = env.step(acts)
        out.append({"rewards": rewards, "infos": infos})
    return out


def test_mean_voltage_term_is_the_sum_over_the_bus_count() -> None:
    summed = marl_vvc.parallel_env("13Bus_s1.5")
    mean = marl_vvc.parallel_env("13Bus_s1.5", voltage_term="mean")
    n_buses = len(summed.bus_names)
    a, b = _episode(summed), _episode(mean)
    assert any(step["infos"]["capacitor_cap1"]["voltage"] < 0 for step in a)
    for x, y in zip(a, b, strict=True):
        ix, iy = x["infos"]["capacitor_cap1"], y["infos"]["capacitor_cap1"]
        assert iy["voltage"] == pytest.approx(ix["voltage"] / n_buses, abs=1e-12)
        assert (iy["loss"], iy["control"]) == (ix["loss"], ix["control"])
        assert sum(y["rewards"].values()) == pytest.approx(iy["global_reward"], abs=1e-9)
    assert marl_vvc.load_system("13Bus").reward.voltage_term == "sum"  # PowerGym's default
    with pytest.raises(ConfigError, match=r"voltage_term: expected one of \['sum', 'mean'\]"):
        marl_vvc.load_system("13Bus", voltage_term="max")
    summed.close()
    mean.close()


@pytest.mark.parametrize("mode", ["split", "shared", "local"])
def test_costs_are_the_agents_shares_of_the_violation(mode: str) -> None:
    env = marl_vvc.parallel_env("13Bus_s1.5", reward_mode=mode)
    for step in _episode(env):
        infos = step["infos"]
        costs = np.array([infos[a]["cost"] for a in env.possible_agents])
        total = -infos["capacitor_cap1"]["voltage"]
        assert np.all(costs >= 0) and costs.sum() == pytest.approx(total, abs=1e-12)
    env.close()
