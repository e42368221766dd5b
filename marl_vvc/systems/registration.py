"""Gymnasium registration: ``marl_vvc/<system>-v0`` for every shipped system and variant.

Registration reads no configuration file: the shipped systems are the file names in
``configs/`` and each one's family (PowerGym VVC or Gym-ANM) is :data:`GYM_ANM_SYSTEMS`, a
table that a test checks against the files. An environment reads its file when it is made.
"""

from __future__ import annotations

import gymnasium

from marl_vvc.systems.names import available_systems, configs_dir
from marl_vvc.systems.yaml_io import read_yaml

VARIANTS = ("", "_cbat", "_soc", "_cbat_soc")

#: Shipped systems that use Gym-ANM's reward and single-agent env (all others are PowerGym
#: VVC feeders). Must agree with ``reward: {kind: anm}`` in their files (tested).
GYM_ANM_SYSTEMS = frozenset({"ANM6Easy"})


def env_id(system: str) -> str:
    """Gymnasium id of a system name."""
    return f"marl_vvc/{system}-v0"


def is_anm(base: str) -> bool:
    """Whether a shipped system's file selects Gym-ANM's reward (reads the file, cached)."""
    data = read_yaml(configs_dir() / f"{base}.yaml")
    return isinstance(data, dict) and (data.get("reward") or {}).get("kind") == "anm"


def is_anm_name(system: str | None) -> bool:
    """Whether a system name (with variants) belongs to a Gym-ANM system; reads no file."""
    return system is not None and str(system).split("_")[0] in GYM_ANM_SYSTEMS


def register_envs() -> None:
    """Register the single-agent environment of every system (idempotent; reads no file).

    PowerGym systems get their variants (``_cbat``, ``_soc``, ``_cbat_soc``) and
    :class:`~marl_vvc.envs.single.PowerGymEnv`; Gym-ANM systems get
    :class:`~marl_vvc.envs.anm6.ANM6EasyEnv`, without a time limit (as Gym-ANM).
    """
    for base in available_systems():
        if base in GYM_ANM_SYSTEMS:
            entries = [(base, "marl_vvc.envs.anm6:ANM6EasyEnv")]
        else:
            entries = [(f"{base}{v}", "marl_vvc.envs.single:PowerGymEnv") for v in VARIANTS]
        for name, entry_point in entries:
            if env_id(name) in gymnasium.registry:
                continue
            gymnasium.register(id=env_id(name), entry_point=entry_point, kwargs={"system": name})
