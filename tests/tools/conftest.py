"""Fixtures of the tools tests: a pure-Python env speaking the public env contract."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from marl_vvc.errors import ResetNeededError


class FakeParallelEnv:
    """Two agents, ``horizon`` steps; step ``t`` reports loss -1, voltage -t, t buses out."""

    possible_agents = ("capacitor_a", "regulator_b")

    def __init__(self, horizon: int | None = 3, diverge_at: int | None = None) -> None:
        self.horizon = horizon
        self.num_profiles = 10
        self.diverge_at = diverge_at
        self.agents: list[str] = []
        self._spaces = {"capacitor_a": spaces.Discrete(2), "regulator_b": spaces.Discrete(33)}
        self.given: list[dict[str, Any]] = []

    def action_space(self, agent: str) -> spaces.Space:
        return self._spaces[agent]

    def hold_actions(self) -> dict[str, Any]:
        return {"capacitor_a": 1, "regulator_b": 16}

    def agent_kind(self, agent: str) -> str:
        return agent.split("_")[0]

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.t = 0
        self.agents = list(self.possible_agents)
        profile = (options or {}).get("profile", 7)
        obs = {a: np.zeros(2, np.float32) for a in self.agents}
        return obs, {a: {"profile": profile} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise ResetNeededError("call reset() before step()")
        assert set(actions) == set(self.agents)
        self.given.append(dict(actions))
        self.t += 1
        ok = self.t != self.diverge_at
        penalty = 0.0 if ok else -100.0
        glob = {
            "loss": -1.0,
            "voltage": -float(self.t),
            "control": -0.5 * int(actions["regulator_b"] != 16),
            "failure_penalty": penalty,
            "converged": ok,
            "violating_buses": self.t,
            "n_buses": 4,
        }
        glob["global_reward"] = glob["loss"] + glob["voltage"] + glob["control"] + penalty
        shares = {"capacitor_a": 0.25 * glob["global_reward"]}
        shares["regulator_b"] = glob["global_reward"] - shares["capacitor_a"]
        infos = {a: {**glob, "applied": actions[a]} for a in self.agents}
        done = not ok or (self.horizon is not None and self.t >= self.horizon)
        terms = dict.fromkeys(self.agents, done)
        obs = {a: np.full(2, self.t, np.float32) for a in self.agents}
        if done:
            self.agents = []
        return obs, shares, terms, dict.fromkeys(terms, False), infos

    def close(self) -> None:
        pass


@pytest.fixture
def fake_env() -> FakeParallelEnv:
    return FakeParallelEnv()
