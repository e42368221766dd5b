"""System names: the shipped systems and PowerGym-style variant tokens.

A name is a base system (``13Bus``, one ``configs/<base>.yaml`` each) plus optional variant
tokens in any order: ``_cbat`` (continuous batteries), ``_soc`` (state-of-charge weights),
``_pv`` (PV inverters as agents) and ``_s<x>`` (load scale ``x``; ``_s15`` is 15, ``_s2.25``
is 2.25). Nothing here reads a configuration file.
"""

from __future__ import annotations

import re
from pathlib import Path

from marl_vvc.errors import ConfigError
from marl_vvc.paths import data_dir

VARIANT_FLAGS = ("cbat", "soc", "pv")
_SCALE_TOKEN = re.compile(r"^s(\d+(?:\.\d+)?|\.\d+)$")


def configs_dir() -> Path:
    """Folder holding the shipped ``<system>.yaml`` files."""
    return data_dir("configs")


def available_systems() -> tuple[str, ...]:
    """Base system names that have a shipped configuration (listed, not read)."""
    return tuple(sorted(p.stem for p in configs_dir().glob("*.yaml")))


def is_system_file(name: object) -> bool:
    """Whether ``name`` names a YAML system file rather than a shipped system."""
    return str(name).lower().endswith((".yaml", ".yml"))


def parse_name(name: str) -> tuple[str, set[str], float]:
    """Split a PowerGym-style system name into (base, flags, scale).

    Raises:
        ConfigError: Unknown base system, unknown or repeated variant token.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"system name must be a non-empty string, got {name!r}")
    bases = available_systems()
    base = next(
        (b for b in sorted(bases, key=len, reverse=True) if name == b or name.startswith(b + "_")),
        None,
    )
    if base is None:
        raise ConfigError(f"unknown system {name!r}; expected one of {list(bases)} plus variants")
    flags: set[str] = set()
    scale: float | None = None
    for token in name[len(base) :].split("_")[1:]:
        match = _SCALE_TOKEN.match(token)
        if match and scale is None:
            scale = float(match.group(1))
            if scale <= 0:
                raise ConfigError(f"{name!r}: load scale must be > 0, got {scale}")
        elif token in VARIANT_FLAGS and token not in flags:
            flags.add(token)
        else:
            raise ConfigError(
                f"{name!r}: unexpected variant token {token!r}; expected '_cbat', '_soc', '_pv' "
                "or '_s<scale>' (each at most once)"
            )
    return base, flags, 1.0 if scale is None else scale
