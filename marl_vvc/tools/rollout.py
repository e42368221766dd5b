"""The one episode loop of every tool, on the public environment API only.

:func:`rollout` runs one episode of a PettingZoo parallel env or a Gymnasium env through
``reset``/``step`` and the step ``info``, and returns an :class:`Episode`: per step (a
:class:`StepRecord`) the global reward and its parts, convergence, per-agent rewards, the
actions the devices applied and how many buses left the voltage band. ``marl-vvc run``,
``eval``, ``plot`` and ``bench`` all use it.

A *policy* is called as ``policy(obs, env)`` once per step and returns the action:

- parallel env: ``obs`` is ``{agent: observation}``; return ``{agent: action}`` for every live
  agent;
- Gymnasium env: ``obs`` is the observation; return one action in ``env.action_space``.

``env`` is passed for its spaces and public methods (``action_space``, ``hold_actions``);
trained policies usually ignore it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marl_vvc.errors import ConfigError

Policy = Callable[[Any, Any], Any]
#: Parts of the global reward; they add up to ``info["global_reward"]``. ``penalty`` is the
#: divergence penalty, reported in ``info["failure_penalty"]`` (Gym-ANM's own ``penalty`` term
#: of the ANM tasks is part of ``voltage``).
TERMS = ("loss", "voltage", "control", "penalty")
PENALTY_KEY = "failure_penalty"
#: Step budget of the tools on envs that report no horizon (ANM6Easy's single-agent env,
#: switching sequences that end by themselves).
ENDLESS_STEPS = 96
#: Step-info numbers an episode row reports when the env gives them: mean losses (kW),
#: battery energy moved (kWh, summed), capacitor switching's loss reduction (summed; it
#: telescopes to ``(P(0) − P(end)) / P(0)``).
EXTRAS = {"loss_kw": "mean", "battery_kwh": "sum", "loss_reduction": "sum"}


def is_parallel(env: Any) -> bool:
    """Whether ``env`` is a PettingZoo parallel env (else a Gymnasium env)."""
    return hasattr(env, "possible_agents")


@dataclass(frozen=True)
class StepRecord:
    """What one step reported through ``step``'s returns and ``info``."""

    reward: float  # global reward
    loss: float
    voltage: float
    control: float
    penalty: float  # divergence penalty (<= 0), 0.0 on normal steps
    converged: bool
    violating_buses: int  # buses outside the voltage band after the step
    n_buses: int
    applied: Mapping[str, Any]  # agent -> action the device applied, in its action space
    agent_rewards: Mapping[str, float]  # agent -> reward (parallel envs; empty otherwise)
    extras: Mapping[str, float] = field(default_factory=dict)  # EXTRAS the info carried


@dataclass
class Episode:
    """One episode: how it started and what every step reported."""

    seed: int | None
    profile: int | None  # load profile of the episode, when the env reports one
    start: Mapping[str, Any]  # agent -> the env's hold action at reset (parallel envs)
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """Every power flow of the episode converged."""
        return all(s.converged for s in self.steps)

    @property
    def diverged(self) -> bool:
        """Some power flow of the episode did not converge."""
        return not self.converged

    def series(self, key: str) -> np.ndarray:
        """One number per step: ``reward``, a term, ``violating_buses`` or ``n_buses``."""
        return np.array([getattr(s, key) for s in self.steps], dtype=float)

    def totals(self) -> dict[str, float]:
        """Summed ``return`` and its parts (``loss``, ``voltage``, ``control``, ``penalty``)."""
        out = {"return": float(sum(s.reward for s in self.steps))}
        out.update({k: float(sum(getattr(s, k) for s in self.steps)) for k in TERMS})
        return out

    def violation_rate(self) -> float:
        """Mean share of buses outside the voltage band over the steps (0 without steps)."""
        shares = [s.violating_buses / s.n_buses for s in self.steps if s.n_buses]
        return float(np.mean(shares)) if shares else 0.0

    def controllable_rate(self) -> float:
        """Share of steps with every bus inside the voltage band (MAPDN's metric)."""
        if not self.steps:
            return 0.0
        return float(np.mean([s.violating_buses == 0 for s in self.steps]))

    def discounted_return(self, gamma: float) -> float:
        """``Σ_t γ^t r_t`` (Gym-ANM's criterion, with ``γ = 0.995``)."""
        rewards = self.series("reward")
        return float(np.sum(rewards * gamma ** np.arange(len(rewards))))

    def operations(self) -> dict[str, float]:
        """Tap steps moved by the regulators and capacitor switchings over the episode."""
        taps = switches = 0.0
        last = dict(self.start)
        for s in self.steps:
            for agent, action in s.applied.items():
                before = last.get(agent)
                last[agent] = action
                if before is None or np.ndim(action) != 0:
                    continue
                if agent.startswith("regulator_"):
                    taps += abs(int(action) - int(before))
                elif agent.startswith("capacitor_"):
                    switches += int(action) != int(before)
        return {"tap_steps": taps, "cap_switches": switches}

    def summary(self, gamma: float | None = None) -> dict[str, Any]:
        """Every number of an episode row.

        Profile, steps, totals, convergence, violations, device operations, the
        :data:`EXTRAS` the env reports and, with ``gamma``, the discounted return.
        """
        out = {
            "profile": self.profile,
            "seed": self.seed,
            "steps": len(self.steps),
            **self.totals(),
            "converged": self.converged,
            "diverged": int(self.diverged),
            "violation_rate": self.violation_rate(),
            "controllable_rate": self.controllable_rate(),
            **self.operations(),
        }
        for key, how in EXTRAS.items():
            values = [s.extras[key] for s in self.steps if key in s.extras]
            if values:
                out[key] = float(np.mean(values) if how == "mean" else np.sum(values))
        if gamma is not None:
            out["discounted_return"] = self.discounted_return(gamma)
        return out


