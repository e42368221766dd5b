"""docs/architecture.md's worked example runs as written: a new task on an unchanged core."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _run_doc() -> dict:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)
    return namespace


def test_the_example_steps_the_new_task(capsys: pytest.CaptureFixture[str]) -> None:
    ns = _run_doc()
    out = ns["outcome"]
    assert out.info["converged"] and out.t == 1 and not out.terminated
    # midnight: no sun, so P is projected to 0; Q is inside the capability and kept
    np.testing.assert_allclose(ns["gens"].pq[0], [0.0, -0.2], atol=1e-12)
    assert out.reward == pytest.approx(-(out.violation.sum() + 0.01 * 0.2))
    printed = capsys.readouterr().out.split()
    assert float(printed[0]) == pytest.approx(out.reward)


def test_the_reward_is_pure_and_q_helps() -> None:
    ns = _run_doc()
    reward = ns["flat_voltage_reward"]
    vmax, vmin = np.array([1.04, 1.0]), np.array([0.97, 0.99])
    a = reward(vmax, vmin, np.array([0.1]))
    b = reward(vmax, vmin, np.array([0.1]))
    assert a.terms == b.terms and vmax.tolist() == [1.04, 1.0]
    assert a.terms.reward == pytest.approx(-(0.04 + 0.01) - 0.001)
