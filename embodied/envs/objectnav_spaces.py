"""ObjectNav's observation space and action check, shared by every ObjectNav backend.

Why a module of its own: the embedded PyBullet env, the RoboTHOR and the Habitat adapters must
hand agents the same observation contract (rgb, depth in metres, a GPS+compass pose relative to
the start, the goal's name; instance and semantic maps when privileged), and importing any one
env module would import its simulator. This imports gymnasium and numpy only.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from embodied.interfaces import NAVIGATION_ACTION_NAMES

#: metres / radians: far beyond any house, finite for space checkers
POSE_LIMIT = 1000.0
#: the characters a goal name may hold (category names and free text)
GOAL_CHARSET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_'")


def observation_space(height: int, width: int, far: float, privileged: bool) -> spaces.Dict:
    """rgb (H, W, 3) uint8, depth (H, W, 1) float32 metres in [0, far], pose (x, y, yaw, pitch)
    relative to the start, goal text; with ``privileged``, int32 ``instance`` and ``semantic``."""
    obs: dict[str, spaces.Space] = {
        "rgb": spaces.Box(0, 255, (height, width, 3), np.uint8),
        "depth": spaces.Box(0.0, far, (height, width, 1), np.float32),
        "pose": spaces.Box(-POSE_LIMIT, POSE_LIMIT, (4,), np.float32),
        "goal": spaces.Text(max_length=64, charset=GOAL_CHARSET),
    }
    if privileged:
        obs["instance"] = spaces.Box(0, np.iinfo(np.int32).max, (height, width), np.int32)
        obs["semantic"] = spaces.Box(0, np.iinfo(np.int32).max, (height, width), np.int32)
    return spaces.Dict(obs)


def check_action(action_space: spaces.Discrete, action: Any) -> int:
    """The action as an int, or ValueError naming the actions there are."""
    index = int(action)
    if not action_space.contains(index):
        raise ValueError(f"action {action!r} is not one of 0..{len(NAVIGATION_ACTION_NAMES) - 1} "
                         f"{NAVIGATION_ACTION_NAMES}")
    return index
