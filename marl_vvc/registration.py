"""Gymnasium registration: ``marl_vvc/<system>-v0`` for every shipped system and variant."""

from __future__ import annotations

import gymnasium

from marl_vvc.config import available_systems

VARIANTS = ("", "_cbat", "_soc", "_cbat_soc")


def env_id(system: str) -> str:
    """Gymnasium id of a system name."""
    return f"marl_vvc/{system}-v0"


def register_envs() -> None:
    """Register the single-agent environment of every system variant (idempotent)."""
    for base in available_systems():
        for variant in VARIANTS:
            name = f"{base}{variant}"
            if env_id(name) in gymnasium.registry:
                continue
            gymnasium.register(
                id=env_id(name),
                entry_point="marl_vvc.single:PowerGymEnv",
                kwargs={"system": name},
                disable_env_checker=False,
            )
