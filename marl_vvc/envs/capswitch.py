"""Capacitor switching mode: DQN-style switching sequences at one load condition.

:class:`CapSwitchEnv` reproduces the setup of DQN capacitor-switching VVO studies (IEEE 123):
an episode is a *switching sequence* at one snapshot load condition, every capacitor is an
agent that may toggle its bank, a bank already toggled in the episode is masked out, the load
level is drawn per episode and the reward is the loss reduction. It is a thin PettingZoo
wrapper over :class:`~marl_vvc.envs.parallel.VVCParallelEnv`: every power flow is the wrapped
env's ``step``; the wrapper only translates actions, keeps the masks and scores.

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
the wrapped env's local capacitor observation (status and (Vmin, Vmax) of its bus and the
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
passed to the wrapped env as ``load_multipliers``. The wrapped env's first step sets the
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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle
from pettingzoo import ParallelEnv

from marl_vvc.core.devices import check_discrete
from marl_vvc.errors import ConfigError, InvalidActionError, InvalidOptionError, ResetNeededError
from marl_vvc.core.influence import normalise_columns
from marl_vvc.envs.parallel import RENDER_MODES, VVCParallelEnv

SUFFIX = "capswitch"
VIOLATION_MODES = ("change", "absolute")
_FIXED_KWARGS = ("action_masks", "reward_mode", "local_ratio", "time_features")
_EXTRA_LOW = np.zeros(3, dtype=np.float32)
_EXTRA_HIGH = np.array([1.0, 1.0, np.inf], dtype=np.float32)


def is_capswitch_name(system: Any) -> bool:
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


class CapSwitchEnv(ParallelEnv, EzPickle):
    """Capacitor switching sequences on one feeder (PettingZoo parallel API).

    See the module documentation for agents, episodes and the reward formula.

    Args:
        system: Base system name or YAML path; a ``_capswitch`` token is removed.
        max_switches: Most steps per episode (default: number of capacitors); must leave one
            step of the base system's ``horizon`` for the initial setting.
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
        render_mode: ``None``, ``"human"`` or ``"rgb_array"`` (drawn by the wrapped env).
        **kwargs: Any other argument of :class:`~marl_vvc.envs.parallel.VVCParallelEnv`
            (``systems_dir``, ``profiles_dir``, ``neighbourhood``, ``horizon``, ...), except
            ``action_masks``, ``reward_mode``, ``local_ratio`` and ``time_features``, which
            the wrapper sets.

    Raises:
        ConfigError: Bad argument, a system without capacitors, or ``max_switches`` too large
            for the horizon.
    """

    metadata = {
        "name": "marl_vvc_capswitch_v0",
        "render_modes": list(RENDER_MODES),
        "render_fps": 4,
        "is_parallelizable": True,
    }

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
            render_mode=render_mode,
            **kwargs,
        )
        fixed = sorted(k for k in kwargs if k in _FIXED_KWARGS)
        if fixed:
            raise ConfigError(f"CapSwitchEnv sets {fixed} itself; do not pass them")
        lo, hi = _pair("scale_range", scale_range)
        if not 0 < lo <= hi:
            raise ConfigError(f"scale_range must satisfy 0 < low <= high, got {scale_range!r}")
        if violation_mode not in VIOLATION_MODES:
            raise ConfigError(
                f"violation_mode must be one of {VIOLATION_MODES}, got {violation_mode!r}"
            )
        for key, value in (("violation_weight", violation_weight), ("switch_cost", switch_cost)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{key} must be a finite number >= 0, got {value!r}")
        if tolerance is not None and not (
            isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance > 0
        ):
            raise ConfigError(f"tolerance must be None or a number > 0, got {tolerance!r}")
        self.tolerance = None if tolerance is None else float(tolerance)
        self.system = system
        self.scale_range = (lo, hi)
        self.violation_weight = float(violation_weight)
        self.violation_mode = violation_mode
        self.switch_cost = float(switch_cost)
        self.base_env = VVCParallelEnv(
            base_system_name(system),
            quirks=quirks,
            reward_mode="shared",
            time_features=False,
            action_masks=False,
            render_mode=render_mode,
            **kwargs,
        )
        self.render_mode = self.base_env.render_mode
        core = self.base_env.core
        try:
            self._check_core(core, max_switches)
        except ConfigError:
            self.base_env.close()
            raise
        self.max_switches = core.n_cap if max_switches is None else int(max_switches)
        self.n_cap = core.n_cap
        self.possible_agents = [c.agent_id for c in core.capacitors]
        self.agents: list[str] = []
        self._held = {r.agent_id: 0 for r in core.regulators}
        self._idle: dict[str, Any] = {
            b.agent_id: (np.zeros(1, dtype=np.float32) if b.levels is None else int(b.idle_level))
            for b in core.batteries
        }
        # Capacitor rows of the measured influence, normalised over the capacitors only.
        self._bus_weights = normalise_columns(self.base_env.influence.bus_sensitivity[: self.n_cap])
        self.action_spaces = {a: spaces.Discrete(2) for a in self.possible_agents}
        self.observation_spaces = {}
        for a in self.possible_agents:
            inner = self.base_env.observation_space(a)
            assert isinstance(inner, spaces.Box)
            box = spaces.Box(
                np.concatenate((inner.low, _EXTRA_LOW)),
                np.concatenate((inner.high, _EXTRA_HIGH)),
                dtype=np.float32,
            )
            self.observation_spaces[a] = spaces.Dict(
                {"observation": box, "action_mask": spaces.Box(0, 1, shape=(2,), dtype=np.int8)}
            )
        self.state_space = self.base_env.state_space
        self._rng = np.random.default_rng()
        # Episode state (set by reset).
        self._toggled = [False] * self.n_cap
        self._steps = 0
        self._loss0 = self._loss = 1.0
        self._viol = np.zeros(len(core.bus_names))
        self._episode: dict[str, Any] = {}
        self._diverged = False

    def _set_tolerance(self) -> None:
        if self.tolerance is not None:
            self.core.engine.command(f"set tolerance={self.tolerance!r}")

    @staticmethod
    def _check_core(core: Any, max_switches: int | None) -> None:
        if core.n_cap == 0:
            raise ConfigError(f"system {core.config.name} has no capacitor to switch")
        if core.anm is not None:
            raise ConfigError(f"system {core.config.name} is an ANM system, not a VVC feeder")
        n = core.n_cap if max_switches is None else max_switches
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ConfigError(f"max_switches must be an integer >= 1, got {max_switches!r}")
        if n + 1 > core.config.horizon:
            raise ConfigError(
                f"max_switches={n} needs a base horizon of at least {n + 1} steps (one for the "
                f"initial setting), got horizon={core.config.horizon}; pass horizon="
            )

    # ------------------------------------------------------------------ spaces
    @property
    def core(self) -> Any:
        """The wrapped env's :class:`~marl_vvc.core.grid.GridCore` (read it, do not step it)."""
        return self.base_env.core

    def observation_space(self, agent: str) -> spaces.Space:
        """Observation space of ``agent`` (the same object on every call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        """``Discrete(2)``: 0 keep, 1 toggle (the same object on every call)."""
        return self.action_spaces[agent]

    # ------------------------------------------------------------------ reset
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Draw a load condition and initial statuses, and set them.

        Args:
            seed: Seeds the env's generator (load condition and initial statuses).
            options: ``profile``, ``hour``, ``scale`` and ``initial_status`` fix the draws
                (see the module documentation); other keys are ignored.

        Raises:
            InvalidOptionError: A bad option (nothing changed).
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            for i, agent in enumerate(self.possible_agents):
                self.action_spaces[agent].seed(seed + i)
                self.observation_spaces[agent].seed(seed + i)
        options = dict(options or {})
        core = self.core
        profiles = core.profiles
        first, stop = core.config.profile_pool or (0, profiles.num_profiles)
        if stop > profiles.num_profiles:
            raise InvalidOptionError(
                f"profile_pool {core.config.profile_pool} exceeds the {profiles.num_profiles} "
                "available profiles"
            )
        horizon = core.config.horizon
        # Always draw everything, in a fixed order, so fixing one option keeps the others.
        rng = self._rng
        draw_k = int(rng.integers(first, stop))
        draw_h = int(rng.integers(0, horizon))
        draw_s = float(rng.uniform(*self.scale_range))
        draw_status = [int(x) for x in rng.integers(0, 2, size=self.n_cap)]

        k = _int_option(options, "profile", draw_k)
        h = _int_option(options, "hour", draw_h)
        if not 0 <= h < horizon:
            raise InvalidOptionError(f"hour: expected 0 <= hour < {horizon}, got {h}")
        s = options.get("scale")
        if s is None:
            s = draw_s
        elif isinstance(s, bool) or not isinstance(s, int | float | np.number):
            raise InvalidOptionError(f"scale: expected a number > 0, got {s!r}")
        s = float(s)
        if not (math.isfinite(s) and s > 0):
            raise InvalidOptionError(f"scale: expected a finite number > 0, got {s!r}")
        status = self._status_option(options.get("initial_status"), draw_status)
        day = profiles.profile(k)  # raises InvalidOptionError for a bad index
        mult = core.config.scale * s * np.asarray(day[:, h], dtype=float)
        table = {name: [float(m)] * horizon for name, m in zip(core.load_names, mult, strict=True)}

        self._set_tolerance()  # the reset solve too, so episodes do not depend on history
        self.base_env.reset(options={"load_multipliers": table})
        self._set_tolerance()  # again: a recompile after a divergence drops it
        held = core.tap_index.tolist()
        self._held = {r.agent_id: int(t) for r, t in zip(core.regulators, held, strict=True)}
        self.base_env.step(self._base_actions(status))
        outcome = core.last_outcome
        assert outcome is not None
        converged = bool(outcome.info["converged"])
        self._diverged = not converged
        self._toggled = [False] * self.n_cap
        self._steps = 0
        loss = float(outcome.snapshot.losses_kw) if converged else 0.0
        self._loss0 = self._loss = loss
        self._viol = np.array(outcome.violation, dtype=float)
        self._episode = {
            "profile": k,
            "hour": h,
            "scale": s,
            "load_level": float(mult.mean()),
        }
        self.agents = list(self.possible_agents)
        info = {
            **self._episode,
            "initial_status": list(status),
            "initial_loss_kw": loss,
            "initial_violation": float(self._viol.sum()),
            "converged": converged,
        }
        return self._observations(), {a: dict(info) for a in self.agents}

    def _status_option(self, value: Any, drawn: list[int]) -> list[int]:
        if value is None:
            return drawn
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            values: list[Any] = [value] * self.n_cap
        elif isinstance(value, Mapping):
            names = {c.name: c.agent_id for c in self.core.capacitors}
            given = {names.get(str(key).lower(), key): v for key, v in value.items()}
            unknown = sorted(str(key) for key in given if key not in self.possible_agents)
            missing = [a for a in self.possible_agents if a not in given]
            if unknown or missing:
                raise InvalidOptionError(
                    f"initial_status: unknown {unknown}, missing {missing}; expected every "
                    f"capacitor of {self.possible_agents}"
                )
            values = [given[a] for a in self.possible_agents]
        elif isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
            values = list(value)
            if len(values) != self.n_cap:
                raise InvalidOptionError(
                    f"initial_status: expected {self.n_cap} values in the order "
                    f"{self.possible_agents}, got {len(values)}"
                )
        else:
            raise InvalidOptionError(
                f"initial_status: expected 0/1, a sequence or a mapping, got {value!r}"
            )
        out = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v not in (0, 1):
                raise InvalidOptionError(f"initial_status: statuses must be 0 or 1, got {v!r}")
            out.append(int(v))
        return out

    # ------------------------------------------------------------------ step
    def _base_actions(self, status: Sequence[int]) -> dict[str, Any]:
        actions: dict[str, Any] = dict(zip(self.possible_agents, status, strict=True))
        actions.update(self._held)
        actions.update({a: (v.copy() if hasattr(v, "copy") else v) for a, v in self._idle.items()})
        return actions

    def _observations(self) -> dict[str, Any]:
        base = self.base_env.observe(self.possible_agents)
        used = self._steps / self.max_switches
        level = self._episode.get("load_level", 0.0)
        out = {}
        for i, agent in enumerate(self.possible_agents):
            toggled = self._toggled[i]
            extra = np.array([float(toggled), used, level], dtype=np.float32)
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
        if not isinstance(actions, Mapping):
            raise InvalidActionError(
                f"expected a dict agent -> action, got {type(actions).__name__}"
            )
        missing = [a for a in self.agents if a not in actions]
        unknown = sorted(str(a) for a in actions if a not in self.agents)
        if missing or unknown:
            raise InvalidActionError(
                f"joint action must hold exactly one action per live agent; missing {missing}, "
                f"unknown {unknown}"
            )
        toggles = [check_discrete(a, actions[a], 2) for a in self.possible_agents]
        for agent, toggle, done in zip(self.possible_agents, toggles, self._toggled, strict=True):
            if toggle and done:
                raise InvalidActionError(
                    f"{agent}: toggle is masked (action_mask [1, 0]): it already switched in "
                    "this episode; only 0 (keep) is allowed"
                )
        agents = list(self.agents)
        if self._diverged:  # the initial setting did not solve: end at once
            return self._end_diverged(agents, toggles)
        status = self.core.cap_status.tolist()
        new = [s ^ t for s, t in zip(status, toggles, strict=True)]
        self.base_env.step(self._base_actions(new))
        self._steps += 1
        for i, t in enumerate(toggles):
            if t:
                self._toggled[i] = True
        outcome = self.core.last_outcome
        assert outcome is not None
        if not outcome.info["converged"]:
            self._diverged = True
            return self._end_diverged(agents, toggles)

        n = sum(toggles)
        loss = float(outcome.snapshot.losses_kw)
        viol = np.array(outcome.violation, dtype=float)
        loss_red = (self._loss - loss) / self._loss0 if self._loss0 > 0 else 0.0
        dviol = viol - self._viol if self.violation_mode == "change" else viol
        w, c = self.violation_weight, self.switch_cost
        penalty = w * float(dviol.sum())
        reward = loss_red - penalty - c * n
        tog = np.array(toggles, dtype=float)
        share = tog / n if n else np.full(self.n_cap, 1.0 / self.n_cap)
        split = loss_red * share - w * (self._bus_weights @ dviol) - c * tog

        if n == 0:
            reason = "all_keep"
        elif all(self._toggled):
            reason = "all_toggled"
        elif self._steps >= self.max_switches:
            reason = "max_switches"
        else:
            reason = ""
        glob = {
            **self._episode,
            "reward": reward,
            "loss_reduction": loss_red,
            "loss_kw": loss,
            "prev_loss_kw": self._loss,
            "initial_loss_kw": self._loss0,
            "violation": float(viol.sum()),
            "prev_violation": float(self._viol.sum()),
            "violation_penalty": penalty,
            "switches": n,
            "switch_cost": c * n,
            "converged": True,
            "end_reason": reason,
        }
        self._loss, self._viol = loss, viol
        return self._finish(agents, toggles, reward, split, glob, bool(reason))

    def _end_diverged(self, agents: list[str], toggles: list[int]) -> tuple:
        penalty = float(self.core.config.divergence_penalty)
        glob = {
            **self._episode,
            "reward": -penalty,
            "loss_reduction": 0.0,
            "loss_kw": 0.0,
            "prev_loss_kw": self._loss,
            "initial_loss_kw": self._loss0,
            "violation": 0.0,
            "prev_violation": float(self._viol.sum()),
            "violation_penalty": 0.0,
            "switches": sum(toggles),
            "switch_cost": 0.0,
            "converged": False,
            "end_reason": "diverged",
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
            a: {**glob, "split_reward": float(split[i]), "toggled": bool(toggles[i])}
            for i, a in enumerate(self.possible_agents)
            if a in agents
        }
        terminations = dict.fromkeys(agents, done)
        truncations = dict.fromkeys(agents, False)
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    # ------------------------------------------------------------------ views
    def state(self) -> np.ndarray:
        """The wrapped env's global state (voltages, capacitor statuses, taps, batteries)."""
        return self.base_env.state()

    def render(self, *args: Any) -> np.ndarray | None:
        """Draw the feeder (delegates to the wrapped env)."""
        return self.base_env.render(*args)

    def close(self) -> None:
        """Release the wrapped env and its OpenDSS engine."""
        self.base_env.close()


def _pair(key: str, value: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key} must be a pair (low, high), got {value!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(f"{key} must be finite, got {value!r}")
    return lo, hi


def _int_option(options: Mapping[str, Any], key: str, drawn: int) -> int:
    value = options.get(key)
    if value is None:
        return drawn
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidOptionError(f"{key}: expected an integer, got {value!r}")
    return int(value)
