"""PettingZoo ``ParallelEnv``: every capacitor, regulator and battery is an agent.

A thin adapter over :class:`~marl_vvc.core.grid.GridCore`: it translates dicts and spaces, builds
local observations and splits the global reward. All physics lives in the core.

## Agents
``capacitor_<name>`` (``Discrete(2)``), ``regulator_<transformer>`` (``Discrete(33)``),
``battery_<name>`` (``Discrete(33)``, or ``Box(-1, 1, (1,))`` on ``_cbat`` systems).

## Observation
Each agent's local view (see :mod:`marl_vvc.envs.observations`): own device state, (Vmin, Vmax) of
its own bus and the ``neighbourhood − 1`` buses it moves most, and optionally the time of day.
``state()`` is the global PowerGym-layout vector ``[V | caps | taps | (SoC, discharge)]``.

## Rewards
The global reward is PowerGym's ``p + v + c``. ``reward_mode="split"`` (default) charges each
agent its own control cost plus an influence-weighted share of every bus's voltage violation
and of the losses, so the per-agent rewards add up to the global reward;
``"shared"`` gives everyone the global reward; ``"local"`` charges each agent its own cost and
the violations in its own zone; ``"difference"`` gives each agent the global reward minus the
global reward had it held (one extra power flow per moving agent and step). Every agent's
``info`` holds ``global_reward`` and the global terms (``loss``, ``voltage``, ``control``,
``failure_penalty``), ``converged``, ``loss_kw``, ``battery_kwh`` (energy the batteries moved),
``own_cost``, ``applied`` (the action the agent's device took after projection), the number of buses
outside the voltage band (``violating_buses`` of ``n_buses``) and ``cost``, the agent's share
of the step's voltage violations (≥ 0, influence-weighted as in ``split``; the costs of all
agents add up to the total violation): a constraint signal for safe / constrained RL.

## Episode end
After ``horizon`` steps every agent terminates. A power flow that does not converge also
terminates the episode, with ``reward = −divergence_penalty`` split equally and
``info["converged"] = False``; ``reset()`` recovers.

## Arguments
- ``system``: PowerGym-style name (``"13Bus"``, ``"123Bus_cbat_s1.5"``) or a YAML path.
- ``circuit``: any OpenDSS master file instead; its capacitors, RegControl-driven regulators
  and Storage elements become agents (see :mod:`marl_vvc.systems.discovery`; ``capacitors=``,
  ``regulators=``, ``batteries=`` choose them explicitly).
- ``systems_dir``, ``profiles_dir``, ``quirks``: see :func:`marl_vvc.systems.config.load_system`.
- ``reward_mode``, ``local_ratio``: reward splitting (see :mod:`marl_vvc.rewards.terms`).
- ``neighbourhood``: buses in each local observation (default 4).
- ``time_features``: append sin/cos of the time of day (default True).
- ``action_masks``: observations of discrete agents become
  ``{"observation": ..., "action_mask": int8 array}`` (PettingZoo convention); a battery's mask
  hides the levels its stored energy does not allow.
- ``controls``: ``"agents"`` (default) or ``"opendss"``: OpenDSS's own RegControl/CapControl
  move the taps and capacitors during each solve (PowerGym's ``dss`` mode, the rule-based
  baseline); those agents' actions must still be valid but are overridden, and
  ``info["applied"]`` reports what the controllers chose.
- ``render_mode``: ``None``, ``"human"`` or ``"rgb_array"``.
- other keyword arguments override :class:`~marl_vvc.systems.config.SystemConfig` fields.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle
from pettingzoo import ParallelEnv

from marl_vvc.core.grid import CONTROLS
from marl_vvc.core.influence import measure_influence
from marl_vvc.envs.base import AgentSpaces, CoreEnv
from marl_vvc.envs.observations import LocalObservations
from marl_vvc.envs.render import RENDER_MODES
from marl_vvc.errors import ConfigError, InvalidActionError, ResetNeededError
from marl_vvc.rewards.splitter import RewardSplitter


class VVCParallelEnv(CoreEnv, AgentSpaces, ParallelEnv, EzPickle):
    """Multi-agent Volt-Var control on one OpenDSS feeder (PettingZoo parallel API)."""

    metadata = {
        "name": "marl_vvc_v0",
        "render_modes": list(RENDER_MODES),
        "render_fps": 4,
        "is_parallelizable": True,
    }
    _episode_fields = ("agents", "_rng")

    def __init__(
        self,
        system: str | None = None,
        *,
        reward_mode: str = "split",
        local_ratio: float = 1.0,
        neighbourhood: int = 4,
        time_features: bool = True,
        action_masks: bool = False,
        controls: str = "agents",
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        EzPickle.__init__(
            self,
            system,
            reward_mode=reward_mode,
            local_ratio=local_ratio,
            neighbourhood=neighbourhood,
            time_features=time_features,
            action_masks=action_masks,
            controls=controls,
            render_mode=render_mode,
            **kwargs,
        )
        if controls not in CONTROLS:
            raise ConfigError(f"controls must be one of {list(CONTROLS)}, got {controls!r}")
        if isinstance(neighbourhood, bool) or not isinstance(neighbourhood, int | np.integer):
            raise ConfigError(f"neighbourhood must be an integer >= 1, got {neighbourhood!r}")
        if neighbourhood < 1:
            raise ConfigError(f"neighbourhood must be an integer >= 1, got {neighbourhood!r}")
        self.controls = controls
        self._build(system, render_mode, kwargs)
        core = self.core
        try:
            self.influence = measure_influence(core, self.config.scenario.scale)
            self.splitter = RewardSplitter(
                self.influence.bus_weights, self.influence.loss_weights, reward_mode, local_ratio
            )
        except BaseException:
            core.close()
            raise
        self.observe = LocalObservations(core, self.influence, neighbourhood, time_features)
        self.possible_agents = list(core.agent_ids)
        self.agents: list[str] = []
        self.action_masks = action_masks
        self._build_spaces()
        self._rng = np.random.default_rng()

    # ------------------------------------------------------------------ spaces
    def _build_spaces(self) -> None:
        core = self.core
        self.action_spaces = {d.agent_id: d.action_space() for d in core.devices}
        self.observation_spaces: dict[str, spaces.Space] = dict(self.observe.spaces)
        self._masked = (
            [a for a in self.possible_agents if isinstance(self.action_spaces[a], spaces.Discrete)]
            if self.action_masks
            else []
        )
        for agent in self._masked:
            n = int(cast(spaces.Discrete, self.action_spaces[agent]).n)
            self.observation_spaces[agent] = spaces.Dict(
                {
                    "observation": self.observe.spaces[agent],
                    "action_mask": spaces.Box(0, 1, shape=(n,), dtype=np.int8),
                }
            )
        n = self.task.state_size(core)
        self.state_space = spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)

    # ------------------------------------------------------------------ API
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Start an episode.

        Args:
            seed: Seeds the environment's generator (profile draws).
            options: The task's reset options (VVC: ``{"profile": k}`` or
                ``{"load_multipliers": {load: [floats]}}``; ANM6-Easy: ``{"start": k}``).

        Raises:
            InvalidOptionError: A bad seed or option; nothing changed.
        """
        snap = self._reset_parallel(seed, options)
        self.agents = list(self.possible_agents)
        info = {"converged": snap.converged, "profile": self.profile_index}
        return self._observations(), {a: dict(info) for a in self.agents}

    def _observations(self) -> dict[str, Any]:
        obs: dict[str, Any] = self.observe(self.agents)
        if self._masked:
            masks = dict(zip(self.possible_agents, self._masks(), strict=True))
            for agent in self._masked:
                obs[agent] = {"observation": obs[agent], "action_mask": masks[agent]}
        return obs

    def _masks(self) -> list[np.ndarray]:
        return [m for f in self.core.fleets if f.devices for m in f.masks()]

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Apply one joint action; every live agent must act.

        Raises:
            ResetNeededError: No episode is running.
            InvalidActionError: Missing/unknown agent or an action outside its space; the
                environment is unchanged.
        """
        if not self.agents:
            raise ResetNeededError("no live agents: call reset() before step()")
        if not isinstance(actions, dict):
            raise InvalidActionError(
                f"expected a dict agent -> action, got {type(actions).__name__}"
            )
        values = self.core.validate(actions)
        what_if = self._counterfactuals(values) if self.splitter.mode == "difference" else None
        out = self._step_core(values, self.controls)
        agents = self.agents
        if out.info["converged"]:
            shares = self.splitter(out.terms, out.device_costs, out.violation, what_if)
        else:
            shares = np.full(len(agents), out.reward / len(agents))
        obs = self._observations()
        glob = self._global_info(out)
        applied = self.core.applied_values()
        safety = (self.influence.bus_weights @ out.violation).tolist()
        rewards = {a: float(r) for a, r in zip(agents, shares, strict=True)}
        infos = {
            a: {**glob, "own_cost": float(c), "applied": act, "cost": v}
            for a, c, act, v in zip(agents, out.device_costs, applied, safety, strict=True)
        }
        terminations = dict.fromkeys(agents, out.terminated)
        truncations = dict.fromkeys(agents, out.truncated and not out.terminated)
        if out.terminated or out.truncated:
            self.agents = []
        self._render_step()
        return obs, rewards, terminations, truncations, infos

    def _counterfactuals(self, values: list[Any]) -> np.ndarray:
        """The global reward had each agent held (NaN where it holds anyway).

        One power flow per moving agent.
        """
        hold = self.core.hold_values()
        out = np.full(len(values), np.nan)
        for i, (value, kept) in enumerate(zip(values, hold, strict=True)):
            if not np.array_equal(value, kept):
                joint = [*values[:i], kept, *values[i + 1 :]]
                out[i] = self.core.trial(joint, controls=self.controls).reward
        return out

    def what_if(self, actions: dict[str, Any]) -> dict[str, Any]:
        """What a joint action would score at this step, without taking it.

        One power flow on the env's own engine; afterwards the episode is where it was (the
        next solve starts from the what-if's voltages, so it agrees to within the power-flow
        tolerance). Look-ahead baselines and counterfactual credit build on it.

        Returns:
            The step's global info: ``global_reward``, its terms, ``converged``,
            ``violating_buses`` and ``n_buses``, and each bus's highest and lowest node
            voltage (``bus_vmax``, ``bus_vmin``, read-only arrays in :attr:`bus_names` order).

        Raises:
            ResetNeededError: No episode is running.
            InvalidActionError: As :meth:`step`; nothing changed.
        """
        if not self.agents:
            raise ResetNeededError("no live agents: call reset() before what_if()")
        out = self.core.trial(self.core.validate(actions), controls=self.controls)
        snap = out.snapshot
        return {**self._global_info(out), "bus_vmax": snap.bus_vmax, "bus_vmin": snap.bus_vmin}

    def hold_actions(self) -> dict[str, Any]:
        """A joint action that keeps every device where it is.

        Batteries and storage idle; generators at full available power with no reactive power.
        """
        return dict(zip(self.possible_agents, self.core.hold_values(), strict=True))

    def influence_weights(self) -> np.ndarray:
        """``(n_agents, n_buses)`` bus weights of the ``split`` reward (columns sum to 1)."""
        return self.influence.bus_weights.copy()

    def state(self) -> np.ndarray:
        """Global state vector (PowerGym layout; Gym-ANM's on ANM systems)."""
        return self._state().astype(np.float32)
