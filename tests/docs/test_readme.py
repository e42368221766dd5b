"""The README stays short, its links resolve, and its commands are what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
QUICK_START = (
    "pip install . && marl-vvc run",
    'pip install ".[dev,rl]" && pytest',
)


def test_readme_is_under_5_kb() -> None:
    assert README.stat().st_size < 5000


def test_relative_links_resolve() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    relative = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert len(relative) >= 10  # the site's pages
    for link in relative:
        target = (REPO / link.split("#")[0]).resolve()
        assert target.is_file(), f"README links to {link}, which does not exist"
        assert REPO in target.parents


def test_quick_start_commands_and_ci_agree() -> None:
    text = README.read_text()
    for command in QUICK_START:
        assert f"\n{command} " in text, command
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert 'pip install --disable-pip-version-check ".[dev,rl]"' in ci
    assert ci[-1] == "pytest"  # the README's test command, last
    for check in ("lint-imports", "ruff check .", "ruff format --check .", "mypy marl_vvc"):
        assert check in ci, check
    assert any(line.startswith("NO_MKDOCS_2_WARNING=1 mkdocs build --strict") for line in ci)


def test_the_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(example.strip().splitlines()) <= 10
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    assert namespace["env"].agents == [] and capsys.readouterr().out == ""
