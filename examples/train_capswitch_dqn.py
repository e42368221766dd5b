"""DQN with action masks on ``123Bus_capswitch``, scored against the exhaustive optimum.

A compact DQN in plain torch for the capacitor switching sequences of
:class:`marl_vvc.envs.capswitch.CapSwitchEnv`. One Q-network is shared by all capacitor agents
(parameter sharing): it reads the agent's own observation (voltages centred and scaled inside
the network) and a one-hot of the agent's index (``--no-agent-id`` drops it), and outputs Q for
(keep, toggle). Exploration is masked epsilon-greedy, targets are
double-DQN masked argmaxes (a masked action gets Q = −inf) from a target network, transitions go
through a replay buffer. Every agent learns from the env's shared reward (``--reward-mode
global``, the cooperative return that is scored) or from its own part of it
(``--reward-mode split``, ``info["split_reward"]``). Training draws load profiles 0..299
(``profile_pool=(0, 300)``); a greedy validation on fixed training conditions keeps the best
network. At the end the greedy policy is scored on the held-out profiles 300..364 with
:func:`marl_vvc.tools.evaluation.evaluate` next to the optimum, hold and random baselines
(``<out>/evaluation.json``), saved (``<out>/qnet.pt``) and exported torch-free into
``<out>/export`` (``policy.json`` + ``weights.npz``, :mod:`marl_vvc.tools.export`): the
scaling and the one-hot are folded into the first layer, one module per agent
(``mapping: agent``; ``agent_kind`` without the one-hot), decode ``argmax`` over the actions the
Dict observation's ``action_mask`` allows. The export is checked against the torch actions with
``load_exported``; a loader without Dict-observation (mask) or ``mapping: agent`` support is
checked on the bare observation vectors (see :func:`check_export`).

Smoke run::

    python examples/train_capswitch_dqn.py --time-budget 5 --eval-profiles 300:302 \
        --out /tmp/capswitch_dqn

The shipped run::

    python examples/train_capswitch_dqn.py --time-budget 1200 --out runs/capswitch_dqn_s0
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import marl_vvc
from marl_vvc.tools.baselines import optimum_policy
from marl_vvc.tools.evaluation import TRAIN_POOL, baseline_table, evaluate, parse_profiles
from marl_vvc.tools.export import FORMAT, FORMAT_VERSION, POLICY_FILE, WEIGHTS_FILE
from marl_vvc.tools.observation_scaling import VOLTAGE_SCALE, voltage_entries

SYSTEM = "123Bus_capswitch"
BASELINES = ["optimum", "hold", "random"]
VAL_SEED = 100_000  # validation resets use seeds VAL_SEED + i (training pool conditions)
MODULE = "capacitor"  # export module id: agent_kind("capacitor_<name>")


# ---------------------------------------------------------------------- network
class QNet(nn.Module):
    """MLP ``observation -> (Q keep, Q toggle)``; the input scaling is a fixed affine map.

    With ``agent_ids`` the input also carries a one-hot of the agent's index among them.
    """

    def __init__(
        self,
        obs_dim: int,
        hidden: list[int],
        shift: np.ndarray,
        scale: np.ndarray,
        agent_ids: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim, self.agent_ids = obs_dim, list(agent_ids or [])
        pad = len(self.agent_ids)
        shift, scale = np.concatenate((shift, np.zeros(pad))), np.concatenate((scale, np.ones(pad)))
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        layers: list[nn.Module] = []
        size = obs_dim + pad
        for h in hidden:
            layers += [nn.Linear(size, h), nn.ReLU()]
            size = h
        layers.append(nn.Linear(size, 2))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp((x - self.shift) / self.scale)

    def rows(self, obs: Mapping[str, Any], agents: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Input rows (observation, one-hot) and action masks of ``agents``."""
        x = np.stack([np.asarray(obs[a]["observation"], np.float32) for a in agents])
        m = np.stack([np.asarray(obs[a]["action_mask"], np.int64) for a in agents])
        if self.agent_ids:
            onehot = np.eye(len(self.agent_ids), dtype=np.float32)
            x = np.hstack((x, onehot[[self.agent_ids.index(a) for a in agents]]))
        return x, m

    def dense_layers(self, agent: str | None = None) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """``(W, b, activation)`` per layer on the bare observation of ``agent``.

        The input scaling is folded into the first layer, and so is the one-hot of ``agent``
        (its column of the first layer joins the bias).
        """
        linears = [m for m in self.mlp if isinstance(m, nn.Linear)]
        out = []
        for i, lin in enumerate(linears):
            w = lin.weight.detach().double().numpy()
            b = lin.bias.detach().double().numpy()
            if i == 0:
                shift, scale = self.shift.double().numpy(), self.scale.double().numpy()
                w, b = w / scale, b - (w / scale) @ shift
                if self.agent_ids:
                    b = b + w[:, self.obs_dim + self.agent_ids.index(str(agent))]
                w = w[:, : self.obs_dim]
            act = "linear" if i == len(linears) - 1 else "relu"
            out.append((w.astype(np.float32), b.astype(np.float32), act))
        return out


