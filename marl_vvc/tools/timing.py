"""Recording and replaying env steps for timing (``marl-vvc bench``), public env API only.

A *recording* runs the rollout loop once and keeps, per episode, the actions the policy gave
and the actions the devices applied (``info["applied"]``). Replays then time ``step`` on those
actions without the policy: the env that recorded replays what it was given, the parallel env
replays the applied actions (projection keeps them as they are, so the trajectory is the
same), and :class:`~marl_vvc.tools.bare_engine.BareEngine` replays their engine writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marl_vvc.tools.baselines import hold_policy, random_policy
from marl_vvc.tools.rollout import rollout


@dataclass(frozen=True)
class Recording:
    """Per episode, the actions given and the actions applied."""

    given: list[list[Any]]
    applied: list[list[Mapping[str, Any]]]

    @property
    def steps(self) -> int:
        """Steps over all episodes."""
        return sum(len(g) for g in self.given)


def record(
    env: Any, kind: str, steps: int, options: Mapping[str, Any] | None, seed: int = 1
) -> Recording:
    """Run ``random`` or ``hold`` actions for ``steps`` steps, episode after episode.

    Every episode is reset with ``seed=0`` and ``options``; an episode ends at its end, at a
    diverged power flow, or after ``env.horizon`` steps (endless envs).
    """
    policy = random_policy(seed) if kind == "random" else hold_policy
    given: list[list[Any]] = []
    applied: list[list[Mapping[str, Any]]] = []

    def keep(obs: Any, e: Any) -> Any:
        action = policy(obs, e)
        given[-1].append(action)
        return action

    while sum(map(len, given)) < steps:
        given.append([])
        budget = min(steps - sum(map(len, given)), env.horizon or steps)
        episode = rollout(env, keep, seed=0, options=options, max_steps=budget)
        applied.append([s.applied for s in episode.steps])
    return Recording(given, applied)


def time_episodes(
    reset: Callable[[], Any], step: Callable[[Any], Any], episodes: Sequence[Sequence[Any]]
) -> float:
    """Seconds per step over ``episodes`` (each starts with ``reset``, not timed)."""
    total, n = 0.0, 0
    for items in episodes:
        reset()
        t0 = time.perf_counter()
        for item in items:
            step(item)
        total += time.perf_counter() - t0
        n += len(items)
    return total / max(n, 1)


def replay(env: Any, episodes: Sequence[Sequence[Any]], options: Any) -> int:
    """Step ``env`` through recorded actions (reset with ``seed=0`` and ``options``)."""
    n = 0
    for items in episodes:
        env.reset(seed=0, options=options)
        for item in items:
            env.step(item)
            n += 1
    return n


def interleaved(envs: Sequence[Any], episodes: Sequence[Sequence[Any]], options: Any) -> float:
    """Seconds per step of several envs stepped in turn in one thread."""
    t0, n = time.perf_counter(), 0
    for items in episodes:
        for env in envs:
            env.reset(seed=0, options=options)
        for item in items:
            for env in envs:
                env.step(item)
                n += 1
    return (time.perf_counter() - t0) / max(n, 1)


def threads_child() -> None:
    """Child process of :func:`threads_in_fresh_process`: spec on stdin, two numbers out."""
    import marl_vvc

    spec = json.loads(sys.stdin.read())
    make = marl_vvc.parallel_env if spec["parallel"] else marl_vvc.make_env
    envs = [make(spec["system"], **spec["kwargs"]) for _ in range(2)]
    options = spec["options"]
    episodes = record(envs[0], "random", spec["steps"], options).given
    t0 = time.perf_counter()
    n = replay(envs[0], episodes, options)
    one = (time.perf_counter() - t0) / n
    threads = [threading.Thread(target=replay, args=(e, episodes, options)) for e in envs]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print(one, (time.perf_counter() - t0) / (2 * n))


def threads_in_fresh_process(
    system: str | None, kwargs: Mapping[str, Any], steps: int, options: Any, parallel: bool
) -> tuple[float, float]:
    """Seconds per step of one env, then of two envs stepping in two threads, in a new process.

    A new process because the OpenDSS runtime (Free Pascal) crashes in threads started after
    the process environment was changed in-process, which any imported library may do.
    """
    spec = {
        "system": system,
        "kwargs": dict(kwargs),
        "steps": steps,
        "options": options,
        "parallel": parallel,
    }
    done = subprocess.run(
        [sys.executable, "-c", "from marl_vvc.tools.timing import threads_child; threads_child()"],
        input=json.dumps(spec, default=str),
        capture_output=True,
        text=True,
        check=True,
    )
    one, two = (float(x) for x in done.stdout.strip().splitlines()[-1].split())
    return one, two
