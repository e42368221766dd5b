"""Rendering conformance and the PNG episode report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import render_test

import marl_vvc
from marl_vvc.tools.cli import main
from marl_vvc.tools.recording import record_episode


def test_pettingzoo_render_test() -> None:
    render_test(lambda render_mode=None: marl_vvc.env("13Bus", render_mode=render_mode))


def test_rgb_array_shows_voltages_and_changes_with_state() -> None:
    env = marl_vvc.parallel_env("13Bus", render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    assert first.dtype == np.uint8 and first.shape[2] == 3
    env.step({a: 0 if a.startswith("regulator") else 1 for a in env.agents})  # taps to 0.9
    second = env.render()
    assert first.shape == second.shape and np.abs(first.astype(int) - second).sum() > 0
    # the 8500-style fallback layout works for a circuit without coordinates
    from marl_vvc.envs.layout import tree_layout

    xy = tree_layout(("a", "b", "c", "d"), [("a", "b"), ("b", "c"), ("b", "d")])
    assert xy[0].tolist() == [0, 0] and xy[1][0] == 1 and xy[2][0] == xy[3][0] == 2


def test_record_episode_is_consistent() -> None:
    data = record_episode("13Bus", policy="random", profile=2)
    assert data["agent_rewards"].shape == (24, 6) and data["profile"] == 2
    np.testing.assert_allclose(data["agent_rewards"].sum(axis=1), data["reward"], atol=1e-9)
    parts = data["loss"] + data["voltage"] + data["control"] + data["penalty"]
    np.testing.assert_allclose(parts, data["reward"], atol=1e-12)
    assert data["vq"].shape == (24, 5) and (np.diff(data["vq"], axis=1) >= 0).all()
    assert data["band"] == (0.95, 1.05)
    assert ((0 <= data["violating"]) & (data["violating"] <= 1)).all()
    for agent in data["agents"]:  # reset position, then one applied action per step
        assert len(data["applied"][agent]) == len(data["values"][agent]) == 25
    dss = record_episode("13Bus", policy="dss", profile=2)
    assert dss["reward"].sum() > data["reward"].sum()


def test_plot_command_writes_pngs(tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "plot",
                "--env",
                "13Bus",
                "--policy",
                "hold",
                "--profile",
                "1",
                "--out",
                str(tmp_path),
                "--quiet",
            ]
        )
        == 0
    )
    written = [Path(p) for p in capsys.readouterr().out.split()]
    names = {p.name for p in written}
    assert names == {
        "voltage_envelope.png",
        "device_actions.png",
        "reward_components.png",
        "agent_rewards.png",
        "influence.png",
    }
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


@pytest.mark.parametrize("mode", [None, "rgb_array"])
def test_single_env_render_modes(mode) -> None:
    env = marl_vvc.make_env("13Bus", render_mode=mode)
    env.reset(seed=0)
    out = env.render()
    assert (out is None) if mode is None else (out.ndim == 3)
