"""Rows and text tables of episodes and policies (``marl-vvc run`` and ``eval``).

An *episode row* is :meth:`marl_vvc.tools.rollout.Episode.summary` (plus ``episode``); a
*policy row* (:func:`summarise`) holds the means over its episodes, the number of diverged
episodes and the episode rows. ``--json`` prints each row as one JSON object per line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

#: Summed over an episode, averaged over episodes; ``return`` is the sum of the four parts.
COMPONENTS = ("return", "loss", "voltage", "control", "penalty")
_WIDTHS = (10, 9, 9, 9, 9)
#: Episode numbers averaged into the policy row when every episode has them.
OPTIONAL = (
    "controllable_rate",
    "tap_steps",
    "cap_switches",
    "loss_kw",
    "battery_kwh",
    "loss_reduction",
    "discounted_return",
)


def summarise(name: str, mode: str, episodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Policy row: means of the episode rows, ``diverged`` episodes and the rows themselves.

    Returns:
        ``{"policy", "mode", "n", "return", "loss", "voltage", "control", "penalty",
        "return_std", "violation_rate", "converged", "diverged", "episodes"}`` and those of
        :data:`OPTIONAL` every episode row has.
    """
    out: dict[str, Any] = {"policy": name, "mode": mode, "n": len(episodes)}
    for key in (*COMPONENTS, "violation_rate"):
        out[key] = float(np.mean([e[key] for e in episodes])) if episodes else float("nan")
    for key in OPTIONAL:
        if episodes and all(key in e for e in episodes):
            out[key] = float(np.mean([e[key] for e in episodes]))
    out["return_std"] = float(np.std([e["return"] for e in episodes])) if episodes else 0.0
    out["converged"] = all(e["converged"] for e in episodes)
    out["diverged"] = sum(int(e["diverged"]) for e in episodes)
    out["episodes"] = [dict(e) for e in episodes]
    return out


def _cells(row: Mapping[str, Any]) -> str:
    return " ".join(f"{row[k]:>{w}.3f}" for k, w in zip(COMPONENTS, _WIDTHS, strict=True))


def _head(first: str, width: int, tail: str) -> list[str]:
    names = " ".join(f"{k:>{w}}" for k, w in zip(COMPONENTS, _WIDTHS, strict=True))
    head = f"{first:<{width}} {names} {tail}"
    return [head, "-" * len(head)]


def format_table(rows: Mapping[str, Mapping[str, Any]], *, title: str | None = None) -> str:
    """Text table of policy rows, one line per policy.

    Each line reads ``<policy> <return> <loss> <voltage> <control> <penalty> <viol%>
    <diverged> <episodes>`` (means over episodes; ``diverged`` counts episodes), so scripts
    can parse it with ``line.split()``.
    """
    lines = [title] if title else []
    lines += _head("policy", 12, f"{'viol%':>6} {'diverged':>8} {'episodes':>8}")
    for name, row in rows.items():
        rate = 100.0 * row.get("violation_rate", 0.0)
        lines.append(
            f"{name:<12} {_cells(row)} {rate:>6.1f} {row.get('diverged', 0):>8} {row['n']:>8}"
        )
    return "\n".join(lines)


def format_episodes(rows: Iterable[Mapping[str, Any]], *, title: str | None = None) -> str:
    """Text table of episode rows plus a line with the mean return and diverged episodes."""
    rows = list(rows)
    lines = [title] if title else []
    lines += _head(f"{'episode':>7} {'profile':>7} {'steps':>5}", 21, f"{'viol%':>6} diverged")
    for r in rows:
        profile = "-" if r["profile"] is None else r["profile"]
        lead = f"{r['episode']:>7} {profile!s:>7} {r['steps']:>5}"
        rate = 100.0 * r["violation_rate"]
        lines.append(f"{lead:<21} {_cells(r)} {rate:>6.1f} {'yes' if r['diverged'] else 'no':>8}")
    mean = float(np.mean([r["return"] for r in rows])) if rows else float("nan")
    diverged = sum(int(r["diverged"]) for r in rows)
    lines.append(
        f"mean return {mean:.3f} over {plural(len(rows), 'episode')} ({diverged} diverged)"
    )
    return "\n".join(lines)


def json_lines(rows: Iterable[Mapping[str, Any]]) -> str:
    """One JSON object per row and line (numpy numbers become plain numbers)."""
    return "\n".join(json.dumps(dict(r), default=_plain) for r in rows)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-able: {value!r}")


def plural(n: int, noun: str) -> str:
    """``"1 agent"``, ``"2 agents"``, ``"3 batteries"``."""
    if n == 1:
        return f"{n} {noun}"
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return f"{n} {noun[:-1]}ies"
    return f"{n} {noun}s"
