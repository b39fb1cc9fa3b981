"""The random baseline: uniform over the actions. Its success is the floor every agent must beat."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from embodied.agents.base import Agent
from embodied.config import AgentConfig, ConfigError
from embodied.interfaces import DiscreteNavigationAction


@dataclass
class RandomConfig(AgentConfig):
    """`stop_probability` None means uniform over all actions, Stop included (the usual baseline)."""

    id: str = "random"
    stop_probability: float | None = None

    def __post_init__(self) -> None:
        if self.stop_probability is not None and not 0.0 <= self.stop_probability <= 1.0:
            raise ConfigError(f"agent.stop_probability: got {self.stop_probability}, expected a "
                              "probability in [0, 1] or null")


class RandomAgent(Agent[int]):
    """Draws each action from its own RNG, seeded per episode, so runs repeat exactly.

    Uniform over the env's `info["actions"]` (any `Discrete` env whose last action is Stop);
    without that list, over ObjectNav's `DiscreteNavigationAction`. Returns a plain int because
    the action set is the env's, not necessarily the navigation one.
    """

    def reset(self, info: dict[str, Any]) -> None:
        self.rng = np.random.default_rng(int(info.get("seed", 0)))
        self.n_actions = len(info.get("actions", DiscreteNavigationAction))

    def act(self, obs: dict[str, Any]) -> int:
        p_stop = self.config.stop_probability
        if p_stop is None:
            return int(self.rng.integers(self.n_actions))
        if self.rng.random() < p_stop:
            return self.n_actions - 1
        return int(self.rng.integers(self.n_actions - 1))
