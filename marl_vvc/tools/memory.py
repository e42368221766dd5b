"""Resident memory per env instance and across many resets (``marl-vvc bench``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from marl_vvc.tools.baselines import hold_policy


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux ``/proc``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:  # pragma: no cover - not Linux
        pass
    return float("nan")


def memory_per_instance(make: Callable[[], Any], n: int = 4) -> float:
    """Resident MB added per env instance (built and reset) of ``make()``."""
    warm = make()
    warm.reset(seed=0)
    before = rss_mb()
    envs = [make() for _ in range(n)]
    for e in envs:
        e.reset(seed=0)
    per = (rss_mb() - before) / n
    for e in (warm, *envs):
        e.close()
    return per


def memory_over_resets(
    env: Any, resets: int, options: Mapping[str, Any] | None = None
) -> dict[str, float]:
    """Resident memory before and after ``resets`` resets, each followed by one hold step."""

    def cycle(i: int) -> None:
        obs, _ = env.reset(seed=i, options=options)
        env.step(hold_policy(obs, env))

    for i in range(200):  # warm up allocator and caches
        cycle(i)
    start = rss_mb()
    t0 = time.perf_counter()
    for i in range(resets):
        cycle(i)
    elapsed = time.perf_counter() - t0
    end = rss_mb()
    return {
        "resets": resets,
        "rss_start_mb": start,
        "rss_end_mb": end,
        "growth_mb": end - start,
        "seconds": elapsed,
    }
