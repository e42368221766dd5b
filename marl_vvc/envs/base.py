"""What every environment shares.

Building the core, the public read-only views, seeding and option checks, the global info
terms, copies, rendering and closing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Self, cast

import numpy as np
from gymnasium import spaces
from gymnasium.utils.seeding import np_random as gym_np_random

from marl_vvc.core.grid import GridCore, Task
from marl_vvc.core.outcome import GridSnapshot, StepOutcome
from marl_vvc.envs.render import FeederView, check_render_mode
from marl_vvc.errors import InvalidOptionError, ResetNeededError
from marl_vvc.systems.config import SystemConfig
from marl_vvc.systems.loading import resolve_system
from marl_vvc.tasks.build import build_core

# Keys any env accepts in reset(options=...) besides its task's: PettingZoo's API test passes
# {"options": 1}.
_TOLERATED_OPTIONS = ("options",)


class AgentSpaces:
    """PettingZoo's per-agent space lookups over prebuilt dicts (the same object every call)."""

    observation_spaces: dict[str, spaces.Space]
    action_spaces: dict[str, spaces.Space]

    def observation_space(self, agent: str) -> spaces.Space:
        """Observation space of ``agent`` (the same object on every call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        """Action space of ``agent`` (the same object on every call)."""
        return self.action_spaces[agent]


class CoreEnv:
    """Mixin of the environments built on one :class:`~marl_vvc.core.grid.GridCore`.

    Copies and pickles continue the episode exactly: an env records the generator state
    before its last reset, the reset options and the validated joint actions since, and a
    copy is built from the same arguments and replays them (the core is deterministic).
    """

    config: SystemConfig
    core: GridCore
    render_mode: str | None
    _episode_fields: tuple[str, ...] = ()  # env attributes a copy takes over as they are

    def _build(self, system: str | None, render_mode: str | None, kwargs: dict[str, Any]) -> None:
        self.render_mode = check_render_mode(render_mode)
        self.config = resolve_system(system, **kwargs)
        self.core = build_core(self.config)
        band = (self.config.reward.v_min, self.config.reward.v_max)
        self._view = FeederView(self.core, render_mode, band)
        self._closed = False

    # ------------------------------------------------------------------ public views
    @property
    def task(self) -> Task:
        """The task the core runs (scenario and reward)."""
        return self.core.task

    @property
    def bus_names(self) -> tuple[str, ...]:
        """Bus names in the order of per-bus arrays (voltages, violations, weights)."""
        return self.core.bus_names

    @property
    def node_names(self) -> tuple[str, ...]:
        """Node names (``bus.phase``), in the order of the voltages that open ``state()``.

        Bus by bus, each bus's nodes in its own order (PowerGym's layout, Volt-Var systems).
        """
        eng = self.core.engine
        return tuple(eng.node_names[i] for i in eng.bus_node_order)

    @property
    def voltage_band(self) -> tuple[float, float]:
        """``(v_min, v_max)`` in pu: the band the reward's voltage term and violations use."""
        return self.config.reward.v_min, self.config.reward.v_max

    @property
    def horizon(self) -> int | None:
        """Steps per episode (None: the episode never ends by itself)."""
        return self.core.task.horizon

    @property
    def num_profiles(self) -> int | None:
        """Load profiles available to ``reset(options={"profile": k})`` (None: none)."""
        return getattr(self.core.task, "num_profiles", None)

    @property
    def profile_index(self) -> int | None:
        """Profile of the current episode (None when multipliers were given)."""
        return getattr(self.core.task, "profile_index", None)

    def agent_kind(self, agent: str) -> str:
        """Device kind of ``agent``: capacitor, regulator, battery, generator or storage."""
        return self.core.devices[self.core.agent_ids.index(agent)].kind

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_seed(seed: Any) -> int | None:
        if seed is None:
            return None
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise InvalidOptionError(f"seed: expected None or an integer >= 0, got {seed!r}")
        return int(seed)

    def _check_options(self, options: Any) -> Mapping[str, Any]:
        if options is None:
            return {}
        if not isinstance(options, Mapping):
            raise InvalidOptionError(
                f"options: expected None or a dict, got {type(options).__name__} {options!r}"
            )
        allowed = (*self.core.task.reset_options, *_TOLERATED_OPTIONS)
        unknown = sorted(str(k) for k in options if k not in allowed)
        if unknown:
            raise InvalidOptionError(
                f"options: unknown key(s) {unknown}; expected some of {list(allowed)}"
            )
        return options

    def _reset_core(
        self, rng: np.random.Generator, options: Any
    ) -> tuple[GridSnapshot, np.random.Generator]:
        """Reset the core with ``rng``; return the snapshot and ``rng``.

        A refused reset puts the generator back where it was, so it consumes no draw.
        """
        if self._closed:
            raise ResetNeededError("the environment is closed; make a new one")
        options = self._check_options(options)
        before = rng.bit_generator.state  # a fresh dict of plain values
        try:
            snap = self.core.reset(rng, options)
        except BaseException:
            rng.bit_generator.state = before
            raise
        self._history: tuple[Mapping[str, Any], dict[str, Any], list[Any]] | None = (
            before,
            dict(options),
            [],
        )
        return snap, rng

    def _step_core(self, values: list[Any], controls: str = "agents") -> StepOutcome:
        """Step the core with validated values, recording them for copies."""
        out = self.core.step_validated(values, controls=controls)
        history = getattr(self, "_history", None)
        if history is not None:
            history[2].append((values, controls))
        return out

    # ------------------------------------------------------------------ copies
    def __getstate__(self) -> dict[str, Any]:
        # EzPickle (later in the MRO): the constructor arguments, as a dict
        state = cast(dict[str, Any], super().__getstate__())
        if not getattr(self, "_closed", True):
            fields = {k: getattr(self, k) for k in self._episode_fields if hasattr(self, k)}
            state["_marl_vvc_episode"] = (getattr(self, "_history", None), fields)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        episode = state.pop("_marl_vvc_episode", None)
        super().__setstate__(state)  # type: ignore[misc]  # EzPickle: a new env
        if episode is None:
            return
        history, fields = episode
        if history is not None:
            rng_state, options, steps = history
            rng = np.random.Generator(getattr(np.random, rng_state["bit_generator"])())
            rng.bit_generator.state = rng_state
            self._reset_core(rng, options)
            for values, controls in steps:
                self._step_core(values, controls)
        self.__dict__.update(copy.deepcopy(fields))

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        clone = type(self).__new__(type(self))
        clone.__setstate__(self.__getstate__())
        return clone

    def _reset_gymnasium(self, seed: Any, options: Any) -> GridSnapshot:
        """Gymnasium's reset with the env's ``np_random``, reseeded only once it succeeded."""
        seed = self._check_seed(seed)
        env: Any = self
        if seed is None:
            snap, env._np_random = self._reset_core(env.np_random, options)
        else:
            rng, np_seed = gym_np_random(seed)
            snap, env._np_random = self._reset_core(rng, options)
            env._np_random_seed = np_seed
        return snap

    def _reset_parallel(self, seed: Any, options: Any) -> GridSnapshot:
        """PettingZoo's reset with the env's generator; spaces reseeded once it succeeded.

        The generator is the same stream as Gymnasium's ``np_random`` for the same seed, so
        the single-agent and parallel envs draw the same profile.
        """
        seed = self._check_seed(seed)
        env: Any = self
        rng = np.random.default_rng(seed) if seed is not None else env._rng
        snap, env._rng = self._reset_core(rng, options)
        if seed is not None:
            for i, agent in enumerate(env.possible_agents):
                env.action_space(agent).seed(seed + i)
                env.observation_space(agent).seed(seed + i)
        return snap

    # ------------------------------------------------------------------ step helpers
    def _global_info(self, out: StepOutcome) -> dict[str, Any]:
        terms = out.terms
        return {
            "global_reward": out.reward,
            "loss": terms.loss,
            "voltage": terms.voltage,
            "control": terms.control,
            "failure_penalty": terms.penalty,
            "violating_buses": int(np.count_nonzero(out.violation)),
            "n_buses": len(out.violation),
            "loss_kw": out.snapshot.losses_kw,
            **self._battery_energy(),
            **out.info,
        }

    def _battery_energy(self) -> dict[str, float]:
        """``battery_kwh``: energy the batteries moved in the step (charge plus discharge)."""
        fleet = self.core.fleet.get("battery")
        if fleet is None or not fleet.devices:
            return {}
        kw = np.asarray(getattr(fleet, "kw", ()), dtype=float)
        return {"battery_kwh": float(np.abs(kw).sum()) * self.core.step_hours}

    def _state(self) -> np.ndarray:
        if self._closed:
            raise ResetNeededError("the environment is closed; make a new one")
        return self.core.state_vector()

    def _render_step(self) -> None:
        if self.render_mode == "human":
            self._view.render()

    def render(self, *_: Any) -> np.ndarray | None:
        """Draw the feeder coloured by voltage (``rgb_array`` returns the image)."""
        return self._view.render()

    def close(self) -> None:
        """Release the rendering and the OpenDSS engine (idempotent)."""
        if getattr(self, "_closed", True):
            return
        self._view.close()
        self.core.close()
        self._closed = True
