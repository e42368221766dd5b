"""Compact, framework-free policy exports: ``policy.json`` + ``weights.npz``, a numpy forward.

An export holds the greedy actor of the RLlib PPO modules of ``examples/train_rllib.py``
(``mode="parallel"``) or of a stable-baselines3 PPO/SAC ``MlpPolicy`` (``mode="single"``):
``policy.json`` (system, env kwargs, observation transform, agent -> module mapping, and per
module the dense layers, the action space and the ``decode`` rule) and ``weights.npz``
(float32 ``<module>/<layer>/W``, ``out x in``, and ``<module>/<layer>/b``). Only the export
functions import torch, ray or stable-baselines3; :func:`load_exported` runs on numpy alone.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from marl_vvc.errors import ConfigError
from marl_vvc.tools.checkpoints import PolicyFn, agent_kind, load_rllib_modules, read_run_info
from marl_vvc.tools.observation_scaling import OBS_TRANSFORMS, voltage_deviation, voltage_entries

FORMAT, FORMAT_VERSION = "marl_vvc-policy", 1  # the layout written and read here
POLICY_FILE, WEIGHTS_FILE = "policy.json", "weights.npz"
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"  # one folder per system
#: ``agent_kind``: module id = the agent id up to its first ``_``; ``single``: one module.
MAPPINGS = ("agent_kind", "single")
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
_TORCH_ACTIVATIONS = {"Tanh": "tanh", "ReLU": "relu"}

Layer = tuple[str, np.ndarray, np.ndarray, str]  # name, W (out x in), b, activation


def _torch_layers(root: Any, prefix: str) -> list[Layer]:
    """Dense layers of a torch module (with the activation after each), in forward order."""
    layers: list[Layer] = []
    for sub in root.modules():
        kind = type(sub).__name__
        if next(iter(sub.children()), None) is not None or kind in ("Identity", "Flatten"):
            continue
        if kind == "Linear":
            w = sub.weight.detach().cpu().numpy().astype(np.float32)
            b = np.zeros(len(w)) if sub.bias is None else sub.bias.detach().cpu().numpy()
            layers.append((f"{prefix}{len(layers)}", w, b.astype(np.float32), "linear"))
        elif kind in _TORCH_ACTIVATIONS:
            if not layers or layers[-1][3] != "linear":
                raise ConfigError(f"cannot export {prefix}: activation {kind} follows no layer")
            layers[-1] = (*layers[-1][:3], _TORCH_ACTIVATIONS[kind])
        else:
            raise ConfigError(f"cannot export {prefix}: unsupported torch layer {sub}")
    return layers


def _space_spec(space: Any) -> dict[str, Any]:
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


def _module_spec(obs: Any, layers: list[Layer], space: Any, decode: str = "") -> dict[str, Any]:
    """``policy.json`` entry of one module (``decode`` defaults to the space's first rule)."""
    size = int(layers[0][1].shape[1]) if layers else 0
    if type(obs).__name__ != "Box" or not 0 < size <= math.prod(obs.shape):
        raise ConfigError(f"cannot export: observation space {obs}, {len(layers)} layers")
    action_space = _space_spec(space)
    return {
        "obs_dim": size,  # a module may read the leading entries only
        "layers": [
            {"name": n, "in": int(w.shape[1]), "out": int(w.shape[0]), "activation": a}
            for n, w, _, a in layers
        ],
        "action_space": action_space,
        "decode": decode or DECODES[action_space["type"]][0],
    }


def _arrays(mid: str, layers: list[Layer]) -> dict[str, np.ndarray]:
    """``weights.npz`` arrays of one module."""
    return {f"{mid}/{n}/{k}": a for n, w, b, _ in layers for k, a in (("W", w), ("b", b))}


def _write_export(
    out_dir: str | Path, meta: dict[str, Any], nets: Mapping[str, Any], packages: tuple[str, ...]
) -> Path:
    """Write ``policy.json`` and ``weights.npz`` (``nets``: id -> (entry, layers)); load them."""
    import marl_vvc

    arrays: dict[str, Any] = {
        k: a for mid, (_, layers) in nets.items() for k, a in _arrays(mid, layers).items()
    }
    versions = {"marl-vvc": marl_vvc.__version__, **{p: version(p) for p in ("numpy", *packages)}}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta, "exported_with": versions}
    meta |= {"module_ids": sorted(nets), "modules": {m: nets[m][0] for m in sorted(nets)}}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / WEIGHTS_FILE, **arrays)
    (out / POLICY_FILE).write_text(json.dumps(meta, indent=2, allow_nan=False) + "\n")
    load_exported(out)
    return out


