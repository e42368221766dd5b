"""Score policies on chosen load profiles, next to the random / hold / OpenDSS baselines.

Everything here runs on the public environment API and plain Python: torch, ray and
stable-baselines3 are imported only inside the checkpoint loaders.

A *policy function* is called as ``policy_fn(obs, env)`` once per step and returns the action:

- ``mode="parallel"``: ``obs`` is the PettingZoo dict ``{agent: observation}`` of
  :func:`marl_vvc.parallel_env`; return ``{agent: action}`` for every live agent.
- ``mode="single"``: ``obs`` is the flat observation of :func:`marl_vvc.make_env`; return the
  joint action (``MultiDiscrete`` array, or the ``Tuple`` on ``_cbat`` systems).

``env`` is the live environment, for policies that need its spaces or devices (the built-in
random and hold policies); trained policies ignore it.

Typical use (what ``marl-vvc eval`` does)::

    profiles = parse_profiles("300:365")
    loaded = load_policy("checkpoints/rllib", algo="rllib")
    rows = {"ppo": evaluate(loaded.policy_fn, loaded.system, profiles, mode=loaded.mode,
                            **loaded.env_kwargs)}
    rows.update(baseline_table(loaded.system, profiles, **loaded.env_kwargs))
    print(format_table(rows))

Every episode ``i`` starts with ``reset(seed=seed + i, options={"profile": profiles[i]})``, so
two policies scored on the same profiles see the same days.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from marl_vvc.tools.baselines import hold_actions, random_actions
from marl_vvc.errors import ConfigError

PolicyFn = Callable[[Any, Any], Any]

MODES = ("parallel", "single")
BASELINES = ("random", "hold", "dss")
ALGOS = ("rllib", "sb3")
#: Profiles 0..299 train (``profile_pool=(0, 300)``); 300..364 are held out.
TRAIN_POOL = (0, 300)
HELD_OUT = range(300, 365)
#: Sidecar file the training examples write next to a checkpoint.
RUN_INFO = "marl_vvc_run.json"
COMPONENTS = ("return", "loss", "voltage", "control")


def agent_kind(agent_id: str) -> str:
    """Device kind of an agent id: ``capacitor``, ``regulator`` or ``battery``.

    The policy mapping of the multi-agent examples (one shared module per kind).
    """
    return str(agent_id).split("_", 1)[0]


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


# ---------------------------------------------------------------------- episodes
def _make_env(system: str, mode: str, env_kwargs: Mapping[str, Any]) -> Any:
    import marl_vvc

    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    make = marl_vvc.parallel_env if mode == "parallel" else marl_vvc.make_env
    return make(system, **env_kwargs)


def _run_episode(env: Any, mode: str, act: PolicyFn | None, profile: int, seed: int) -> dict:
    """One episode on ``profile``; ``act=None`` lets OpenDSS's controllers act (dss)."""
    obs, _ = env.reset(seed=seed, options={"profile": int(profile)})
    totals = dict.fromkeys(COMPONENTS, 0.0)
    steps, converged, done = 0, True, False
    core = env.core
    while not done:
        if act is None:
            out = core.step_controllers()
            terms, reward, ok, done = out.terms, out.reward, out.info["converged"], out.terminated
            totals["loss"] += terms.loss
            totals["voltage"] += terms.voltage
            totals["control"] += terms.control
        elif mode == "parallel":
            obs, _, term, trunc, infos = env.step(act(obs, env))
            info = next(iter(infos.values()))
            reward, ok = info["global_reward"], info["converged"]
            totals["loss"] += info["loss"]
            totals["voltage"] += info["voltage"]
            totals["control"] += info["control"]
            done = not env.agents or all(term.values()) or all(trunc.values())
        else:
            obs, reward, term, trunc, info = env.step(act(obs, env))
            terms = core.last_outcome.terms
            ok = info["converged"]
            totals["loss"] += terms.loss
            totals["voltage"] += terms.voltage
            totals["control"] += terms.control
            done = term or trunc
        totals["return"] += float(reward)
        converged = converged and bool(ok)
        steps += 1
    return {"profile": int(profile), "steps": steps, "converged": converged, **totals}


