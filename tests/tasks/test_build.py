"""Building grid cores from configs: the start state of bring-your-own circuits."""

from __future__ import annotations

from pathlib import Path

import pytest

import marl_vvc
from marl_vvc import ConfigError
from marl_vvc.core.engine import OpenDSSEngine

# A regulator whose control raises the tap, and a capacitor compiled open.
FEEDER = """clear
new circuit.low basekv=12.47 pu=1.0 phases=3 bus1=src
new transformer.vr phases=3 windings=2 buses=[src hub] conns=[wye wye] kvs=[12.47 12.47]
~ kvas=[6000 6000] xhl=0.01 %loadloss=0.0001
new regcontrol.vrc transformer=vr winding=2 vreg=124 band=1 ptratio=60
new line.trunk bus1=hub bus2=mid phases=3 r1=0.25 x1=0.5 r0=0.75 x0=1.5 length=4 units=km
new load.big bus1=mid phases=3 kv=12.47 kw=2500 kvar=900
new capacitor.cmid bus1=mid phases=3 kv=12.47 kvar=600 states=[0]
set voltagebases=[12.47]
calcv
"""


@pytest.fixture()
def feeder(tmp_path: Path) -> Path:
    path = tmp_path / "low.dss"
    path.write_text(FEEDER)
    return path


def _controlled_tap_index(path: Path) -> int:
    eng = OpenDSSEngine(path)
    eng.set_control_mode("static")
    eng.solve(advance=True)  # snapshot mode: a Solve with the controls, no clock
    tap = eng.tap("vr", 2)
    eng.close()
    return round((tap - 0.9) / (0.2 / 32))


def test_own_circuits_start_from_their_operating_point(feeder: Path) -> None:
    expected_tap = _controlled_tap_index(feeder)
    assert expected_tap > 16  # the RegControl raised the tap: the rule's 1.0 is not it
    env = marl_vvc.parallel_env(circuit=str(feeder))
    assert env.config.devices.initial_state == "circuit"
    for seed in (0, 1):
        env.reset(seed=seed)
        assert env.core.fleet["capacitor"].status == [0]  # as compiled
        assert env.core.fleet["regulator"].index == [expected_tap]
        _, _, _, _, infos = env.step(env.hold_actions())  # holding still keeps that point
        assert infos["regulator_vr"]["applied"] == expected_tap
        assert infos["capacitor_cmid"]["control"] == 0.0  # no switching, no tap travel
    env.close()


def test_the_rule_start_is_an_option(feeder: Path) -> None:
    env = marl_vvc.parallel_env(circuit=str(feeder), initial_state="rule")
    env.reset(seed=0)
    assert env.core.fleet["capacitor"].status == [1]
    assert env.core.fleet["regulator"].index == [16]
    env.close()
    with pytest.raises(ConfigError, match=r"initial_state: expected one of \['rule', 'circuit'\]"):
        marl_vvc.parallel_env(circuit=str(feeder), initial_state="warm")


def test_yaml_systems_with_discovery_default_to_the_circuit(feeder: Path) -> None:
    yaml = feeder.parent / "low.yaml"
    yaml.write_text(f"circuit: {feeder.name}\ndiscover: true\n")
    assert marl_vvc.load_system(str(yaml)).devices.initial_state == "circuit"
    yaml.write_text(f"circuit: {feeder.name}\ndiscover: true\ninitial_state: rule\n")
    assert marl_vvc.load_system(str(yaml)).devices.initial_state == "rule"
    assert marl_vvc.load_system("13Bus").devices.initial_state == "rule"  # PowerGym's reset
