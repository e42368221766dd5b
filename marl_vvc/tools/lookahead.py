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
   with ``compound=True`` each candidate is also tried together with every group move of
   the other kinds (a capacitor switched on with the regulators one step down);
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
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from marl_vvc.errors import ConfigError
from marl_vvc.tools.rollout import Policy, is_parallel

#: Default search: sweeps over the agents, taps on each side, points per box dimension.
ORACLE_SEARCH = {"sweeps": 2, "reach": 4, "box_points": 5, "hold_steps": 6}


def objective(
    info: Mapping[str, Any],
    hold_steps: int,
    voltage_weight: float = 1.0,
    violation_weight: float = 0.0,
    band: tuple[float, float] | None = None,
) -> float:
    """The step's control cost plus ``hold_steps`` times its operating terms.

    The operating terms are the losses, the penalty, ``voltage_weight`` times the voltage
    term and ``violation_weight`` times the number of buses outside the band (a count, so
    that a bus grazing the limit costs as much as one far outside it): the env's band
    (``violating_buses``), or ``band = (low, high)`` checked on the info's ``bus_vmin`` and
    ``bus_vmax`` (a band narrower than the env's keeps a safety margin).
    """
    control, voltage = float(info["control"]), float(info["voltage"])
    operating = float(info["global_reward"]) - control + (voltage_weight - 1.0) * voltage
    if violation_weight:
        operating -= violation_weight * _outside(info, band)
    return control + hold_steps * operating


def _outside(info: Mapping[str, Any], band: tuple[float, float] | None) -> float:
    """Buses outside ``band`` (the env's band when None)."""
    if band is None or "bus_vmax" not in info:
        return float(info.get("violating_buses", 0))
    low, high = band
    over = np.asarray(info["bus_vmax"]) > high
    return float(np.count_nonzero(over | (np.asarray(info["bus_vmin"]) < low)))


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


def group_moves(
    env: Any, joint: Mapping[str, Any], reach: int, skip: str | None = None
) -> Iterator[dict[str, Any]]:
    """Joint actions moving every ``Discrete`` agent of one kind (not ``skip``) alike (±1..reach).

    The three single-phase regulators of a bank only lower a three-phase bus's highest phase
    together: one at a time, coordinate descent sees no gain.
    """
    kinds: dict[str, list[str]] = {}
    for agent in joint:
        if isinstance(env.action_space(agent), spaces.Discrete):
            kinds.setdefault(env.agent_kind(agent), []).append(agent)
    for kind, agents in kinds.items():
        if len(agents) < 2 or kind == skip:
            continue
        for delta in (*range(-reach, 0), *range(1, reach + 1)):
            moved = {a: int(joint[a]) + delta for a in agents}
            if all(0 <= v < int(env.action_space(a).n) for a, v in moved.items()):
                yield {**joint, **moved}


def with_group_moves(
    env: Any, joint: Mapping[str, Any], agent: str, reach: int
) -> Iterator[dict[str, Any]]:
    """``joint`` itself, then ``joint`` with each group move of the kinds ``agent`` is not.

    A capacitor switched on raises every voltage: alone it may push a bus over the band that
    a tap move of the regulators brings back, so a compound search tries both at once rather
    than leave the capacitor off for good.
    """
    yield dict(joint)
    yield from group_moves(env, joint, reach, skip=env.agent_kind(agent))


def _mask(obs: Mapping[str, Any], agent: str) -> Any:
    o = obs.get(agent)
    return o.get("action_mask") if isinstance(o, Mapping) else None


