"""Bring your own circuit: device discovery on a feeder the test writes, and on IEEE 123."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from marl_vvc import CircuitLoadError, ConfigError, load_system, make_env, parallel_env
from marl_vvc.systems.discovery import discover_system


def test_discovers_capacitor_regulator_and_storage(mini: Path) -> None:
    cfg = discover_system(mini)
    assert cfg.devices.capacitors == ("cmid",) and cfg.devices.regulators == ("vr",)
    (bat,) = cfg.devices.batteries
    assert (bat.name, bat.max_kw, bat.max_kwh, bat.initial_kwh) == ("ess", 500.0, 2000.0, 1000.0)
    assert bat.placement.bus1.startswith("mid") and bat.placement.phases == 3
    assert cfg.feeder.setup_commands == ("storage.ess.enabled=no",)
    env = parallel_env(circuit=str(mini))
    assert env.possible_agents == ["capacitor_cmid", "regulator_vr", "battery_ess"]
    parallel_api_test(env, num_cycles=60)
    # the Storage element is replaced: a discharge command shows up at the battery's terminals
    env.reset(seed=0)
    env.step({"capacitor_cmid": 1, "regulator_vr": 16, "battery_ess": 32})
    assert env.core.fleet["battery"].kw[0] == pytest.approx(-500.0, rel=0.02)
    assert env.core.fleet["battery"].kwh[0] == pytest.approx(
        500.0, rel=0.02
    )  # 1000 kWh - 500 kW x 1 h


def test_explicit_lists_override_discovery(mini: Path) -> None:
    env = make_env(circuit=str(mini), capacitors=[], regulators=["vr"], batteries=["pv"])
    assert env.agent_ids == ("regulator_vr", "battery_pv")
    assert env.core.fleet["battery"].devices[0].max_kw == 60.0  # the Generator's kVA
    with pytest.raises(CircuitLoadError, match="cnope"):
        make_env(circuit=str(mini), capacitors=["cnope"])
    with pytest.raises(ConfigError, match="found no capacitor"):
        make_env(circuit=str(mini), capacitors=[], regulators=[], batteries=[])


def test_yaml_config_form(mini: Path) -> None:
    (mini.parent / "mini.yaml").write_text("circuit: mini.dss\ndiscover: true\nhorizon: 12\n")
    cfg = load_system(str(mini.parent / "mini.yaml"))
    assert (
        cfg.devices.capacitors == ("cmid",)
        and cfg.scenario.horizon == 12
        and cfg.devices.batteries[0].name == "ess"
    )
    env = make_env(str(mini.parent / "mini.yaml"))
    env.reset(seed=0)
    for _ in range(12):
        *_, terminated, _, info = env.step(env.action_space.sample())
        assert info["converged"]
    assert terminated


def test_reference_123_bus_master(reference_dir: Path) -> None:
    master = reference_dir / "123Bus" / "IEEE123Master.dss"
    expected = load_system("123Bus", systems_dir=reference_dir)
    # the batteries are Generators with kW=0: give their ratings (PowerGym's Battery.csv)
    env = parallel_env(circuit=str(master), batteries=list(expected.devices.batteries))
    with pytest.raises(CircuitLoadError, match="give the battery's ratings"):
        parallel_env(circuit=str(master), batteries=["batt1"])
    assert env.config.devices.capacitors == expected.devices.capacitors
    assert (
        env.config.devices.regulators == expected.devices.regulators
    )  # RegControl order = PowerGym's
    assert [a.split("_", 1)[0] for a in env.possible_agents].count("battery") == 4
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    while env.agents:
        acts = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
        _, rewards, _, _, infos = env.step(acts)
        assert infos[env.possible_agents[0]]["converged"]
        assert sum(rewards.values()) == pytest.approx(
            infos["capacitor_c83"]["global_reward"], abs=1e-9
        )


def test_discover_system_checks_options(mini: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from marl_vvc.systems import discovery

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled the circuit before checking the options")

    with monkeypatch.context() as patch:
        patch.setattr(discovery, "OpenDSSEngine", no_compile)
        with pytest.raises(ConfigError, match=r"unknown system option\(s\) \['horizn'\]"):
            discover_system(mini, horizn=3)
        with pytest.raises(ConfigError, match=r"setup_commands: expected a list of strings"):
            discover_system(mini, setup_commands="set a=1")
    with pytest.raises(ConfigError, match=r"weights: unknown key\(s\) \['power'\]"):
        discover_system(mini, weights={"power": 1.0})
    cfg = discover_system(mini, weights={"power_w": 2}, quirks={"integer_kwh": True}, horizon=6)
    assert (
        cfg.reward.weights.power_w == 2.0 and cfg.quirks.integer_kwh and cfg.scenario.horizon == 6
    )
    with pytest.raises(ConfigError, match=r"horizon: expected an integer >= 1, got 2\.5"):
        discover_system(mini, horizon=2.5)
