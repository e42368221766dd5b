"""SystemConfig: sections, the flat-name table, with_overrides and the transition aliases."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from marl_vvc import ConfigError, load_system
from marl_vvc.systems.config import (
    OVERRIDE_SECTIONS,
    DeviceConfig,
    FeederConfig,
    Quirks,
    RewardConfig,
    RewardWeights,
    ScenarioConfig,
    SystemConfig,
    split_overrides,
)

W = RewardWeights(power_w=1, cap_w=0, reg_w=0, soc_w=0, dis_w=0)


def small() -> SystemConfig:
    return SystemConfig.from_flat("mine", "mine", circuit="x.dss", capacitors=("c1",), weights=W)


def test_sections_and_defaults() -> None:
    cfg = small()
    assert cfg.feeder == FeederConfig(Path("x.dss"))
    assert cfg.devices == DeviceConfig(capacitors=("c1",))
    assert cfg.scenario == ScenarioConfig()
    assert cfg.reward == RewardConfig(W)
    assert cfg.quirks == Quirks()
    assert pickle.loads(pickle.dumps(cfg)) == cfg


def test_every_flat_name_maps_to_a_field_of_its_section() -> None:
    classes = {"feeder": FeederConfig, "devices": DeviceConfig, "scenario": ScenarioConfig}
    classes["reward"] = RewardConfig
    for key, section in OVERRIDE_SECTIONS.items():
        if section == "quirks":
            assert key == "quirks"
            continue
        names = {f.name for f in dataclasses.fields(classes[section])}
        assert (key if key != "scenario" else "kind") in names, key
    total = sum(len(dataclasses.fields(c)) for c in classes.values())
    assert len(OVERRIDE_SECTIONS) == total + 1  # every section field, plus quirks


def test_sections_are_frozen_and_the_flat_layout_is_gone() -> None:
    cfg = load_system("ANM6Easy")
    assert cfg.scenario.kind == "anm6easy" and small().scenario.kind == "loads"
    for flat in ("horizon", "circuit", "weights", "capacitors", "v_min"):
        assert not hasattr(cfg, flat), flat
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.scenario.horizon = 3  # type: ignore[misc]


def test_with_overrides_returns_a_new_checked_config() -> None:
    cfg = small()
    new = cfg.with_overrides(horizon=12, tap_max=1.2, scenario="solar", quirks=Quirks.powergym())
    assert (new.scenario.horizon, new.devices.tap_max, new.scenario.kind, new.quirks) == (
        12,
        1.2,
        "solar",
        Quirks.powergym(),
    )
    assert new.scenario.kind == "solar" and cfg.scenario.horizon == 24  # the original is unchanged
    assert new.with_overrides(scenario=None).scenario.kind == "loads"
    with pytest.raises(ConfigError, match=r"unknown system option\(s\) \['horizn'\]; allowed: \["):
        cfg.with_overrides(horizn=3)
    with pytest.raises(ConfigError, match=r"divergence_penalty: expected .* >= 0, got -1"):
        cfg.with_overrides(divergence_penalty=-1)


def test_split_overrides_groups_by_section() -> None:
    assert split_overrides({"horizon": 3, "tap_min": 0.9, "scenario": None}) == {
        "scenario": {"horizon": 3, "kind": "loads"},
        "devices": {"tap_min": 0.9},
    }


def test_from_flat_refuses_missing_and_wrong_sections() -> None:
    with pytest.raises(ConfigError, match=r"missing option\(s\) \['weights'\]"):
        SystemConfig.from_flat("x", "x", circuit="x.dss", capacitors=("c1",))
    cfg = small()
    with pytest.raises(ConfigError, match="reward: expected a RewardConfig, got"):
        dataclasses.replace(cfg, reward=W)
    with pytest.raises(ConfigError, match="quirks: expected a Quirks, got True"):
        cfg.with_overrides(quirks=True)
