"""The exported policy format: reading ``policy.json`` + ``weights.npz`` and acting with numpy.

What :mod:`marl_vvc.tools.export` writes, this module reads, without torch, ray or
stable-baselines3: :func:`load_exported` checks the metadata against the arrays and returns a
policy function whose forward pass is plain numpy (dense layers, then the ``decode`` rule; a
``Dict`` observation's ``action_mask`` is honoured by ``argmax``).
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from marl_vvc.errors import ConfigError
from marl_vvc.tools.checkpoints import PolicyFn, agent_kind
from marl_vvc.tools.observation_scaling import OBS_TRANSFORMS, voltage_deviation, voltage_entries

FORMAT, FORMAT_VERSION = "marl_vvc-policy", 1  # the layout written and read here
POLICY_FILE, WEIGHTS_FILE = "policy.json", "weights.npz"
#: ``agent_kind``: module id = the agent id up to its first ``_``; ``single``: one module;
#: ``agent``: module id = the agent id.
MAPPINGS = ("agent_kind", "single", "agent")
#: Decode rules per action space type (last layer's output -> greedy action).
DECODES = {
    "Discrete": ("argmax",),
    "MultiDiscrete": ("multi_argmax",),
    "Box": ("mean_clip", "tanh_rescale"),
}
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
}
_SHAPE_KEYS = ("type", "n", "nvec", "shape")  # what an action space must share with a module's


def space_spec(space: Any) -> dict[str, Any]:
    """JSON description of a ``Discrete``, ``MultiDiscrete`` or ``Box`` space (``None``: inf)."""
    kind = type(space).__name__
    if kind == "Discrete":
        return {"type": kind, "n": int(space.n)}
    if kind == "MultiDiscrete" and space.nvec.ndim == 1:
        return {"type": kind, "nvec": [int(n) for n in space.nvec]}
    if kind == "Box":
        low, high = (
            [float(v) if math.isfinite(v) else None for v in np.asarray(b, float).ravel()]
            for b in (space.low, space.high)
        )
        shape = [int(n) for n in space.shape]
        return {"type": kind, "shape": shape, "dtype": str(space.dtype), "low": low, "high": high}
    raise ConfigError(f"cannot export a policy for the space {space}")


@dataclass(frozen=True)
class _Net:
    """Numpy forward pass of one module: dense layers, then the decode rule."""

    layers: tuple[tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]], ...]
    obs_dim: int
    space: Mapping[str, Any]
    decode: str

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` of a ``Box`` action space, shaped like the action."""
        shape = self.space["shape"]
        low = [-np.inf if v is None else v for v in self.space["low"]]
        high = [np.inf if v is None else v for v in self.space["high"]]
        return np.reshape(low, shape), np.reshape(high, shape)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Output of the last layer for a batch of feature rows."""
        if x.ndim != 2 or x.shape[1] != self.obs_dim:
            raise ConfigError(f"policy expects {self.obs_dim} observation entries, not {x.shape}")
        for w, b, activation in self.layers:
            x = activation(x @ w.T + b)
        return x

    def act(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Greedy actions of a batch of feature rows (``mean_clip``: not clipped yet).

        ``mask`` (``argmax`` only): rows of allowed actions; a 0 entry is never chosen.
        """
        x = self.logits(x)
        if self.decode == "argmax":
            if mask is not None:
                x = np.where(np.asarray(mask) != 0, x, -np.inf)
            return np.asarray(np.argmax(x, axis=-1))
        if self.decode == "multi_argmax":
            parts = np.split(x, np.cumsum(self.space["nvec"])[:-1], axis=-1)
            return np.stack([np.argmax(p, axis=-1) for p in parts], axis=-1)
        shape = tuple(self.space["shape"])
        mean = x[:, : math.prod(shape)].reshape(len(x), *shape)
        if self.decode == "mean_clip":
            return mean
        low, high = self.bounds()
        return np.asarray(low + 0.5 * (np.tanh(mean) + 1.0) * (high - low))

    def single(self, obs: Any, env: Any = None) -> Any:
        """``mode="single"`` policy function: the joint action (``env`` is not used)."""
        action = self.act(np.asarray(obs, np.float32).reshape(1, -1))[0]
        return np.clip(action, *self.bounds()) if self.decode == "mean_clip" else action


