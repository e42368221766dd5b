"""System names, variants and configuration validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from marl_vvc import ConfigError, load_system
from marl_vvc.systems.config import Quirks, parse_name


@pytest.mark.parametrize(
    ("name", "base", "flags", "scale"),
    [
        ("13Bus", "13Bus", set(), 1.0),
        ("13Bus_cbat", "13Bus", {"cbat"}, 1.0),
        ("13Bus_cbat_soc_s1.5", "13Bus", {"cbat", "soc"}, 1.5),
        ("13Bus_s1.5_soc_cbat", "13Bus", {"cbat", "soc"}, 1.5),
        ("123Bus_s15", "123Bus", set(), 15.0),
        ("123Bus_s2.25", "123Bus", set(), 2.25),
        ("34Bus_s.5", "34Bus", set(), 0.5),
    ],
)
def test_parse_name(name, base, flags, scale) -> None:
    assert parse_name(name) == (base, flags, scale)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("14Bus", "unknown system"),
        ("13Bus_cbat_cbat", "'cbat'"),
        ("13Bus_s1_s2", "'s2'"),
        ("13Bus_x", "'x'"),
        ("13Bus_s", "'s'"),
        ("13Bus_s1.2.3", "s1.2.3"),
        ("13Bus_s0", "scale must be > 0"),
        ("", "non-empty"),
    ],
)
def test_bad_names(name, match) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_name(name)


def test_weights_per_variant() -> None:
    w = load_system("13Bus").weights
    assert (w.power_w, w.cap_w, w.reg_w, w.soc_w, w.dis_w) == (10.0, 1 / 33, 1 / 33, 0.0, 6 / 33)
    w = load_system("13Bus_soc").weights
    assert (w.soc_w, w.dis_w) == (20 / 33, 1 / 33)
    w = load_system("123Bus_soc_s1.5").weights
    assert w.soc_w == pytest.approx(500 / 33 * 1.5**2)  # PowerGym scales soc_w by scale²
    assert load_system("123Bus_soc_s1.5").scale == 1.5
    assert load_system("34Bus").weights.dis_w == pytest.approx(10 / 33)
    assert load_system("13Bus_cbat").continuous_batteries


def test_quirks_option() -> None:
    assert load_system("13Bus").quirks == Quirks.powergym()
    assert load_system("13Bus", quirks=False).quirks == Quirks()
    q = load_system("13Bus", quirks={"integer_kwh": True}).quirks
    assert q.integer_kwh and not q.tap_ratio_obs
    with pytest.raises(ConfigError, match="tap_obs"):
        load_system("13Bus", quirks={"tap_obs": True})


def test_overrides_and_unknown_override() -> None:
    assert load_system("13Bus", horizon=12).horizon == 12
    with pytest.raises(ConfigError, match="horizon must be >= 1"):
        load_system("13Bus", horizon=0)
    with pytest.raises(ConfigError, match="horizn"):
        load_system("13Bus", horizn=12)


def _write(tmp_path: Path, body: str) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(body)
    return str(path)


GOOD = """circuit: feeder.dss
capacitors: [c1]
reward: {power_w: 1, cap_w: 1/33, reg_w: 0, soc_w: 0, dis_w: 0}
"""


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (GOOD + "colour: red\n", r"unknown key\(s\) \['colour'\]"),
        (GOOD.replace("power_w: 1,", ""), r"missing key\(s\) \['power_w'\]"),
        (GOOD.replace("1/33", "a third"), "cap_w"),
        (GOOD + "horizon: 2.5\n", "horizon must be an integer"),
        (
            GOOD + "batteries: [{name: b, max_kw: -1, pf: 0.9, max_kwh: 10, initial_kwh: 5}]\n",
            "max_kw",
        ),
        (
            GOOD + "batteries: [{name: b, max_kw: 1, pf: 0.9, max_kwh: 10, initial_kwh: 50}]\n",
            "initial_kwh",
        ),
        (GOOD + "v_min: 1.1\n", "v_min"),
        (
            "circuit: x.dss\nreward: {power_w: 1, cap_w: 0, reg_w: 0, soc_w: 0, dis_w: 0}\n",
            "no controllable device",
        ),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_bad_config_files_name_the_key(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_system(_write(tmp_path, body))


def test_config_file_paths_resolve_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_system(_write(tmp_path, GOOD))
    assert cfg.circuit == tmp_path / "feeder.dss"
    assert cfg.capacitors == ("c1",)
    with pytest.raises(ConfigError, match="not found"):
        load_system(str(tmp_path / "absent.yaml"))


def test_systems_dir_errors(tmp_path: Path) -> None:
    from marl_vvc import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="13Bus"):
        load_system("13Bus", systems_dir=tmp_path)
