"""System names and variant tokens."""

from __future__ import annotations

import pytest

from marl_vvc import ConfigError
from marl_vvc.systems.names import available_systems, is_system_file, parse_name


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
        ("13Bus_pv", "13Bus", {"pv"}, 1.0),
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


def test_available_systems_and_files() -> None:
    assert {"13Bus", "34Bus", "123Bus", "8500Node", "ANM6Easy"} <= set(available_systems())
    assert is_system_file("a/b.YAML") and is_system_file("x.yml") and not is_system_file("13Bus")