def build_net(mid: str, spec: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> _Net:
    """Check one module's metadata against the arrays and build its forward pass."""
    space, decode = spec["action_space"], spec["decode"]
    if decode not in DECODES.get(space.get("type"), ()):
        raise ConfigError(f"module {mid!r}: decode {decode!r} does not fit the space {space}")
    size, layers = int(spec["obs_dim"]), []
    for layer in spec["layers"]:
        where, keys = f"module {mid!r} layer {layer['name']!r}", [f"{mid}/{layer['name']}/W"]
        keys.append(keys[0][:-1] + "b")
        if layer["activation"] not in ACTIVATIONS:
            raise ConfigError(f"{where}: unknown activation {layer['activation']!r}")
        if missing := [k for k in keys if k not in weights]:
            raise ConfigError(f"{WEIGHTS_FILE} lacks the arrays {missing}")
        w, b = (np.asarray(weights[k], np.float32) for k in keys)
        if layer["in"] != size or w.shape != (layer["out"], size) or b.shape != (layer["out"],):
            raise ConfigError(
                f"{where}: W {w.shape}, b {b.shape} do not fit {size} -> {layer['out']}"
            )
        layers.append((w, b, ACTIVATIONS[layer["activation"]]))
        size = int(layer["out"])
    box = math.prod(space.get("shape", ()))
    sizes = {"Discrete": [space.get("n")], "MultiDiscrete": [sum(space.get("nvec", ()))]}
    if not layers or size not in sizes.get(space["type"], [box, 2 * box]):
        raise ConfigError(f"module {mid!r}: output size {size} does not fit the space {space}")
    return _Net(tuple(layers), int(spec["obs_dim"]), space, str(decode))


def _read_metadata(folder: Path) -> dict[str, Any]:
    """``policy.json`` of an export folder, checked for what the loader needs."""
    path = folder / POLICY_FILE
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{folder} is not a policy export ({POLICY_FILE}: {err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a {FORMAT} file")
    if (got := meta.get("format_version")) != FORMAT_VERSION:
        raise ConfigError(f"{path}: unsupported format_version {got!r} (reads {FORMAT_VERSION})")
    ids, modules = meta.get("module_ids") or [None], meta.get("modules") or {}
    single = meta.get("mode") == "single"
    checks = {
        "mode": meta.get("mode") in ("parallel", "single"),
        "obs_transform": meta.get("obs_transform") in OBS_TRANSFORMS,
        "mapping": meta.get("mapping") in MAPPINGS,
        "system": isinstance(meta.get("system"), str),
        "env_kwargs": isinstance(meta.get("env_kwargs"), dict),
        "module_ids": all(i in modules for i in ids) and (len(ids) == 1 or not single),
    }
    bad = ", ".join(k for k, ok in checks.items() if not ok)
    if bad:
        raise ConfigError(f"{path}: missing or invalid {bad}")
    return meta


def _parallel_fn(nets: Mapping[str, _Net], mapping: str, obs_transform: str) -> PolicyFn:
    """``mode="parallel"`` policy function; the agents of one module are batched."""
    masks: dict[str, np.ndarray] = {}

    def features(agent: str, o: Any, env: Any) -> np.ndarray:
        if isinstance(o, Mapping):  # Dict observation with an action mask
            o = o["observation"]
        if obs_transform == "none":
            return np.asarray(o, np.float32).ravel()
        if agent not in masks:
            masks[agent] = voltage_entries(env.observation_space(agent))
        return voltage_deviation(o, masks[agent]).ravel()

    def act(obs: Mapping[str, Any], env: Any) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for agent in obs:
            mid = next(iter(nets)) if mapping == "single" else agent_kind(agent)
            mid = agent if mapping == "agent" else mid
            if mid not in nets:
                raise ConfigError(f"agent {agent!r}: no module {mid!r} in {sorted(nets)}")
            groups.setdefault(mid, []).append(agent)
        out: dict[str, Any] = {}
        for mid, agents in groups.items():
            net = nets[mid]
            x = np.stack([features(a, obs[a], env) for a in agents])
            masked = all(isinstance(obs[a], Mapping) and "action_mask" in obs[a] for a in agents)
            mask = np.stack([obs[a]["action_mask"] for a in agents]) if masked else None
            actions = net.act(x, mask)
            for agent, a in zip(agents, actions, strict=True):
                space = env.action_space(agent)
                if any(space_spec(space).get(k) != net.space.get(k) for k in _SHAPE_KEYS):
                    raise ConfigError(f"agent {agent!r}: action space {space} is not {net.space}")
                if net.space["type"] == "Discrete":
                    out[agent] = int(a)
                else:
                    a = np.asarray(a, space.dtype).reshape(space.shape)
                    out[agent] = np.clip(a, space.low, space.high) if "low" in net.space else a
        return out

    return act


@dataclass
class ExportedPolicy:
    """A policy loaded from an export folder by :func:`load_exported`.

    Attributes:
        policy_fn: Greedy policy function ``policy_fn(obs, env)`` (numpy only).
        mode: ``parallel`` (returns ``{agent: action}``) or ``single`` (the joint action).
        system: System the policy was trained on.
        env_kwargs: Keyword arguments of that env.
        metadata: The whole ``policy.json``.
    """

    policy_fn: PolicyFn
    mode: str
    system: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def load_exported(folder: str | Path) -> ExportedPolicy:
    """Load an export folder (``policy.json`` + ``weights.npz``); numpy only, no torch.

    Raises:
        ConfigError: A missing file, unknown format version, malformed entry or missing array,
            or an array shape that does not match the metadata.
    """
    path = Path(folder)
    meta = _read_metadata(path)
    try:
        with np.load(path / WEIGHTS_FILE, allow_pickle=False) as npz:
            weights = {k: npz[k] for k in npz.files}
        nets = {m: build_net(m, meta["modules"][m], weights) for m in meta["module_ids"]}
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{path}: malformed export ({type(err).__name__}: {err})") from err
    if meta["mode"] == "parallel":
        fn = _parallel_fn(nets, meta["mapping"], meta["obs_transform"])
    else:
        fn = nets[meta["module_ids"][0]].single
    return ExportedPolicy(fn, meta["mode"], meta["system"], meta["env_kwargs"], meta)
