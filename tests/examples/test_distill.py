"""DAgger distillation of the oracle end to end on a tiny budget (subprocess, see
``test_training.py``): checkpoint, torch-free export, and the export acting like the modules."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from marl_vvc.tools.evaluation import evaluate
from marl_vvc.tools.export import load_exported

from .test_training import EXAMPLES, _require, _run, sandbox  # noqa: F401  (fixture)


@pytest.mark.slow
def test_distillation_writes_a_checkpoint_and_an_export_that_agree(
    sandbox: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    _require("ray", "torch")
    tmp, env = sandbox
    out = tmp / "run"
    args = [str(EXAMPLES / "distill_oracle.py"), "--days", "2", "--rounds", "1", "--epochs", "2"]
    args += ["--violation-weight", "0.05", "--margin", "0.005", "--compound"]
    _run([*args, "--eval-profiles", "300:302", "--out", str(out)], cwd=tmp, env=env)
    result = json.loads((out / "evaluation.json").read_text())
    assert [r["round"] for r in result["rounds"]] == [0, 1]
    assert result["rounds"][1]["samples"] == 2 * result["rounds"][0]["samples"]  # pooled
    assert all(math.isfinite(r["acting_return"]) for r in result["rounds"])
    assert result["provenance"]["command"].startswith("python examples/distill_oracle.py")
    teacher = result["provenance"]["teacher"]
    assert teacher["margin"] == 0.005 and teacher["compound"] is True
    distilled = result["evaluation"]["distilled"]
    exported = load_exported(out / "export")
    assert exported.system == "13Bus" and exported.mode == "parallel"
    again = evaluate(exported.policy_fn, "13Bus", [300, 301], "parallel")
    assert again["return"] == pytest.approx(distilled["return"], abs=1e-9)
    assert exported.metadata["provenance"]["method"].startswith("DAgger")
    # the checkpoint is an ordinary RLlib one: the same greedy actions through torch (in a
    # subprocess: this process never imports ray)
    code = (
        "from marl_vvc.tools.evaluation import evaluate, load_policy\n"
        f"p = load_policy({str(out / 'checkpoint')!r}, algo='rllib')\n"
        "print(repr(evaluate(p.policy_fn, '13Bus', [300, 301], 'parallel')['return']))\n"
    )
    via_torch = float(_run(["-c", code], cwd=tmp, env=env).strip().splitlines()[-1])
    assert via_torch == pytest.approx(again["return"], abs=1e-9)


@pytest.mark.slow
def test_distilling_gym_anm_mpc_fits_box_actions(
    sandbox: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    _require("ray", "torch", "cvxpy", "gym_anm")
    tmp, env = sandbox
    out = tmp / "run"
    args = [str(EXAMPLES / "distill_oracle.py"), "--env", "ANM6Easy", "--teacher", "mpc_perfect"]
    args += ["--days", "2", "--steps", "6", "--rounds", "1", "--epochs", "3"]
    args += ["--eval-episodes", "1", "--eval-steps", "5", "--eval-baselines", "", "--out", str(out)]
    _run(args, cwd=tmp, env=env)
    result = json.loads((out / "evaluation.json").read_text())
    assert result["rounds"][1]["samples"] == 2 * result["rounds"][0]["samples"] == 2 * 2 * 6 * 3
    assert all(score <= 0.0 for score in result["rounds"][1]["accuracy"].values())  # −MSE
    assert result["provenance"]["teacher"] == {"name": "mpc_perfect"}
    row = result["evaluation"]["distilled"]
    assert row["n"] == 1 and math.isfinite(row["discounted_return"])
    exported = load_exported(out / "export")
    decodes = {m["decode"] for m in exported.metadata["modules"].values()}
    assert decodes == {"mean_clip"}  # box actions: the Gaussian's mean, clipped
