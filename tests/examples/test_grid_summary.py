"""The learning grid's summary (mean ± std over seeds per cell), on hand-made rows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "examples" / "grid_summary.py"
_spec = importlib.util.spec_from_file_location("grid_summary", _PATH)
assert _spec is not None and _spec.loader is not None
gs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gs)


def _row(system: str, algo: str, mode: str, seed: int, ret: float, curve: list) -> dict:
    row = {"system": system, "algo": algo, "reward_mode": mode, "seed": seed}
    row.update({"env_steps": 254_400, "curve": curve, "heldout_return": ret})
    row.update({"heldout_loss": ret / 2, "heldout_voltage": ret / 4, "heldout_control": ret / 4})
    row["heldout_violation_rate"] = 0.01 * (seed + 1)
    return row


def _curve(values: list[float]) -> list[list[float]]:
    return [[48_000 * (i + 1), 10 * (i + 1), v] for i, v in enumerate(values)]


ROWS = [
    _row("34Bus", "ippo", "local", 0, -9.0, _curve([-12.0, -9.0, -8.0, -8.0, -8.0])),
    _row("13Bus", "ippo", "local", 2, -6.0, _curve([-5.5, -5.2, -5.0, -5.0, -5.0])),
    _row("13Bus", "ippo", "local", 0, -5.0, _curve([-5.0, -5.0, -4.0, -4.0, -4.5])),
    _row("13Bus", "ippo", "local", 1, -7.0, _curve([-6.0, -5.8, -5.6])),  # time-capped trial
]


def test_summary_means_and_stds_over_seeds_per_cell() -> None:
    summary = gs.summarise(ROWS)
    assert [(r["system"], r["algo"], r["reward_mode"]) for r in summary] == [
        ("13Bus", "ippo", "local"),
        ("34Bus", "ippo", "local"),
    ]  # systems in feeder-size order, not alphabetical
    cell = summary[0]
    assert cell["seeds"] == [0, 1, 2]
    assert cell["heldout_return_mean"] == pytest.approx(-6.0)
    assert cell["heldout_return_std"] == pytest.approx(np.std([-5.0, -7.0, -6.0]))
    assert cell["heldout_violation_rate_mean"] == pytest.approx(0.02)
    assert cell["curve_48000_mean"] == pytest.approx(np.mean([-5.0, -6.0, -5.5]))
    assert cell["curve_144000_std"] == pytest.approx(np.std([-4.0, -5.6, -5.0]))
    assert cell["curve_240000_mean"] is None  # seed 1 never got there: no partial mean
    assert summary[1]["heldout_return_std"] == 0.0


def test_mean_curve_keeps_the_points_every_seed_reached() -> None:
    group = gs.cells(ROWS)[("13Bus", "ippo", "local")]
    steps, mean, band = gs.mean_curve(group)
    assert steps.tolist() == [48_000, 96_000, 144_000]
    assert mean[1] == pytest.approx(np.mean([-5.0, -5.8, -5.2]))
    assert band[:, 2].tolist() == [-5.6, -4.0]  # lowest and highest seed


def test_markdown_has_one_line_per_cell_with_mean_and_std() -> None:
    lines = gs.markdown(gs.summarise(ROWS)).splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| 13Bus | IPPO | local | 0,1,2 | -5.50 ± 0.41 / -4.87 ± 0.66 / – ")
    assert "| -6.000 ± 0.816 | 2.0 ± 0.8 |" in lines[2]


def test_trials_table_has_one_line_per_trial_in_cell_order() -> None:
    for row in ROWS:
        row["seconds"] = 600.0
    lines = gs.trials_markdown(ROWS).splitlines()
    assert [line.split(" | ")[3] for line in lines[2:]] == ["0", "1", "2", "0"]  # 13Bus first
    assert lines[2].startswith(
        "| 13Bus | IPPO | local | 0 | 254,400 | -5.00 / -5.00 / -4.00 / -4.50 |"
    )
    assert lines[3].count("–") == 1  # the time-capped seed lacks its 240k point
    assert "| -5.000 | -2.500 | -1.250 | -1.250 | 1.0 | 10 |" in lines[2]
