"""Score policies on chosen load profiles, next to the random / hold / OpenDSS baselines.

Everything here runs through :func:`marl_vvc.tools.rollout.rollout` on the public environment
API and plain Python; torch, ray and stable-baselines3 are imported only by the checkpoint
loaders (:mod:`marl_vvc.tools.checkpoints`).

A *policy function* is called as ``policy_fn(obs, env)`` once per step and returns the action:

- ``mode="parallel"``: ``obs`` is the PettingZoo dict ``{agent: observation}`` of
  :func:`marl_vvc.parallel_env`; return ``{agent: action}`` for every live agent.
- ``mode="single"``: ``obs`` is the observation of :func:`marl_vvc.make_env`; return the
  joint action (``MultiDiscrete`` array, or the ``Tuple`` on ``_cbat`` systems).

``env`` is the live environment, for its spaces and public methods (``hold_actions``);
trained policies ignore it.

Typical use (what ``marl-vvc eval`` does)::

    profiles = parse_profiles("300:365")
    loaded = load_policy("checkpoints/rllib", algo="rllib")
    rows = {"ppo": evaluate(loaded.policy_fn, loaded.system, profiles, mode=loaded.mode,
                            **loaded.env_kwargs)}
    rows.update(baseline_table(loaded.system, profiles, **loaded.env_kwargs))
    print(format_table(rows))

Every episode ``i`` starts with ``reset(seed=seed + i, options={"profile": profiles[i]})``, so
two policies scored on the same profiles see the same days. Systems without load profiles
(ANM6Easy: ``env.num_profiles is None``) run ``episodes`` episodes of ``max_steps`` steps,
reset with ``seed + i``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from importlib.util import find_spec
from typing import Any

import numpy as np

from marl_vvc.errors import ConfigError, MarlVVCError
from marl_vvc.tools.baselines import BASELINES, baseline, hold_policy, random_policy
from marl_vvc.tools.checkpoints import (
    ALGOS,
    RUN_INFO,
    LoadedPolicy,
    PolicyFn,
    agent_kind,
    load_policy,
    load_rllib_modules,
    read_run_info,
    rllib_module_policy,
    sb3_policy,
    write_run_info,
)
from marl_vvc.tools.observation_scaling import (
    OBS_TRANSFORMS,
    VOLTAGE_SCALE,
    voltage_deviation,
    voltage_entries,
)
from marl_vvc.tools.rollout import progress_bar, rollout, step_budget
from marl_vvc.tools.tables import COMPONENTS, format_table, summarise

__all__ = [
    "ALGOS",
    "BASELINES",
    "COMPONENTS",
    "HELD_OUT",
    "MODES",
    "OBS_TRANSFORMS",
    "RUN_INFO",
    "TRAIN_POOL",
    "VOLTAGE_SCALE",
    "LoadedPolicy",
    "PolicyFn",
    "agent_kind",
    "applicable_baselines",
    "baseline_table",
    "build_env",
    "episode_plan",
    "evaluate",
    "format_table",
    "hold_policy",
    "load_policy",
    "load_rllib_modules",
    "parse_profiles",
    "random_policy",
    "read_run_info",
    "rllib_module_policy",
    "sb3_policy",
    "score",
    "voltage_deviation",
    "voltage_entries",
    "write_run_info",
]

MODES = ("parallel", "single")
#: Profiles 0..299 train (``profile_pool=(0, 300)``); 300..364 are held out.
TRAIN_POOL = (0, 300)
HELD_OUT = range(300, 365)


def parse_profiles(spec: str | int | Iterable[int]) -> list[int]:
    """Profile indices from ``"300:365"`` (a range), ``"1,5,9"``, ``"7"`` or a sequence.

    Raises:
        ConfigError: The text is not a range or a comma-separated list of integers.
    """
    if isinstance(spec, int | np.integer):
        return [int(spec)]
    if not isinstance(spec, str):
        return [int(k) for k in spec]
    text = spec.strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop = int(parts[0]), int(parts[1])
            step = int(parts[2]) if len(parts) == 3 else 1
            out = list(range(start, stop, step))
        else:
            out = [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise ConfigError(
            f"profiles: expected 'start:stop' or a comma-separated list of integers, got {spec!r}"
        ) from None
    if not out:
        raise ConfigError(f"profiles: {spec!r} selects no profile")
    return out


def build_env(system: str | None, mode: str, env_kwargs: Mapping[str, Any]) -> Any:
    """The parallel (PettingZoo) or single-agent (Gymnasium) env of ``system``."""
    import marl_vvc

    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    make = marl_vvc.parallel_env if mode == "parallel" else marl_vvc.make_env
    return make(system, **env_kwargs)


def episode_plan(
    env: Any, profiles: Iterable[int] | str | None, episodes: int, seed: int
) -> list[tuple[int, dict[str, Any] | None]]:
    """``(seed, reset options)`` of every episode.

    ``profiles=None`` picks the held-out profiles 300..364 (or, on systems with fewer, the
    last ``episodes`` ones); systems without load profiles run ``episodes`` unprofiled episodes.

    Raises:
        ConfigError: Profiles asked of a system without load profiles, or out of its range.
    """
    count = getattr(env, "num_profiles", None)
    if count is None:
        if profiles is not None:
            raise ConfigError("this system has no load profiles: choose --episodes, not --profiles")
        return [(seed + i, None) for i in range(episodes)]
    if profiles is None:
        chosen = [k for k in HELD_OUT if k < count] or list(range(max(0, count - episodes), count))
    else:
        chosen = parse_profiles(profiles)
    bad = [k for k in chosen if not 0 <= k < count]
    if bad:
        raise ConfigError(f"profiles {bad} out of range: this system has profiles 0..{count - 1}")
    return [(seed + i, {"profile": k}) for i, k in enumerate(chosen)]


def score(
    env: Any,
    policy_fn: PolicyFn,
    profiles: Iterable[int] | str | None = HELD_OUT,
    *,
    name: str = "policy",
    mode: str = "parallel",
    seed: int = 0,
    episodes: int = 3,
    max_steps: int | None = None,
    progress: bool = False,
    gamma: float | None = None,
) -> dict[str, Any]:
    """Score ``policy_fn`` on an env that is already built (see :func:`evaluate`)."""
    plan = episode_plan(env, profiles, episodes, seed)
    budget = step_budget(env, max_steps)
    with progress_bar(len(plan) * budget, name, progress) as bar:

        def tick(*_: Any) -> None:
            bar.update(1)

        rows = [
            rollout(env, policy_fn, seed=s, options=o, max_steps=budget, on_step=tick).summary(
                gamma
            )
            for s, o in plan
        ]
    return summarise(name, mode, rows)


def evaluate(
    policy_fn: PolicyFn,
    system: str | None = "13Bus",
    profiles: Iterable[int] | str | None = HELD_OUT,
    mode: str = "parallel",
    *,
    seed: int = 0,
    name: str = "policy",
    episodes: int = 3,
    max_steps: int | None = None,
    progress: bool = False,
    gamma: float | None = None,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Run ``policy_fn`` for one episode per profile and average the returns.

    Args:
        policy_fn: ``policy_fn(obs, env) -> action`` (see the module docstring).
        system: System name (or YAML file; None with ``circuit=``).
        profiles: Load profile indices (or text for :func:`parse_profiles`); None picks them
            (see :func:`episode_plan`).
        mode: ``parallel`` (PettingZoo, one agent per device) or ``single`` (Gymnasium).
        seed: Episode ``i`` is reset with ``seed + i``.
        name: Label stored under ``"policy"``.
        episodes: Episodes on systems without load profiles.
        max_steps: Step budget per episode (default: the env's horizon, or 96 steps on
            envs that report none).
        progress: Show a progress bar on stderr.
        gamma: Also report ``discounted_return`` with this discount (Gym-ANM: 0.995).
        **env_kwargs: Passed to the environment (must match what the policy was trained on).

    Returns:
        A policy row (:func:`marl_vvc.tools.tables.summarise`): means of ``return``, ``loss``,
        ``voltage``, ``control``, ``penalty`` and ``violation_rate``, ``return_std``, ``n``,
        ``converged``, ``diverged`` (episodes) and one row per episode under ``episodes``.
    """
    env = build_env(system, mode, env_kwargs)
    try:
        return score(
            env,
            policy_fn,
            profiles,
            name=name,
            mode=mode,
            seed=seed,
            episodes=episodes,
            max_steps=max_steps,
            progress=progress,
            gamma=gamma,
        )
    finally:
        env.close()


