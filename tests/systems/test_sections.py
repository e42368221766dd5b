"""Each configuration section checks its own fields and names field, value and expectation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from marl_vvc import ConfigError
from marl_vvc.core.engine import MAX_PROFILE_POINTS
from marl_vvc.systems.elements import AnmReward, RewardWeights
from marl_vvc.systems.sections import (
    SCENARIO_KINDS,
    DeviceConfig,
    FeederConfig,
    RewardConfig,
    ScenarioConfig,
)

W = RewardWeights(power_w=1, cap_w=0, reg_w=0, soc_w=0, dis_w=0)


# ---------------------------------------------------------------------------- feeder
def test_feeder_defaults_and_canonical_values() -> None:
    feeder = FeederConfig("x.dss", setup_commands=["a=1"], branch_ratings=[("line.l1", 5)])
    assert feeder.circuit == Path("x.dss") and feeder.setup_commands == ("a=1",)
    assert feeder.branch_ratings == (("line.l1", 5.0),)
    assert (feeder.max_iterations, feeder.base_mva, feeder.powergym) == (50, 100.0, None)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"circuit": 3}, r"circuit: expected a path, got 3"),
        (
            {"setup_commands": "set a=1"},
            r"setup_commands: expected a list of strings, got 'set a=1'",
        ),
        ({"setup_commands": [1]}, r"setup_commands: expected a list of strings, got \[1\]"),
        ({"max_iterations": 2.0}, r"max_iterations: expected an integer >= 1, got 2\.0"),
        ({"max_iterations": True}, r"max_iterations: expected an integer >= 1, got True"),
        ({"max_iterations": 0}, r"max_iterations: expected an integer >= 1, got 0"),
        ({"base_mva": float("nan")}, r"base_mva: expected a finite number > 0, got nan"),
        ({"base_mva": 0}, r"base_mva: expected a finite number > 0, got 0"),
        ({"powergym": "13Bus"}, r"powergym: expected a PowerGymLayout or None, got '13Bus'"),
        ({"branch_ratings": 5}, r"branch_ratings: expected a list of \(element, MVA\) pairs"),
        ({"branch_ratings": [("l1", -1)]}, r"branch_ratings\[l1\]: expected a finite number > 0"),
    ],
)
def test_feeder_refuses(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        FeederConfig(**{"circuit": "x.dss", **kwargs})


# ---------------------------------------------------------------------------- devices
def test_devices_canonical_values() -> None:
    devices = DeviceConfig(capacitors=["c1"], reg_levels=np.int64(17))
    assert devices.capacitors == ("c1",) and type(devices.reg_levels) is int


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"capacitors": ["c1", "c1"]},
            r"capacitors: expected each name once \('c1' appears twice\)",
        ),
        ({"regulators": "reg1"}, r"regulators: expected a list of strings, got 'reg1'"),
        ({"batteries": [{"name": "b"}]}, r"batteries: expected a list of BatteryConfig"),
        ({"continuous_batteries": 1}, r"continuous_batteries: expected True or False, got 1"),
        ({"reg_levels": 1}, r"reg_levels: expected an integer >= 2, got 1"),
        ({"reg_levels": 33.0}, r"reg_levels: expected an integer >= 2, got 33\.0"),
        ({"bat_levels": 4}, r"bat_levels: expected an odd integer >= 3 .*, got 4"),
        ({"bat_levels": False}, r"bat_levels: expected an integer >= 3, got False"),
        ({"tap_min": 1.2}, r"tap_min: expected a ratio below tap_max=1\.1, got 1\.2"),
        ({"tap_max": float("inf")}, r"tap_max: expected a finite number > 0, got inf"),
        ({"regulator_winding": 0}, r"regulator_winding: expected an integer >= 1, got 0"),
    ],
)
def test_devices_refuse(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        DeviceConfig(**{"capacitors": ("c1",), **kwargs})


def test_devices_need_at_least_one_agent() -> None:
    with pytest.raises(ConfigError, match=r"no controllable device.*expected at least one"):
        DeviceConfig()


# ---------------------------------------------------------------------------- scenario
def test_scenario_defaults() -> None:
    scenario = ScenarioConfig()
    assert scenario.kind == "loads" == SCENARIO_KINDS[0]
    assert (scenario.horizon, scenario.step_hours, scenario.scale) == (24, 1.0, 1.0)
    assert ScenarioConfig(profiles_dir="p", profile_pool=[0, 3]).profile_pool == (0, 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"kind": "wind"},
            r"scenario: expected one of \['loads', 'anm6easy', 'solar'\], got 'wind'",
        ),
        ({"horizon": 2.5}, r"horizon: expected an integer >= 1, got 2\.5"),
        ({"horizon": True}, r"horizon: expected an integer >= 1, got True"),
        ({"horizon": 0}, r"horizon: expected an integer >= 1, got 0"),
        ({"horizon": "24"}, r"horizon: expected an integer >= 1, got '24'"),
        (
            {"horizon": MAX_PROFILE_POINTS + 1},
            rf"horizon: expected an integer <= {MAX_PROFILE_POINTS} .*got {MAX_PROFILE_POINTS + 1}",
        ),
        ({"step_hours": 0}, r"step_hours: expected a finite number > 0, got 0"),
        ({"scale": float("nan")}, r"scale: expected a finite number > 0, got nan"),
        ({"profile_pool": (5, 2)}, r"profile_pool: expected \(first, stop\) .*, got \(5, 2\)"),
        ({"profile_pool": (0, 2.0)}, r"profile_pool: expected \(first, stop\)"),
        ({"truncate_at_horizon": "yes"}, r"truncate_at_horizon: expected True or False"),
        ({"state_devices": "slack"}, r"state_devices: expected a list of strings"),
    ],
)
def test_scenario_refuses(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        ScenarioConfig(**kwargs)


# ---------------------------------------------------------------------------- reward
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"divergence_penalty": float("nan")},
            r"divergence_penalty: expected a finite number >= 0, got nan",
        ),
        ({"divergence_penalty": -5}, r"divergence_penalty: expected a finite number >= 0, got -5"),
        (
            {"divergence_penalty": "100"},
            r"divergence_penalty: expected a finite number >= 0, got '100'",
        ),
        ({"v_min": 1.1}, r"v_min: expected a voltage below v_max=1\.05, got 1\.1"),
        ({"v_max": float("inf")}, r"v_max: expected a finite number > 0, got inf"),
        ({"weights": {"power_w": 1}}, r"weights: expected RewardWeights, got \{'power_w': 1\}"),
        ({"anm": 1}, r"anm: expected an AnmReward or None, got 1"),
    ],
)
def test_reward_refuses(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        RewardConfig(**{"weights": W, **kwargs})


def test_reward_keeps_values() -> None:
    reward = RewardConfig(W, divergence_penalty=0, anm=AnmReward())
    assert reward.divergence_penalty == 0.0 and reward.anm == AnmReward()


@pytest.mark.parametrize(
    ("value", "shown"), [(float("nan"), "nan"), (-1.0, "-1.0"), (True, "True"), ("1", "'1'")]
)
def test_reward_weights_must_be_finite_and_non_negative(value, shown) -> None:
    with pytest.raises(
        ConfigError, match=rf"reward\.cap_w: expected a finite number >= 0, got {shown}"
    ):
        RewardWeights(power_w=1, cap_w=value, reg_w=0, soc_w=0, dis_w=0)
