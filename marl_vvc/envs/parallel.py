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
the violations in its own zone. Every agent's ``info`` holds ``global_reward`` and the global
terms.

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
- ``render_mode``: ``None``, ``"human"`` or ``"rgb_array"``.
- other keyword arguments override :class:`~marl_vvc.systems.config.SystemConfig` fields.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle
from pettingzoo import ParallelEnv

from marl_vvc.core.devices import Battery
from marl_vvc.systems.discovery import resolve_system
from marl_vvc.errors import InvalidActionError, ResetNeededError
from marl_vvc.core.grid import GridCore, StepOutcome
from marl_vvc.core.influence import measure_influence
from marl_vvc.envs.observations import LocalObservations
from marl_vvc.envs.render import RENDER_MODES, FeederView, check_render_mode
from marl_vvc.rewards.terms import RewardSplitter


class VVCParallelEnv(ParallelEnv, EzPickle):
    """Multi-agent Volt-Var control on one OpenDSS feeder (PettingZoo parallel API)."""

    metadata = {
        "name": "marl_vvc_v0",
        "render_modes": list(RENDER_MODES),
        "render_fps": 4,
        "is_parallelizable": True,
    }

    def __init__(
        self,
        system: str | None = None,
        *,
        circuit: str | None = None,
        systems_dir: str | None = None,
        profiles_dir: str | None = None,
        quirks: Any = None,
        reward_mode: str = "split",
        local_ratio: float = 1.0,
        neighbourhood: int = 4,
        time_features: bool = True,
        action_masks: bool = False,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        EzPickle.__init__(
            self,
            system,
            circuit=circuit,
            systems_dir=systems_dir,
            profiles_dir=profiles_dir,
            quirks=quirks,
            reward_mode=reward_mode,
            local_ratio=local_ratio,
            neighbourhood=neighbourhood,
            time_features=time_features,
            action_masks=action_masks,
            render_mode=render_mode,
            **overrides,
        )
        self.render_mode = check_render_mode(render_mode)
        config = resolve_system(
            system,
            circuit=circuit,
            systems_dir=systems_dir,
            profiles_dir=profiles_dir,
            quirks=quirks,
            **overrides,
        )
        self.core = GridCore(config)
        self.influence = measure_influence(self.core)
        self.splitter = RewardSplitter(
            self.influence.bus_weights, self.influence.loss_weights, reward_mode, local_ratio
        )
        self.observe = LocalObservations(self.core, self.influence, neighbourhood, time_features)
        self.possible_agents = list(self.core.agent_ids)
        self.agents: list[str] = []
        self.action_spaces = {d.agent_id: d.action_space() for d in self.core.devices}
        self.action_masks = action_masks
        self._masked = [
            (d.agent_id, d, self.action_spaces[d.agent_id].n)
            for d in self.core.devices
            if action_masks and isinstance(self.action_spaces[d.agent_id], spaces.Discrete)
        ]
        self.observation_spaces: dict[str, spaces.Space] = dict(self.observe.spaces)
        for agent, _, n in self._masked:
            self.observation_spaces[agent] = spaces.Dict(
                {
                    "observation": self.observe.spaces[agent],
                    "action_mask": spaces.Box(0, 1, shape=(n,), dtype=np.int8),
                }
            )
        n = self.core.state_size
        self.state_space = spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)
        self._rng = np.random.default_rng()
        self._last: StepOutcome | None = None
        self._view = FeederView(self.core, render_mode)

    # ------------------------------------------------------------------ spaces
    def observation_space(self, agent: str) -> spaces.Space:
        """Observation space of ``agent`` (the same object on every call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        """Action space of ``agent`` (the same object on every call)."""
        return self.action_spaces[agent]

    # ------------------------------------------------------------------ API
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode.

        Args:
            seed: Seeds the environment's generator (profile draws).
            options: ``{"profile": k}`` or ``{"load_multipliers": {load: [floats]}}``.
        """
        if seed is not None:
            # Same stream as Gymnasium's np_random, so the single-agent wrapper and this env
            # draw the same profile for the same seed.
            self._rng = np.random.default_rng(seed)
            for i, agent in enumerate(self.possible_agents):
                self.action_spaces[agent].seed(seed + i)
                self.observation_spaces[agent].seed(seed + i)
        snap = self.core.reset(self._rng, options)
        self.agents = list(self.possible_agents)
        self._last = None
        info = {"converged": snap.converged, "profile": self.core.profile_index}
        return self._observations(), {a: dict(info) for a in self.agents}

    def _observations(self) -> dict[str, Any]:
        obs: dict[str, Any] = self.observe(self.agents)
        if self._masked:
            core = self.core
            for agent, dev, n in self._masked:
                if isinstance(dev, Battery):
                    j = core.batteries.index(dev)
                    mask = dev.feasible_levels(core._kwh[j], core.config.step_hours)
                else:
                    mask = np.ones(n, dtype=np.int8)
                obs[agent] = {"observation": obs[agent], "action_mask": mask}
        return obs

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
        out = self.core.step(actions)
        self._last = out
        shares = self.splitter(out.terms, out.device_costs, out.violation)
        if not out.info["converged"]:
            shares = np.full(len(self.agents), out.reward / len(self.agents))
        agents = self.agents
        obs = self._observations()
        glob = {
            "global_reward": out.reward,
            "loss": out.terms.loss,
            "voltage": out.terms.voltage,
            "control": out.terms.control,
            **out.info,
        }
        rewards = {a: float(r) for a, r in zip(agents, shares, strict=True)}
        infos = {
            a: {**glob, "own_cost": float(c)} for a, c in zip(agents, out.device_costs, strict=True)
        }
        terminations = dict.fromkeys(agents, out.terminated)
        truncations = dict.fromkeys(agents, out.truncated and not out.terminated)
        if out.terminated or out.truncated:
            self.agents = []
        if self.render_mode == "human":
            self._view.render()
        return obs, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        """Global PowerGym-layout state (for centralised critics)."""
        return self.core.state_vector().astype(np.float32)

    def render(self, *_: Any) -> np.ndarray | None:
        """Draw the feeder coloured by voltage (``rgb_array`` returns the image)."""
        return self._view.render()

    def close(self) -> None:
        """Release the OpenDSS engine."""
        self._view.close()
