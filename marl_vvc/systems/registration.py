"""Gymnasium registration: ``marl_vvc/<system>-v0`` for every shipped system and variant."""

from __future__ import annotations

import gymnasium
import yaml

from marl_vvc.systems.config import available_systems, configs_dir

VARIANTS = ("", "_cbat", "_soc", "_cbat_soc")


def env_id(system: str) -> str:
    """Gymnasium id of a system name."""
    return f"marl_vvc/{system}-v0"


def is_anm(base: str) -> bool:
    """Whether a shipped system uses Gym-ANM's reward (an ANM task)."""
    data = yaml.safe_load((configs_dir() / f"{base}.yaml").read_text())
    return isinstance(data, dict) and (data.get("reward") or {}).get("kind") == "anm"


def register_envs() -> None:
    """Register the single-agent environment of every system (idempotent).

    PowerGym systems get their variants (``_cbat``, ``_soc``, ``_cbat_soc``) and
    :class:`~marl_vvc.envs.single.PowerGymEnv`; Gym-ANM systems get
    :class:`~marl_vvc.envs.anm6.ANM6EasyEnv`, without a time limit (as Gym-ANM).
    """
    for base in available_systems():
        if is_anm(base):
            entries = [(base, "marl_vvc.envs.anm6:ANM6EasyEnv")]
        else:
            entries = [(f"{base}{v}", "marl_vvc.envs.single:PowerGymEnv") for v in VARIANTS]
        for name, entry_point in entries:
            if env_id(name) in gymnasium.registry:
                continue
            gymnasium.register(id=env_id(name), entry_point=entry_point, kwargs={"system": name})
