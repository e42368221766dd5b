"""Plots that stay readable from 13 to 8,500 nodes: panels by kind, aggregates, legends outside
the axes, a log-scale influence map."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm

from marl_vvc.tools.plots import (
    MAX_BARS,
    MAX_LINES,
    agent_reward_figure,
    device_figure,
    device_groups,
    influence_figure,
)
from marl_vvc.tools.recording import record_episode


@pytest.fixture(scope="module")
def bus123() -> dict:
    return record_episode("123Bus", policy="random", profile=5, max_steps=6)


def _legend_outside(ax) -> bool:
    legend = ax.get_legend()
    fig = ax.figure
    canvas = FigureCanvasAgg(fig)  # a canvas of the test's own; no global backend
    canvas.draw()  # lay out (constrained layout) before measuring
    renderer = canvas.get_renderer()
    return legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_device_panels_group_by_kind_and_aggregate_many(bus123: dict) -> None:
    groups = device_groups(bus123)
    assert {k: len(v) for k, v in groups.items()} == {"capacitor": 4, "regulator": 7, "battery": 4}
    fig = device_figure(bus123)
    caps, regs, bats = fig.axes
    assert len(caps.get_lines()) == len(bats.get_lines()) == 4  # few: one line each, labelled
    assert caps.get_legend().get_texts()[0].get_text() == "capacitor_c83"
    assert len(groups["regulator"]) > MAX_LINES  # many: aggregated under one legend entry
    assert regs.get_legend().get_title().get_text() == "7 regulators"
    assert [t.get_text() for t in regs.get_legend().get_texts()] == ["min–max", "median"]
    median = regs.get_lines()[-1].get_ydata()
    taps = np.column_stack([bus123["values"][a] for a in groups["regulator"]])
    np.testing.assert_array_equal(median, np.median(taps, axis=1))
    for ax in fig.axes:
        assert _legend_outside(ax)


def test_storage_only_circuits_draw_no_empty_panels() -> None:
    data = record_episode("ANM6Easy", policy="hold", max_steps=4)
    assert list(device_groups(data)) == ["generator", "storage"]
    fig = device_figure(data)
    assert [ax.get_ylabel().split()[0] for ax in fig.axes] == ["generator", "storage"]


def test_agent_rewards_by_kind_and_the_largest_agents(bus123: dict) -> None:
    fig = agent_reward_figure(bus123)
    top, low = fig.axes
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert labels == ["global reward", "4 capacitors", "7 regulators", "4 batteries"]
    assert _legend_outside(top)
    totals = bus123["agent_rewards"].sum(axis=0)
    heights = [p.get_height() for p in low.patches]
    assert len(heights) == min(len(totals), MAX_BARS + 1)
    assert sum(heights) == pytest.approx(totals.sum())


def test_many_agents_get_the_largest_bars_and_one_for_the_rest() -> None:
    n, steps = 40, 3
    agents = [f"battery_b{i}" for i in range(n)]
    shares = -np.tile(np.arange(1, n + 1, dtype=float), (steps, 1))
    data = {
        "agents": agents,
        "kinds": ["battery"] * n,
        "agent_rewards": shares,
        "reward": shares.sum(axis=1),
        "system": "x",
        "policy": "random",
        "profile": None,
    }
    low = agent_reward_figure(data).axes[1]
    labels = [t.get_text() for t in low.get_xticklabels()]
    assert len(labels) == MAX_BARS + 1 and labels[-1] == f"{n - MAX_BARS} others"
    assert labels[0] == f"battery_b{n - 1}"  # the most negative first
    assert low.patches[-1].get_height() == pytest.approx(shares[:, : n - MAX_BARS].sum())


def test_influence_map_uses_a_log_scale() -> None:
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.full(29, 0.1), size=2500).T  # 29 agents, 2,500 buses
    agents, buses = [f"a{i}" for i in range(29)], [f"b{j}" for j in range(2500)]
    fig = influence_figure(weights, agents, buses, "t")
    image = fig.axes[0].images[0]
    assert isinstance(image.norm, LogNorm) and image.norm.vmax == 1.0
    assert image.norm.vmin == pytest.approx(max(weights[weights > 0].min(), 1e-4))
    assert len(fig.axes[0].get_xticks()) <= 41


def test_many_generators_aggregate_from_the_first_step() -> None:
    n, steps = 8, 5
    agents = [f"generator_pv{i}" for i in range(n)]
    values = {a: np.r_[np.nan, np.linspace(0.0, 1.0 + i, steps)] for i, a in enumerate(agents)}
    data = {"agents": agents, "kinds": ["generator"] * n, "values": values}
    data |= {"system": "x", "policy": "hold", "profile": None}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no all-NaN slice at reset
        (ax,) = device_figure(data).axes
    median = ax.get_lines()[-1]
    assert median.get_xdata()[0] == 1 and len(median.get_xdata()) == steps
    assert ax.get_legend().get_title().get_text() == "8 generators"
