"""The masked DQN example on ``123Bus_capswitch`` (examples/train_capswitch_dqn.py), briefly.

The script and the policy checks run in fresh interpreters (:func:`conftest.run_python`):
a training run of a few seconds must write finite evaluation numbers and an export, and the
greedy policy must respect the action masks on real env steps (a masked toggle would raise
``InvalidActionError``). Nothing here trains to a score.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import run_python

pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "train_capswitch_dqn.py"
SMOKE = [
    "--time-budget=3",
    "--warmup=64",
    "--batch=32",
    "--val-episodes=4",
    "--val-every=1",
    "--log-every=1",
    "--eval-profiles=300:302",
    "--check-profiles=300:302",
]
IMPORT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("train_capswitch_dqn", sys.argv[1])
dqn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dqn)
"""


def _run(code: str, *args: str) -> str:
    proc = run_python(IMPORT + code, str(SCRIPT), *args)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("capswitch_dqn") / "run"
    stdout = _run("dqn.main(sys.argv[2:])\n", *SMOKE, f"--out={out}")
    return out, stdout


@pytest.mark.slow
def test_smoke_run_writes_finite_evaluation(run: tuple[Path, str]) -> None:
    out, stdout = run
    result = json.loads((out / "evaluation.json").read_text())
    rows = result["rows"]
    assert list(rows) == ["dqn", "optimum", "hold", "random"]
    for name, row in rows.items():
        assert row["n"] == 2 and [e["profile"] for e in row["episodes"]] == [300, 301], name
        for key in ("return", "loss_reduction", "loss", "voltage", "control"):
            assert math.isfinite(row[key]), (name, key)
    assert rows["hold"]["cap_switches"] == 0.0
    assert rows["optimum"]["loss_reduction"] > 0  # the DQN/optimum ratio is defined
    assert all(math.isfinite(v) for v in result["ratio_to_optimum"].values())
    training = result["training"]
    assert training["env_steps"] > 0 and training["episodes"] > 0 and training["updates"] > 0
    assert "DQN / optimum: loss reduction" in stdout and "validation" in stdout
    assert (out / "qnet.pt").is_file()


@pytest.mark.slow
def test_export_is_written_and_reproduces_the_torch_actions(run: tuple[Path, str]) -> None:
    out, _ = run
    meta = json.loads((out / "export" / "policy.json").read_text())
    assert meta["format"] == "marl_vvc-policy" and meta["mode"] == "parallel"
    assert meta["system"] == "123Bus_capswitch" and meta["mapping"] == "agent"
    agents = ["capacitor_c83", "capacitor_c88a", "capacitor_c90b", "capacitor_c92c"]
    assert meta["module_ids"] == agents
    with np.load(out / "export" / "weights.npz") as npz:
        for mid in agents:
            spec = meta["modules"][mid]
            assert spec["decode"] == "argmax" and spec["action_mask_key"] == "action_mask"
            size = spec["obs_dim"]
            assert size == 12
            for layer in spec["layers"]:
                w, b = npz[f"{mid}/{layer['name']}/W"], npz[f"{mid}/{layer['name']}/b"]
                assert w.shape == (layer["out"], size) and b.shape == (layer["out"],)
                assert np.isfinite(w).all() and np.isfinite(b).all()
                size = layer["out"]
            assert size == 2
    check = json.loads((out / "evaluation.json").read_text())["export_check"]
    assert check["mismatches"] == 0 and check["observations"] > 0
    assert check["mode"] in ("masked", "unmasked", "unmasked-per-module")


# The trained network's greedy policy and a rigged one (Q toggle >> Q keep everywhere) on real
# steps: after agent 0 toggled alone, its mask is [1, 0], the rigged policy must keep it and
# toggle the others; epsilon-greedy exploration at eps = 1 must never pick a masked toggle.
MASKS = """
import numpy as np, torch
import marl_vvc
qnet = dqn.load_qnet(sys.argv[2])
env = marl_vvc.parallel_env("123Bus_capswitch")
steps = masked = 0
for k in (300, 301, 302):
    obs, _ = env.reset(seed=k, options={"profile": k})
    while env.agents:
        act = dqn.greedy_policy(qnet)(obs, env)
        for agent, o in obs.items():
            if o["action_mask"][1] == 0:
                masked += 1
                assert act[agent] == 0, (agent, o, act)
        obs = env.step(act)[0]
        steps += 1
with torch.no_grad():
    for p in qnet.parameters():
        p.zero_()
    qnet.mlp[-1].bias.copy_(torch.tensor([0.0, 1.0]))
first = env.possible_agents[0]
obs, _ = env.reset(seed=0, options={"profile": 300})
obs = env.step({a: int(a == first) for a in env.agents})[0]
assert obs[first]["action_mask"].tolist() == [1, 0]
act = dqn.greedy_policy(qnet)(obs, env)
assert act == {a: int(a != first) for a in env.possible_agents}, act
rng = np.random.default_rng(0)
for _ in range(200):
    actions, _, m = dqn.explore(qnet, obs, list(obs), 1.0, rng)
    assert not (actions[m[:, 1] == 0]).any()
env.step(act)  # a real step with the masked greedy actions
print(json.dumps({"steps": steps, "masked": masked, "end": env.agents == []}))
"""


@pytest.mark.slow
def test_greedy_actions_respect_the_masks(run: tuple[Path, str]) -> None:
    out, _ = run
    stdout = _run(MASKS, str(out / "qnet.pt"))
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["steps"] >= 3 and report["end"]