def input_scaling(env: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(shift, scale)`` of the inputs: voltages ``(v − 1) / 0.05``, other entries as they are.

    The voltages are the grid core's local observation entries (the three capswitch extras,
    ``toggled``, ``budget_used`` and ``load_level``, are not: ``load_level`` is also [0, inf)).
    """
    agent = env.possible_agents[0]
    core = voltage_entries(env.observe.spaces[agent])
    size = env.observation_space(agent)["observation"].shape[0]
    volts = np.zeros(size, bool)
    volts[: len(core)] = core
    return np.where(volts, 1.0, 0.0), np.where(volts, VOLTAGE_SCALE, 1.0)


def masked_greedy(q: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Argmax over the allowed actions (``masks`` 0 → Q = −inf)."""
    return q.masked_fill(masks == 0, -math.inf).argmax(dim=-1)


def greedy_policy(qnet: QNet) -> Any:
    """Policy function ``policy_fn(obs, env) -> {agent: action}``: the masked greedy action."""

    def act(obs: Mapping[str, Any], env: Any) -> dict[str, int]:
        agents = list(obs)  # every agent lives until the episode ends
        x, m = qnet.rows(obs, agents)
        with torch.no_grad():
            a = masked_greedy(qnet(torch.from_numpy(x)), torch.from_numpy(m))
        return {agent: int(v) for agent, v in zip(agents, a.tolist(), strict=True)}

    return act


# ---------------------------------------------------------------------- replay buffer
class Replay:
    """Ring buffer of per-agent transitions ``(x, a, r, x', mask', done)``."""

    def __init__(self, capacity: int, obs_dim: int, seed: int) -> None:
        self.x = np.zeros((capacity, obs_dim), np.float32)
        self.x2 = np.zeros((capacity, obs_dim), np.float32)
        self.m2 = np.zeros((capacity, 2), np.int64)
        self.a = np.zeros(capacity, np.int64)
        self.r = np.zeros(capacity, np.float32)
        self.done = np.zeros(capacity, np.float32)
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.rng = np.random.default_rng(seed)

    def add(
        self,
        x: np.ndarray,
        a: np.ndarray,
        r: np.ndarray,
        x2: np.ndarray,
        m2: np.ndarray,
        done: np.ndarray,
    ) -> None:
        """Append one env step's transitions (one row per agent)."""
        idx = (self.pos + np.arange(len(x))) % self.capacity
        self.x[idx], self.a[idx], self.r[idx] = x, a, r
        self.x2[idx], self.m2[idx], self.done[idx] = x2, m2, done
        self.pos = int(idx[-1] + 1) % self.capacity
        self.size = min(self.size + len(x), self.capacity)

    def sample(self, n: int) -> tuple[torch.Tensor, ...]:
        idx = self.rng.integers(0, self.size, n)
        arrays = (self.x, self.a, self.r, self.x2, self.m2, self.done)
        return tuple(torch.from_numpy(v[idx]) for v in arrays)


