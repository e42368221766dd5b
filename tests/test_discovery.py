"""Bring your own circuit: device discovery on a feeder the test writes, and on IEEE 123."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from marl_vvc import CircuitLoadError, ConfigError, load_system, make_env, parallel_env
from marl_vvc.systems.discovery import discover_system

FEEDER = """clear
new circuit.mini basekv=12.47 pu=1.02 phases=3 bus1=src
new transformer.vr phases=3 windings=2 buses=[src hub] conns=[wye wye] kvs=[12.47 12.47]
~ kvas=[6000 6000] xhl=0.01 %loadloss=0.0001
new regcontrol.vrc transformer=vr winding=2 vreg=122 band=2 ptratio=60
new line.trunk bus1=hub bus2=mid phases=3 r1=0.25 x1=0.5 r0=0.75 x0=1.5 length=4 units=km
new line.lat bus1=mid bus2=end.1 phases=1 r1=0.4 x1=0.6 r0=0.4 x0=0.6 length=3 units=km
new load.big bus1=mid phases=3 kv=12.47 kw=2500 kvar=900
new load.tail bus1=end.1 phases=1 kv=7.2 kw=400 kvar=150
new capacitor.cmid bus1=mid phases=3 kv=12.47 kvar=900
new storage.ess bus1=mid phases=3 kv=12.47 kwrated=500 kwhrated=2000 %stored=50 pf=1
new generator.pv bus1=end.1 phases=1 kv=7.2 kw=50 kva=60 pf=1 model=1
set voltagebases=[12.47]
calcv
"""


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    path = tmp_path / "mini.dss"
    path.write_text(FEEDER)
    return path


def test_discovers_capacitor_regulator_and_storage(mini: Path) -> None:
    cfg = discover_system(mini)
    assert cfg.capacitors == ("cmid",) and cfg.regulators == ("vr",)
    (bat,) = cfg.batteries
    assert (bat.name, bat.max_kw, bat.max_kwh, bat.initial_kwh) == ("ess", 500.0, 2000.0, 1000.0)
    assert bat.placement.bus1.startswith("mid") and bat.placement.phases == 3
    assert cfg.setup_commands == ("storage.ess.enabled=no",)
    env = parallel_env(circuit=str(mini))
    assert env.possible_agents == ["capacitor_cmid", "regulator_vr", "battery_ess"]
    parallel_api_test(env, num_cycles=60)
    # the Storage element is replaced: a discharge command shows up at the battery's terminals
    env.reset(seed=0)
    env.step({"capacitor_cmid": 1, "regulator_vr": 16, "battery_ess": 32})
    assert env.core.snapshot.battery_kw[0] == pytest.approx(-500.0, rel=0.02)
    assert env.core.kwh[0] == pytest.approx(500.0, rel=0.02)  # 1000 kWh - 500 kW x 1 h


def test_explicit_lists_override_discovery(mini: Path) -> None:
    env = make_env(circuit=str(mini), capacitors=[], regulators=["vr"], batteries=["pv"])
    assert env.agent_ids == ("regulator_vr", "battery_pv")
    assert env.core.batteries[0].max_kw == 60.0  # the Generator's kVA
    with pytest.raises(CircuitLoadError, match="cnope"):
        make_env(circuit=str(mini), capacitors=["cnope"])
    with pytest.raises(ConfigError, match="found no capacitor"):
        make_env(circuit=str(mini), capacitors=[], regulators=[], batteries=[])


def test_yaml_config_form(mini: Path) -> None:
    (mini.parent / "mini.yaml").write_text("circuit: mini.dss\ndiscover: true\nhorizon: 12\n")
    cfg = load_system(str(mini.parent / "mini.yaml"))
    assert cfg.capacitors == ("cmid",) and cfg.horizon == 12 and cfg.batteries[0].name == "ess"
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
    env = parallel_env(circuit=str(master), batteries=list(expected.batteries))
    with pytest.raises(CircuitLoadError, match="give the battery's ratings"):
        parallel_env(circuit=str(master), batteries=["batt1"])
    assert env.core.config.capacitors == expected.capacitors
    assert env.core.config.regulators == expected.regulators  # RegControl order = PowerGym's
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
