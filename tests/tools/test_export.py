"""Framework-free policy exports: the numpy forward pass against RLlib and stable-baselines3.

RLlib and SB3 run in subprocesses that print their actions and the exported ones; the numbers
are compared here. This process never imports ray or torch: ``import ray`` changes
``os.environ``, which crashes OpenDSS threads started later (see tests/examples/test_training.py).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_python

import marl_vvc
from marl_vvc.errors import ConfigError
from marl_vvc.tools import export
from marl_vvc.tools.export import export_rllib, export_sb3, load_exported, pretrained_path

# Random PPO modules (no training), saved in the layout of an algorithm checkpoint, exported,
# then both policies act on real observations: the modules' greedy actions drive the env.
# ``PiOnly`` is shaped like examples/central_critic.py's module: no encoder, its pi reads the
# leading (local) entries of a longer observation; ``scale`` != 1 makes its forward pass differ
# from its layers, which the export must refuse.
RLLIB_SCRIPT = """
import json, os, sys
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # before ray is imported
from pathlib import Path
import numpy as np
import torch
from gymnasium import spaces
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.models.torch.torch_distributions import TorchCategorical
import marl_vvc
from marl_vvc.errors import ConfigError
from marl_vvc.tools.checkpoints import (
    agent_kind, load_rllib_modules, rllib_module_policy, write_run_info)
from marl_vvc.tools.export import export_rllib, load_exported

torch.set_num_threads(1)
torch.manual_seed(0)
tmp = Path(sys.argv[1])


class PiOnly(TorchRLModule, ValueFunctionAPI):
    def setup(self):
        self.local = int(self.model_config["local_dim"])
        self.scale = float(self.model_config["scale"])
        full = int(np.prod(self.observation_space.shape))
        self.pi = torch.nn.Sequential(torch.nn.Linear(self.local, 8), torch.nn.Tanh(),
                                      torch.nn.Linear(8, int(self.action_space.n)))
        self.vf = torch.nn.Sequential(torch.nn.Linear(full, 8), torch.nn.Tanh(),
                                      torch.nn.Linear(8, 1))

    def _forward(self, batch, **kwargs):
        return {"action_dist_inputs": self.scale * self.pi(batch["obs"][..., : self.local])}

    def compute_values(self, batch, embeddings=None):
        return self.vf(batch["obs"]).squeeze(-1)

    def get_inference_action_dist_cls(self):
        return TorchCategorical

    get_train_action_dist_cls = get_exploration_action_dist_cls = get_inference_action_dist_cls


def default_module(obs_space, space, **model):
    cfg = DefaultModelConfig(fcnet_hiddens=[16, 16], head_fcnet_hiddens=[], **model)
    return RLModuleSpec(module_class=DefaultPPOTorchRLModule, observation_space=obs_space,
                        action_space=space, model_config=cfg).build()


def pi_only_module(obs_space, space, scale=1.0):
    local = obs_space.shape[0]
    wide = spaces.Box(-np.inf, np.inf, (local + 5,), np.float32)  # + a "global state"
    return RLModuleSpec(module_class=PiOnly, observation_space=wide, action_space=space,
                        model_config={"local_dim": local, "scale": scale}).build()


def checkpoint(root, env, system, transform, build):
    for agent in env.possible_agents:
        target = root / "learner_group" / "learner" / "rl_module" / agent_kind(agent)
        if target.exists():
            continue
        space = env.action_space(agent)
        module = build(env.observation_space(agent), space)
        with torch.no_grad():
            for p in module.pi.parameters():
                p.mul_(8.0)  # spread the logits / means
            if hasattr(space, "low"):  # push the first mean under 0: generators clip at 0
                [m for m in module.pi.modules() if isinstance(m, torch.nn.Linear)][-1].bias[0] -= 5
        module.save_to_path(str(target))
    write_run_info(root, algo="rllib", system=system, mode="parallel", env_kwargs={},
                   obs_transform=transform)


