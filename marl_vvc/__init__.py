"""marl_vvc: multi-agent Volt-Var control environments on OpenDSS.

Front doors:

- :func:`parallel_env`: PettingZoo ``ParallelEnv``, one agent per capacitor, regulator and
  battery.
- :func:`env`: the same as a PettingZoo AEC environment.
- :func:`make_env`: single-agent Gymnasium environment with PowerGym's semantics; also
  registered as ``marl_vvc/<system>-v0`` (e.g. ``gymnasium.make("marl_vvc/13Bus-v0")``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _package_version
from typing import TYPE_CHECKING, Any

from marl_vvc.envs.capswitch import CapSwitchEnv, capswitch_env, is_capswitch_name
from marl_vvc.envs.parallel import VVCParallelEnv
from marl_vvc.envs.single import PowerGymEnv
from marl_vvc.errors import (
    CircuitLoadError,
    ConfigError,
    DataNotFoundError,
    EngineError,
    InvalidActionError,
    InvalidOptionError,
    MarlVVCError,
    ResetNeededError,
)
from marl_vvc.systems import SystemConfig, available_systems, load_system
from marl_vvc.systems.registration import register_envs

if TYPE_CHECKING:
    from pettingzoo import AECEnv

    from marl_vvc.envs.anm6 import ANM6EasyEnv

try:  # the version lives in pyproject.toml only; an installed package carries it
    __version__ = _package_version("marl-vvc")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "CapSwitchEnv",
    "CircuitLoadError",
    "ConfigError",
    "DataNotFoundError",
    "EngineError",
    "InvalidActionError",
    "InvalidOptionError",
    "MarlVVCError",
    "PowerGymEnv",
    "ResetNeededError",
    "SystemConfig",
    "VVCParallelEnv",
    "__version__",
    "available_systems",
    "capswitch_env",
    "env",
    "load_system",
    "make_env",
    "parallel_env",
]


def parallel_env(system: str | None = None, **kwargs: Any) -> VVCParallelEnv | CapSwitchEnv:
    """PettingZoo parallel environment (see :class:`VVCParallelEnv`).

    ``system`` defaults to ``"13Bus"``; ``circuit="Master.dss"`` uses any OpenDSS model instead.
    Names with a ``_capswitch`` token (``"123Bus_capswitch"``) give the capacitor switching
    task, :class:`~marl_vvc.envs.capswitch.CapSwitchEnv`.
    """
    if is_capswitch_name(system):
        return capswitch_env(system, **kwargs)
    return VVCParallelEnv(system, **kwargs)


def env(system: str | None = None, **kwargs: Any) -> AECEnv:
    """PettingZoo AEC environment for ``system`` (``parallel_to_aec`` of :func:`parallel_env`)."""
    from pettingzoo.utils.conversions import parallel_to_aec

    return parallel_to_aec(parallel_env(system, **kwargs))


def make_env(system: str | None = None, **kwargs: Any) -> PowerGymEnv | ANM6EasyEnv:
    """Single-agent Gymnasium environment of ``system``.

    PowerGym's semantics (:class:`PowerGymEnv`) for the VVC feeders, Gym-ANM's
    (:class:`~marl_vvc.envs.anm6.ANM6EasyEnv`) for ``"ANM6Easy"``.
    """
    if system is not None and system.split("_")[0] in _anm_systems():
        from marl_vvc.envs.anm6 import ANM6EasyEnv

        return ANM6EasyEnv(system, **kwargs)
    return PowerGymEnv(system, **kwargs)


def _anm_systems() -> frozenset[str]:
    from marl_vvc.systems.registration import GYM_ANM_SYSTEMS  # known without reading files

    return GYM_ANM_SYSTEMS


register_envs()
