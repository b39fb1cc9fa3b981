"""The one contract every agent follows, in simulators and on robots (home-robot style)."""
from __future__ import annotations

from typing import Any, ClassVar


class Agent:
    """`reset(info)` at the start of an episode, then `act(obs) -> action` until it ends.

    Agents never import a simulator: they see the observation dict of DESIGN.md and the task info
    of `env.reset`. `privileged = True` asks the runner for an env that also hands out ground truth
    (instance/semantic masks, the navigation grid) — only oracles and upper bounds may set it.
    """

    privileged: ClassVar[bool] = False

    def __init__(self, config: Any, device: str = "cpu") -> None:
        self.config = config
        self.device = device

    def reset(self, info: dict[str, Any]) -> None:
        raise NotImplementedError

    def act(self, obs: dict[str, Any]) -> int:
        raise NotImplementedError