def applicable_baselines(env: Any) -> tuple[str, ...]:
    """The baselines that apply to ``env``.

    ``dss`` needs capacitors or regulators, ``oracle`` the parallel env's ``what_if``,
    ``optimum`` a capacitor switching env, the MPC policies ANM6-Easy (and gym-anm).
    """
    agents: Iterable[str] = getattr(env, "possible_agents", ()) or getattr(env, "agent_ids", ())
    kinds = {env.agent_kind(a) if hasattr(env, "agent_kind") else a.split("_")[0] for a in agents}
    scenario = getattr(getattr(env, "config", None), "scenario", None)
    anm6 = getattr(scenario, "kind", None) == "anm6easy" and find_spec("gym_anm") is not None
    needs = {
        "dss": bool(kinds & {"capacitor", "regulator"}),
        "optimum": hasattr(env, "condition"),
        "oracle": hasattr(env, "what_if"),
        "mpc_constant": anm6,
        "mpc_perfect": anm6,
    }
    return tuple(b for b in BASELINES if needs.get(b, True))


def baseline_table(
    system: str | None = "13Bus",
    profiles: Iterable[int] | str | None = HELD_OUT,
    mode: str = "parallel",
    *,
    policies: Sequence[str] | None = None,
    seed: int = 0,
    episodes: int = 3,
    max_steps: int | None = None,
    progress: bool = False,
    gamma: float | None = None,
    **env_kwargs: Any,
) -> dict[str, dict[str, Any]]:
    """Score the reference policies on ``profiles`` (same days and seeds as :func:`evaluate`).

    Policies that run on the same env options share one env.

    Args:
        system: System name (or YAML file; None with ``circuit=``).
        profiles: Load profile indices (or text for :func:`parse_profiles`); None picks them.
        mode: Environment front door; the global reward does not depend on it.
        policies: Any of :data:`~marl_vvc.tools.baselines.BASELINES`; None: those that apply
            (:func:`applicable_baselines`) and whose env options the system accepts (the
            capacitor switching env has no ``controls=``, so no ``dss``).
        seed: Seed of the resets and of the random policy.
        episodes: Episodes on systems without load profiles.
        max_steps: Step budget per episode (see :func:`evaluate`).
        progress: Show a progress bar on stderr.
        gamma: Also report ``discounted_return`` with this discount.
        **env_kwargs: Passed to the environment.

    Returns:
        ``{policy name: result of evaluate()}`` in the order of ``policies``.
    """
    unknown = [p for p in policies or () if p not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown}; choose from {BASELINES}")
    envs: dict[tuple, Any] = {(): build_env(system, mode, env_kwargs)}
    options: dict[str, Any] = {
        "seed": seed,
        "episodes": episodes,
        "max_steps": max_steps,
        "progress": progress,
        "gamma": gamma,
    }
    table = {}
    try:
        for name in applicable_baselines(envs[()]) if policies is None else policies:
            b = baseline(name, seed)
            key = tuple(sorted(b.env_kwargs.items()))
            if key not in envs:
                try:
                    envs[key] = build_env(system, mode, {**env_kwargs, **b.env_kwargs})
                except MarlVVCError:
                    if policies is not None:
                        raise
                    continue  # the env does not offer what the baseline needs (controls=)
            table[name] = score(envs[key], b.policy, profiles, name=name, mode=mode, **options)
    finally:
        for env in envs.values():
            env.close()
    return table