def _rllib_actor(mid: str, module: Any) -> tuple[dict[str, Any], list[Layer]]:
    """Entry and layers of a PPO RLModule's actor, checked against the module's forward pass.

    The actor (or shared) encoder and the pi head, or pi alone (``examples/central_critic.py``).
    """
    import torch

    encoder, head = getattr(module, "encoder", None), getattr(module, "pi", None)
    actor = getattr(encoder, "actor_encoder", None)  # vf_share_layers=False
    actor = getattr(encoder, "encoder", None) if actor is None else actor  # shared layers
    if head is None or (encoder is None) != (actor is None):
        cls = type(module).__name__  # RLModule: RLlib could not import the saved class
        raise ConfigError(f"module {mid!r}: no encoder/pi in {cls} (was its class importable?)")
    layers = _torch_layers(actor, "encoder_") if actor is not None else []
    layers += _torch_layers(head, "pi_")
    spec = _module_spec(module.observation_space, layers, module.action_space)
    x = np.float32(np.random.default_rng(0).normal(size=(16, *module.observation_space.shape)))
    with torch.no_grad():
        ref = module.forward_inference({"obs": torch.from_numpy(x)})["action_dist_inputs"]
    net = _build_net(mid, spec, _arrays(mid, layers))
    got = net.logits(x.reshape(16, -1)[:, : net.obs_dim])
    ref = ref.cpu().numpy()[:, : got.shape[1]]
    if ref.shape != got.shape or not np.allclose(got, ref, rtol=1e-4, atol=1e-4):
        raise ConfigError(f"module {mid!r}: the exported layers do not reproduce its outputs")
    return spec, layers


