"""Rows and text tables of run and eval: parseable, with penalty and diverged columns."""

from __future__ import annotations

import json

import numpy as np
import pytest

from marl_vvc.tools.tables import format_episodes, format_table, json_lines, plural, summarise

ROWS = [
    {"episode": 0, "profile": 300, "steps": 24, "return": -10.0, "loss": -3.0, "voltage": -7.0,
     "control": 0.0, "penalty": 0.0, "converged": True, "diverged": 0, "violation_rate": 0.5},
    {"episode": 1, "profile": 301, "steps": 3, "return": -105.0, "loss": -1.0, "voltage": -2.0,
     "control": -2.0, "penalty": -100.0, "converged": False, "diverged": 1, "violation_rate": 0.25},
]  # fmt: skip


def test_policy_row_means_and_counts_diverged_episodes() -> None:
    row = summarise("hold", "parallel", ROWS)
    assert row["n"] == 2 and row["diverged"] == 1 and row["converged"] is False
    assert row["return"] == -57.5 and row["penalty"] == -50.0
    assert row["return_std"] == pytest.approx(np.std([-10.0, -105.0]))
    assert row["violation_rate"] == pytest.approx(0.375)
    assert [e["profile"] for e in row["episodes"]] == [300, 301]


def test_policy_table_is_parseable() -> None:
    text = format_table({"hold": summarise("hold", "parallel", ROWS)}, title="13Bus")
    lines = text.splitlines()
    assert lines[0] == "13Bus"
    head = lines[1].split()
    cells = dict(zip(head, lines[3].split(), strict=True))
    assert cells["policy"] == "hold" and float(cells["return"]) == -57.5
    assert float(cells["penalty"]) == -50.0 and float(cells["control"]) == -1.0
    assert int(cells["diverged"]) == 1 and int(cells["episodes"]) == 2


def test_episode_table_and_json_lines() -> None:
    lines = format_episodes(ROWS).splitlines()
    assert lines[-1] == "mean return -57.500 over 2 episodes (1 diverged)"
    assert lines[3].split()[-1] == "yes" and lines[2].split()[-1] == "no"
    back = [json.loads(line) for line in json_lines(ROWS).splitlines()]
    assert back == ROWS
    numpy_row = {"x": np.float64(1.5), "y": np.int64(2), "z": np.arange(2)}
    assert json.loads(json_lines([numpy_row])) == {"x": 1.5, "y": 2, "z": [0, 1]}


def test_plural() -> None:
    assert [plural(1, "agent"), plural(2, "agent"), plural(3, "battery")] == [
        "1 agent",
        "2 agents",
        "3 batteries",
    ]