def compare(name, system, transform, steps, build):
    env = marl_vvc.parallel_env(system)
    root = tmp / ("ckpt_" + name)
    checkpoint(root, env, system, transform, build)
    out = export_rllib(root, tmp / ("export_" + name), provenance={"test": name})
    ref = rllib_module_policy(load_rllib_modules(root), obs_transform=transform)
    got = load_exported(out).policy_fn
    obs, _ = env.reset(seed=0)
    rows = []
    for t in range(steps):
        a, b = ref(obs, env), got(obs, env)
        rows.append({k: [np.asarray(a[k]).tolist(), np.asarray(b[k]).tolist(),
                         type(a[k]).__name__, type(b[k]).__name__, str(np.asarray(b[k]).dtype)]
                     for k in obs})
        obs, *_ = env.step(a)
        if not env.agents:
            obs, _ = env.reset(seed=t + 1)
    bounds = {a: [env.action_space(a).low.tolist(), env.action_space(a).high.tolist()]
              for a in env.possible_agents if hasattr(env.action_space(a), "low")}
    env.close()
    return {"export": str(out), "rows": rows, "bounds": bounds}


result = {
    "discrete": compare("13Bus", "13Bus", "voltage_deviation", 30, default_module),
    "box": compare("ANM6Easy", "ANM6Easy", "none", 30, lambda o, s: default_module(
        o, s, vf_share_layers=False, fcnet_activation="relu")),
    "pi_only": compare("pi_only", "13Bus", "voltage_deviation", 30, pi_only_module),
}
env = marl_vvc.parallel_env("13Bus")
checkpoint(tmp / "ckpt_scaled", env, "13Bus", "none", lambda o, s: pi_only_module(o, s, 2.0))
try:
    export_rllib(tmp / "ckpt_scaled", tmp / "export_scaled")
    result["refused"] = None
except ConfigError as err:
    result["refused"] = str(err)
result["scaled_written"] = (tmp / "export_scaled").exists()
print(json.dumps(result))
"""

# Untrained SB3 models on the single-agent env: predict(deterministic=True) vs the export, on
# real observations and on noisy copies of them (real ones barely move the untrained nets).
SB3_SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
import torch
from stable_baselines3 import PPO, SAC
import marl_vvc
from marl_vvc.tools.export import export_sb3, load_exported

torch.set_num_threads(1)
tmp = Path(sys.argv[1])
rng = np.random.default_rng(0)
result = {}
for algo, system in (("ppo", "13Bus"), ("ppo", "ANM6Easy"), ("sac", "ANM6Easy")):
    env = marl_vvc.make_env(system)
    if algo == "sac":
        model = SAC("MlpPolicy", env, device="cpu", seed=0, buffer_size=16)
    else:
        model = PPO("MlpPolicy", env, device="cpu", seed=0, n_steps=16, batch_size=16)
        with torch.no_grad():
            model.policy.action_net.weight.mul_(20.0)
    folder = tmp / (algo + "_" + system)
    folder.mkdir()
    model.save(folder / "model.zip")
    out = export_sb3(folder, tmp / ("export_" + folder.name), system=system, env_kwargs={},
                     provenance={"algo": algo})
    fn = load_exported(out).policy_fn
    obs, _ = env.reset(seed=0)
    rows = []
    for t in range(12):
        noisy = (obs * (1 + rng.normal(0, 0.2, obs.shape))).astype(obs.dtype)
        for o in (obs, noisy):
            ref, _ = model.predict(o, deterministic=True)
            got = fn(o, env)
            rows.append([ref.tolist(), np.asarray(got).tolist(), str(ref.dtype),
                         str(np.asarray(got).dtype)])
        obs, _, term, trunc, _ = env.step(ref)
        if term or trunc:
            obs, _ = env.reset(seed=t + 1)
    space = env.action_space
    bounds = [space.low.tolist(), space.high.tolist()] if hasattr(space, "low") else None
    result[folder.name] = {"export": str(out), "rows": rows, "bounds": bounds}
print(json.dumps(result))
"""