# ---------------------------------------------------------------------- learner
class DQN:
    """Online and target network, optimiser and the double-DQN update."""

    def __init__(self, qnet: QNet, args: argparse.Namespace) -> None:
        self.qnet, self.target = qnet, copy.deepcopy(qnet)
        self.opt = torch.optim.Adam(qnet.parameters(), lr=args.lr)
        self.gamma, self.tau, self.updates = args.gamma, args.tau, 0

    def update(self, batch: tuple[torch.Tensor, ...]) -> float:
        x, a, r, x2, m2, done = batch
        with torch.no_grad():
            a2 = masked_greedy(self.qnet(x2), m2)  # double DQN: online picks, target scores
            q2 = self.target(x2).gather(1, a2[:, None])[:, 0]
            y = r + self.gamma * (1.0 - done) * q2
        q = self.qnet(x).gather(1, a[:, None])[:, 0]
        loss = nn.functional.smooth_l1_loss(q, y)
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.qnet.parameters(), 10.0)
        self.opt.step()
        with torch.no_grad():  # Polyak-averaged target network
            for p, t in zip(self.qnet.parameters(), self.target.parameters(), strict=True):
                t.mul_(1.0 - self.tau).add_(p, alpha=self.tau)
        self.updates += 1
        return loss.item()


