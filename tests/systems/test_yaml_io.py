"""Reading system files: duplicate keys, encodings, bad YAML and the parse cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from marl_vvc import ConfigError, load_system
from marl_vvc.systems import yaml_io
from marl_vvc.systems.names import configs_dir
from marl_vvc.systems.yaml_io import parse_yaml, read_yaml


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "horizon: 24\nv_min: 0.9\nhorizon: 12\n",
            r"duplicate key 'horizon' at line 3 \(first given at line 1\)",
        ),
        (
            "reward: {power_w: 1, power_w: 2}\n",
            r"duplicate key 'power_w' at line 1 \(first given at line 1\)",
        ),
        ("a:\n  b: 1\n  c: 2\n  b: 3\n", r"duplicate key 'b' at line 4 \(first given at line 2\)"),
    ],
)
def test_duplicate_keys_are_refused(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=rf"^here: {match}; expected each key once"):
        parse_yaml(text, "here")


def test_merge_keys_and_equal_values_in_lists_are_fine() -> None:
    data = parse_yaml("base: &b {x: 1, y: 2}\nmine:\n  <<: *b\n  x: 3\nlist: [1, 1]\n", "here")
    assert data["mine"] == {"x": 3, "y": 2} and data["list"] == [1, 1]


def test_duplicate_key_in_a_system_file_names_file_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("circuit: a.dss\ncapacitors: [c1]\ncircuit: b.dss\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml: duplicate key 'circuit' at line 3"):
        load_system(str(path))


def test_non_utf8_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("description: Réseau\n".encode("latin-1"))
    with pytest.raises(
        ConfigError, match=r"latin\.yaml: expected a UTF-8 text file, got byte 0xe9"
    ):
        load_system(str(path))


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("circuit: [a\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        read_yaml(path)


def test_each_shipped_file_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    parse = yaml_io._parse_file

    def counting(path: Path):
        calls.append(path)
        return parse(path)

    monkeypatch.setattr(yaml_io, "_parse_file", counting)
    monkeypatch.setattr(yaml_io, "_cache", {})
    for _ in range(3):
        load_system("13Bus")
        load_system("13Bus_cbat_s2")
    assert calls == [configs_dir() / "13Bus.yaml"]
    assert yaml_io.cached_files() == (configs_dir() / "13Bus.yaml",)


def test_cache_follows_changes_and_hands_out_copies(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(yaml_io, "_cache", {})
    path = tmp_path / "x.yaml"
    path.write_text("a: [1]\n")
    assert read_yaml(path) == {"a": [1]} and yaml_io.cached_files() == ()  # too recent to cache
    old = time.time() - 60
    os.utime(path, (old, old))
    first = read_yaml(path)
    first["a"].append(2)  # a private copy: the cache is unchanged
    assert read_yaml(path) == {"a": [1]} and yaml_io.cached_files() == (path.resolve(),)
    path.write_text("a: [3]\n")
    os.utime(path, (old + 1, old + 1))
    assert read_yaml(path) == {"a": [3]}
    path.write_text("a: [4]\n")  # same size and a fresh mtime: parsed again
    assert read_yaml(path) == {"a": [4]}
    yaml_io.clear_cache()
    assert yaml_io.cached_files() == ()
