"""Shared fixtures: where the project's shared data (../shared beside the repository) lives."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
REFERENCE = SHARED / "reference" / "powergym-systems"
POWERGYM_TRACES = SHARED / "parity" / "powergym"
GYM_ANM_TRACES = SHARED / "parity" / "gym-anm"
CIRCUITS = REPO_ROOT / "circuits"


def require(path: Path) -> Path:
    """Return ``path`` or skip the calling test with the reason it is missing."""
    if not path.exists():
        pytest.skip(
            f"needs {path} (the project's ../shared data beside the repository); absent here"
        )
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """PowerGym-layout reference feeders (third-party; used only for comparison)."""
    return require(REFERENCE)


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    """PowerGym golden traces."""
    return require(POWERGYM_TRACES)


def run_python(code: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (a crash, a leak or RSS noise cannot touch pytest's)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
