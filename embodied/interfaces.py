"""The vocabulary envs and agents share: action sets and action types, and nothing else.

Why a module of its own: an agent must be able to say "MoveAhead" without importing an env (and
with it a simulator), and an env must not restate what the agents send it. Both import this
module, so the numbers exist once. It imports only the standard library: never `embodied.envs`,
a simulator or a model (tests/test_envs.py checks that).
"""
from __future__ import annotations

from enum import IntEnum
from typing import Any, TypedDict

__all__ = ["DiscreteNavigationAction", "NAVIGATION_ACTION_NAMES", "ArticulationAction"]


class DiscreteNavigationAction(IntEnum):
    """ObjectNav's six discrete actions (RoboTHOR's action set), as `Discrete(6)` numbers them.

    An `IntEnum`, so a member is the plain int the env's action space holds (`env.step(STOP)` and
    `env.step(5)` are the same call), while code and logs read as names. The order and values are
    the env's contract with every agent and every recorded run: never reorder them.
    """

    MOVE_AHEAD = 0
    ROTATE_LEFT = 1
    ROTATE_RIGHT = 2
    LOOK_UP = 3
    LOOK_DOWN = 4
    STOP = 5

    @property
    def robothor_name(self) -> str:
        """RoboTHOR's spelling ("MoveAhead", ...), which the env hands out in `info["actions"]`."""
        return "".join(word.capitalize() for word in self.name.split("_"))


#: RoboTHOR's names of the navigation actions, indexed by action number.
NAVIGATION_ACTION_NAMES: tuple[str, ...] = tuple(a.robothor_name for a in DiscreteNavigationAction)


class _ArticulationMove(TypedDict):
    """The keys every SfA interaction has (see ArticulationAction)."""

    point: Any       # (3,) float array, world frame, m
    direction: Any   # (3,) float array
    distance: Any    # (1,) float array, m


class ArticulationAction(_ArticulationMove, total=False):
    """An SfA interaction: grab the object at `point` (world, m) and move it `distance` m along
    `direction`. `distance` 0 is "done"; it may carry the agent's model as `estimate` (JSON) for
    the env to score. `pixel` = (camera, row, col) replaces `point` by what that pixel sees.
    (Two classes because `NotRequired` needs Python 3.11 and the project supports 3.10.)"""

    pixel: Any
    estimate: dict[str, Any]