def _require(*modules: str) -> None:
    # find_spec does not import the module (importing ray here would change os.environ)
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (pip install 'marl-vvc[rl]')")


def _run_script(script: str, tmp: Path) -> dict[str, Any]:
    proc = run_python(script, str(tmp), timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-4000:]}"
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def rllib_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _require("ray", "torch")
    return _run_script(RLLIB_SCRIPT, tmp_path_factory.mktemp("rllib"))


@pytest.fixture(scope="module")
def sb3_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _require("stable_baselines3", "torch")
    return _run_script(SB3_SCRIPT, tmp_path_factory.mktemp("sb3"))


# ------------------------------------------------------------------ RLlib and SB3 round trips
@pytest.mark.parametrize("case", ["discrete", "pi_only"])
def test_rllib_discrete_export_acts_like_the_modules(rllib_run: dict[str, Any], case: str) -> None:
    rows = rllib_run[case]["rows"]
    assert len(rows) == 30
    assert set(rows[0]) == set(marl_vvc.parallel_env("13Bus").possible_agents)
    seen: dict[str, set[int]] = {}
    for row in rows:
        for agent, (ref, got, ref_type, got_type, _) in row.items():
            assert got == ref, agent
            assert ref_type == got_type == "int"
            seen.setdefault(agent, set()).add(got)
    assert sum(len(v) for v in seen.values()) > len(seen)  # not one constant action


def test_rllib_box_export_acts_like_the_modules(rllib_run: dict[str, Any]) -> None:
    box = rllib_run["box"]
    clipped = free = 0
    for row in box["rows"]:
        for agent, (ref, got, ref_type, got_type, dtype) in row.items():
            assert ref_type == got_type == "ndarray" and dtype == "float32"
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5, err_msg=agent)
            low, high = (np.asarray(b) for b in box["bounds"][agent])
            assert np.all(low <= np.asarray(got)) and np.all(np.asarray(got) <= high)
            at_bound = np.isclose(got, low) | np.isclose(got, high)
            clipped += int(at_bound.sum())
            free += int((~at_bound).sum())
    assert clipped > 0 and free > 0  # both the clip and the plain mean were compared


def test_rllib_export_files(rllib_run: dict[str, Any]) -> None:
    folder = Path(rllib_run["discrete"]["export"])
    meta = json.loads((folder / "policy.json").read_text())
    assert meta["format_version"] == export.FORMAT_VERSION and meta["kind"] == "rllib-ppo"
    assert (meta["system"], meta["mode"], meta["mapping"]) == ("13Bus", "parallel", "agent_kind")
    assert meta["obs_transform"] == "voltage_deviation" and meta["env_kwargs"] == {}
    assert meta["provenance"] == {"test": "13Bus"} and meta["run_info"]["algo"] == "rllib"
    assert meta["module_ids"] == ["battery", "capacitor", "regulator"]
    reg = meta["modules"]["regulator"]
    assert reg["action_space"] == {"type": "Discrete", "n": 33} and reg["decode"] == "argmax"
    assert [(x["name"], x["in"], x["out"], x["activation"]) for x in reg["layers"]] == [
        ("encoder_0", 11, 16, "tanh"),
        ("encoder_1", 16, 16, "tanh"),
        ("pi_0", 16, 33, "linear"),
    ]
    with np.load(folder / "weights.npz") as npz:
        assert len(npz.files) == 3 * 3 * 2  # the actor only: no value-function weights
        assert npz["regulator/pi_0/W"].shape == (33, 16)
        assert all(npz[k].dtype == np.float32 for k in npz.files)
    anm = json.loads((Path(rllib_run["box"]["export"]) / "policy.json").read_text())
    gen = anm["modules"]["generator"]
    assert [x["activation"] for x in gen["layers"]] == ["relu", "relu", "linear"]
    assert gen["layers"][-1]["out"] == 4  # mean and log-std of a 2-d Box
    assert gen["action_space"]["low"] == [0.0, -30.0] and gen["decode"] == "mean_clip"


