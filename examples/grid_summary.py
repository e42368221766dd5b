"""Mean ± std over seeds of the learning grid's rows (``docs/benchmark/results.json``).

Pure functions over the rows :mod:`benchmark` writes (no Ray): one summary row per system ×
algorithm × reward mode with the held-out return and its parts, the violation rate and the
greedy training-day curve at fixed budgets, each as mean and standard deviation over the
cell's seeds (population std, ``numpy.std``). ``benchmark.py`` writes them as
``summary.csv``/``summary.md`` and draws ``curves_<system>.png`` from them (the seeds' mean
with a band from their lowest to their highest return).

Print the summary table of a results file (``--trials``: one line per trial)::

    python examples/grid_summary.py docs/benchmark/results.json [--trials]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Env-step budgets at which the training-day curve is summarised.
CURVE_POINTS = (48_000, 144_000, 240_000)
SYSTEM_ORDER = {"13Bus": 0, "34Bus": 1, "123Bus": 2}
HELDOUT = ("return", "loss", "voltage", "control", "violation_rate")


def cell_key(row: dict[str, Any]) -> tuple[str, str, str]:
    """``(system, algo, reward_mode)`` of a trial row."""
    return row["system"], row["algo"], row["reward_mode"]


def cells(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Trial rows grouped by cell, cells in system, algorithm, mode order; seeds sorted."""
    out: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    order = sorted(rows, key=lambda r: (SYSTEM_ORDER.get(r["system"], 99), *cell_key(r)[1:]))
    for row in order:
        out.setdefault(cell_key(row), []).append(row)
    for group in out.values():
        group.sort(key=lambda r: r["seed"])
    return out


def mean_curve(group: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, mean, (lowest, highest))`` over the env-step points every seed reached."""
    per_seed = [{int(p[0]): float(p[2]) for p in r.get("curve") or ()} for r in group]
    common = sorted(set.intersection(*(set(c) for c in per_seed))) if per_seed else []
    values = np.array([[c[s] for s in common] for c in per_seed]).reshape(len(per_seed), -1)
    band = np.stack((values.min(axis=0), values.max(axis=0))) if common else np.empty((2, 0))
    return np.array(common), values.mean(axis=0), band


def _curve_at(row: dict[str, Any], steps: int) -> float | None:
    points = {int(p[0]): float(p[2]) for p in row.get("curve") or ()}
    return points.get(steps)


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per cell: seeds, env steps, held-out metrics and curve points (mean, std)."""
    out = []
    for (system, algo, mode), group in cells(rows).items():
        row: dict[str, Any] = {"system": system, "algo": algo, "reward_mode": mode}
        row["seeds"] = [r["seed"] for r in group]
        row["env_steps_min"] = min(r["env_steps"] for r in group)
        for name in HELDOUT:
            values = np.array([r[f"heldout_{name}"] for r in group], dtype=float)
            row[f"heldout_{name}_mean"] = float(values.mean())
            row[f"heldout_{name}_std"] = float(values.std())
        for steps in CURVE_POINTS:
            points = [_curve_at(r, steps) for r in group]
            reached = np.array([p for p in points if p is not None], dtype=float)
            full = len(reached) == len(group)
            row[f"curve_{steps}_mean"] = float(reached.mean()) if full else None
            row[f"curve_{steps}_std"] = float(reached.std()) if full else None
        out.append(row)
    return out


def _pm(mean: float | None, std: float | None, digits: int = 2) -> str:
    if mean is None or std is None:
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown(summary: Sequence[dict[str, Any]]) -> str:
    """The summary as a Markdown table (one line per cell)."""
    points = " / ".join(f"{s // 1000}k" for s in CURVE_POINTS)
    lines = [
        f"| system | algorithm | reward mode | seeds | training days at {points} steps "
        "| held-out return | viol % |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        curve = " / ".join(_pm(r[f"curve_{s}_mean"], r[f"curve_{s}_std"]) for s in CURVE_POINTS)
        held = _pm(r["heldout_return_mean"], r["heldout_return_std"], 3)
        viol = _pm(100 * r["heldout_violation_rate_mean"], 100 * r["heldout_violation_rate_std"], 1)
        seeds = ",".join(str(s) for s in r["seeds"])
        lines.append(
            f"| {r['system']} | {r['algo'].upper()} | {r['reward_mode']} | {seeds} | {curve} "
            f"| {held} | {viol} |"
        )
    return "\n".join(lines) + "\n"


def trials_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """One line per trial: curve at every 48k steps, held-out return and its parts."""
    points = (48_000, 96_000, 144_000, 240_000)
    lines = [
        "| system | algorithm | reward mode | seed | env steps | training days at "
        + " / ".join(f"{s // 1000}k" for s in points)
        + " steps | held-out return | loss | voltage | control | viol % | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group in cells(rows).values():
        for r in group:
            curve = " / ".join(
                "–" if (p := _curve_at(r, s)) is None else f"{p:.2f}" for s in points
            )
            parts = " | ".join(f"{r[f'heldout_{k}']:.3f}" for k in HELDOUT[:4])
            lines.append(
                f"| {r['system']} | {r['algo'].upper()} | {r['reward_mode']} | {r['seed']} "
                f"| {r['env_steps']:,} | {curve} | {parts} "
                f"| {100 * r['heldout_violation_rate']:.1f} | {round(r['seconds'] / 60)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> None:
    """``grid_summary.py [results.json] [--trials]``: print the summary (or per-trial) table."""
    import json

    files = [a for a in argv if not a.startswith("--")]
    rows = json.loads(Path(files[0] if files else "docs/benchmark/results.json").read_text())
    print(trials_markdown(rows) if "--trials" in argv else markdown(summarise(rows)), end="")


if __name__ == "__main__":
    main(sys.argv[1:])
