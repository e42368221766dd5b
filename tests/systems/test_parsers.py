"""Parsers of system-file parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from marl_vvc import ConfigError
from marl_vvc.systems.elements import BatteryConfig
from marl_vvc.systems.parsers import read_battery_csv


def test_battery_csv(tmp_path: Path) -> None:
    path = tmp_path / "Battery.csv"
    path.write_text("name,max_kw,pf,max_kwh,initial_kwh\nBatt1, 100, 0.95, 1000, 500\n")
    assert read_battery_csv(path) == (BatteryConfig("batt1", 100.0, 0.95, 1000.0, 500.0),)
    path.write_text("name,max_kw,pf,max_kwh,initial_kwh\nbatt1,100,0.95,1000\n")
    with pytest.raises(
        ConfigError, match=r"Battery\.csv: expected 5 columns, got 'batt1,100,0\.95,1000'"
    ):
        read_battery_csv(path)
    path.write_text("name,kw\nbatt1,100\n")
    with pytest.raises(ConfigError, match=r"expected header name,max_kw,pf,max_kwh,initial_kwh"):
        read_battery_csv(path)