def export_rllib(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Export the PPO modules of an RLlib checkpoint of ``examples/train_rllib.py``.

    Agents map to modules by device kind (:func:`agent_kind`). System, env kwargs and
    observation transform come from the checkpoint's ``marl_vvc_run.json``. Returns ``out_dir``.

    Args:
        checkpoint: RLlib (new API stack, torch) algorithm checkpoint folder.
        out_dir: Folder for ``policy.json`` and ``weights.npz`` (created).
        name: Display name (default ``ppo``).
        provenance: Free-form JSON-able notes (run, scores, commit).

    Raises:
        ConfigError: No checkpoint or ``marl_vvc_run.json``; an unsupported module or space.
    """
    path = Path(checkpoint)
    info = read_run_info(path) if path.exists() else {}
    if not info:
        raise ConfigError(f"{checkpoint}: no checkpoint with a marl_vvc_run.json there")
    transform = info.get("obs_transform", "none")
    if transform not in OBS_TRANSFORMS:
        raise ConfigError(f"obs_transform must be one of {OBS_TRANSFORMS}, got {transform!r}")
    nets = {mid: _rllib_actor(mid, m) for mid, m in load_rllib_modules(path).items()}
    meta: dict[str, Any] = {"kind": "rllib-ppo", "name": name or "ppo", "mode": "parallel"}
    meta |= {"mapping": "agent_kind", "system": str(info.get("system", "13Bus"))}
    meta |= {"env_kwargs": dict(info.get("env_kwargs", {})), "obs_transform": transform}
    meta |= {"provenance": dict(provenance or {}), "run_info": info}
    return _write_export(out_dir, meta, nets, ("torch", "ray"))


def _sb3_zip(model_zip: str | Path) -> tuple[Path, str]:
    """The model zip (given, or the only ``*.zip`` of a folder) and its algorithm."""
    path = Path(model_zip)
    zips = sorted(path.glob("*.zip")) if path.is_dir() else [path]
    if len(zips) != 1:
        raise ConfigError(f"expected one SB3 model .zip in {model_zip}, found {len(zips)}")
    try:
        with zipfile.ZipFile(zips[0]) as archive:
            module = str(json.loads(archive.read("data"))["policy_class"]["__module__"])
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as err:
        raise ConfigError(f"{model_zip} is not a stable-baselines3 model zip ({err})") from err
    algos = {"stable_baselines3.sac.policies": "sac", "stable_baselines3.common.policies": "ppo"}
    if module not in algos:
        raise ConfigError(f"{model_zip}: unsupported SB3 policy {module} (PPO or SAC MlpPolicy)")
    return zips[0], algos[module]


def _sb3_actor(policy: Any, algo: str) -> tuple[list[Layer], str]:
    """Dense layers and decode rule of the greedy actor of an SB3 ``MlpPolicy``."""
    if algo == "sac":
        actor = policy.actor  # gSDE's mean clip (Hardtanh) is refused as a layer
        extractor, decode = actor.features_extractor, "tanh_rescale"
        layers = _torch_layers(actor.latent_pi, "latent_pi_") + _torch_layers(actor.mu, "mu_")
    else:
        extractor, decode = policy.pi_features_extractor, ""
        if type(policy.action_space).__name__ == "Box" and policy.squash_output:
            decode = "tanh_rescale"
        layers = _torch_layers(policy.mlp_extractor.policy_net, "policy_net_")
        layers += _torch_layers(policy.action_net, "action_net_")
    if type(extractor).__name__ != "FlattenExtractor":
        raise ConfigError(f"cannot export the SB3 features extractor {type(extractor).__name__}")
    return layers, decode


def export_sb3(
    model_zip: str | Path,
    out_dir: str | Path,
    *,
    system: str,
    env_kwargs: Mapping[str, Any] | None = None,
    provenance: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> Path:
    """Export an SB3 PPO or SAC ``MlpPolicy`` of the single-agent env; returns ``out_dir``.

    Args:
        model_zip: Model zip saved by SB3 (or a folder holding exactly one).
        out_dir: Folder for ``policy.json`` and ``weights.npz`` (created).
        system: System the model was trained on (:func:`marl_vvc.make_env`).
        env_kwargs: Its keyword arguments (JSON-able).
        provenance: Free-form JSON-able notes (run, scores, commit).
        name: Display name (default: ``ppo`` or ``sac``).

    Raises:
        ConfigError: Not an SB3 PPO/SAC model, or an unsupported policy or space.
    """
    path, algo = _sb3_zip(model_zip)  # checked before torch is imported
    import stable_baselines3

    cls = stable_baselines3.SAC if algo == "sac" else stable_baselines3.PPO
    model = cls.load(str(path), device="cpu")
    layers, decode = _sb3_actor(model.policy, algo)
    spec = _module_spec(model.observation_space, layers, model.action_space, decode)
    meta: dict[str, Any] = {"kind": f"sb3-{algo}", "name": name or algo, "mode": "single"}
    meta |= {"mapping": "single", "system": system, "obs_transform": "none"}
    meta |= {"env_kwargs": dict(env_kwargs or {}), "provenance": dict(provenance or {})}
    meta["run_info"] = read_run_info(path)
    return _write_export(out_dir, meta, {"policy": (spec, layers)}, ("torch", "stable-baselines3"))


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

    def act(self, x: np.ndarray) -> np.ndarray:
        """Greedy actions of a batch of feature rows (``mean_clip``: not clipped yet)."""
        x = self.logits(x)
        if self.decode == "argmax":
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


def _build_net(mid: str, spec: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> _Net:
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
        if obs_transform == "none":
            return np.asarray(o, np.float32).ravel()
        if agent not in masks:
            masks[agent] = voltage_entries(env.observation_space(agent))
        return voltage_deviation(o, masks[agent]).ravel()

    def act(obs: Mapping[str, Any], env: Any) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for agent in obs:
            mid = next(iter(nets)) if mapping == "single" else agent_kind(agent)
            if mid not in nets:
                raise ConfigError(f"agent {agent!r}: no module {mid!r} in {sorted(nets)}")
            groups.setdefault(mid, []).append(agent)
        out: dict[str, Any] = {}
        for mid, agents in groups.items():
            net = nets[mid]
            actions = net.act(np.stack([features(a, obs[a], env) for a in agents]))
            for agent, a in zip(agents, actions, strict=True):
                space = env.action_space(agent)
                if any(_space_spec(space).get(k) != net.space.get(k) for k in _SHAPE_KEYS):
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
        nets = {m: _build_net(m, meta["modules"][m], weights) for m in meta["module_ids"]}
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{path}: malformed export ({type(err).__name__}: {err})") from err
    if meta["mode"] == "parallel":
        fn = _parallel_fn(nets, meta["mapping"], meta["obs_transform"])
    else:
        fn = nets[meta["module_ids"][0]].single
    return ExportedPolicy(fn, meta["mode"], meta["system"], meta["env_kwargs"], meta)


def pretrained_path(system: str) -> Path:
    """Folder of the shipped export of ``system``: ``marl_vvc/pretrained/<system>/``.

    Raises:
        ConfigError: No export is shipped for ``system`` (the message lists those that are).
    """
    path = PRETRAINED_DIR / system
    if system and Path(system).name == system and (path / POLICY_FILE).is_file():
        return path
    shipped = sorted(p.parent.name for p in PRETRAINED_DIR.glob(f"*/{POLICY_FILE}")) or ["none"]
    raise ConfigError(f"no pretrained policy for system {system!r}; shipped: {', '.join(shipped)}")