@dataclass(frozen=True)
class OracleSearch:
    """The oracle's settings; calling it searches one step (``policy(obs, env)``).

    Attributes:
        sweeps: Passes over the agents.
        reach: Actions tried on each side of the current one (tap steps).
        box_points: Values tried per ``Box`` dimension.
        hold_steps: Steps a move is assumed to stay (switching amortised over them).
        voltage_weight: Factor on the voltage term (``> 1``: more violation-averse).
        violation_weight: Charge per bus outside the band, however slightly.
        margin: Buses count as outside within ``margin`` pu of the env's band (a teacher's
            safety margin for a student that may miss by a tap).
        compound: Also try each agent's candidate together with every group move of the
            other kinds (see :func:`with_group_moves`).
    """

    sweeps: int = ORACLE_SEARCH["sweeps"]
    reach: int = ORACLE_SEARCH["reach"]
    box_points: int = ORACLE_SEARCH["box_points"]
    hold_steps: int = ORACLE_SEARCH["hold_steps"]
    voltage_weight: float = 1.0
    violation_weight: float = 0.0
    margin: float = 0.0
    compound: bool = False

    def value(self, info: Mapping[str, Any], band: tuple[float, float] | None = None) -> float:
        """The objective of a what-if's info (``band``: where buses count as inside)."""
        return objective(info, self.hold_steps, self.voltage_weight, self.violation_weight, band)

    def band(self, env: Any) -> tuple[float, float] | None:
        """The band buses must keep inside (None: the env's own, no margin)."""
        if not self.margin:
            return None
        low, high = env.voltage_band
        return low + self.margin, high - self.margin

    def sweep(
        self,
        obs: Any,
        env: Any,
        joint: dict[str, Any],
        best: float,
        band: tuple[float, float] | None = None,
    ) -> tuple[dict[str, Any], float]:
        """One pass: group moves, then each agent's candidates on the best joint so far."""
        for trial in list(group_moves(env, joint, self.reach)):
            reward = self.value(env.what_if(trial), band)
            if reward > best:
                best, joint = reward, trial
        for agent in env.agents:
            options = candidates(
                env.action_space(agent),
                joint[agent],
                reach=self.reach,
                box_points=self.box_points,
                mask=_mask(obs, agent),
            )
            for action in options:
                moved = {**joint, agent: action}
                tries = (
                    with_group_moves(env, moved, agent, self.reach) if self.compound else [moved]
                )
                for trial in list(tries):
                    reward = self.value(env.what_if(trial), band)
                    if reward > best:
                        best, joint = reward, trial
        return joint, best

    def __call__(self, obs: Any, env: Any) -> dict[str, Any]:
        """The best joint action found for this step."""
        if not is_parallel(env) or not hasattr(env, "what_if"):
            raise ConfigError("the oracle runs on the parallel env (it needs env.what_if)")
        hold = env.hold_actions()
        joint = {a: hold[a] for a in env.agents}
        band = self.band(env)
        best = self.value(env.what_if(joint), band)
        for _ in range(self.sweeps):
            joint, gained = self.sweep(obs, env, joint, best, band)
            if gained <= best:
                break
            best = gained
        return joint


def oracle_policy(**settings: Any) -> Policy:
    """The one-step look-ahead oracle (see the module documentation and :class:`OracleSearch`).

    ``voltage_weight > 1`` makes it avoid voltage violations more than the reward asks and
    ``violation_weight > 0`` charges every bus outside the band, however slightly (teachers
    for policies that must not violate more often than OpenDSS's controllers).

    Raises:
        ConfigError: Bad search settings, or (when called) an env without ``what_if`` (the
            single-agent and capacitor switching envs: score the oracle on the parallel env).
    """
    try:
        s = OracleSearch(**settings)
    except TypeError as exc:
        raise ConfigError(f"oracle search: {exc}") from None
    if (
        min(s.sweeps, s.reach, s.hold_steps) < 1
        or s.box_points < 2
        or s.voltage_weight < 1.0
        or s.violation_weight < 0.0
        or s.margin < 0.0
    ):
        raise ConfigError(
            "oracle search: sweeps, reach, hold_steps >= 1, box_points >= 2, "
            "voltage_weight >= 1, violation_weight >= 0, margin >= 0"
        )
    return s
