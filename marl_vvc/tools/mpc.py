"""Gym-ANM's MPC baselines of ANM6-Easy (multi-stage DCOPF) on the public env API.

:func:`mpc_policy` wraps Gym-ANM's own agents, ``MPCAgentConstant`` and ``MPCAgentPerfect``:
at every step they solve an ``N``-stage DC optimal power flow with cvxpy (lossless lines,
unit voltages, small angle differences) over the forecast demand and maximum generation of
steps ``t+1 … t+N``, with each branch's flow penalised above ``β`` times its rating, and
return the first stage's active powers (reactive set-points 0).

- ``constant`` (``π_MPC-N^constant``): the loads and the available generation stay at their
  current values over the horizon;
- ``perfect`` (``π_MPC-N^perfect``): ANM6-Easy's fixed daily profiles of demand and available
  generation (Gym-ANM's ``P_loads`` / ``P_maxs``), read from the time of day onwards.

The agents need a Gym-ANM simulator for the network (buses, branch ratings, admittances,
device limits): the policy keeps one of ``gym_anm.envs.ANM6Easy`` as a read-only model, checks
that the env's configuration describes the same network, and feeds the agents the state it
reads from the env each step: the single env's observation (Gym-ANM's full state, in MW /
MVAr / MWh), or the parallel env's ``state()`` (the same vector). Nothing else of the env is
read. Gym-ANM (a dev dependency) brings cvxpy; the default solver solves the linear program.

:data:`MPC_SETTINGS` holds the planning steps ``N`` and safety margin ``β`` of the Gym-ANM
paper's Table 2 (Henry & Ernst, 2021): ``π_MPC-16^constant`` with ``β = 0.92`` (best row of
Table 1, left: −129.1 for every N) and ``π_MPC-32^perfect`` with ``β = 0.94`` (Table 1, right:
−14.7). :func:`evaluate_mpc` measures the discounted return the paper reports (``γ = 0.995``,
``T = 3000`` steps from ``reset(seed=s)``); :func:`compare_with_gym_anm` steps our env and
Gym-ANM's side by side with the same MPC actions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import numpy as np

from marl_vvc.errors import ConfigError
from marl_vvc.tools.rollout import Policy, is_parallel

KINDS = ("constant", "perfect")
#: Baseline name -> (planning steps N, safety margin β), the policies of the paper's Table 2.
MPC_SETTINGS: dict[str, tuple[int, float]] = {
    "mpc_constant": (16, 0.92),
    "mpc_perfect": (32, 0.94),
}
#: Baseline name -> kind of forecast.
MPC_KINDS = {"mpc_constant": "constant", "mpc_perfect": "perfect"}
#: The paper's discounted returns (mean, std over 5 seeds; Table 2), for comparison.
PAPER_RETURNS = {"mpc_constant": (-129.1, 0.4), "mpc_perfect": (-14.7, 0.2)}
GAMMA = 0.995  # ANM6-Easy's discount factor (the DCOPF's stage weights and the paper's metric)
SCENARIO_KIND = "anm6easy"
SLACK_ENTRIES = (0, 7)  # slack P and Q in the state vector (from the power flow)


def _gym_anm() -> Any:
    try:
        import gym_anm
    except ImportError:
        raise ConfigError(
            "the MPC baselines run Gym-ANM's agents: pip install gym-anm (brings cvxpy)"
        ) from None
    return gym_anm


def _config(env: Any) -> Any:
    """The env's system configuration, if it is ANM6-Easy.

    Raises:
        ConfigError: Not an ANM6-Easy env.
    """
    config = getattr(getattr(env, "unwrapped", env), "config", None)
    kind = getattr(getattr(config, "scenario", None), "kind", None)
    if kind != SCENARIO_KIND:
        name = getattr(config, "name", type(env).__name__)
        raise ConfigError(
            f"the MPC baselines apply to ANM6-Easy envs only (make_env('ANM6Easy') or "
            f"parallel_env('ANM6Easy')); got {name!r} (scenario kind {kind!r})"
        )
    return config


def _check_model(config: Any, simulator: Any) -> None:
    """Check that Gym-ANM's ANM6-Easy (the MPC's model) describes the env's network.

    Raises:
        ConfigError: A rating, limit or reward constant differs.
    """
    base = float(config.feeder.base_mva)
    devices = config.devices
    ours: dict[str, Any] = {
        "base MVA": base,
        "λ": float(config.reward.anm.lam),
        "Δt (h)": float(config.scenario.step_hours),
        "branch ratings (pu)": sorted(r / base for _, r in config.feeder.branch_ratings),
        "generator P max (pu)": sorted(g.p_max / base for g in devices.generators),
        "storage P max (pu)": sorted(s.p_max / base for s in devices.storage_units),
        "storage SoC max (pu)": sorted(s.soc_max / base for s in devices.storage_units),
        "storage efficiency": sorted(s.eff for s in devices.storage_units),
    }
    gens = [d for d in simulator.devices.values() if type(d).__name__ == "RenewableGen"]
    units = [d for d in simulator.devices.values() if type(d).__name__ == "StorageUnit"]
    theirs: dict[str, Any] = {
        "base MVA": float(simulator.baseMVA),
        "λ": float(simulator.lamb),
        "Δt (h)": float(simulator.delta_t),
        "branch ratings (pu)": sorted(float(b.rate) for b in simulator.branches.values()),
        "generator P max (pu)": sorted(float(g.p_max) for g in gens),
        "storage P max (pu)": sorted(float(u.p_max) for u in units),
        "storage SoC max (pu)": sorted(float(u.soc_max) for u in units),
        "storage efficiency": sorted(float(u.eff) for u in units),
    }
    for key, value in ours.items():
        if not np.allclose(value, theirs[key], rtol=1e-9, atol=1e-12):
            raise ConfigError(
                f"{config.name}: {key} {value} differs from Gym-ANM's ANM6-Easy "
                f"({theirs[key]}), the MPC's network model"
            )


class _GymAnmMPC:
    """One of Gym-ANM's MPC agents on its own ANM6-Easy model, fed a state vector."""

    def __init__(self, kind: str, planning_steps: int, safety_margin: float, gamma: float):
        gym_anm = _gym_anm()
        self.model = gym_anm.envs.ANM6Easy()
        agent_cls = gym_anm.MPCAgentConstant if kind == "constant" else gym_anm.MPCAgentPerfect
        sim = self.model.simulator
        self.agent = agent_cls(
            sim,
            self.model.action_space,
            gamma,
            safety_margin=safety_margin,
            planning_steps=planning_steps,
        )
        self.layout = [(k, ids) for k, ids, _ in self.model.state_values if k != "aux"]
        self.size = sum(len(ids) for _, ids, _ in self.model.state_values)
        self.n_gen = sim.N_non_slack_gen

    def check(self, env: Any) -> None:
        """Check that ``env`` is ANM6-Easy on the model's network (cheap next to a solve)."""
        _check_model(_config(env), self.model.simulator)

    def act(self, state: np.ndarray) -> np.ndarray:
        """The MPC action ``[P_gen…, Q_gen…, P_des, Q_des…]`` (MW / MVAr) at ``state``.

        Raises:
            ConfigError: ``state`` is not Gym-ANM's ANM6-Easy state vector.
        """
        if state.shape != (self.size,):
            raise ConfigError(
                f"the MPC needs Gym-ANM's {self.size}-entry ANM6-Easy state, got shape "
                f"{state.shape}"
            )
        base = float(self.model.simulator.baseMVA)
        full: dict[str, dict[str, dict[int, float]]] = {}
        i = 0
        for key, ids in self.layout:  # Gym-ANM's state vector, inverted (all in MW-units)
            full[key] = {"pu": {d: float(state[i + n]) / base for n, d in enumerate(ids)}}
            i += len(ids)
        shadow = SimpleNamespace(
            simulator=SimpleNamespace(state=full),
            state=state,
            P_loads=self.model.P_loads,
            P_maxs=self.model.P_maxs,
        )
        action: np.ndarray = np.asarray(self.agent.act(shadow), dtype=float)
        return action


