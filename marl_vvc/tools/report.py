"""Text tables of a ``marl-vvc bench`` report."""

from __future__ import annotations

from typing import Any


def _num(value: float | None, width: int, digits: int, suffix: str = "") -> str:
    """``value`` right-aligned, or a dash when there is none (no single-agent env)."""
    if value is None or value != value:  # None or NaN
        return f"{'—':>{width + len(suffix)}}"
    return f"{value:>{width}.{digits}f}{suffix}"


def _speed_lines(report: dict[str, Any]) -> list[str]:
    width = max([10, *(len(row["system"]) for row in report["systems"])])
    lines = [
        "env step vs bare OpenDSS work of the same step (medians; ratio = env / bare)",
        f"{'system':<{width}} {'actions':<7} {'bare µs':>9} {'single µs':>10} {'ratio':>6} "
        f"{'parallel µs':>12} {'ratio':>6} {'steps/s':>9}",
    ]
    for row in report["systems"]:
        for kind in ("random", "hold"):
            r = row[kind]
            rate = r["single_steps_per_s"] or r["parallel_steps_per_s"]
            lines.append(
                f"{row['system']:<{width}} {kind:<7} {_num(r['bare_us'], 9, 1)} "
                f"{_num(r['single_us'], 10, 1)} {_num(r['single_ratio'], 6, 2)} "
                f"{_num(r['parallel_us'], 12, 1)} {_num(r['parallel_ratio'], 6, 2)} "
                f"{_num(rate, 9, 0)}"
            )
    lines += [
        "",
        f"{'system':<{width}} {'reset ms':>9} {'MB/env':>7} {'2 envs interleaved':>19} "
        f"{'2 threads speedup':>18}",
    ]
    for row in report["systems"]:
        two = row["two_envs"]
        lines.append(
            f"{row['system']:<{width}} {_num(row['reset_ms'], 9, 2)} "
            f"{_num(row.get('memory_per_env_mb'), 7, 1)} "
            f"{_num(two['interleaved_ratio'], 18, 2, 'x')} "
            f"{_num(two['threads_speedup'], 17, 2, 'x')}"
        )
    return lines


def print_report(report: dict[str, Any]) -> None:
    """Print the benchmark as tables."""
    lines = _speed_lines(report) if report["systems"] else []
    anm = report.get("anm")
    if anm:
        line = f"\nANM6Easy: {anm['ours_us']:.0f} µs/step ({anm['ours_steps_per_s']:.0f} steps/s)"
        if "speedup" in anm:
            line += (
                f" vs Gym-ANM {anm['gym_anm_us'] / 1e3:.1f} ms/step: {anm['speedup']:.0f}x faster"
            )
        else:
            line += f"; Gym-ANM {anm['gym_anm']}"
        lines.append(line)
    mem = report.get("memory_over_resets")
    if mem:
        lines.append(
            f"\nmemory over {mem['resets']} resets ({mem['system']}): {mem['rss_start_mb']:.1f} → "
            f"{mem['rss_end_mb']:.1f} MB ({mem['growth_mb']:+.1f} MB) in {mem['seconds']:.1f} s"
        )
    lines += [f"skipped {system}: {why}" for system, why in report["skipped"].items()]
    print("\n".join(lines))
