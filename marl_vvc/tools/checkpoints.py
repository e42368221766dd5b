"""Trained policies from checkpoints of ``examples/train_rllib.py`` and ``train_sb3.py``.

torch, ray and stable-baselines3 are imported only inside the loaders. A loaded policy is a
policy function ``policy_fn(obs, env)`` for :func:`marl_vvc.tools.rollout.rollout`; the
sidecar ``marl_vvc_run.json`` next to a checkpoint names the system and env kwargs it was
trained on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from marl_vvc.errors import ConfigError
from marl_vvc.tools.observation_scaling import OBS_TRANSFORMS, voltage_deviation, voltage_entries
from marl_vvc.tools.rollout import Policy

PolicyFn = Policy
ALGOS = ("rllib", "sb3")
#: Sidecar file the training examples write next to a checkpoint.
RUN_INFO = "marl_vvc_run.json"


def agent_kind(agent_id: str) -> str:
    """Device kind of an agent id: ``capacitor``, ``regulator`` or ``battery``.

    The policy mapping of the multi-agent examples (one shared module per kind).
    """
    return str(agent_id).split("_", 1)[0]


@dataclass
class LoadedPolicy:
    """A trained policy and the environment it was trained for."""

    policy_fn: PolicyFn
    mode: str
    system: str = "13Bus"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    algo: str = ""


def write_run_info(
    checkpoint: str | Path,
    *,
    algo: str,
    system: str,
    mode: str,
    env_kwargs: Mapping[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """Write the sidecar ``marl_vvc_run.json`` (system, mode, env kwargs) into ``checkpoint``.

    ``checkpoint`` is the checkpoint folder (RLlib) or the folder holding the model zip (SB3).
    Evaluation-irrelevant kwargs (``profile_pool``) are dropped; values must be JSON-able.
    """
    kwargs = {k: v for k, v in (env_kwargs or {}).items() if k != "profile_pool"}
    path = Path(checkpoint) / RUN_INFO
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"algo": algo, "system": system, "mode": mode, "env_kwargs": kwargs, **extra}
    path.write_text(json.dumps(info, indent=2, default=list))
    return path


def read_run_info(checkpoint: str | Path) -> dict[str, Any]:
    """The sidecar written by :func:`write_run_info`, or ``{}`` when there is none."""
    path = Path(checkpoint)
    for candidate in (path / RUN_INFO, path.parent / RUN_INFO):
        if candidate.is_file():
            return dict(json.loads(candidate.read_text()))
    return {}


def rllib_module_policy(
    modules: Mapping[str, Any],
    mapping: Callable[[str], str] = agent_kind,
    obs_transform: str = "none",
) -> PolicyFn:
    """Greedy multi-agent policy function over RLlib RLModules (new API stack, torch).

    Args:
        modules: ``{module id: RLModule}``, e.g. ``algo.get_module(mid)`` for each id.
        mapping: Agent id -> module id (default: the device kind, :func:`agent_kind`).
        obs_transform: ``none`` or ``voltage_deviation`` (what the modules were trained on,
            see :func:`voltage_deviation`).

    Returns:
        A ``mode="parallel"`` policy function. Agents of one module are batched into one
        ``forward_inference`` call; the action is the mode of the module's inference
        distribution (argmax for ``Discrete``, the mean clipped to the box for ``Box``).
    """
    import torch
    from gymnasium import spaces

    if obs_transform not in OBS_TRANSFORMS:
        raise ConfigError(f"obs_transform must be one of {OBS_TRANSFORMS}, got {obs_transform!r}")
    for module in modules.values():
        module.eval()
    masks: dict[str, np.ndarray] = {}

    def features(agent: str, o: Any, env: Any) -> np.ndarray:
        if obs_transform == "none":
            return np.asarray(o, np.float32)
        if agent not in masks:
            masks[agent] = voltage_entries(env.observation_space(agent))
        return voltage_deviation(o, masks[agent])

    def act(obs: Mapping[str, Any], env: Any) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for agent in obs:
            groups.setdefault(mapping(agent), []).append(agent)
        out: dict[str, Any] = {}
        for mid, agents in groups.items():
            module = modules[mid]
            batch = torch.from_numpy(np.stack([features(a, obs[a], env) for a in agents]))
            with torch.no_grad():
                logits = module.forward_inference({"obs": batch})["action_dist_inputs"]
                dist = module.get_inference_action_dist_cls().from_logits(logits)
                actions = dist.to_deterministic().sample().cpu().numpy()
            for agent, a in zip(agents, actions, strict=True):
                space = env.action_space(agent)
                if isinstance(space, spaces.Discrete):
                    out[agent] = int(a)
                else:
                    out[agent] = np.clip(
                        np.asarray(a, space.dtype).reshape(space.shape), space.low, space.high
                    )
        return out

    return act


def load_rllib_modules(checkpoint: str | Path) -> dict[str, Any]:
    """RLModules saved in an RLlib (new API stack) algorithm checkpoint, keyed by module id.

    Reads ``<checkpoint>/learner_group/learner/rl_module/<module id>`` without starting Ray.
    """
    from ray.rllib.core.rl_module.rl_module import RLModule

    root = Path(checkpoint) / "learner_group" / "learner" / "rl_module"
    if not root.is_dir():
        raise ConfigError(f"{checkpoint} is not an RLlib new-stack algorithm checkpoint")
    return {
        d.name: RLModule.from_checkpoint(str(d.resolve()))
        for d in sorted(root.iterdir())
        if d.is_dir() and not d.name.startswith(".")
    }


def load_policy(checkpoint: str | Path, algo: str = "rllib") -> LoadedPolicy:
    """Greedy policy function from a checkpoint of ``examples/train_rllib.py``/``train_sb3.py``.

    The system and env kwargs come from the checkpoint's ``marl_vvc_run.json`` (defaults:
    13Bus, no kwargs).

    Args:
        checkpoint: RLlib algorithm checkpoint folder, or an SB3 model zip (or its folder).
        algo: ``rllib`` or ``sb3``.
    """
    if algo not in ALGOS:
        raise ConfigError(f"algo must be one of {ALGOS}, got {algo!r}")
    path = Path(checkpoint)
    if not path.exists():
        raise ConfigError(f"checkpoint {checkpoint} does not exist")
    info = read_run_info(path)
    system = info.get("system", "13Bus")
    env_kwargs = dict(info.get("env_kwargs", {}))
    if algo == "rllib":
        transform = info.get("obs_transform", "none")
        fn = rllib_module_policy(load_rllib_modules(path), obs_transform=transform)
        return LoadedPolicy(fn, "parallel", system, env_kwargs, algo)
    from stable_baselines3 import PPO

    if path.is_dir():
        zips = sorted(path.glob("*.zip"))
        if not zips:
            raise ConfigError(f"no SB3 model .zip in {checkpoint}")
        path = zips[0]
    model = PPO.load(str(path), device="cpu")
    return LoadedPolicy(sb3_policy(model), "single", system, env_kwargs, algo)


def sb3_policy(model: Any) -> PolicyFn:
    """Greedy ``mode="single"`` policy function of a stable-baselines3 model."""

    def act(obs: Any, env: Any) -> Any:
        action, _ = model.predict(obs, deterministic=True)
        return action

    return act