def _split(action: np.ndarray, env: Any, n_gen: int) -> dict[str, np.ndarray]:
    """The single-env action as ``{agent: [P, Q]}`` of the parallel env's live agents.

    The single env orders ``[P_gen…, Q_gen…, P_des, Q_des, …]``; the parallel env's generator
    and storage agents come in the same device order (``possible_agents``).
    """
    gens = [a for a in env.possible_agents if env.agent_kind(a) == "generator"]
    units = [a for a in env.possible_agents if env.agent_kind(a) == "storage"]
    if len(gens) != n_gen or 2 * (len(gens) + len(units)) != action.size:
        raise ConfigError(
            f"the parallel env's agents {list(env.possible_agents)} do not match the MPC's "
            f"{n_gen} generators and {(action.size - 2 * n_gen) // 2} storage units"
        )
    pq = {g: (action[i], action[n_gen + i]) for i, g in enumerate(gens)}
    for j, u in enumerate(units):
        pq[u] = (action[2 * n_gen + 2 * j], action[2 * n_gen + 2 * j + 1])
    out = {}
    for agent in env.agents:
        space = env.action_space(agent)
        out[agent] = np.clip(np.array(pq[agent]), space.low, space.high).astype(space.dtype)
    return out


def mpc_policy(
    kind: str, planning_steps: int, safety_margin: float, gamma: float = GAMMA
) -> Policy:
    """Gym-ANM's ``π_MPC-N`` policy of ANM6-Easy, for the single or the parallel env.

    The policy is deterministic: the same states give the same actions. Each policy keeps
    its own cvxpy problem (built at the first call), so use one per env.

    Args:
        kind: ``"constant"`` (current demand and generation held over the horizon) or
            ``"perfect"`` (ANM6-Easy's fixed daily profiles).
        planning_steps: ``N``, the stages of the DCOPF (steps ``t+1 … t+N``).
        safety_margin: ``β`` in ``(0, 1]``; branch flows above ``β`` times the rating are
            penalised with Gym-ANM's ``λ``.
        gamma: Discount factor of the stages' costs.

    Returns:
        ``policy(obs, env)``: on ``make_env("ANM6Easy")`` the action vector
        ``[P_pv, P_wind, Q_pv, Q_wind, P_des, Q_des]``; on ``parallel_env("ANM6Easy")`` the
        dict ``{agent: [P, Q]}`` of the live agents (state read from ``env.state()``).

    Raises:
        ConfigError: Unknown kind or out-of-range ``N``, ``β``, ``γ`` (at once); gym-anm not
            installed (at once); called on an env that is not ANM6-Easy (at the call).
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown MPC kind {kind!r}; choose from {KINDS}")
    if int(planning_steps) != planning_steps or planning_steps < 1:
        raise ConfigError(f"planning_steps must be a positive integer, got {planning_steps!r}")
    if not 0.0 < safety_margin <= 1.0:
        raise ConfigError(f"safety_margin (β) must be in (0, 1], got {safety_margin!r}")
    if not 0.0 < gamma <= 1.0:
        raise ConfigError(f"gamma must be in (0, 1], got {gamma!r}")
    mpc = _GymAnmMPC(kind, int(planning_steps), float(safety_margin), float(gamma))

    def act(obs: Any, env: Any) -> Any:
        mpc.check(env)
        if is_parallel(env):
            return _split(mpc.act(np.asarray(env.state(), dtype=float)), env, mpc.n_gen)
        space = env.action_space
        return np.clip(mpc.act(np.asarray(obs, dtype=float)), space.low, space.high)

    return act


def mpc_baseline(name: str, gamma: float = GAMMA) -> Policy:
    """The policy of :data:`MPC_SETTINGS` called ``name`` (``mpc_constant``, ``mpc_perfect``).

    Raises:
        ConfigError: Unknown name.
    """
    if name not in MPC_SETTINGS:
        raise ConfigError(f"unknown MPC baseline {name!r}; choose from {tuple(MPC_SETTINGS)}")
    n, beta = MPC_SETTINGS[name]
    return mpc_policy(MPC_KINDS[name], n, beta, gamma)


def discounted_return(rewards: Iterable[float], gamma: float = GAMMA) -> float:
    """``Σ_t γ^t r_t`` (the paper's ``J``, equation 7, for one rollout)."""
    r = np.asarray(list(rewards), dtype=float)
    return float(np.sum(gamma ** np.arange(r.size) * r))


def evaluate_mpc(
    name: str, seeds: Iterable[int] = range(5), steps: int = 3000, gamma: float = GAMMA
) -> dict[str, Any]:
    """The paper's metric for an MPC baseline on ``make_env("ANM6Easy")``.

    One fresh policy and env per seed; each rollout starts with ``reset(seed=s)`` and runs
    ``steps`` steps (or until the power flow diverges).

    Returns:
        ``returns`` (per seed), ``mean``, ``std`` (population, as numpy), ``policy_ms``
        (mean and std of the action-selection time, each policy's first call excepted),
        ``policy_median_ms``, ``first_call_s`` (mean first call: cvxpy builds the problem
        there), ``step_ms`` (env step), ``steps``.
    """
    import marl_vvc

    returns: dict[int, float] = {}
    policy_s: list[float] = []
    first_s: list[float] = []
    step_s: list[float] = []
    for seed in seeds:
        policy, env = mpc_baseline(name, gamma), marl_vvc.make_env("ANM6Easy")
        obs, _ = env.reset(seed=seed)
        rewards: list[float] = []
        for _ in range(steps):
            t0 = time.perf_counter()
            action = policy(obs, env)
            t1 = time.perf_counter()
            obs, reward, terminated, truncated, _ = env.step(action)
            step_s.append(time.perf_counter() - t1)
            (policy_s if rewards else first_s).append(t1 - t0)
            rewards.append(reward)
            if terminated or truncated:
                break
        env.close()
        returns[seed] = discounted_return(rewards, gamma)
    values = np.array(list(returns.values()))
    return {
        "name": name,
        "settings": MPC_SETTINGS[name],
        "returns": returns,
        "mean": float(values.mean()),
        "std": float(values.std()),
        "policy_ms": (1e3 * float(np.mean(policy_s)), 1e3 * float(np.std(policy_s))),
        "policy_median_ms": 1e3 * float(np.median(policy_s)),
        "first_call_s": float(np.mean(first_s)),
        "step_ms": 1e3 * float(np.mean(step_s)),
        "steps": len(step_s),
    }


def compare_with_gym_anm(
    name: str, seed: int = 0, steps: int = 96, gamma: float = GAMMA
) -> dict[str, Any]:
    """Step our env and Gym-ANM's ``ANM6Easy`` with the same MPC actions (chosen on ours).

    A second Gym-ANM agent acts on Gym-ANM's env itself (its simulator's full state): its
    actions measure how faithful the state feed of :func:`mpc_policy` is.

    Returns:
        ``max_reward_diff``, ``max_state_diff`` (without the slack P/Q, which come from two
        different power flows) and ``max_action_diff`` (our policy's action against Gym-ANM's
        agent on Gym-ANM's env) over the steps, both returns, the steps compared.
    """
    import marl_vvc

    policy, ours = mpc_baseline(name, gamma), marl_vvc.make_env("ANM6Easy")
    n, beta = MPC_SETTINGS[name]
    own = _GymAnmMPC(MPC_KINDS[name], n, beta, gamma).agent
    ref = _gym_anm().envs.ANM6Easy()
    obs, _ = ours.reset(seed=seed)
    ref_obs, _ = ref.reset(seed=seed)
    exact = [i for i in range(obs.size) if i not in SLACK_ENTRIES]
    rewards: list[tuple[float, float]] = []
    state_diff, action_diff = [float(np.max(np.abs(obs - ref_obs)[exact]))], []
    for _ in range(steps):
        action = policy(obs, ours)
        action_diff.append(float(np.max(np.abs(action - own.act(ref)))))
        obs, reward, terminated, *_ = ours.step(action)
        ref_obs, ref_reward, ref_terminated, *_ = ref.step(action)
        rewards.append((reward, float(ref_reward)))
        state_diff.append(float(np.max(np.abs(obs - ref_obs)[exact])))
        if terminated or ref_terminated:
            break
    ours.close()
    r = np.array(rewards)
    return {
        "steps": len(rewards),
        "max_reward_diff": float(np.max(np.abs(r[:, 0] - r[:, 1]))),
        "max_state_diff": max(state_diff),
        "max_action_diff": max(action_diff),
        "return_ours": discounted_return(r[:, 0], gamma),
        "return_gym_anm": discounted_return(r[:, 1], gamma),
    }
