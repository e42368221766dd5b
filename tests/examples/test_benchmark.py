"""The Ray Tune benchmark grid end to end on a tiny budget (IPPO and MAPPO, one seed).

Runs as a subprocess with its own HOME/TMPDIR/Ray folders (see ``test_training.py`` for why
this process never imports ray).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from .test_training import EXAMPLES, _require, _run, sandbox  # noqa: F401  (fixture)

TRAIN = ["--train-batch", "480", "--minibatch", "120", "--epochs", "1", "--envs", "2"]


@pytest.mark.slow
def test_benchmark_grid_writes_rows_curves_and_checkpoints(
    sandbox: tuple[Path, dict[str, str]],  # noqa: F811
) -> None:
    _require("ray", "torch")
    tmp, env = sandbox
    out, runs = tmp / "out", tmp / "runs"
    args = [str(EXAMPLES / "benchmark.py"), "--systems", "13Bus", "--algos", "ippo,mappo"]
    args += ["--reward-modes", "split", "--seeds", "0", "--step-budget", "900", *TRAIN]
    args += ["--eval-profiles", "300:302", "--curve-profiles", "0:2", "--curve-every", "1"]
    args += ["--out", str(out), "--runs", str(runs)]
    text = _run(args, cwd=tmp, env=env, timeout=900)
    results = json.loads((out / "results.json").read_text())
    rows = {(r["algo"], r["reward_mode"]): r for r in results}
    assert set(rows) == {("ippo", "split"), ("mappo", "split")}, text[-2000:]
    for row in rows.values():
        assert row["env_steps"] >= 900 and row["iteration"] == 2  # 480 steps per iteration
        assert [p[0] for p in row["curve"]] == [480, 960]  # one greedy point per iteration
        assert all(math.isfinite(p[2]) for p in row["curve"])
        assert row["heldout_return"] == pytest.approx(
            sum(row[f"heldout_{k}"] for k in ("loss", "voltage", "control", "penalty")), abs=1e-6
        )
        ckpt = Path(row["checkpoint_path"])
        assert json.loads((ckpt / "marl_vvc_run.json").read_text())["marl_algo"] == row["algo"]
        assert row["command"].startswith("python examples/benchmark.py --systems 13Bus")
    assert (out / "results.csv").read_text().count("\n") == 3  # header + two trials
    summary = (out / "summary.md").read_text().splitlines()
    assert [line.split(" | ")[1:3] for line in summary[2:]] == [
        ["IPPO", "split"],
        ["MAPPO", "split"],
    ]
    assert (out / "summary.csv").read_text().count("\n") == 3  # header + two cells
    assert (out / "curves_13Bus.png").stat().st_size > 1000
