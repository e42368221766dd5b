"""Compact, framework-free policy exports: ``policy.json`` + ``weights.npz``, a numpy forward.

An export holds the greedy actor of the RLlib PPO modules of ``examples/train_rllib.py``
(``mode="parallel"``) or of a stable-baselines3 PPO/SAC ``MlpPolicy`` (``mode="single"``):
``policy.json`` (system, env kwargs, observation transform, agent -> module mapping, and per
module the dense layers, the action space and the ``decode`` rule) and ``weights.npz``
(float32 ``<module>/<layer>/W``, ``out x in``, and ``<module>/<layer>/b``). Only the export
functions import torch, ray or stable-baselines3; :func:`load_exported`
(:mod:`marl_vvc.tools.policy_file`) runs on numpy alone.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from marl_vvc.errors import ConfigError
from marl_vvc.tools.checkpoints import load_rllib_modules, read_run_info
from marl_vvc.tools.observation_scaling import OBS_TRANSFORMS
from marl_vvc.tools.policy_file import (
    ACTIVATIONS,
    DECODES,
    FORMAT,
    FORMAT_VERSION,
    MAPPINGS,
    POLICY_FILE,
    WEIGHTS_FILE,
    ExportedPolicy,
    build_net,
    load_exported,
    space_spec,
)

__all__ = [
    "ACTIVATIONS",
    "DECODES",
    "FORMAT",
    "FORMAT_VERSION",
    "MAPPINGS",
    "POLICY_FILE",
    "PRETRAINED_DIR",
    "WEIGHTS_FILE",
    "ExportedPolicy",
    "export_rllib",
    "export_sb3",
    "load_exported",
    "pretrained_path",
]

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"  # one folder per system
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


def _module_spec(obs: Any, layers: list[Layer], space: Any, decode: str = "") -> dict[str, Any]:
    """``policy.json`` entry of one module (``decode`` defaults to the space's first rule)."""
    size = int(layers[0][1].shape[1]) if layers else 0
    if type(obs).__name__ != "Box" or not 0 < size <= math.prod(obs.shape):
        raise ConfigError(f"cannot export: observation space {obs}, {len(layers)} layers")
    action_space = space_spec(space)
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
    net = build_net(mid, spec, _arrays(mid, layers))
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
