"""Systems: configuration sections, loading, discovery, feeder data and registration.

Modules, each importing only those above it:

- ``checks``, ``elements``, ``sections``, ``config``: the configuration model (frozen
  dataclasses by section, each validating its own fields);
- ``names``, ``yaml_io``, ``schema``, ``parsers``: system names and reading system files;
- ``feeder_sources``, ``feeder_data``: feeders too large to ship, fetched and checksummed;
- ``discovery``: the devices of any OpenDSS circuit;
- ``loading``: :func:`load_system` and :func:`resolve_system`;
- ``registration``: Gymnasium ids (no file read at import).
"""

from __future__ import annotations

from marl_vvc.systems.config import (
    OVERRIDE_SECTIONS,
    DeviceConfig,
    FeederConfig,
    Quirks,
    RewardConfig,
    RewardWeights,
    ScenarioConfig,
    SystemConfig,
)
from marl_vvc.systems.discovery import discover_system
from marl_vvc.systems.loading import load_system, resolve_system
from marl_vvc.systems.names import available_systems, parse_name

__all__ = [
    "OVERRIDE_SECTIONS",
    "DeviceConfig",
    "FeederConfig",
    "Quirks",
    "RewardConfig",
    "RewardWeights",
    "ScenarioConfig",
    "SystemConfig",
    "available_systems",
    "discover_system",
    "load_system",
    "parse_name",
    "resolve_system",
]