def explore(
    qnet: QNet, obs: Mapping[str, Any], agents: list[str], eps: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masked epsilon-greedy actions of ``agents``; returns (actions, rows, masks)."""
    x, m = qnet.rows(obs, agents)
    with torch.no_grad():
        greedy = masked_greedy(qnet(torch.from_numpy(x)), torch.from_numpy(m)).numpy()
    random = np.array([rng.choice(np.flatnonzero(row)) for row in m])
    actions = np.where(rng.random(len(agents)) < eps, random, greedy)
    return actions, x, m


def epsilon(frac: float, args: argparse.Namespace) -> float:
    """Linear decay from ``--eps-start`` to ``--eps-end`` over ``--eps-frac`` of the budget."""
    t = min(1.0, frac / max(args.eps_frac, 1e-9))
    return args.eps_start + t * (args.eps_end - args.eps_start)


def validate(qnet: QNet | None, env: Any, episodes: int) -> dict[str, float]:
    """Greedy return and loss reduction on ``episodes`` fixed training-pool conditions.

    ``qnet=None`` scores the exhaustive optimum on the same conditions (the reference).
    """
    policy = optimum_policy() if qnet is None else greedy_policy(qnet)
    ret = red = 0.0
    for i in range(episodes):
        obs, _ = env.reset(seed=VAL_SEED + i)
        while env.agents:
            obs, _, _, _, infos = env.step(policy(obs, env))
            info = next(iter(infos.values()))
            ret += info["global_reward"]
            red += info["loss_reduction"]
    return {"return": ret / episodes, "loss_reduction": red / episodes}


# ---------------------------------------------------------------------- training loop
def env_step(
    env: Any, qnet: QNet, state: dict[str, Any], actions: np.ndarray, agents: list[str]
) -> tuple:
    """Step the env; returns (rewards per agent, next rows, next masks, done, global info)."""
    obs, _, terms, truncs, infos = env.step(
        {a: int(v) for a, v in zip(agents, actions, strict=True)}
    )
    info = next(iter(infos.values()))
    if state["reward_mode"] == "split":
        r = np.array([infos[a]["split_reward"] for a in agents], np.float32)
    else:
        r = np.full(len(agents), info["global_reward"], np.float32)  # the shared reward
    x2, m2 = qnet.rows(obs, agents)
    done = not env.agents or all(terms.values()) or all(truncs.values())
    state["obs"] = obs
    return r, x2, m2, done, info


def log_line(stats: dict[str, Any], recent: list[tuple[float, float]], eps: float) -> str:
    ret = np.mean([r for r, _ in recent]) if recent else float("nan")
    red = np.mean([d for _, d in recent]) if recent else float("nan")
    return (
        f"[{stats['seconds']:7.1f}s] steps {stats['env_steps']:7d} episodes "
        f"{stats['episodes']:6d} updates {stats['updates']:7d} eps {eps:.3f} | train return "
        f"{ret:+.4f} loss_red {red:+.4f} | td {stats['td_loss']:.2e}"
    )


def train(env: Any, val_env: Any, qnet: QNet, args: argparse.Namespace) -> dict[str, Any]:
    """Train until the time budget (or ``--max-steps``); returns the statistics and best net."""
    rng, learner = np.random.default_rng(args.seed), DQN(qnet, args)
    buffer = Replay(args.buffer, qnet.mlp[0].in_features, args.seed + 1)
    stats: dict[str, Any] = {"env_steps": 0, "episodes": 0, "updates": 0, "td_loss": 0.0}
    best: dict[str, Any] = {"return": -math.inf, "state": copy.deepcopy(qnet.state_dict())}
    if args.val_episodes > 0:  # the optimum on the validation conditions, for reference
        stats["val_optimum"] = ref = validate(None, val_env, args.val_episodes)
        print(
            f"validation reference, optimum: return {ref['return']:+.4f} loss_red "
            f"{ref['loss_reduction']:+.4f}",
            flush=True,
        )
    state = {"reward_mode": args.reward_mode, "obs": env.reset(seed=args.seed)[0]}
    recent: list[tuple[float, float]] = []
    ep_ret = ep_red = 0.0
    t0 = last_log = last_val = time.perf_counter()
    while (now := time.perf_counter()) - t0 < args.time_budget:
        if stats["env_steps"] >= args.max_steps:
            break
        eps = epsilon((now - t0) / args.time_budget, args)
        agents = list(env.agents)
        actions, x, _ = explore(qnet, state["obs"], agents, eps, rng)
        r, x2, m2, done, info = env_step(env, qnet, state, actions, agents)
        buffer.add(x, actions, r * args.reward_scale, x2, m2, np.full(len(agents), float(done)))
        stats["env_steps"] += 1
        ep_ret, ep_red = ep_ret + info["global_reward"], ep_red + info["loss_reduction"]
        if done:
            recent = [*recent[-199:], (ep_ret, ep_red)]
            stats["episodes"] += 1
            ep_ret = ep_red = 0.0
            state["obs"] = env.reset()[0]
        if buffer.size >= args.warmup and stats["env_steps"] % args.train_every == 0:
            stats["td_loss"] = learner.update(buffer.sample(args.batch))
            stats["updates"] = learner.updates
        if now - last_val >= args.val_every:
            last_val = now
            check_best(qnet, val_env, args, best, stats, now - t0)
        if now - last_log >= args.log_every:
            last_log, stats["seconds"] = now, now - t0
            print(log_line(stats, recent, eps), flush=True)
    stats["seconds"] = time.perf_counter() - t0
    check_best(qnet, val_env, args, best, stats, stats["seconds"])
    return {**stats, "best": best}


def check_best(
    qnet: QNet,
    val_env: Any,
    args: argparse.Namespace,
    best: dict[str, Any],
    stats: dict[str, Any],
    seconds: float,
) -> None:
    """Validate the greedy policy; keep the network if its validation return is the best."""
    if args.val_episodes <= 0:  # no validation: keep the last network
        best.update(state=copy.deepcopy(qnet.state_dict()), at=seconds)
        best.update({"return": None, "env_steps": stats["env_steps"]})
        return
    val, ref = validate(qnet, val_env, args.val_episodes), stats["val_optimum"]
    mark = ""
    if val["return"] > best["return"]:
        best.update(state=copy.deepcopy(qnet.state_dict()), at=seconds, **val)
        best["env_steps"], mark = stats["env_steps"], " (best)"
    print(
        f"[{seconds:7.1f}s] validation ({args.val_episodes} episodes, greedy): return "
        f"{val['return']:+.4f} loss_red {val['loss_reduction']:+.4f} (optimum's "
        f"{val['return'] / ref['return']:.3f}, {val['loss_reduction'] / ref['loss_reduction']:.3f})"
        f"{mark}",
        flush=True,
    )


# ---------------------------------------------------------------------- evaluation
def score_all(qnet: QNet, args: argparse.Namespace) -> dict[str, Any]:
    """DQN (greedy) and the baselines on the evaluation profiles, and the DQN/optimum ratios."""
    profiles = parse_profiles(args.eval_profiles)
    rows = {"dqn": evaluate(greedy_policy(qnet), SYSTEM, profiles, seed=args.eval_seed, name="dqn")}
    rows |= baseline_table(SYSTEM, profiles, policies=BASELINES, seed=args.eval_seed)
    opt = rows["optimum"]
    ratios = {
        key: rows["dqn"][key] / opt[key] if opt[key] else math.nan
        for key in ("loss_reduction", "return")
    }
    print(f"\nheld-out profiles {args.eval_profiles} ({len(profiles)} episodes)")
    print(f"{'policy':10s} {'return':>9s} {'loss_red':>9s} {'voltage':>9s} {'switches':>9s}")
    for name, row in rows.items():
        print(
            f"{name:10s} {row['return']:9.4f} {row['loss_reduction']:9.4f} "
            f"{row['voltage']:9.4f} {row['cap_switches']:9.2f}"
        )
    print(
        f"DQN / optimum: loss reduction {ratios['loss_reduction']:.3f}, "
        f"return {ratios['return']:.3f}",
        flush=True,
    )
    return {"profiles": args.eval_profiles, "rows": rows, "ratio_to_optimum": ratios}


# ---------------------------------------------------------------------- export
def module_of(agent: str, mapping: str) -> str:
    """Export module of ``agent``: its own (``agent``) or its kind's (``agent_kind``)."""
    return agent if mapping == "agent" else agent.split("_")[0]


def export(qnet: QNet, folder: Path, provenance: Mapping[str, Any]) -> Path:
    """Write the greedy policy in the layout of :func:`marl_vvc.tools.export.load_exported`.

    Dense layers with the input scaling folded in, decode ``argmax``. Without the agent index
    one module (``capacitor``) serves every agent (``mapping: agent_kind``); with it the
    one-hot is folded into the first bias, one module per agent (``mapping: agent``, module id
    = agent id). Each module entry names the Dict observation's keys (``observation_key``,
    ``action_mask_key``): the greedy action is the argmax over the unmasked actions.
    """
    from importlib.metadata import version

    mapping = "agent" if qnet.agent_ids else "agent_kind"
    agents = qnet.agent_ids or [f"{MODULE}_all"]
    modules, arrays = {}, {}
    for agent in agents:
        mid = module_of(agent, mapping)
        layers = [(f"q_{i}", *layer) for i, layer in enumerate(qnet.dense_layers(agent))]
        arrays |= {f"{mid}/{n}/{k}": v for n, w, b, _ in layers for k, v in (("W", w), ("b", b))}
        modules[mid] = {
            "obs_dim": qnet.obs_dim,
            "layers": [
                {"name": n, "in": int(w.shape[1]), "out": int(w.shape[0]), "activation": act}
                for n, w, _, act in layers
            ],
            "action_space": {"type": "Discrete", "n": 2},
            "decode": "argmax",
            "observation_key": "observation",
            "action_mask_key": "action_mask",
        }
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": "dqn-masked"}
    meta |= {"name": "dqn", "mode": "parallel", "mapping": mapping, "system": SYSTEM}
    meta |= {"env_kwargs": {}, "obs_transform": "none", "provenance": dict(provenance)}
    meta |= {"exported_with": {p: version(p) for p in ("marl-vvc", "numpy", "torch")}}
    meta |= {"module_ids": sorted(modules), "modules": {m: modules[m] for m in sorted(modules)}}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / WEIGHTS_FILE, **arrays)
    (folder / POLICY_FILE).write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n")
    return folder


