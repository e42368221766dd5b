"""Bring-your-own on the reference feeders: from any working folder, read-only, two envs.

PowerGym's copies of the IEEE 13/34/123-bus and 8500-node feeders (``../shared/reference``)
are real third-party OpenDSS models with relative ``Redirect``s and bus-coordinate files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import REFERENCE, require
from pettingzoo.test import parallel_api_test

import marl_vvc

# The plain masters: the *_daily ones redirect a file PowerGym generates at run time.
MASTERS = [
    ("13Bus", "IEEE13Nodeckt.dss"),
    ("34Bus", "ieee34Mod1.dss"),
    ("123Bus", "IEEE123Master.dss"),
    ("8500-Node", "Master.dss"),
]


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(("folder", "master"), MASTERS, ids=[m[0] for m in MASTERS])
def test_reference_feeder_from_another_folder(
    folder: str, master: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = require(REFERENCE / folder / master)
    before = _digest(path.parent)
    monkeypatch.chdir(tmp_path)  # relative paths in the feeder must not need its folder
    first = marl_vvc.parallel_env(circuit=str(path), horizon=4)
    second = marl_vvc.parallel_env(circuit=str(path), horizon=4)  # two of one circuit
    assert first.possible_agents == second.possible_agents and first.possible_agents
    if folder != "8500-Node":  # the API test's 40 cycles on 8500 nodes take too long
        parallel_api_test(first, num_cycles=40)
    for env in (first, second):
        env.reset(seed=0)
        while env.agents:
            _, _, _, _, infos = env.step(env.hold_actions())
            assert all(info["converged"] for info in infos.values())
        env.close()
    assert os.getcwd() == str(tmp_path) and not any(tmp_path.iterdir())
    assert _digest(path.parent) == before  # nothing written next to the feeder