def test_rllib_module_without_encoder(rllib_run: dict[str, Any]) -> None:
    # the pi MLP alone, reading the leading (local) observation entries
    meta = json.loads((Path(rllib_run["pi_only"]["export"]) / "policy.json").read_text())
    cap = meta["modules"]["capacitor"]
    assert cap["obs_dim"] == 11  # of the module's 16 (11 local + 5 global)
    assert [(x["name"], x["activation"]) for x in cap["layers"]] == [
        ("pi_0", "tanh"),
        ("pi_1", "linear"),
    ]
    # a module whose forward pass is not its layers is refused, and nothing is written
    assert "do not reproduce" in rllib_run["refused"]
    assert rllib_run["scaled_written"] is False


def test_sb3_export_acts_like_predict(sb3_run: dict[str, Any]) -> None:
    for case, tol in (("ppo_13Bus", 0.0), ("ppo_ANM6Easy", 1e-5), ("sac_ANM6Easy", None)):
        run = sb3_run[case]
        ref, got = (np.array([r[i] for r in run["rows"]]) for i in (0, 1))
        assert {r[3] for r in run["rows"]} == {run["rows"][0][2]}  # same dtype as predict
        if tol is None:  # SAC: tanh-squashed, rescaled; float32 rounding scales with the box
            low, high = (np.asarray(b) for b in run["bounds"])
            np.testing.assert_allclose(
                (got - low) / (high - low), (ref - low) / (high - low), atol=1e-6
            )
        else:
            np.testing.assert_allclose(got, ref, rtol=0, atol=tol, err_msg=case)
        assert len({tuple(r) for r in ref}) > 2, case  # the inputs moved the policy
    assert sb3_run["ppo_13Bus"]["rows"][0][2] == "int64"
    meta = json.loads((Path(sb3_run["sac_ANM6Easy"]["export"]) / "policy.json").read_text())
    assert (meta["kind"], meta["mode"], meta["mapping"]) == ("sb3-sac", "single", "single")
    assert meta["modules"]["policy"]["decode"] == "tanh_rescale"
    ppo = json.loads((Path(sb3_run["ppo_13Bus"]["export"]) / "policy.json").read_text())
    assert ppo["modules"]["policy"]["action_space"] == {
        "type": "MultiDiscrete",
        "nvec": [2, 2, 33, 33, 33, 33],
    }


def test_export_inputs_are_checked_before_torch(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"marl_vvc_run\.json"):
        export_rllib(tmp_path, tmp_path / "out")
    with pytest.raises(ConfigError, match=r"marl_vvc_run\.json"):
        export_rllib(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "model.zip").write_text("not a zip")
    with pytest.raises(ConfigError, match="stable-baselines3 model zip"):
        export_sb3(tmp_path / "model.zip", tmp_path / "out", system="13Bus", env_kwargs={})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="expected one SB3 model"):
        export_sb3(tmp_path / "empty", tmp_path / "out", system="13Bus", env_kwargs={})
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ hand-written exports
SPACES_13BUS = {"battery": (12, 33), "capacitor": (11, 2), "regulator": (11, 33)}
CHOSEN = {"battery": 5, "capacitor": 1, "regulator": 16}


