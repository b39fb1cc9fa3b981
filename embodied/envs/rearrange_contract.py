"""What the embedded and the iTHOR rearrangement envs share: the observation space and the
two-phase clock.

Why here and not in each env: agents must see the same observations from both backends, and when
the walkthrough hands over to the unshuffle phase and when an episode ends are the challenge's
rules (`done` or the phase's step budget), which both must apply the same way. Importing this
imports no simulator.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from gymnasium import spaces

from embodied.envs.objectnav_spaces import POSE_LIMIT
from embodied.interfaces import REARRANGE_PHASES, REARRANGE_PICKUPABLE_TYPES

#: at most this many object boxes in a privileged observation (rows of `boxes`)
MAX_BOXES = 32


def observation_space(height: int, width: int, far: float, privileged: bool,
                      pickupable: int = len(REARRANGE_PICKUPABLE_TYPES)) -> spaces.Dict:
    """rgb, depth (metres, [0, far]), pose (x, y, yaw, pitch) relative to the start, the held
    object's index into the env's `pickupable` types (`info["pickupable_types"]`; -1: none),
    the phase; with ``privileged``, int32 instance and semantic maps and up to MAX_BOXES
    (instance, category, box) rows."""
    obs: dict[str, spaces.Space] = {
        "rgb": spaces.Box(0, 255, (height, width, 3), np.uint8),
        "depth": spaces.Box(0.0, far, (height, width, 1), np.float32),
        "pose": spaces.Box(-POSE_LIMIT, POSE_LIMIT, (4,), np.float32),
        "held": spaces.Discrete(pickupable + 1, start=-1),
        "phase": spaces.Discrete(len(REARRANGE_PHASES)),
    }
    if privileged:
        top = np.iinfo(np.int32).max
        obs["instance"] = spaces.Box(0, top, (height, width), np.int32)
        obs["semantic"] = spaces.Box(0, top, (height, width), np.int32)
        obs["boxes"] = spaces.Box(-1, top, (MAX_BOXES, 6), np.int32)
    return spaces.Dict(obs)


class PhaseStep(NamedTuple):
    """What one action did to the episode's clock."""

    switch: bool        # the walkthrough ended: start the unshuffle phase
    terminated: bool    # `done` in the unshuffle phase
    truncated: bool     # the unshuffle phase's step budget is spent


def phase_step(phase: int, action: str, phase_steps: int, walkthrough_steps: int,
               unshuffle_steps: int) -> PhaseStep:
    """The clock after `action` (its name), the `phase_steps`-th step of `phase` (0: walkthrough,
    1: unshuffle): the walkthrough ends on `done` or at `walkthrough_steps` (the episode goes on),
    the unshuffle ends the episode on `done` (terminated) or at `unshuffle_steps` (truncated)."""
    if phase == 0:
        return PhaseStep(action == "done" or phase_steps >= walkthrough_steps, False, False)
    if action == "done":
        return PhaseStep(False, True, False)
    return PhaseStep(False, False, phase_steps >= unshuffle_steps)
