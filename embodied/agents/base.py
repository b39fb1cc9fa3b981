"""The one contract every agent follows, in simulators and on robots (home-robot style)."""
from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

#: What an agent's `act` returns: `DiscreteNavigationAction` for ObjectNav agents,
#: `ArticulationAction` (a dict) for SfA agents; see `embodied.interfaces`.
ActionT = TypeVar("ActionT")


class Agent(Generic[ActionT]):
    """`reset(info)` at the start of an episode, then `act(obs) -> action` until it ends.

    Generic in the action type because envs differ in what they accept:
    `Agent[DiscreteNavigationAction]` for ObjectNav, `Agent[ArticulationAction]` for SfA, so a type
    checker (and a reader) sees which env an agent is written for.

    Agents never import a simulator or an env: they see the observation dict of docs/design.md, the task
    info of `env.reset` and the action vocabulary of `embodied.interfaces`. `privileged = True` asks
    the runner for an env that also hands out ground truth (instance/semantic masks, the
    navigation grid) — only oracles and upper bounds may set it. What they receive is theirs: the
    env hands out copies, so an agent may write into it without changing the env.
    """

    privileged: ClassVar[bool] = False

    def __init__(self, config: Any, device: str = "cpu") -> None:
        self.config = config
        self.device = device

    def reset(self, info: dict[str, Any]) -> None:
        raise NotImplementedError

    def act(self, obs: dict[str, Any]) -> ActionT:
        raise NotImplementedError
