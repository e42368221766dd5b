"""Reference policies on the public env API: random, hold still, OpenDSS's own controllers.

- ``random``: every agent samples its action space from a generator of its own (seeded), within
  its action mask when the observation carries one;
- ``hold``: the env's hold action (``hold_actions()`` / ``hold_action()``): every device stays
  where it is, batteries and storage idle, generators at their full available output;
- ``dss``: an env built with ``controls="opendss"`` stepping hold actions: OpenDSS's
  RegControl/CapControl move taps and capacitors during the solve (PowerGym's dss mode), the
  env reports what they did in ``info["applied"]``;
- ``oracle``: the one-step look-ahead oracle of :mod:`marl_vvc.tools.lookahead` (parallel
  envs): coordinate descent over device settings with the step's true loads;
- ``mpc_constant`` / ``mpc_perfect`` (ANM6-Easy): Gym-ANM's MPC policies with the paper's
  N and β (:mod:`marl_vvc.tools.mpc`);
- ``optimum`` (capacitor switching): the exhaustive optimum. At the episode's first step it
  tries all ``2^n`` capacitor statuses at the episode's load condition (one power flow each,
  on a copy of the env: ``reset(options=env.condition | {"initial_status": s})``), toggles
  the banks that reach the best return in one step, then keeps.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marl_vvc.errors import ConfigError
from marl_vvc.tools.lookahead import oracle_policy
from marl_vvc.tools.mpc import MPC_KINDS, mpc_baseline
from marl_vvc.tools.rollout import Policy, is_parallel

BASELINES = ("random", "hold", "dss", "oracle", "optimum", "mpc_constant", "mpc_perfect")
DESCRIPTIONS = {
    "random": "random actions (each action space sampled, seeded)",
    "hold": "no device moves after reset (batteries idle)",
    "dss": "OpenDSS's RegControl/CapControl act (batteries idle)",
    "oracle": "one-step look-ahead: coordinate descent over settings with power flows",
    "mpc_constant": "ANM6-Easy: Gym-ANM's MPC, constant forecast (N=16, beta=0.92)",
    "mpc_perfect": "ANM6-Easy: Gym-ANM's MPC, perfect forecast (N=32, beta=0.94)",
    "optimum": "capacitor switching: the best of all 2^n capacitor statuses (exhaustive)",
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
    if name == "oracle":
        return Baseline(name, oracle_policy())
    if name == "optimum":
        return Baseline(name, optimum_policy())
    if name in MPC_KINDS:
        return Baseline(name, mpc_baseline(name))
    raise ConfigError(f"unknown baseline {name!r}; choose from {BASELINES}")


def one_step_return(
    env: Any, start: Mapping[str, float], end: Mapping[str, float], n: int
) -> float:
    """The switching episode's return when ``n`` banks toggle at step 1 and all keep after.

    Args:
        env: The switching env (its ``violation_weight``, ``violation_mode``, ``switch_cost``).
        start: ``{"loss": P(0), "violation": V(0)}`` of the initial statuses.
        end: The same after the toggles.
        n: Banks toggled.
    """
    w, c = float(env.violation_weight), float(env.switch_cost)
    p0, v0, p1, v1 = start["loss"], start["violation"], end["loss"], end["violation"]
    if n == 0:  # all keep at once: the episode ends after one step
        return 0.0 if env.violation_mode == "change" else -w * v0
    loss_red = (p0 - p1) / p0 if p0 > 0 else 0.0
    if env.violation_mode == "change":
        return loss_red - w * (v1 - v0) - c * n
    return loss_red - w * v1 - c * n - w * v1  # the closing all-keep step pays V again


def best_statuses(env: Any) -> list[int]:
    """The capacitor statuses that give the best one-step return at the episode's condition.

    Runs on a copy of ``env`` (its episode is untouched): one reset, that is one power flow,
    per status combination.
    """
    condition = env.condition
    initial = list(condition["initial_status"])
    probe = copy.deepcopy(env)
    try:
        flows = {}
        for status in itertools.product((0, 1), repeat=len(initial)):
            _, infos = probe.reset(options={**condition, "initial_status": list(status)})
            info = next(iter(infos.values()))
            flows[status] = {
                "loss": info["initial_loss_kw"],
                "violation": info["initial_violation"],
            }
    finally:
        probe.close()
    start = flows[tuple(initial)]

    def value(status: tuple[int, ...]) -> float:
        n = sum(a != b for a, b in zip(status, initial, strict=True))
        return one_step_return(env, start, flows[status], n)

    best: tuple[int, ...] = max(flows, key=value)
    return list(best)


def optimum_policy() -> Policy:
    """The exhaustive optimum of capacitor switching (see the module documentation).

    Raises:
        ConfigError: The env is not a capacitor switching env.
    """

    def act(obs: Any, env: Any) -> Any:
        if not hasattr(env, "condition"):
            raise ConfigError("the optimum baseline applies to capacitor switching envs only")
        first = next(iter(obs.values()))["observation"]
        if first[-2] != 0.0:  # budget used: the planned toggles are made, keep
            return dict.fromkeys(env.agents, 0)
        target = best_statuses(env)
        initial = env.condition["initial_status"]
        toggles = [int(a != b) for a, b in zip(target, initial, strict=True)]
        return {a: t for a, t in zip(env.possible_agents, toggles, strict=True) if a in env.agents}

    return act