def _write(folder: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.json").write_text(json.dumps(meta))
    np.savez(folder / "weights.npz", **arrays)
    return folder


def _handmade(folder: Path, obs_dims: dict[str, int] | None = None) -> Path:
    """A 13Bus export whose greedy actions are :data:`CHOSEN` (zero weights, one-hot bias)."""
    modules, arrays = {}, {}
    for mid, (obs_dim, n) in SPACES_13BUS.items():
        obs_dim = (obs_dims or {}).get(mid, obs_dim)
        modules[mid] = {
            "obs_dim": obs_dim,
            "layers": [
                {"name": "hidden", "in": obs_dim, "out": 4, "activation": "tanh"},
                {"name": "out", "in": 4, "out": n, "activation": "linear"},
            ],
            "action_space": {"type": "Discrete", "n": n},
            "decode": "argmax",
        }
        rng = np.random.default_rng(0)
        arrays[f"{mid}/hidden/W"] = rng.normal(size=(4, obs_dim)).astype(np.float32)
        arrays[f"{mid}/hidden/b"] = np.zeros(4, np.float32)
        arrays[f"{mid}/out/W"] = np.zeros((n, 4), np.float32)
        arrays[f"{mid}/out/b"] = np.eye(n, dtype=np.float32)[CHOSEN[mid]]
    meta = {
        "format": "marl_vvc-policy",
        "format_version": 1,
        "kind": "rllib-ppo",
        "name": "handmade",
        "mode": "parallel",
        "mapping": "agent_kind",
        "system": "13Bus",
        "env_kwargs": {},
        "obs_transform": "voltage_deviation",
        "module_ids": sorted(modules),
        "modules": modules,
    }
    return _write(folder, meta, arrays)


def _single(folder: Path, space: dict[str, Any], decode: str, bias: list[float]) -> Any:
    size = len(bias)
    module = {
        "obs_dim": 3,
        "layers": [{"name": "out", "in": 3, "out": size, "activation": "linear"}],
        "action_space": space,
        "decode": decode,
    }
    meta = {
        "format": "marl_vvc-policy",
        "format_version": 1,
        "kind": "sb3-ppo",
        "mode": "single",
        "mapping": "single",
        "system": "13Bus",
        "env_kwargs": {"reward_mode": "shared"},
        "obs_transform": "none",
        "module_ids": ["policy"],
        "modules": {"policy": module},
    }
    arrays = {"policy/out/W": np.zeros((size, 3), np.float32), "policy/out/b": np.float32(bias)}
    return load_exported(_write(folder, meta, arrays))


def test_handmade_parallel_export_on_the_real_env(tmp_path: Path) -> None:
    loaded = load_exported(_handmade(tmp_path / "x"))
    assert (loaded.system, loaded.mode, loaded.env_kwargs) == ("13Bus", "parallel", {})
    assert loaded.metadata["name"] == "handmade"
    env = marl_vvc.parallel_env("13Bus")
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        actions = loaded.policy_fn(obs, env)
        assert actions == {a: CHOSEN[a.split("_")[0]] for a in obs}
        assert all(type(v) is int for v in actions.values())
        obs, *_ = env.step(actions)
    # an export for other devices, or for other observations, says so
    anm = marl_vvc.parallel_env("ANM6Easy")
    anm_obs, _ = anm.reset(seed=0)
    with pytest.raises(ConfigError, match="no module 'generator'"):
        loaded.policy_fn(anm_obs, anm)
    wrong = load_exported(_handmade(tmp_path / "y", {"capacitor": 12}))
    with pytest.raises(ConfigError, match="12 observation entries"):
        wrong.policy_fn(obs, env)
    env.close()
    anm.close()


def test_single_mode_decodes(tmp_path: Path) -> None:
    obs = np.ones(3)
    multi = _single(
        tmp_path / "m", {"type": "MultiDiscrete", "nvec": [2, 3]}, "multi_argmax", [0, 1, 0, 0, 1]
    )
    action = multi.policy_fn(obs, None)
    assert action.tolist() == [1, 2] and action.dtype == np.int64
    assert multi.env_kwargs == {"reward_mode": "shared"} and multi.mode == "single"
    box = {"type": "Box", "shape": [2], "dtype": "float32", "low": [0.0, -1.0], "high": [1, None]}
    # mean_clip: the first half of mean / log-std, clipped (an unbounded side stays free)
    clipped = _single(tmp_path / "c", box, "mean_clip", [5.0, 7.0, 0.0, 0.0])
    np.testing.assert_array_equal(clipped.policy_fn(obs, None), [1.0, 7.0])
    box["high"] = [1.0, 3.0]
    squashed = _single(tmp_path / "s", box, "tanh_rescale", [0.0, 100.0])
    np.testing.assert_allclose(squashed.policy_fn(obs, None), [0.5, 3.0])


def _broken(tmp_path: Path, edit: str) -> Path:
    folder = _handmade(tmp_path / edit)
    meta = json.loads((folder / "policy.json").read_text())
    with np.load(folder / "weights.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    reg = meta["modules"]["regulator"]
    if edit == "version":
        meta["format_version"] = 2
    elif edit == "format":
        meta["format"] = "something-else"
    elif edit == "missing_array":
        del arrays["regulator/out/b"]
    elif edit == "shape":
        arrays["regulator/hidden/W"] = np.zeros((4, 10), np.float32)
    elif edit == "activation":
        reg["layers"][0]["activation"] = "gelu"
    elif edit == "decode":
        reg["decode"] = "mean_clip"
    elif edit == "output":
        reg["action_space"]["n"] = 7
    elif edit == "mode":
        meta["mode"] = "single"
    elif edit == "no_mode":
        del meta["mode"]
    elif edit == "transform":
        meta["obs_transform"] = "whiten"
    elif edit == "module_ids":
        meta["module_ids"].append("storage")
    elif edit == "no_layers":
        del reg["layers"]
    return _write(folder, meta, arrays)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("version", "unsupported format_version 2"),
        ("format", "is not a marl_vvc-policy file"),
        ("missing_array", r"lacks the arrays \['regulator/out/b'\]"),
        ("shape", "layer 'hidden': W"),
        ("activation", "unknown activation"),
        ("decode", "decode 'mean_clip' does not fit"),
        ("output", "output size 33 does not fit"),
        ("mode", "invalid module_ids"),
        ("no_mode", "missing or invalid mode"),
        ("transform", "invalid obs_transform"),
        ("module_ids", "invalid module_ids"),
        ("no_layers", "malformed export"),
    ],
)
def test_metadata_errors(tmp_path: Path, edit: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_exported(_broken(tmp_path, edit))


def test_missing_or_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a policy export"):
        load_exported(tmp_path)
    folder = _handmade(tmp_path / "x")
    (folder / "weights.npz").write_text("garbage")
    with pytest.raises(ConfigError, match="malformed export"):
        load_exported(folder)
    (folder / "policy.json").write_text("{not json")
    with pytest.raises(ConfigError, match="is not a policy export"):
        load_exported(folder)


def test_pretrained_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert export.PRETRAINED_DIR == Path(marl_vvc.__file__).resolve().parent / "pretrained"
    monkeypatch.setattr(export, "PRETRAINED_DIR", tmp_path / "none-yet")
    with pytest.raises(ConfigError, match="shipped: none"):
        pretrained_path("13Bus")
    monkeypatch.setattr(export, "PRETRAINED_DIR", tmp_path)
    _handmade(tmp_path / "13Bus")
    (tmp_path / "34Bus").mkdir()  # no policy.json: not shipped
    assert pretrained_path("13Bus") == tmp_path / "13Bus"
    for system in ("34Bus", "../13Bus", ""):
        with pytest.raises(ConfigError, match=r"shipped: 13Bus$"):
            pretrained_path(system)


def test_loaded_export_runs_without_torch(tmp_path: Path) -> None:
    folder = _handmade(tmp_path / "x")
    code = f"""
        import json, sys
        from marl_vvc.tools.evaluation import evaluate
        from marl_vvc.tools.export import load_exported
        p = load_exported({str(folder)!r})
        row = evaluate(p.policy_fn, p.system, [300], p.mode, **p.env_kwargs)
        heavy = [m for m in ("torch", "ray", "stable_baselines3") if m in sys.modules]
        print(json.dumps({{"heavy": heavy, "steps": row["episodes"][0]["steps"]}}))
    """
    proc = run_python(code, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"heavy": [], "steps": 24}