def loaded_policies(folder: Path, tmp: Path) -> tuple[Any, dict[str, Any], str]:
    """``(policy_fn, {}, "")`` of ``load_exported(folder)``; if it refuses the folder.

    (``mapping: agent`` unknown to it) ``(None, {module: policy_fn}, error)``: every module
    copied alone (``mapping: single``) into ``tmp`` and loaded by ``load_exported``.
    """
    from marl_vvc.errors import ConfigError
    from marl_vvc.tools.export import load_exported

    try:
        return load_exported(folder).policy_fn, {}, ""
    except ConfigError as err:
        note = f"ConfigError: {err}"
    meta = json.loads((folder / POLICY_FILE).read_text())
    with np.load(folder / WEIGHTS_FILE) as npz:
        weights = {k: npz[k] for k in npz.files}
    fns = {}
    for mid in meta["module_ids"]:
        sub = tmp / mid
        sub.mkdir(parents=True, exist_ok=True)
        alone = {"mapping": "single", "module_ids": [mid], "modules": {mid: meta["modules"][mid]}}
        (sub / POLICY_FILE).write_text(json.dumps({**meta, **alone}))
        np.savez(
            sub / WEIGHTS_FILE, **{k: v for k, v in weights.items() if k.startswith(f"{mid}/")}
        )
        fns[mid] = load_exported(sub).policy_fn
    return None, fns, note


