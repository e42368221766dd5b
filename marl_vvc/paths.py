"""Where the shipped circuits and configurations live, in a checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The shipped ``circuits`` or ``configs`` folder.

    In a source checkout (or an editable install) they sit beside the package at the top of
    the repository; a wheel installs them inside the package (``marl_vvc/<name>``).
    """
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"marl_vvc's {name!r} folder is missing from {_PACKAGE}")