def _num(info: Mapping[str, Any], key: str) -> Any:
    try:
        return info[key]
    except KeyError:
        raise ConfigError(
            f"the environment's step info has no {key!r} (keys: {sorted(info)}); "
            "marl_vvc tools need the global reward terms in info"
        ) from None


def _record(
    info: Mapping[str, Any], applied: Mapping[str, Any], agent_rewards: Mapping[str, float]
) -> StepRecord:
    return StepRecord(
        reward=float(_num(info, "global_reward")),
        loss=float(_num(info, "loss")),
        voltage=float(_num(info, "voltage")),
        control=float(_num(info, "control")),
        penalty=float(_num(info, PENALTY_KEY)),
        converged=bool(_num(info, "converged")),
        violating_buses=int(_num(info, "violating_buses")),
        n_buses=int(_num(info, "n_buses")),
        applied=applied,
        agent_rewards=agent_rewards,
        extras={k: float(info[k]) for k in EXTRAS if k in info},
    )


def _parallel_step(env: Any, policy: Policy, obs: Any) -> tuple[Any, StepRecord, bool]:
    obs, rewards, terms, truncs, infos = env.step(policy(obs, env))
    info = next(iter(infos.values()))
    applied = {a: i["applied"] for a, i in infos.items()}
    rec = _record(info, applied, {a: float(r) for a, r in rewards.items()})
    done = not env.agents or all(terms.values()) or all(truncs.values())
    return obs, rec, done


def _single_step(env: Any, policy: Policy, obs: Any) -> tuple[Any, StepRecord, bool]:
    obs, _, terminated, truncated, info = env.step(policy(obs, env))
    rec = _record(info, dict(_num(info, "applied")), {})
    return obs, rec, bool(terminated or truncated)


def rollout(
    env: Any,
    policy: Policy,
    *,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
    max_steps: int | None = None,
    on_step: Callable[[StepRecord, Any], None] | None = None,
) -> Episode:
    """Run one episode and record every step.

    Args:
        env: A parallel env (``marl_vvc.parallel_env``) or a Gymnasium env (``make_env``).
        policy: ``policy(obs, env) -> action`` (see the module docstring).
        seed: Seed of ``reset``.
        options: Options of ``reset`` (e.g. ``{"profile": 3}``).
        max_steps: Step budget; the episode stops after this many steps even if the env
            would go on (default: ``env.horizon``). Required when ``env.horizon`` is None
            (episodes that may never end).
        on_step: Called after every step with the record and the new observation.

    Returns:
        The episode; its last step is the one that ended it (or the budget's last).

    Raises:
        ConfigError: Endless episodes without a step budget, or a step info without the
            reward terms.
    """
    if max_steps is None:
        max_steps = getattr(env, "horizon", None)
    if max_steps is None:
        raise ConfigError("this environment's episodes never end: give a step budget (--steps)")
    if max_steps < 1:
        raise ConfigError(f"the step budget must be >= 1, got {max_steps}")
    parallel = is_parallel(env)
    obs, infos = env.reset(seed=seed, options=dict(options) if options else None)
    info = next(iter(infos.values()), {}) if parallel else infos
    profile = info.get("profile")
    start = dict(env.hold_actions()) if parallel else {}
    episode = Episode(seed, None if profile is None else int(profile), start)
    step = _parallel_step if parallel else _single_step
    done = False
    while not done and len(episode.steps) < max_steps:
        obs, rec, done = step(env, policy, obs)
        episode.steps.append(rec)
        if on_step is not None:
            on_step(rec, obs)
    return episode


def step_budget(env: Any, max_steps: int | None = None) -> int:
    """``max_steps``, else the env's horizon, else :data:`ENDLESS_STEPS`."""
    return max_steps or getattr(env, "horizon", None) or ENDLESS_STEPS


def progress_bar(total: int | None, desc: str, enabled: bool) -> Any:
    """A ``tqdm`` bar on stderr counting steps (a silent one when ``enabled`` is False)."""
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not enabled, file=sys.stderr)
