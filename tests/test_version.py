"""One version: pyproject.toml's, read by marl_vvc.__version__, cited and in the changelog."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml

import marl_vvc

REPO = Path(__file__).resolve().parents[1]


def _pyproject_version() -> str:
    with (REPO / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]["version"]


def test_version_comes_from_pyproject() -> None:
    assert marl_vvc.__version__ == version("marl-vvc") == _pyproject_version()
    source = (REPO / "marl_vvc" / "__init__.py").read_text()
    assert re.search(r"__version__ = \"\d+\.\d+", source) is None  # no second copy


def test_citation_and_changelog_name_the_version() -> None:
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == _pyproject_version()
    assert cff["authors"] == [{"name": "marl_vvc developers"}]
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"\n## {_pyproject_version()} - " in changelog
