"""The do-nothing baseline for rearrangement: `done` at once, in the walkthrough and the unshuffle.

Why it exists: it is the floor of the rearrangement metrics (nothing fixed, nothing broken:
energy_remaining 1, success 0 unless nothing was shuffled), and the cheapest end-to-end run of
the two-phase env through the runner. It works with any env whose `info["actions"]` names a
"done" (or "Stop") action: it sends that action every step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embodied.agents.base import Agent
from embodied.config import AgentConfig
from embodied.interfaces import REARRANGE_ACTION_NAMES


@dataclass
class NoopConfig(AgentConfig):
    """No settings: the agent always ends the current phase."""

    id: str = "noop"


class NoopAgent(Agent[int]):
    """Ends every phase on its first step (two steps per two-phase episode)."""

    def reset(self, info: dict[str, Any]) -> None:
        actions = list(info.get("actions", REARRANGE_ACTION_NAMES))
        for name in ("done", "Stop"):
            if name in actions:
                self.done_action = actions.index(name)
                break
        else:
            raise ValueError(f"noop agent: the env's actions {actions} have no 'done' or 'Stop'")

    def act(self, obs: dict[str, Any]) -> int:
        return self.done_action
