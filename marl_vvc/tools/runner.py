"""Episode runner behind ``marl-vvc run`` and the examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from marl_vvc.errors import ConfigError
from marl_vvc.tools.baselines import BASELINES, baseline
from marl_vvc.tools.rollout import progress_bar, rollout, step_budget

MODES = ("single", "parallel", "episodic")
#: ``pretrained``: the torch-free export shipped for the system (:mod:`marl_vvc.tools.export`).
POLICIES = (*BASELINES, "pretrained")


def exported_policy(spec: str, system: str | None) -> Any:
    """The exported policy ``spec`` names.

    ``pretrained`` is the one shipped for ``system``; anything else must be an export folder
    (``policy.json`` + ``weights.npz``).

    Raises:
        ConfigError: No shipped export for the system, a bad folder, or an export trained
            on another system.
    """
    from marl_vvc.tools.export import load_exported, pretrained_path

    if spec == "pretrained":
        return load_exported(pretrained_path(str(system)))
    if not (Path(spec) / "policy.json").is_file():
        raise ConfigError(
            f"--policy {spec!r}: expected a baseline {BASELINES}, 'pretrained' or an export "
            "folder holding policy.json"
        )
    loaded = load_exported(spec)
    if system != loaded.system:
        raise ConfigError(f"the policy was trained on {loaded.system}, not {system}")
    return loaded


def make_run_env(system: str | None, mode: str, **env_kwargs: Any) -> Any:
    """The env ``marl-vvc run`` steps: parallel for ``parallel``, Gymnasium otherwise.

    Raises:
        ConfigError: Unknown mode, or a single-agent mode on a multi-agent-only system.
    """
    import marl_vvc

    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "parallel":
        return marl_vvc.parallel_env(system, **env_kwargs)
    if marl_vvc.is_capswitch_name(system):
        raise ConfigError(f"{system}: capacitor switching is multi-agent only; use --mode parallel")
    return marl_vvc.make_env(system, **env_kwargs)


def run_episodes(
    system: str | None = "13Bus",
    *,
    mode: str = "parallel",
    policy: str = "random",
    episodes: int = 3,
    seed: int = 0,
    max_steps: int | None = None,
    progress: bool = False,
    **env_kwargs: Any,
) -> list[dict[str, Any]]:
    """Run ``episodes`` episodes of a baseline policy and return one row per episode.

    Args:
        system: System name, YAML system file or OpenDSS master file (``circuit=``).
        mode: ``single`` (Gymnasium env, random profiles), ``parallel`` (PettingZoo, one
            agent per device) or ``episodic`` (Gymnasium env over profiles 0, 1, 2, …).
        policy: A baseline (``random``, ``hold``, ``dss``, ``oracle``, ``optimum``, …; see
            :mod:`marl_vvc.tools.baselines`), ``pretrained`` (the export shipped for the
            system, in the mode it was trained in) or an export folder.
        episodes: Number of episodes.
        seed: Episode ``i`` is reset with ``seed + i``; seeds the random policy too.
        max_steps: Step budget per episode (default: the env's horizon; 96 steps on systems
            whose episodes never end, such as ANM6Easy).
        progress: Show a progress bar on stderr.
        **env_kwargs: Passed to the environment.

    Returns:
        One dict per episode: ``episode`` and every number of
        :meth:`marl_vvc.tools.rollout.Episode.summary` (``profile``, ``steps``, ``return``,
        ``loss``, ``voltage``, ``control``, ``penalty``, ``converged``, ``diverged``,
        ``violation_rate``).
    """
    if policy in BASELINES:
        chosen = baseline(policy, seed)
        act, extra = chosen.policy, chosen.env_kwargs
    else:
        loaded = exported_policy(policy, system)
        act, extra = loaded.policy_fn, loaded.env_kwargs
        if not (mode == "episodic" and loaded.mode == "single"):
            mode = loaded.mode  # the front door the policy acts through
    env = make_run_env(system, mode, **{**env_kwargs, **extra})
    count = env.num_profiles
    if mode == "episodic" and count is None:
        env.close()
        raise ConfigError(f"{system} has no load profiles: use --mode single or parallel")
    budget = step_budget(env, max_steps)
    rows = []
    with progress_bar(episodes * budget, str(system), progress) as bar:
        try:
            for ep in range(episodes):
                options = {"profile": ep % count} if mode == "episodic" else None
                episode = rollout(
                    env,
                    act,
                    seed=seed + ep,
                    options=options,
                    max_steps=budget,
                    on_step=lambda *_: bar.update(1),
                )
                rows.append({"episode": ep, **episode.summary()})
                bar.set_postfix(ret=f"{rows[-1]['return']:.2f}")
        finally:
            env.close()
    return rows