def _summarise(name: str, episodes: list[dict], mode: str) -> dict[str, Any]:
    out: dict[str, Any] = {"policy": name, "mode": mode, "episodes": episodes, "n": len(episodes)}
    for key in COMPONENTS:
        out[key] = float(np.mean([e[key] for e in episodes]))
    out["return_std"] = float(np.std([e["return"] for e in episodes]))
    out["converged"] = all(e["converged"] for e in episodes)
    return out


def evaluate(
    policy_fn: PolicyFn,
    system: str = "13Bus",
    profiles: Iterable[int] | str = HELD_OUT,
    mode: str = "parallel",
    *,
    seed: int = 0,
    name: str = "policy",
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Run ``policy_fn`` for one episode per profile and average the returns.

    Args:
        policy_fn: ``policy_fn(obs, env) -> action`` (see the module docstring).
        system: System name.
        profiles: Load profile indices (or text for :func:`parse_profiles`).
        mode: ``parallel`` (PettingZoo, one agent per device) or ``single`` (Gymnasium).
        seed: Episode ``i`` is reset with ``seed + i``.
        name: Label stored under ``"policy"``.
        **env_kwargs: Passed to the environment (must match what the policy was trained on).

    Returns:
        ``{"policy", "mode", "n", "return", "loss", "voltage", "control", "return_std",
        "converged", "episodes"}``: means over the episodes, and one dict per episode with
        ``profile``, ``steps``, ``converged`` and the summed ``return``/``loss``/``voltage``/
        ``control``.
    """
    profiles = parse_profiles(profiles)
    env = _make_env(system, mode, env_kwargs)
    try:
        episodes = [_run_episode(env, mode, policy_fn, k, seed + i) for i, k in enumerate(profiles)]
    finally:
        env.close()
    return _summarise(name, episodes, mode)


def random_policy(seed: int = 0) -> PolicyFn:
    """Uniformly random actions from a generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)

    def act(obs: Any, env: Any) -> Any:
        acts = random_actions(env.core, rng)
        return acts if isinstance(obs, dict) else [acts[a] for a in env.core.agent_ids]

    return act


def hold_policy(obs: Any, env: Any) -> Any:
    """Keep every device where it is (batteries idle)."""
    acts = hold_actions(env.core)
    return acts if isinstance(obs, dict) else [acts[a] for a in env.core.agent_ids]


def baseline_table(
    system: str = "13Bus",
    profiles: Iterable[int] | str = HELD_OUT,
    mode: str = "parallel",
    *,
    policies: Sequence[str] = BASELINES,
    seed: int = 0,
    **env_kwargs: Any,
) -> dict[str, dict[str, Any]]:
    """Score the reference policies on ``profiles`` (same days and seeds as :func:`evaluate`).

    Args:
        system: System name.
        profiles: Load profile indices (or text for :func:`parse_profiles`).
        mode: Environment front door; the global reward does not depend on it.
        policies: Any of ``random``, ``hold`` (no device moves) and ``dss`` (OpenDSS's own
            RegControl/CapControl act, batteries idle, scored with the same reward).
        seed: Seed of the resets and of the random policy.
        **env_kwargs: Passed to the environment.

    Returns:
        ``{policy name: result of evaluate()}`` in the order of ``policies``.
    """
    unknown = [p for p in policies if p not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown}; choose from {BASELINES}")
    profiles = parse_profiles(profiles)
    env = _make_env(system, mode, env_kwargs)
    table: dict[str, dict[str, Any]] = {}
    try:
        for policy in policies:
            act: PolicyFn | None = {
                "random": random_policy(seed),
                "hold": hold_policy,
                "dss": None,
            }[policy]
            episodes = [_run_episode(env, mode, act, k, seed + i) for i, k in enumerate(profiles)]
            table[policy] = _summarise(policy, episodes, mode)
    finally:
        env.close()
    return table


