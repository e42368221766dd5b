"""Reference policies on the public env API: random, hold still, OpenDSS's own controllers.

- ``random``: every agent samples its action space from a generator of its own (seeded), within
  its action mask when the observation carries one;
- ``hold``: the env's hold action (``hold_actions()`` / ``hold_action()``): every device stays
  where it is, batteries and storage idle, generators at their full available output;
- ``dss``: an env built with ``controls="opendss"`` stepping hold actions: OpenDSS's
  RegControl/CapControl move taps and capacitors during the solve (PowerGym's dss mode), the
  env reports what they did in ``info["applied"]``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marl_vvc.errors import ConfigError
from marl_vvc.tools.rollout import Policy, is_parallel

BASELINES = ("random", "hold", "dss")
DESCRIPTIONS = {
    "random": "random actions (each action space sampled, seeded)",
    "hold": "no device moves after reset (batteries idle)",
    "dss": "OpenDSS's RegControl/CapControl act (batteries idle)",
}


def random_policy(seed: int = 0) -> Policy:
    """Uniformly random actions; agent ``i`` of ``possible_agents`` samples with ``seed + i``.

    The policy samples copies of the env's spaces, so it never moves the env's own generators.
    """
    own: dict[str | None, Any] = {}

    def space_of(env: Any, agent: str | None) -> Any:
        if agent not in own:
            space = copy.deepcopy(env.action_space if agent is None else env.action_space(agent))
            index = 0 if agent is None else list(env.possible_agents).index(agent)
            space.seed(seed + index)
            own[agent] = space
        return own[agent]

    def act(obs: Any, env: Any) -> Any:
        if not is_parallel(env):
            return space_of(env, None).sample()
        out = {}
        for agent in env.agents:
            o = obs.get(agent) if isinstance(obs, Mapping) else None
            mask = o.get("action_mask") if isinstance(o, Mapping) else None
            space = space_of(env, agent)
            out[agent] = space.sample() if mask is None else space.sample(mask=mask)
        return out

    return act


def hold_policy(obs: Any, env: Any) -> Any:
    """Keep every device where it is (the env's hold action)."""
    if not is_parallel(env):
        return env.hold_action()
    hold = env.hold_actions()
    return {a: hold[a] for a in env.agents}


@dataclass(frozen=True)
class Baseline:
    """A reference policy and the env options it runs with."""

    name: str
    policy: Policy
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)


def baseline(name: str, seed: int = 0) -> Baseline:
    """The baseline called ``name`` (one of :data:`BASELINES`).

    Raises:
        ConfigError: Unknown name.
    """
    if name == "random":
        return Baseline(name, random_policy(seed))
    if name == "hold":
        return Baseline(name, hold_policy)
    if name == "dss":
        return Baseline(name, hold_policy, {"controls": "opendss"})
    raise ConfigError(f"unknown baseline {name!r}; choose from {BASELINES}")
