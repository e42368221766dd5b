"""MAPPO's pieces for RLlib's new API stack: a centralised critic on the env's ``state()``.

- :class:`GlobalStateObs` appends the (scaled) global state vector to every agent's
  observation, so the learner sees it;
- :class:`CentralCriticModule` is a PPO RLModule whose policy reads only the agent's own
  observation (the first ``local_dim`` entries: decentralised execution) and whose value
  function reads the local observation and the global state (centralised training).

At evaluation the policy needs no state: feed it the local observation alone
(:func:`marl_vvc.tools.checkpoints.rllib_module_policy` does), the module slices the first
``local_dim`` entries either way.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo.utils import BaseParallelWrapper
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.models.torch.torch_distributions import TorchCategorical, TorchDiagGaussian
from torch import nn

from marl_vvc.tools.observation_scaling import voltage_deviation


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with tanh between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class GlobalStateObs(BaseParallelWrapper):
    """Every agent observes ``[own observation | global state]`` (state voltages scaled as
    ``(v − 1) / 0.05``, like the local ones)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        n = int(np.prod(env.state_space.shape))
        self._volt = np.zeros(n, dtype=bool)
        self._volt[: len(env.unwrapped.node_names)] = True
        self._spaces = {}
        for agent in env.possible_agents:
            own = env.observation_space(agent)
            low = np.concatenate([own.low, np.full(n, -np.inf)]).astype(np.float32)
            high = np.concatenate([own.high, np.full(n, np.inf)]).astype(np.float32)
            self._spaces[agent] = spaces.Box(low, high, dtype=np.float32)

    def observation_space(self, agent: str) -> spaces.Space:
        return self._spaces[agent]

    def _join(self, obs: dict[str, Any]) -> dict[str, Any]:
        state = voltage_deviation(self.env.state(), self._volt)
        return {a: np.concatenate([np.asarray(o, np.float32), state]) for a, o in obs.items()}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._join(obs), infos

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        obs, *rest = self.env.step(actions)
        return (self._join(obs), *rest)

    def render(self, *args: Any) -> Any:
        return self.env.render(*args)


class CentralCriticModule(TorchRLModule, ValueFunctionAPI):
    """PPO module: actor on the first ``model_config["local_dim"]`` entries, critic on all.

    ``model_config``: ``local_dim`` and ``hidden`` (units of the two hidden layers).
    """

    def setup(self) -> None:
        cfg = self.model_config
        self.local_dim = int(cfg["local_dim"])
        hidden = int(cfg.get("hidden", 64))
        full = int(np.prod(self.observation_space.shape))
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            n_out = int(space.n)
        else:
            n_out = 2 * int(np.prod(space.shape))
        self.pi = mlp([self.local_dim, hidden, hidden, n_out])
        self.vf = mlp([full, hidden, hidden, 1])

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        return {Columns.ACTION_DIST_INPUTS: self.pi(obs[..., : self.local_dim])}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        values: torch.Tensor = self.vf(batch[Columns.OBS]).squeeze(-1)
        return values

    def _dist(self) -> Any:
        return (
            TorchCategorical
            if isinstance(self.action_space, spaces.Discrete)
            else (TorchDiagGaussian)
        )

    def get_train_action_dist_cls(self) -> Any:
        return self._dist()

    def get_exploration_action_dist_cls(self) -> Any:
        return self._dist()

    def get_inference_action_dist_cls(self) -> Any:
        return self._dist()
