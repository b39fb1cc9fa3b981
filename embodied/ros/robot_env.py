"""`RosRobotEnv`: a robot over ROS 2 as a Gymnasium env with ObjectNav's observation and action
contract, so every agent that runs in the simulator drives a robot unchanged.

Observations: rgb (H, W, 3) uint8, depth (H, W, 1) float32 metres, pose [x, y, yaw, pitch] from
odometry in the frame of the episode's start, goal text. `reset` waits (up to
`wait_for_streams` s) until every stream has delivered, then records the start odometry; `info`
holds the goal and `camera` (intrinsics from CameraInfo, the camera's height from the config).

Actions (`DiscreteNavigationAction`) are executed closed-loop on odometry: MoveAhead drives at
`linear_speed` until `forward_step` metres are covered (within `distance_tolerance`), Rotate turns
at `angular_speed` until `turn_step_deg` degrees (within `angle_tolerance_deg`); each is bounded by
the safety limits' `action_timeout`. LookUp/LookDown are refused (no tilt joint is driven: the pose's
pitch stays 0, as a robot with a fixed camera). Stop ends the episode. If the watchdog halts a motion
(stale stream, overrun) or the e-stop is engaged, the base gets zero velocity and the episode ends
(`info["halted"]` says why). Every exit path publishes zero velocity: a finished action, `close()`,
an exception inside `step`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from embodied.interfaces import DiscreteNavigationAction as Action
from embodied.ros import messages
from embodied.ros.safety import SafetyLimits
from embodied.ros.transport import RobotTransport, RosTopics

__all__ = ["RosRobotConfig", "RosRobotEnv"]

POSE_LIMIT = 1000.0


@dataclass
class RosRobotConfig:
    """Motion steps and speeds, tolerances, limits, topics; defaults match the simulator's steps."""

    goal: str = "Mug"
    topics: RosTopics = field(default_factory=RosTopics)
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    forward_step: float = 0.25
    turn_step_deg: float = 30.0
    linear_speed: float = 0.2
    angular_speed: float = 0.6
    distance_tolerance: float = 0.02
    angle_tolerance_deg: float = 2.0
    camera_height: float = 0.88
    max_depth: float = 10.0
    max_steps: int = 250
    wait_for_streams: float = 10.0
    control_hz: float = 50.0


class RosRobotEnv(gym.Env):
    """A ROS 2 robot behind ObjectNav's contract (module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, config: RosRobotConfig | None = None, transport: RobotTransport | None = None) -> None:
        self.config = config or RosRobotConfig()
        if transport is None:
            from embodied.ros.transport import Ros2Transport

            transport = Ros2Transport(self.config.topics, self.config.limits, self.config.camera_height,
                                      self.config.max_depth)
        self.transport = transport
        self.action_space = spaces.Discrete(len(Action))
        self._start: np.ndarray | None = None
        self._steps = 0
        self._shape: tuple[int, int] | None = None

    # ------------------------------------------------------------------------------ streams
    def _wait(self) -> dict[str, Any]:
        end = time.monotonic() + self.config.wait_for_streams
        needed = ("rgb", "depth", "camera", "odom")
        while True:
            latest = self.transport.latest()
            missing = [k for k in needed if k not in latest]
            if not missing:
                return latest
            if time.monotonic() > end:
                t = self.config.topics
                raise TimeoutError(f"no {', '.join(missing)} within {self.config.wait_for_streams} s; expected "
                                   f"messages on {t.rgb}, {t.depth}, {t.camera_info}, {t.odom}")
            time.sleep(0.01)

    def _observation(self, latest: dict[str, Any]) -> dict[str, Any]:
        rgb, depth = latest["rgb"], latest["depth"]
        if rgb.shape[:2] != depth.shape[:2]:
            raise messages.MalformedMessage(f"rgb {rgb.shape[:2]} and depth {depth.shape[:2]} differ; expected "
                                            "registered images of one size (depth aligned to colour)")
        assert self._start is not None
        return {"rgb": rgb, "depth": depth, "pose": messages.relative_pose(self._start, latest["odom"]),
                "goal": self.config.goal}

    def _spaces(self, h: int, w: int) -> None:
        self.observation_space = spaces.Dict({
            "rgb": spaces.Box(0, 255, (h, w, 3), np.uint8),
            "depth": spaces.Box(0.0, self.config.max_depth, (h, w, 1), np.float32),
            "pose": spaces.Box(-POSE_LIMIT, POSE_LIMIT, (4,), np.float32),
            "goal": spaces.Text(max_length=64)})

    # ------------------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.transport.stop()
        latest = self._wait()
        self._start = np.asarray(latest["odom"], dtype=float).copy()
        self._steps = 0
        obs = self._observation(latest)
        self._spaces(*obs["rgb"].shape[:2])
        return obs, {"goal": self.config.goal, "camera": latest["camera"], "halted": None}

    def step(self, action: int):
        action = Action(int(action))
        self._steps += 1
        info: dict[str, Any] = {"halted": None, "refused": False}
        try:
            if action == Action.STOP:
                terminated = True
            elif action in (Action.LOOK_UP, Action.LOOK_DOWN):
                info["refused"] = True
                terminated = False
            else:
                info["halted"] = self._drive(action)
                terminated = info["halted"] is not None
        except BaseException:
            self.transport.stop()
            raise
        latest = self.transport.latest()
        obs = self._observation(latest)
        truncated = not terminated and self._steps >= self.config.max_steps
        return obs, 0.0, terminated, truncated, info

    def _drive(self, action: Action) -> str | None:
        """Run one motion closed-loop on odometry; the watchdog's reason if it halted, else None."""
        cfg = self.config
        start = np.asarray(self.transport.latest()["odom"], dtype=float)
        forward = action == Action.MOVE_AHEAD
        sign = 1.0 if action == Action.ROTATE_LEFT else -1.0
        goal = cfg.forward_step if forward else math.radians(cfg.turn_step_deg)
        tol = cfg.distance_tolerance if forward else math.radians(cfg.angle_tolerance_deg)
        self.transport.begin_motion()
        period = 1.0 / cfg.control_hz
        try:
            while True:
                now = np.asarray(self.transport.latest()["odom"], dtype=float)
                if forward:
                    done = math.hypot(now[0] - start[0], now[1] - start[1])
                else:
                    done = abs(math.atan2(math.sin(now[2] - start[2]), math.cos(now[2] - start[2])))
                if done >= goal - tol:
                    return None
                ok = self.transport.command(cfg.linear_speed if forward else 0.0,
                                            0.0 if forward else sign * cfg.angular_speed)
                if not ok:
                    return self.transport.halted() or "halted"
                time.sleep(period)
        finally:
            self.transport.end_motion()

    def close(self) -> None:
        self.transport.close()
