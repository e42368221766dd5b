"""The one-step look-ahead oracle: coordinate descent over device settings with power flows.

At every step the oracle knows the loads of the step about to be solved (it asks the env
itself, :meth:`~marl_vvc.envs.parallel.VVCParallelEnv.what_if`, one power flow per question)
and searches the joint action that maximises that step's objective, its control cost plus
``hold_steps`` times its operating terms (losses, voltage violations, penalty): a move is
assumed to stay for ``hold_steps`` steps under the current loads (a constant forecast), so a
tap move whose cost pays back over those steps is taken. ``hold_steps=1`` is the plain
myopic step reward, which never pays for a tap travel that only pays back later.

1. start from the hold action (every device where it is);
2. move every agent of one kind together by the same step (:func:`group_moves`) and keep the
   best; then, for each agent in turn, try its candidate actions with the others fixed (a
   bank's taps come first: switching capacitors off is the myopic answer to the start's
   over-voltage that the taps fix better);
3. repeat for ``sweeps`` sweeps or until a sweep improves nothing.

The step is then taken for real and scored with the env's true reward.

Candidates: every action of a ``Discrete`` space with at most ``2·reach + 1`` actions (and
within the action mask when the observation carries one), otherwise the ``reach`` actions on
each side of the current one (a tap moves a few steps per hour); ``box_points`` evenly spaced
values per dimension of a ``Box``. It plans one step at a time with a constant forecast, so it
shows what a per-step optimiser reaches, not a day's optimum.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from marl_vvc.errors import ConfigError
from marl_vvc.tools.rollout import Policy, is_parallel

#: Default search: sweeps over the agents, taps on each side, points per box dimension.
ORACLE_SEARCH = {"sweeps": 2, "reach": 4, "box_points": 5, "hold_steps": 6}


def objective(info: Mapping[str, Any], hold_steps: int, voltage_weight: float = 1.0) -> float:
    """The step's control cost plus ``hold_steps`` times its operating terms.

    The operating terms are the losses, the penalty and ``voltage_weight`` times the voltage
    term.
    """
    control, voltage = float(info["control"]), float(info["voltage"])
    operating = float(info["global_reward"]) - control + (voltage_weight - 1.0) * voltage
    return control + hold_steps * operating


def candidates(
    space: spaces.Space, current: Any, *, reach: int, box_points: int, mask: Any = None
) -> Iterator[Any]:
    """The actions the oracle tries for one agent (the current action excluded)."""
    if isinstance(space, spaces.Discrete):
        n, index = int(space.n), int(current)
        lo, hi = (
            (0, n) if n <= 2 * reach + 1 else (max(0, index - reach), min(n, index + reach + 1))
        )
        for a in range(lo, hi):
            if a != index and (mask is None or mask[a]):
                yield a
        return
    if not isinstance(space, spaces.Box):
        raise ConfigError(f"the oracle searches Discrete and Box spaces, not {space}")
    now = np.asarray(current, dtype=space.dtype).reshape(space.shape)
    for j in np.ndindex(space.shape):
        for value in np.linspace(space.low[j], space.high[j], box_points):
            if value != now[j]:
                trial = now.copy()
                trial[j] = value
                yield trial


def group_moves(env: Any, joint: Mapping[str, Any], reach: int) -> Iterator[dict[str, Any]]:
    """Joint actions moving every ``Discrete`` agent of one kind by the same step.

    The three single-phase regulators of a bank only lower a three-phase bus's highest phase
    together: one at a time, coordinate descent sees no gain.
    """
    kinds: dict[str, list[str]] = {}
    for agent in joint:
        if isinstance(env.action_space(agent), spaces.Discrete):
            kinds.setdefault(env.agent_kind(agent), []).append(agent)
    for agents in kinds.values():
        if len(agents) < 2:
            continue
        for delta in (*range(-reach, 0), *range(1, reach + 1)):
            moved = {a: int(joint[a]) + delta for a in agents}
            if all(0 <= v < int(env.action_space(a).n) for a, v in moved.items()):
                yield {**joint, **moved}


def _mask(obs: Mapping[str, Any], agent: str) -> Any:
    o = obs.get(agent)
    return o.get("action_mask") if isinstance(o, Mapping) else None


def oracle_policy(
    sweeps: int = ORACLE_SEARCH["sweeps"],
    reach: int = ORACLE_SEARCH["reach"],
    box_points: int = ORACLE_SEARCH["box_points"],
    hold_steps: int = ORACLE_SEARCH["hold_steps"],
    voltage_weight: float = 1.0,
) -> Policy:
    """The one-step look-ahead oracle (see the module documentation).

    ``voltage_weight > 1`` makes it avoid voltage violations more than the reward asks
    (a teacher for policies that must not violate more often than OpenDSS's controllers).

    Raises:
        ConfigError: Bad search settings, or an env without ``what_if`` (the single-agent and
            capacitor switching envs: score the oracle on the parallel env).
    """
    if min(sweeps, reach, hold_steps) < 1 or box_points < 2 or voltage_weight < 1.0:
        raise ConfigError(
            "oracle search: sweeps, reach, hold_steps >= 1, box_points >= 2, voltage_weight >= 1"
        )

    def act(obs: Any, env: Any) -> dict[str, Any]:
        if not is_parallel(env) or not hasattr(env, "what_if"):
            raise ConfigError("the oracle runs on the parallel env (it needs env.what_if)")
        hold = env.hold_actions()
        joint = {a: hold[a] for a in env.agents}
        best = objective(env.what_if(joint), hold_steps, voltage_weight)
        for _ in range(sweeps):
            improved = False
            for trial in list(group_moves(env, joint, reach)):
                reward = objective(env.what_if(trial), hold_steps, voltage_weight)
                if reward > best:
                    best, joint, improved = reward, trial, True
            for agent in env.agents:
                for action in candidates(
                    env.action_space(agent),
                    joint[agent],
                    reach=reach,
                    box_points=box_points,
                    mask=_mask(obs, agent),
                ):
                    trial = {**joint, agent: action}
                    reward = objective(env.what_if(trial), hold_steps, voltage_weight)
                    if reward > best:
                        best, joint, improved = reward, trial, True
            if not improved:
                break
        return joint

    return act
