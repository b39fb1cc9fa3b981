"""CoW's two README promises about detections, checked on the agent's own state:

* detections farther than ``target_max_depth`` (4 m) are kept aside, not chased at once;
* a target that is not there when the agent stands in front of it is dropped as a false
  positive, and later detections at that spot are ignored.

The localizer is a stand-in that "detects" a fixed block of pixels, and the depth image is a flat
wall at a chosen distance, so where the detection lands on the map is known in advance.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from embodied.agents.cow import CowAgent, CowConfig
from embodied.interfaces import DiscreteNavigationAction as Action

H = W = 64
CAMERA = {"width": W, "height": H, "fx": W / 2, "fy": H / 2, "cx": (W - 1) / 2, "cy": (H - 1) / 2,
          "hfov": 90.0, "height_m": 0.88}


class BlockLocalizer:
    """Relevance 1 on a central block of pixels, or nothing when `on` is False."""

    threshold = 0.5

    def __init__(self) -> None:
        self.on = True

    def reset(self, info: dict) -> None:
        pass

    def detect(self, obs: dict, goal: str) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros((H, W), bool)
        if self.on:
            mask[24:40, 28:36] = True
        return mask.astype(np.float32), mask


def wall_obs(distance: float, pose=(0.0, 0.0, 0.0, 0.0)) -> dict:
    return {"rgb": np.zeros((H, W, 3), np.uint8),
            "depth": np.full((H, W, 1), distance, np.float32),
            "pose": np.asarray(pose, np.float32), "goal": "Mug"}


@pytest.fixture
def agent() -> CowAgent:
    a = CowAgent(CowConfig(spin=False))
    a.reset({"goal": "Mug", "camera": CAMERA})
    a.localizer = BlockLocalizer()
    return a


def test_far_detections_are_kept_aside(agent: CowAgent) -> None:
    pose = np.zeros(4)
    agent.map.update(wall_obs(6.0)["depth"], pose)
    assert agent._localize(wall_obs(6.0), pose) > 0
    assert not (agent.score > 0).any()                # 6 m > target_max_depth: not a target
    far = np.argwhere(agent.far_score > 0)
    x = agent.map.cell_to_world(far)[:, 0]
    assert len(far) and np.all(np.abs(x - 6.0) < 0.2)  # kept aside where the wall is
    assert agent._target(pose) is None
    # the same detection from 2 m is a target at once
    agent._localize(wall_obs(2.0), pose)
    target = agent._target(pose)
    assert target is not None and abs(target[0] - 2.0) < 0.2


def test_a_target_not_there_up_close_is_dropped_and_its_spot_ignored(agent: CowAgent) -> None:
    pose = np.zeros(4)
    agent._localize(wall_obs(0.6), pose)              # a "mug" 0.6 m ahead: within stop_distance
    assert agent._target(pose) is not None
    agent.localizer.on = False                        # facing it, nothing is seen
    action = agent._exploit(pose, seen_pixels=0)
    assert action is None                             # no Stop on nothing
    assert agent._target(pose) is None and agent.suppressed.any()
    # the same spot detected again is ignored; a detection elsewhere is not
    agent.localizer.on = True
    agent._localize(wall_obs(0.6), pose)
    assert agent._target(pose) is None
    turned = np.array([0.0, 0.0, math.pi / 2, 0.0])   # facing +y: the wall is now elsewhere
    agent._localize(wall_obs(0.6, turned), turned)
    target = agent._target(turned)
    assert target is not None and abs(target[1] - 0.6) < 0.2


def test_stop_only_with_enough_pixels_in_view(agent: CowAgent) -> None:
    pose = np.zeros(4)
    seen = agent._localize(wall_obs(0.6), pose)
    assert seen >= agent.config.min_target_pixels
    assert agent._exploit(pose, seen) == Action.STOP


def floor_depth() -> np.ndarray:
    """Depth of a camera at 0.88 m looking level over an empty floor (rows below the horizon hit
    the floor at z = 0; rows above see a wall 8 m away)."""
    v = np.arange(H, dtype=np.float64)[:, None] - CAMERA["cy"]
    with np.errstate(divide="ignore"):
        d = np.where(v > 0.5, CAMERA["height_m"] * CAMERA["fy"] / v, 8.0)
    return np.repeat(np.minimum(d, 8.0), W, axis=1)[..., None].astype(np.float32)


def test_detections_on_the_floor_are_not_targets(agent: CowAgent) -> None:
    pose = np.zeros(4)
    obs = wall_obs(1.0)
    obs["depth"] = floor_depth()

    class FloorBlock(BlockLocalizer):
        def detect(self, obs: dict, goal: str):
            mask = np.zeros((H, W), bool)
            mask[48:64, 24:40] = True                  # rows well below the horizon: floor only
            return mask.astype(np.float32), mask

    agent.localizer = FloorBlock()
    assert agent._localize(obs, pose) > 0              # pixels were detected ...
    assert not (agent.score > 0).any() and agent._target(pose) is None   # ... but they are floor


def test_confirm_frames_needs_that_many_detecting_frames() -> None:
    a = CowAgent(CowConfig(spin=False, confirm_frames=2))
    a.reset({"goal": "Mug", "camera": CAMERA})
    a.localizer = BlockLocalizer()
    pose = np.zeros(4)
    a._localize(wall_obs(2.0), pose)
    assert a._target(pose) is None                     # one frame is not enough
    a._localize(wall_obs(2.0), pose)
    target = a._target(pose)
    assert target is not None and abs(target[0] - 2.0) < 0.2
    with pytest.raises(Exception, match="confirm_frames"):
        CowConfig(confirm_frames=0)


def test_stop_needs_the_detection_at_the_target(agent: CowAgent) -> None:
    pose = np.zeros(4)
    agent._localize(wall_obs(0.6), pose)               # target 0.6 m ahead (+x)
    turned = np.array([0.0, 0.0, math.pi / 2, 0.0])    # now facing +y: a detection 3 m off to the side
    seen = agent._localize(wall_obs(3.0, turned), turned)
    assert seen >= agent.config.min_target_pixels
    target = agent._target(turned)
    assert target is not None and abs(target[0] - 0.6) < 0.2
    assert agent._exploit(turned, seen) != Action.STOP   # seen, but not where the target is