def format_table(rows: Mapping[str, Mapping[str, Any]], *, title: str | None = None) -> str:
    """Text table of mean return and components, one line per policy.

    Each line reads ``<policy> <return> <loss> <voltage> <control> <episodes>``, so scripts can
    parse it (``line.split()``).
    """
    head = (
        f"{'policy':<12} {'return':>10} {'loss':>9} {'voltage':>9} {'control':>9} {'episodes':>8}"
    )
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    for name, row in rows.items():
        cells = " ".join(
            f"{row[k]:>{w}.3f}" for k, w in zip(COMPONENTS, (10, 9, 9, 9), strict=True)
        )
        lines.append(f"{name:<12} {cells} {row['n']:>8}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- observation scaling
#: Per-unit voltages are centred and scaled as (v − 1) / VOLTAGE_SCALE (±1 at the 0.95/1.05 band).
VOLTAGE_SCALE = 0.05


def voltage_entries(space: Any) -> np.ndarray:
    """Boolean mask of the per-unit voltage entries of a ``Box`` observation space.

    Voltages are the entries bounded by ``[0, inf)`` (up to a few ulps): every other entry of
    the local and the PowerGym observations (statuses, tap positions, SoC, discharge fraction,
    time features) has a finite upper bound or an infinite lower one.
    """
    low, high = np.asarray(space.low, dtype=float), np.asarray(space.high, dtype=float)
    return (np.abs(low) < 1e-12) & np.isposinf(high)


def voltage_deviation(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``obs`` with its voltage entries (``mask``) replaced by ``(v − 1) / VOLTAGE_SCALE``."""
    out = np.array(obs, dtype=np.float32, copy=True)
    out[..., mask] = (out[..., mask] - 1.0) / VOLTAGE_SCALE
    return out


#: Observation transforms a training run may record in ``marl_vvc_run.json``.
OBS_TRANSFORMS = ("none", "voltage_deviation")


# ---------------------------------------------------------------------- checkpoints
@dataclass
class LoadedPolicy:
    """A trained policy and the environment it was trained for."""

    policy_fn: PolicyFn
    mode: str
    system: str = "13Bus"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    algo: str = ""


def write_run_info(
    checkpoint: str | Path,
    *,
    algo: str,
    system: str,
    mode: str,
    env_kwargs: Mapping[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """Write the sidecar ``marl_vvc_run.json`` (system, mode, env kwargs) into ``checkpoint``.

    ``checkpoint`` is the checkpoint folder (RLlib) or the folder holding the model zip (SB3).
    Evaluation-irrelevant kwargs (``profile_pool``) are dropped; values must be JSON-able.
    """
    kwargs = {k: v for k, v in (env_kwargs or {}).items() if k != "profile_pool"}
    path = Path(checkpoint) / RUN_INFO
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"algo": algo, "system": system, "mode": mode, "env_kwargs": kwargs, **extra}
    path.write_text(json.dumps(info, indent=2, default=list))
    return path


def read_run_info(checkpoint: str | Path) -> dict[str, Any]:
    """The sidecar written by :func:`write_run_info`, or ``{}`` when there is none."""
    path = Path(checkpoint)
    for candidate in (path / RUN_INFO, path.parent / RUN_INFO):
        if candidate.is_file():
            return dict(json.loads(candidate.read_text()))
    return {}


def rllib_module_policy(
    modules: Mapping[str, Any],
    mapping: Callable[[str], str] = agent_kind,
    obs_transform: str = "none",
) -> PolicyFn:
    """Greedy multi-agent policy function over RLlib RLModules (new API stack, torch).

    Args:
        modules: ``{module id: RLModule}``, e.g. ``algo.get_module(mid)`` for each id.
        mapping: Agent id -> module id (default: the device kind, :func:`agent_kind`).
        obs_transform: ``none`` or ``voltage_deviation`` (what the modules were trained on,
            see :func:`voltage_deviation`).

    Returns:
        A ``mode="parallel"`` policy function. Agents of one module are batched into one
        ``forward_inference`` call; the action is the mode of the module's inference
        distribution (argmax for ``Discrete``, the mean clipped to the box for ``Box``).
    """
    import torch
    from gymnasium import spaces

    if obs_transform not in OBS_TRANSFORMS:
        raise ConfigError(f"obs_transform must be one of {OBS_TRANSFORMS}, got {obs_transform!r}")
    for module in modules.values():
        module.eval()
    masks: dict[str, np.ndarray] = {}

    def features(agent: str, o: Any, env: Any) -> np.ndarray:
        if obs_transform == "none":
            return np.asarray(o, np.float32)
        if agent not in masks:
            masks[agent] = voltage_entries(env.observation_space(agent))
        return voltage_deviation(o, masks[agent])

    def act(obs: Mapping[str, Any], env: Any) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for agent in obs:
            groups.setdefault(mapping(agent), []).append(agent)
        out: dict[str, Any] = {}
        for mid, agents in groups.items():
            module = modules[mid]
            batch = torch.from_numpy(np.stack([features(a, obs[a], env) for a in agents]))
            with torch.no_grad():
                logits = module.forward_inference({"obs": batch})["action_dist_inputs"]
                dist = module.get_inference_action_dist_cls().from_logits(logits)
                actions = dist.to_deterministic().sample().cpu().numpy()
            for agent, a in zip(agents, actions, strict=True):
                space = env.action_space(agent)
                if isinstance(space, spaces.Discrete):
                    out[agent] = int(a)
                else:
                    out[agent] = np.clip(
                        np.asarray(a, space.dtype).reshape(space.shape), space.low, space.high
                    )
        return out

    return act


def load_rllib_modules(checkpoint: str | Path) -> dict[str, Any]:
    """RLModules saved in an RLlib (new API stack) algorithm checkpoint, keyed by module id.

    Reads ``<checkpoint>/learner_group/learner/rl_module/<module id>`` without starting Ray.
    """
    from ray.rllib.core.rl_module.rl_module import RLModule

    root = Path(checkpoint) / "learner_group" / "learner" / "rl_module"
    if not root.is_dir():
        raise ConfigError(f"{checkpoint} is not an RLlib new-stack algorithm checkpoint")
    return {
        d.name: RLModule.from_checkpoint(str(d.resolve()))
        for d in sorted(root.iterdir())
        if d.is_dir() and not d.name.startswith(".")
    }


def load_policy(checkpoint: str | Path, algo: str = "rllib") -> LoadedPolicy:
    """Greedy policy function from a checkpoint of ``examples/train_rllib.py``/``train_sb3.py``.

    The system and env kwargs come from the checkpoint's ``marl_vvc_run.json`` (defaults:
    13Bus, no kwargs).

    Args:
        checkpoint: RLlib algorithm checkpoint folder, or an SB3 model zip (or its folder).
        algo: ``rllib`` or ``sb3``.
    """
    if algo not in ALGOS:
        raise ConfigError(f"algo must be one of {ALGOS}, got {algo!r}")
    path = Path(checkpoint)
    if not path.exists():
        raise ConfigError(f"checkpoint {checkpoint} does not exist")
    info = read_run_info(path)
    system = info.get("system", "13Bus")
    env_kwargs = dict(info.get("env_kwargs", {}))
    if algo == "rllib":
        transform = info.get("obs_transform", "none")
        fn = rllib_module_policy(load_rllib_modules(path), obs_transform=transform)
        return LoadedPolicy(fn, "parallel", system, env_kwargs, algo)
    from stable_baselines3 import PPO

    if path.is_dir():
        zips = sorted(path.glob("*.zip"))
        if not zips:
            raise ConfigError(f"no SB3 model .zip in {checkpoint}")
        path = zips[0]
    model = PPO.load(str(path), device="cpu")
    return LoadedPolicy(sb3_policy(model), "single", system, env_kwargs, algo)


def sb3_policy(model: Any) -> PolicyFn:
    """Greedy ``mode="single"`` policy function of a stable-baselines3 model."""

    def act(obs: Any, env: Any) -> Any:
        action, _ = model.predict(obs, deterministic=True)
        return action

    return act
