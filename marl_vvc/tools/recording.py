"""One recorded episode of the parallel env, as arrays for the plots (``marl-vvc plot``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from marl_vvc.tools.baselines import baseline
from marl_vvc.tools.observation_scaling import voltage_entries
from marl_vvc.tools.rollout import TERMS, Episode, progress_bar, rollout, step_budget


def _voltage_masks(env: Any) -> dict[str, np.ndarray]:
    """Per agent, the voltage entries of its observation (Box, or a masked Dict's Box)."""
    masks = {}
    for agent in env.possible_agents:
        space = env.observation_space(agent)
        if hasattr(space, "spaces") and "observation" in space.spaces:
            space = space.spaces["observation"]
        if hasattr(space, "low"):
            mask = voltage_entries(space)
            if mask.any():
                masks[agent] = mask
    return masks


def _observed(obs: dict[str, Any], masks: dict[str, np.ndarray]) -> np.ndarray:
    parts = []
    for agent, mask in masks.items():
        o = obs.get(agent)
        if isinstance(o, dict):
            o = o["observation"]
        if o is not None:
            parts.append(np.asarray(o, dtype=float)[mask])
    return np.concatenate(parts) if parts else np.empty(0)


def device_values(kind: str, space: Any, actions: Any) -> np.ndarray:
    """One number per step from a device's applied actions (``(steps,)``).

    Capacitor status, tap position, battery output as a fraction of its rating (discrete
    levels centred on the idle middle one; a continuous command as it is), generator and
    storage active power (the first entry of their ``(P, Q)``).
    """
    a = np.asarray(actions, dtype=float)
    if a.ndim > 1:
        return a[:, 0].copy()
    if kind == "battery" and hasattr(space, "n"):
        mid = (int(space.n) - 1) / 2
        return (a - mid) / mid
    return a


def voltage_band(env: Any) -> tuple[float, float] | None:
    """The env's voltage limits (pu), or None when it has none."""
    band = getattr(env.unwrapped if hasattr(env, "unwrapped") else env, "voltage_band", None)
    return None if band is None else (float(band[0]), float(band[1]))


def record_episode(
    system: str | None = "13Bus",
    *,
    policy: str = "random",
    profile: int | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    progress: bool = False,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Run one episode of the parallel env and keep what the report draws.

    Args:
        system: System name, YAML system file, or None with ``circuit=``.
        policy: ``random``, ``hold`` or ``dss`` (see :mod:`marl_vvc.tools.baselines`).
        profile: Load profile (default: drawn by the env).
        seed: Seed of the reset and of the random policy.
        max_steps: Step budget (default: the horizon; 96 steps on endless systems).
        progress: Show a progress bar on stderr.
        **env_kwargs: Passed to :func:`marl_vvc.parallel_env`.

    Returns:
        Arrays over steps: ``reward``, ``loss``, ``voltage``, ``control``, ``penalty``,
        ``violating`` (share of buses outside the band), ``vq`` (steps × 5: min, 5 %, 50 %,
        95 %, max of the voltages the agents observe; None when they observe none) and
        ``agent_rewards`` (steps × agents); ``applied`` (agent -> steps + 1 actions, the
        first the hold action at reset) and ``values`` (the same as one number per step,
        :func:`device_values`; NaN at reset where the hold action is no position:
        generators, storage, and capacitors of the switching task, whose hold is "keep");
        ``agents``, ``kinds``, ``band`` (voltage limits), ``system``, ``policy``,
        ``profile``, ``converged``, ``influence`` (the env's ``influence_weights()``,
        agents × buses, or None) and ``buses``.
    """
    import marl_vvc

    chosen = baseline(policy, seed)
    env = marl_vvc.parallel_env(system, **{**env_kwargs, **chosen.env_kwargs})
    masks = _voltage_masks(env)
    budget = step_budget(env, max_steps)
    vq: list[np.ndarray] = []

    def on_step(_: Any, obs: dict[str, Any]) -> None:
        bar.update(1)
        v = _observed(obs, masks)
        if v.size:
            vq.append(np.quantile(v, [0.0, 0.05, 0.5, 0.95, 1.0]))

    options = None if profile is None else {"profile": profile}
    try:
        with progress_bar(budget, str(system), progress) as bar:
            episode = rollout(
                env, chosen.policy, seed=seed, options=options, max_steps=budget, on_step=on_step
            )
        switching = system is not None and marl_vvc.is_capswitch_name(system)
        data = _arrays(episode, env, vq, switching)
        data["band"] = voltage_band(env)
        data["influence"] = env.influence_weights()
        data["buses"] = list(env.bus_names)
    finally:
        env.close()
    data.update(
        system=str(system if system is not None else env_kwargs.get("circuit")),
        policy=policy,
        profile=episode.profile,
        converged=episode.converged,
    )
    return data


def _arrays(episode: Episode, env: Any, vq: list[np.ndarray], switching: bool) -> dict[str, Any]:
    """Per-step arrays of an episode, agents in ``possible_agents`` order (see the caller)."""
    agents = list(env.possible_agents)
    kinds = [env.agent_kind(a) for a in agents]
    steps = episode.steps
    data: dict[str, Any] = {k: episode.series(k) for k in ("reward", *TERMS)}
    data["violating"] = episode.series("violating_buses") / np.maximum(episode.series("n_buses"), 1)
    data["vq"] = np.array(vq) if len(vq) == len(steps) and vq else None
    data["agent_rewards"] = np.array([[s.agent_rewards.get(a, 0.0) for a in agents] for s in steps])
    data["applied"] = {
        a: np.array([episode.start[a], *(s.applied.get(a, episode.start[a]) for s in steps)])
        for a in agents
    }
    data["values"] = {
        a: device_values(k, env.action_space(a), data["applied"][a])
        for a, k in zip(agents, kinds, strict=True)
    }
    unknown = ("generator", "storage", "capacitor") if switching else ("generator", "storage")
    for a, k in zip(agents, kinds, strict=True):
        if k in unknown:  # their hold action is a command (full output, keep), not a position
            data["values"][a][0] = np.nan
    data.update(agents=agents, kinds=kinds)
    return data
