"""Capacitor switching mode: DQN-style switching sequences at one load condition.

:class:`CapSwitchEnv` reproduces the setup of DQN capacitor-switching VVO studies (IEEE 123):
an episode is a *switching sequence* at one snapshot load condition, every capacitor is an
agent that may toggle its bank, a bank already toggled in the episode is masked out, the load
level is drawn per episode and the reward is the loss reduction. Like the other environments
it is a thin adapter over the grid core, here with the switching task
(:class:`~marl_vvc.tasks.capswitch.CapSwitchTask`): the env translates actions, keeps the
masks and reports the reward and its split.

Systems: ``capswitch_env("123Bus_capswitch")`` wraps ``"123Bus"``; any system name with a
``_capswitch`` token works the same (``"13Bus_capswitch"``, ``"123Bus_s1.5_capswitch"``).

## Agents and actions
One agent per capacitor of the base system, ``capacitor_<name>``, with ``Discrete(2)``:
0 keep, 1 toggle (open ↔ closed). The base system's **regulators are held at their reset tap**
and its **batteries stay idle** (0 kW) for the whole episode; they are not agents. By default
the wrapper builds the base system with ``quirks=False``, so the taps rest mid-range (ratio
1.0): PowerGym's parity start at tap 1.1 lifts the whole 123-bus feeder 10–20 % above 1.05 pu,
where no capacitor setting helps. ``quirks=None`` keeps the base system's own setting.

## Observations
``{"observation": Box, "action_mask": Box(0, 1, (2,), int8)}`` per agent. ``observation`` is
the grid core's local capacitor observation (status and (Vmin, Vmax) of its bus and the
buses it moves most; no time features, the load is a snapshot) followed by three entries:
``toggled`` (1 once the agent switched in this episode), ``budget_used`` (steps taken /
``max_switches``) and ``load_level`` (mean load multiplier of the episode). ``action_mask`` is
``[1, 1]`` until the agent toggles, then ``[1, 0]``; a masked toggle raises
:class:`~marl_vvc.errors.InvalidActionError` naming the agent and changes nothing.

## Episode
``reset`` draws, from the env's seeded generator and always in this order: a load profile
``k`` (within ``profile_pool`` if set), a step of its day ``hour`` (``0 <= hour < horizon``),
a scale ``s ~ U(scale_range)`` (default ``U(0.6, 1.4)``) and the initial capacitor statuses
(each open or closed with probability 1/2). ``options={"profile": k, "hour": h, "scale": s,
"initial_status": ...}`` fix any of them (``initial_status``: 0 or 1 for all banks, a sequence
in agent order, or a mapping agent id or capacitor name → 0/1); the other draws are made
anyway, so fixing one does not change the others. Every load ``l`` gets the constant
multiplier ``m_l = system scale (_s<x>) · s · profile_k[l, hour]`` for the whole episode,
set for the whole episode. A first solve sets the
initial statuses (regulators and batteries held); that solve gives ``P_loss(0)`` and
``V(0)`` and is not an agent step. The wrapper sets the engine's power-flow tolerance to
``tolerance`` (default 1e-8 pu, OpenDSS's own is 1e-4) so that re-solving an unchanged
configuration moves the losses by ~1e-8 of ``P(0)``, not ~1e-4.

The episode terminates (``terminations`` all True, never truncated) after the step in which

- no agent toggled (all chose keep: the sequence is finished), or
- every capacitor has toggled once, or
- ``max_switches`` steps were taken (default: the number of capacitors), or
- the power flow diverged (reward ``−divergence_penalty``, ``info["converged"] = False``).

## Reward
Shared by all agents (cooperative). With ``P(t)`` the circuit losses in kW after step ``t``,
``V(t) = Σ_bus viol_b(t)`` the core's per-bus voltage violation
(``max(0, Vmax_b − v_max) + max(0, v_min − Vmin_b)``) and ``n(t)`` the toggles of step ``t``::

    r(t) = (P(t−1) − P(t)) / P(0)  −  violation_weight · ΔV(t)  −  switch_cost · n(t)

with ``ΔV(t) = V(t) − V(t−1)`` (``violation_mode="change"``, default) or ``ΔV(t) = V(t)``
(``violation_mode="absolute"``). In ``change`` mode every term is a reduction of one cost
``J = P/P(0) + violation_weight·V``, so an episode's return is
``J(0) − J(T) − switch_cost·(switches)``: the improvement of the final configuration over the
initial one, and violations no capacitor can remove do not drown the signal. ``absolute``
charges the violation left after every step instead (episodes that keep a violation alive
pay for it at every step).

Each agent's ``info["split_reward"]`` splits the same reward: the loss term equally among the
agents that toggled in the step (among all when none did), the violation term by the
capacitors' measured voltage influence on each bus (:mod:`marl_vvc.core.influence`, columns
normalised over the capacitors), and the switch cost to the agent that switched; the splits
add up to ``r(t)``. Every ``info`` also carries ``loss_reduction``, ``loss_kw``,
``prev_loss_kw``, ``initial_loss_kw``, ``violation``, ``prev_violation``,
``violation_penalty``, ``switches``, ``switch_cost``, ``toggled``, ``converged`` and
``end_reason`` (``""``, ``"all_keep"``, ``"all_toggled"``, ``"max_switches"`` or
``"diverged"``), plus the episode's ``profile``, ``hour``, ``scale`` and ``load_level``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard, cast

import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle
from pettingzoo import ParallelEnv

from marl_vvc.core.influence import measure_influence, normalise_columns
from marl_vvc.core.outcome import GridSnapshot, StepOutcome
from marl_vvc.envs.base import AgentSpaces, CoreEnv
from marl_vvc.envs.observations import LocalObservations
from marl_vvc.envs.render import RENDER_MODES, check_render_mode
from marl_vvc.errors import ConfigError, InvalidActionError, ResetNeededError
from marl_vvc.rewards.switching import VIOLATION_MODES
from marl_vvc.systems.loading import resolve_system
from marl_vvc.tasks.build import build_switching_core
from marl_vvc.tasks.capswitch import CapSwitchTask

SUFFIX = "capswitch"
_EXTRA_LOW = np.zeros(3, dtype=np.float32)
_EXTRA_HIGH = np.array([1.0, 1.0, np.inf], dtype=np.float32)


def is_capswitch_name(system: object) -> TypeGuard[str]:
    """Whether ``system`` names a capacitor-switching system (has a ``_capswitch`` token)."""
    return isinstance(system, str) and SUFFIX in system.split("_")[1:]


def base_system_name(system: str) -> str:
    """``"123Bus_capswitch"`` → ``"123Bus"`` (the ``_capswitch`` token removed, others kept)."""
    if not is_capswitch_name(system):
        return system
    first, *tokens = system.split("_")
    return "_".join([first, *(t for t in tokens if t != SUFFIX)])


def capswitch_env(system: str = "123Bus_capswitch", **kwargs: Any) -> CapSwitchEnv:
    """Capacitor-switching env for ``system`` (``"<base>_capswitch"`` or a base name).

    Keyword arguments go to :class:`CapSwitchEnv`.
    """
    return CapSwitchEnv(system, **kwargs)


class CapSwitchEnv(CoreEnv, AgentSpaces, ParallelEnv, EzPickle):
    """Capacitor switching sequences on one feeder (PettingZoo parallel API).

    See the module documentation for agents, episodes and the reward formula.

    Args:
        system: Base system name or YAML path; a ``_capswitch`` token is removed.
        max_switches: Most steps per episode (default: number of capacitors).
        scale_range: ``(low, high)`` of the per-episode load scale draw.
        violation_weight: Weight of the voltage-violation term.
        violation_mode: ``"change"`` (penalise ``V(t) − V(t−1)``) or ``"absolute"``
            (penalise ``V(t)``).
        switch_cost: Cost per toggle, in units of the episode's initial losses.
        tolerance: OpenDSS power-flow tolerance (pu) of this env's engine (None: OpenDSS's
            1e-4). A solve stops within its tolerance of the exact solution, so at 1e-4 two
            solves of the same configuration differ by up to ~1e-4 of the losses depending on
            where they started; 1e-8 makes the loss reduction exact to ~1e-8 for ~30 % more
            time per solve.
        quirks: PowerGym quirks of the base system (default False: taps rest mid-range).
        neighbourhood: Buses in each local observation (default 4).
        render_mode: ``None``, ``"human"`` or ``"rgb_array"``.
        **kwargs: System options (``systems_dir``, ``profiles_dir``, ``horizon``,
            ``profile_pool``, ...).

    Raises:
        ConfigError: Bad argument, a system without capacitors or not a VVC feeder.
    """

    metadata = {
        "name": "marl_vvc_capswitch_v0",
        "render_modes": list(RENDER_MODES),
        "render_fps": 4,
        "is_parallelizable": True,
    }
    _episode_fields = ("agents", "_rng", "_diverged")

    def __init__(
        self,
        system: str = "123Bus_capswitch",
        *,
        max_switches: int | None = None,
        scale_range: tuple[float, float] = (0.6, 1.4),
        violation_weight: float = 1.0,
        violation_mode: str = "change",
        switch_cost: float = 0.01,
        tolerance: float | None = 1e-8,
        quirks: Any = False,
        neighbourhood: int = 4,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        EzPickle.__init__(
            self,
            system,
            max_switches=max_switches,
            scale_range=scale_range,
            violation_weight=violation_weight,
            violation_mode=violation_mode,
            switch_cost=switch_cost,
            tolerance=tolerance,
            quirks=quirks,
            neighbourhood=neighbourhood,
            render_mode=render_mode,
            **kwargs,
        )
        params = _check_params(
            max_switches, scale_range, violation_weight, violation_mode, switch_cost, tolerance
        )
        self.render_mode = check_render_mode(render_mode)
        self.scale_range: tuple[float, float] = params["scale_range"]
        self.violation_weight: float = params["violation_weight"]
        self.violation_mode: str = params["violation_mode"]
        self.switch_cost: float = params["switch_cost"]
        self.tolerance: float | None = params["tolerance"]
        self.config = resolve_system(base_system_name(system), quirks=quirks, **kwargs)
        self.core = build_switching_core(self.config, **params)
        self._init_views(neighbourhood)

    def _init_views(self, neighbourhood: int) -> None:
        from marl_vvc.envs.render import FeederView

        core = self.core
        band = (self.config.reward.v_min, self.config.reward.v_max)
        self._view = FeederView(core, self.render_mode, band)
        self._closed = False
        self.switching: CapSwitchTask = core.task  # type: ignore[assignment]
        self.max_switches = self.switching.max_switches
        self.n_cap = len(core.devices)
        self.influence = measure_influence(core, self.config.scenario.scale)
        self.switching.bus_weights = normalise_columns(self.influence.bus_sensitivity)
        self.observe = LocalObservations(core, self.influence, neighbourhood, time_features=False)
        self.possible_agents = list(core.agent_ids)
        self.agents: list[str] = []
        self.action_spaces: dict[str, spaces.Space] = {
            a: spaces.Discrete(2) for a in self.possible_agents
        }
        self.observation_spaces: dict[str, spaces.Space] = {}
        for a in self.possible_agents:
            inner = self.observe.spaces[a]
            box = spaces.Box(
                np.concatenate((inner.low, _EXTRA_LOW)),
                np.concatenate((inner.high, _EXTRA_HIGH)),
                dtype=np.float32,
            )
            self.observation_spaces[a] = spaces.Dict(
                {"observation": box, "action_mask": spaces.Box(0, 1, shape=(2,), dtype=np.int8)}
            )
        n = self.switching.state_size(core)
        self.state_space = spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)
        self._rng = np.random.default_rng()
        self._diverged = False

    # ------------------------------------------------------------------ reset
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Draw a load condition and initial statuses, and set them.

        Args:
            seed: Seeds the env's generator (load condition and initial statuses).
            options: ``profile``, ``hour``, ``scale`` and ``initial_status`` fix the draws
                (see :mod:`marl_vvc.tasks.capswitch`).

        Raises:
            InvalidOptionError: A bad seed or option (nothing changed).
        """
        snap = self._reset_parallel(seed, options)
        task = self.switching
        self._diverged = not snap.converged
        self.agents = list(self.possible_agents)
        info = {
            **task.episode_info(),
            "initial_status": list(task.condition.status),
            "initial_loss_kw": task.loss0,
            "initial_violation": float(task.viol.sum()),
            "converged": snap.converged,
        }
        return self._observations(), {a: dict(info) for a in self.agents}

    # ------------------------------------------------------------------ step
    def _observations(self) -> dict[str, Any]:
        base = self.observe(self.possible_agents)
        task = self.switching
        used = self.core.t / self.max_switches
        out = {}
        for i, agent in enumerate(self.possible_agents):
            toggled = task.toggled[i]
            extra = np.array([float(toggled), used, task.load_level], dtype=np.float32)
            out[agent] = {
                "observation": np.concatenate((base[agent], extra)),
                "action_mask": np.array([1, 0 if toggled else 1], dtype=np.int8),
            }
        return out

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Toggle the capacitors whose agents chose 1, solve once and score.

        Raises:
            ResetNeededError: No episode is running.
            InvalidActionError: Missing or unknown agent, an action outside ``Discrete(2)``
                or a masked toggle (an agent that already switched); nothing changes.
        """
        if not self.agents:
            raise ResetNeededError("no live agents: call reset() before step()")
        toggles = self.core.validate(actions) if isinstance(actions, Mapping) else None
        if toggles is None:
            raise InvalidActionError(
                f"expected a dict agent -> action, got {type(actions).__name__}"
            )
        for agent, toggle, done in zip(
            self.possible_agents, toggles, self.switching.toggled, strict=True
        ):
            if toggle and done:
                raise InvalidActionError(
                    f"{agent}: toggle is masked (action_mask [1, 0]): it already switched in "
                    "this episode; only 0 (keep) is allowed"
                )
        agents = list(self.agents)
        if self._diverged:  # the initial setting did not solve: end at once
            snap = cast(GridSnapshot, self.core.snapshot)  # the failed initial solve
            return self._end_diverged(agents, toggles, self.core.failed(snap))
        status = self.switching.caps.status
        out = self._step_core([s ^ t for s, t in zip(status, toggles, strict=True)])
        if not out.info["converged"]:
            self._diverged = True
            return self._end_diverged(agents, toggles, out)
        glob = self._global_info(out)
        split = glob.pop("split")
        glob.pop("toggles")
        return self._finish(agents, toggles, out.reward, split, glob, bool(glob["end_reason"]))

    def _end_diverged(self, agents: list[str], toggles: list[int], out: StepOutcome) -> tuple:
        task, penalty = self.switching, float(self.switching.divergence_penalty)
        glob = {
            **task.episode_info(),
            "reward": -penalty,
            "loss_reduction": 0.0,
            "loss_kw": 0.0,
            "prev_loss_kw": task.loss,
            "initial_loss_kw": task.loss0,
            "violation": 0.0,
            "prev_violation": float(task.viol.sum()),
            "violation_penalty": 0.0,
            "switches": sum(toggles),
            "switch_cost": 0.0,
            "end_reason": "diverged",
            **self._global_info(out),
        }
        split = np.full(self.n_cap, -penalty / self.n_cap)
        return self._finish(agents, toggles, -penalty, split, glob, True)

    def _finish(
        self,
        agents: list[str],
        toggles: list[int],
        reward: float,
        split: np.ndarray,
        glob: dict[str, Any],
        done: bool,
    ) -> tuple:
        obs = self._observations()
        rewards = dict.fromkeys(agents, float(reward))
        infos = {
            a: {
                **glob,
                "split_reward": float(split[i]),
                "toggled": bool(toggles[i]),
                "applied": int(toggles[i]),  # in action terms: 1 toggled, 0 kept
            }
            for i, a in enumerate(self.possible_agents)
            if a in agents
        }
        terminations = dict.fromkeys(agents, done)
        truncations = dict.fromkeys(agents, False)
        if done:
            self.agents = []
        self._render_step()
        return obs, rewards, terminations, truncations, infos

    @property
    def condition(self) -> dict[str, Any]:
        """The episode's load condition and initial statuses (``reset`` options that repeat it).

        ``{"profile", "hour", "scale", "initial_status"}``: ``reset(options=env.condition)``
        starts the same episode again.
        """
        c = self.switching.condition
        return {
            "profile": c.profile,
            "hour": c.hour,
            "scale": c.scale,
            "initial_status": list(c.status),
        }

    @property
    def horizon(self) -> int:
        """Most steps of an episode (``max_switches``)."""
        return self.max_switches

    def hold_actions(self) -> dict[str, Any]:
        """Keep every bank as it is (0 for every agent)."""
        return dict.fromkeys(self.possible_agents, 0)

    def influence_weights(self) -> np.ndarray:
        """``(n_capacitors, n_buses)`` bus weights of the split (columns sum to 1)."""
        return self.switching.bus_weights.copy()

    def state(self) -> np.ndarray:
        """Global state: voltages, capacitor statuses, tap positions, batteries."""
        return self._state().astype(np.float32)


def _check_params(
    max_switches: Any,
    scale_range: Any,
    violation_weight: Any,
    violation_mode: Any,
    switch_cost: Any,
    tolerance: Any,
) -> dict[str, Any]:
    """The task parameters, validated (raises :class:`ConfigError` naming the value)."""
    if max_switches is not None and (
        isinstance(max_switches, bool)
        or not isinstance(max_switches, int | np.integer)
        or max_switches < 1
    ):
        raise ConfigError(f"max_switches must be an integer >= 1, got {max_switches!r}")
    try:
        lo, hi = (float(x) for x in scale_range)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scale_range must be a pair (low, high), got {scale_range!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ConfigError(f"scale_range must satisfy 0 < low <= high, got {scale_range!r}")
    if violation_mode not in VIOLATION_MODES:
        raise ConfigError(
            f"violation_mode must be one of {VIOLATION_MODES}, got {violation_mode!r}"
        )
    for key, value in (("violation_weight", violation_weight), ("switch_cost", switch_cost)):
        if isinstance(value, bool) or not (
            isinstance(value, int | float) and math.isfinite(value) and value >= 0
        ):
            raise ConfigError(f"{key} must be a finite number >= 0, got {value!r}")
    if tolerance is not None and (
        isinstance(tolerance, bool)
        or not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance > 0)
    ):
        raise ConfigError(f"tolerance must be None or a number > 0, got {tolerance!r}")
    return {
        "max_switches": None if max_switches is None else int(max_switches),
        "scale_range": (lo, hi),
        "violation_weight": float(violation_weight),
        "violation_mode": violation_mode,
        "switch_cost": float(switch_cost),
        "tolerance": None if tolerance is None else float(tolerance),
    }