def check_export(folder: Path, qnet: QNet, profiles: list[int]) -> dict[str, Any]:
    """The exported policy, loaded by ``load_exported`` (numpy only), against the torch one.

    Greedy episodes on ``profiles``. ``mode="masked"``: the loaded policy reads the Dict
    observations and must give the torch masked greedy actions at every step. A loader without
    Dict observation (mask) support is checked on the bare observation vectors instead
    (``mode="unmasked"``, or ``"unmasked-per-module"`` when it refuses ``mapping: agent``):
    its argmax must be the torch network's unmasked argmax; the mask is then the torch side's.
    """
    import tempfile

    report = {"observations": 0, "masked": 0, "mismatches": 0, "mode": "masked"}
    torch_policy = greedy_policy(qnet)
    env = marl_vvc.parallel_env(SYSTEM)
    with tempfile.TemporaryDirectory() as tmp:
        whole, per_module, note = loaded_policies(folder, Path(tmp))
        if whole is None:
            report |= {"mode": "unmasked-per-module", "loader_error": note}
        try:
            for k in profiles:
                obs, _ = env.reset(seed=VAL_SEED + k, options={"profile": k})
                while env.agents:
                    want = torch_policy(obs, env)
                    report["mismatches"] += compare(whole, per_module, qnet, obs, env, report)
                    report["observations"] += len(obs)
                    report["masked"] += sum(int(o["action_mask"][1] == 0) for o in obs.values())
                    obs = env.step(want)[0]
        finally:
            env.close()
    print(f"export check: {report}", flush=True)
    if report["mismatches"]:
        raise RuntimeError(f"the exported policy does not reproduce the torch one: {report}")
    return report


def compare(
    whole: Any,
    per_module: dict[str, Any],
    qnet: QNet,
    obs: Mapping[str, Any],
    env: Any,
    report: dict,
) -> int:
    """Actions of the loaded policy at ``obs`` that differ from the torch policy's."""
    agents = list(obs)
    x, m = qnet.rows(obs, agents)
    with torch.no_grad():
        q = qnet(torch.from_numpy(x))
    masked = masked_greedy(q, torch.from_numpy(m)).tolist()
    if report["mode"] == "masked":
        try:
            got = whole(obs, env)
            return sum(int(got[a]) != masked[i] for i, a in enumerate(agents))
        except (TypeError, ValueError, KeyError) as err:  # no Dict observations
            report |= {"mode": "unmasked", "loader_error": f"{type(err).__name__}: {err}"}
    bare = {a: obs[a]["observation"] for a in agents}
    if whole is not None:
        got = whole(bare, env)
    else:
        mapping = "agent" if qnet.agent_ids else "agent_kind"
        got = {a: per_module[module_of(a, mapping)]({a: bare[a]}, env)[a] for a in agents}
    unmasked = q.argmax(dim=-1).tolist()
    return sum(int(got[a]) != unmasked[i] for i, a in enumerate(agents))


