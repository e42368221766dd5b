"""Episode runner behind ``marl-vvc run`` and the examples."""

from __future__ import annotations

from typing import Any

import numpy as np

from marl_vvc.tools.baselines import hold_actions, random_actions
from marl_vvc.errors import ConfigError

MODES = ("single", "parallel", "episodic")
POLICIES = ("random", "hold", "dss")


def run_episodes(
    system: str = "13Bus",
    *,
    mode: str = "parallel",
    policy: str = "random",
    episodes: int = 3,
    seed: int = 0,
    progress: bool = False,
    **env_kwargs: Any,
) -> list[dict[str, Any]]:
    """Run ``episodes`` episodes and return their returns and reward components.

    Args:
        system: System name.
        mode: ``single`` (Gymnasium wrapper, random profiles), ``parallel`` (PettingZoo, one
            agent per device) or ``episodic`` (Gymnasium wrapper over profiles 0, 1, 2, …).
        policy: ``random``, ``hold`` (no device moves after reset) or ``dss`` (OpenDSS's own
            RegControl/CapControl act, batteries idle; scored with the same reward).
        episodes: Number of episodes.
        seed: Seed of the first reset and of the policy.
        progress: Show a progress bar.
        **env_kwargs: Passed to the environment.

    Returns:
        One dict per episode: ``episode``, ``profile``, ``return`` and the summed ``loss``,
        ``voltage`` and ``control`` terms, ``steps``, ``converged``.
    """
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    if policy not in POLICIES:
        raise ConfigError(f"policy must be one of {POLICIES}, got {policy!r}")
    from marl_vvc.envs.capswitch import is_capswitch_name

    if is_capswitch_name(system):
        raise ConfigError(
            f"{system}: the switching task has its own masked actions; run it through "
            "marl_vvc.parallel_env (see marl_vvc/switching.py), not marl-vvc run"
        )
    from tqdm import tqdm

    import marl_vvc

    make = marl_vvc.parallel_env if mode == "parallel" else marl_vvc.make_env
    env: Any = make(system, **env_kwargs)
    core = env.core
    rng = np.random.default_rng(seed)
    results = []
    bar = tqdm(total=episodes * core.config.horizon, disable=not progress, desc=system, unit="step")
    try:
        for ep in range(episodes):
            options = {"profile": ep % core.profiles.num_profiles} if mode == "episodic" else None
            env.reset(seed=seed + ep, options=options)
            totals = dict.fromkeys(("return", "loss", "voltage", "control"), 0.0)
            steps, converged, done = 0, True, False
            while not done:
                if policy == "dss":
                    out = core.step_controllers()
                    info, done = out.info, out.terminated
                else:
                    acts = random_actions(core, rng) if policy == "random" else hold_actions(core)
                    if mode == "parallel":
                        _, _, term, trunc, infos = env.step(acts)
                        info = next(iter(infos.values()))
                        done = all(term.values()) or all(trunc.values())
                    elif core.anm is not None:  # Gym-ANM layout: [P gens, Q gens, (P, Q) storage]
                        gens = [acts[d.agent_id] for d in core.anm.gens]
                        units = [acts[d.agent_id] for d in core.anm.units]
                        flat = [g[0] for g in gens] + [g[1] for g in gens]
                        flat += [x for u in units for x in u]
                        _, _, term, trunc, info = env.step(np.array(flat, dtype=float))
                        done = term or trunc or core.t >= core.config.horizon
                    else:
                        _, _, term, trunc, info = env.step([acts[a] for a in core.agent_ids])
                        done = term or trunc
                    out = core.last_outcome
                totals["return"] += out.reward
                totals["loss"] += out.terms.loss
                totals["voltage"] += out.terms.voltage
                totals["control"] += out.terms.control
                converged = converged and bool(info["converged"])
                steps += 1
                bar.update(1)
            results.append(
                {
                    "episode": ep,
                    "profile": core.profile_index,
                    "steps": steps,
                    "converged": converged,
                    **totals,
                }
            )
            bar.set_postfix(ret=f"{totals['return']:.2f}")
    finally:
        bar.close()
        env.close()
    return results