# ---------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = p.add_argument
    add("--time-budget", type=float, default=1200.0, help="training seconds")
    add("--max-steps", type=int, default=10**9, help="training env-step cap")
    add("--seed", type=int, default=0)
    add("--out", default="runs/capswitch_dqn", help="output folder")
    add("--reward-mode", choices=("global", "split"), default="global")
    add("--hidden", type=int, nargs="+", default=[128, 128])
    add(
        "--agent-id",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one-hot of the agent index in the input",
    )
    add("--lr", type=float, default=5e-4)
    add("--gamma", type=float, default=0.99)
    add("--tau", type=float, default=0.005, help="Polyak rate of the target network")
    add("--batch", type=int, default=256)
    add("--buffer", type=int, default=200_000, help="replay capacity (agent transitions)")
    add("--warmup", type=int, default=2_000, help="agent transitions before learning")
    add("--train-every", type=int, default=1, help="env steps per gradient update")
    add("--reward-scale", type=float, default=1.0)
    add("--eps-start", type=float, default=1.0)
    add("--eps-end", type=float, default=0.02)
    add("--eps-frac", type=float, default=0.5, help="budget share of the epsilon decay")
    add("--val-episodes", type=int, default=128, help="greedy validation episodes (0: none)")
    add("--val-every", type=float, default=30.0, help="seconds between validations")
    add("--log-every", type=float, default=15.0, help="seconds between progress lines")
    add("--eval-profiles", default="300:365", help="held-out evaluation profiles")
    add("--eval-seed", type=int, default=0)
    add("--check-profiles", default="300:304", help="profiles of the export check")
    return p.parse_args(argv)


def build_qnet(env: Any, hidden: list[int], agent_id: bool) -> QNet:
    """The Q-network of ``env``'s agents (``agent_id``: with the one-hot agent index)."""
    obs_dim = env.observation_space(env.possible_agents[0])["observation"].shape[0]
    ids = list(env.possible_agents) if agent_id else None
    return QNet(obs_dim, hidden, *input_scaling(env), agent_ids=ids)


def save(qnet: QNet, path: Path, args: argparse.Namespace) -> None:
    """``qnet.pt``: state dict and what :func:`load_qnet` needs to rebuild the network."""
    meta = {"hidden": list(args.hidden), "agent_id": bool(args.agent_id)}
    torch.save({"state_dict": qnet.state_dict(), **meta}, path)


def load_qnet(path: str | Path) -> QNet:
    """The network saved by :func:`save` (for tests and later analysis)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    env = marl_vvc.parallel_env(SYSTEM)
    try:
        qnet = build_qnet(env, ckpt["hidden"], ckpt["agent_id"])
    finally:
        env.close()
    qnet.load_state_dict(ckpt["state_dict"])
    return qnet.eval()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)  # 2-core machine shared with other runs
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = marl_vvc.parallel_env(SYSTEM, profile_pool=TRAIN_POOL)
    val_env = marl_vvc.parallel_env(SYSTEM, profile_pool=TRAIN_POOL)
    qnet = build_qnet(env, args.hidden, args.agent_id)
    print(f"{SYSTEM}: agents {env.possible_agents}, training profiles {TRAIN_POOL}", flush=True)
    try:
        stats = train(env, val_env, qnet, args)
    finally:
        env.close()
        val_env.close()
    best = stats.pop("best")
    qnet.load_state_dict(best.pop("state"))
    qnet.eval()
    training = {**stats, "best": best, "argv": sys.argv[1:] if argv is None else argv}
    print(
        f"trained {stats['env_steps']} env steps, {stats['episodes']} episodes, "
        f"{stats['updates']} updates in {stats['seconds']:.0f} s; kept {best}",
        flush=True,
    )
    save(qnet, out / "qnet.pt", args)
    result = score_all(qnet, args)
    result["training"] = training
    provenance = {"script": "examples/train_capswitch_dqn.py", "training": training}
    provenance["ratio_to_optimum"] = result["ratio_to_optimum"]
    export(qnet, out / "export", provenance)
    result["export_check"] = check_export(out / "export", qnet, parse_profiles(args.check_profiles))
    (out / "evaluation.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"wrote {out / 'evaluation.json'} and {out / 'export'}", flush=True)
    return result


if __name__ == "__main__":
    main()
