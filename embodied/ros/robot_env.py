"""`RosRobotEnv`: a robot over ROS 2 as a Gymnasium env with ObjectNav's observation and action
contract, so every agent that runs in the simulator drives a robot unchanged.

Observations: rgb (H, W, 3) uint8, depth (H, W, 1) float32 metres, pose [x, y, yaw, pitch] from
odometry in the frame of the episode's start, goal text -- plus, with `privileged`, the semantic
and instance images that `embodied ros-sim --privileged` serves (ground-truth localizers, oracles).
`reset` waits (up to `wait_for_streams` s) until every stream has delivered, then records the start
odometry; `info` holds the goal, `categories` and `camera` (intrinsics from CameraInfo, the camera's
height from the config; a ros-sim's own camera dict when `sim`).

Actions (`DiscreteNavigationAction`) are executed closed-loop on odometry: MoveAhead drives until
`forward_step` metres are covered (within `distance_tolerance`), Rotate turns until `turn_step_deg`
degrees (within `angle_tolerance_deg`), slowing down linearly over the last `slow_zone` so the base
does not overshoot. A motion that makes no progress for `stall_time` s (a wall, a bumper) ends
unfinished: `last_action_success` False, as a blocked MoveAhead in the simulator. Each action is
bounded by the safety limits' `action_timeout`. After a motion the observation is taken `settle`
s after the base got its zero command, so images and pose describe one standing robot.
LookUp/LookDown are refused (no tilt joint is driven: the pose's pitch stays 0, as a robot with a
fixed camera). Stop ends the episode. If the watchdog halts a motion (stale stream, overrun) or
the e-stop is engaged, the base gets zero velocity and the episode ends (`info["halted"]` says
why). Every exit path publishes zero velocity: a finished action, `close()`, an exception in `step`.

Episodes: with `sim` the env asks `embodied ros-sim` for each episode spec and, at the end, for the
env's own metrics (`sim_link`); on a real robot the metrics are what odometry knows (path length,
whether Stop was called) and success is for the researcher to judge.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from embodied.config import ConfigError, EnvConfig
from embodied.interfaces import NAVIGATION_ACTION_NAMES
from embodied.interfaces import DiscreteNavigationAction as Action
from embodied.ros import messages
from embodied.ros.safety import SafetyLimits
from embodied.ros.transport import RobotTransport, RosTopics

__all__ = ["ENV_ID", "RosRobotConfig", "RosRobotEnv", "robot_episodes"]

ENV_ID = "embodied/RosRobot-v0"
POSE_LIMIT = 1000.0


@dataclass(kw_only=True)
class RosRobotConfig(EnvConfig):
    """A robot's topics, limits, motion steps and speeds; defaults match the simulator's steps.

    Episodes (`split`): "goals" -- one per entry of `goals` (a real robot); "sim" -- the episodes of
    the `sim_env` section, each loaded into `embodied ros-sim` (which must serve that same env).
    """

    id: str = ENV_ID
    split: str = "goals"
    goals: list[str] = field(default_factory=lambda: ["Mug"])
    sim: bool = False
    sim_env: EnvConfig | None = None
    topics: RosTopics = field(default_factory=RosTopics)
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    forward_step: float = 0.25
    turn_step_deg: float = 30.0
    linear_speed: float = 0.2
    angular_speed: float = 0.6
    distance_tolerance: float = 0.02
    angle_tolerance_deg: float = 2.0
    slow_zone: float = 0.1               # m (MoveAhead) and slow_zone * 150 deg (Rotate) of slowing down
    min_speed_fraction: float = 0.25
    stall_time: float = 1.0
    settle: float = 0.15
    camera_height: float = 0.88
    max_depth: float = 10.0
    max_steps: int = 250
    wait_for_streams: float = 10.0
    control_hz: float = 50.0

    def __post_init__(self) -> None:
        if self.split not in ("goals", "sim"):
            raise ConfigError(f"got {self.split!r}, expected \"goals\" (one episode per env.goals entry) "
                              "or \"sim\" (the episodes of env.sim_env, served by embodied ros-sim)", key="split")
        if self.split == "sim" and (self.sim_env is None or not self.sim):
            raise ConfigError("split \"sim\" needs sim: true and a sim_env section (the env ros-sim serves)",
                              key="sim_env")
        if self.split == "goals" and not self.goals:
            raise ConfigError("expected at least one goal (one episode each)", key="goals")


def robot_episodes(cfg: RosRobotConfig) -> list[dict[str, Any]]:
    """The episodes `embodied deploy` runs (see `RosRobotConfig`)."""
    if cfg.split == "sim":
        from embodied import registry

        assert cfg.sim_env is not None
        return registry.list_episodes(cfg.sim_env)
    episodes = [{"episode_id": f"robot-{i:03d}-{goal}", "category": goal} for i, goal in enumerate(cfg.goals)]
    return episodes[:cfg.episodes] if cfg.episodes else episodes


class RosRobotEnv(gym.Env):
    """A ROS 2 robot behind ObjectNav's contract (module docstring)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, config: RosRobotConfig | None = None, transport: RobotTransport | None = None,
                 privileged: bool = False, render_mode: str | None = None) -> None:
        self.config = config or RosRobotConfig()
        self.privileged = privileged
        self.render_mode = render_mode
        if privileged and not self.config.sim:
            raise ConfigError("a privileged agent (ground-truth localizer, oracle) needs the simulator's "
                              "semantic images: deploy it against embodied ros-sim (env.sim: true)", key="sim")
        extra = ("semantic", "instance") if privileged else ()
        if transport is None:
            from embodied.ros.transport import Ros2Transport

            transport = Ros2Transport(self.config.topics, self.config.limits, self.config.camera_height,
                                      self.config.max_depth, labels=extra)
        self.transport = transport
        self.link = None
        if self.config.sim:
            from embodied.ros.sim_link import SimLink

            self.link = SimLink(transport.node)
        self.needed = ("rgb", "depth", "camera", "odom") + extra
        self.action_space = spaces.Discrete(len(Action))
        self._start: np.ndarray | None = None
        self._steps = 0
        self._episode: dict[str, Any] = {}
        self._path = 0.0
        self._sim_camera: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------ streams
    def _wait(self, since: float | None = None) -> dict[str, Any]:
        """The latest of every stream, each received after `since` (monotonic) when given."""
        end = time.monotonic() + self.config.wait_for_streams
        while True:
            latest, received = self.transport.latest(), self.transport.received()
            missing = [k for k in self.needed
                       if k not in latest or (since is not None and received.get(k, -math.inf) < since)]
            if not missing:
                return latest
            if time.monotonic() > end:
                t = self.config.topics
                raise TimeoutError(f"no {', '.join(missing)} within {self.config.wait_for_streams} s; expected "
                                   f"messages on {t.rgb}, {t.depth}, {t.camera_info}, {t.odom}")
            time.sleep(0.005)

    def _observation(self, latest: dict[str, Any]) -> dict[str, Any]:
        rgb, depth = latest["rgb"], latest["depth"]
        for key in ("depth",) + tuple(k for k in ("semantic", "instance") if k in self.needed):
            if latest[key].shape[:2] != rgb.shape[:2]:
                raise messages.MalformedMessage(f"rgb {rgb.shape[:2]} and {key} {latest[key].shape[:2]} differ; "
                                                "expected registered images of one size (aligned to colour)")
        assert self._start is not None
        obs = {"rgb": rgb, "depth": depth, "pose": messages.relative_pose(self._start, latest["odom"]),
               "goal": self._episode.get("category", self.config.goals[0])}
        for key in ("semantic", "instance"):
            if key in self.needed:
                obs[key] = latest[key]
        self._last_obs = obs
        return obs

    def _spaces(self, h: int, w: int) -> None:
        labels = {key: spaces.Box(0, np.iinfo(np.int32).max, (h, w), np.int32)
                  for key in ("semantic", "instance") if key in self.needed}
        self.observation_space = spaces.Dict({
            "rgb": spaces.Box(0, 255, (h, w, 3), np.uint8),
            "depth": spaces.Box(0.0, self.config.max_depth, (h, w, 1), np.float32),
            "pose": spaces.Box(-POSE_LIMIT, POSE_LIMIT, (4,), np.float32),
            "goal": spaces.Text(max_length=64), **labels})

    # ------------------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.transport.stop()
        spec = dict((options or {}).get("episode") or {})
        info: dict[str, Any] = {"categories": {}}
        since = None
        if self.link is not None:
            served = self.link.request(spec or None, timeout=self.config.wait_for_streams)
            spec.setdefault("episode_id", served["episode_id"])
            spec.setdefault("category", served["goal"])
            info.update({k: served[k] for k in ("categories", "privileged") if k in served})
            self._sim_camera = served.get("camera")
            since = time.monotonic() + self.config.settle      # frames of the new episode only
            time.sleep(self.config.settle)
        spec.setdefault("category", self.config.goals[0])
        spec.setdefault("episode_id", f"robot-{spec['category']}")
        self._episode = spec
        latest = self._wait(since)
        self._start = np.asarray(latest["odom"], dtype=float).copy()
        self._last_odom = self._start.copy()
        self._steps, self._path = 0, 0.0
        obs = self._observation(latest)
        self._spaces(*obs["rgb"].shape[:2])
        camera = dict(latest["camera"])
        if self.link is not None and self._sim_camera:
            camera.update(self._sim_camera)                     # near/far/height exactly as simulated
        info.update({"episode_id": spec["episode_id"], "goal": spec["category"], "camera": camera,
                     "actions": NAVIGATION_ACTION_NAMES, "halted": None})
        return obs, info

    def step(self, action: int):
        action = Action(int(action))
        self._steps += 1
        info: dict[str, Any] = {"halted": None, "refused": False, "last_action_success": True}
        try:
            if action == Action.STOP:
                terminated = True
            elif action in (Action.LOOK_UP, Action.LOOK_DOWN):
                info["refused"], info["last_action_success"] = True, False
                terminated = False
            else:
                outcome = self._drive(action)
                info["halted"] = outcome if outcome not in (None, "blocked") else None
                info["last_action_success"] = outcome is None
                terminated = info["halted"] is not None
            since = None if action == Action.STOP or info["refused"] else time.monotonic() + self.config.settle
            latest = self._wait(since) if info["halted"] is None else self.transport.latest()
        except BaseException:
            self.transport.stop()
            raise
        obs = self._observation(latest)
        odom = np.asarray(latest["odom"], dtype=float)
        self._path += float(np.hypot(*(odom[:2] - self._last_odom[:2])))
        self._last_odom = odom
        truncated = not terminated and self._steps >= self.config.max_steps
        if terminated or truncated:
            info["metrics"] = self._metrics(stop_called=action == Action.STOP and info["halted"] is None)
            info["record"] = {"category": self._episode.get("category"), "halted": info["halted"],
                              "robot": "ros-sim" if self.link is not None else "ros"}
        return obs, 0.0, terminated, truncated, info

    def _metrics(self, stop_called: bool) -> dict[str, Any]:
        """The simulator's own metrics (`sim`), else what odometry knows."""
        if self.link is not None:
            return self.link.judge(self._episode["episode_id"], stop_called, timeout=self.config.wait_for_streams)
        return {"stop_called": stop_called, "odometry_path_length": self._path,
                "distance_from_start": float(np.hypot(*(self._last_odom[:2] - self._start[:2])))}

    def _drive(self, action: Action) -> str | None:
        """Run one motion closed-loop on odometry: None when done, "blocked" when it stalled, else
        the watchdog's reason for halting it."""
        cfg = self.config
        start = np.asarray(self.transport.latest()["odom"], dtype=float)
        forward = action == Action.MOVE_AHEAD
        sign = 1.0 if action == Action.ROTATE_LEFT else -1.0
        goal = cfg.forward_step if forward else math.radians(cfg.turn_step_deg)
        tol = cfg.distance_tolerance if forward else math.radians(cfg.angle_tolerance_deg)
        zone = cfg.slow_zone if forward else math.radians(cfg.slow_zone * 150.0)
        speed = cfg.linear_speed if forward else cfg.angular_speed
        stall_eps = 0.005 if forward else math.radians(0.5)
        self.transport.begin_motion()
        period = 1.0 / cfg.control_hz
        best, best_at = 0.0, time.monotonic()
        try:
            while True:
                now = np.asarray(self.transport.latest()["odom"], dtype=float)
                if forward:
                    done = math.hypot(now[0] - start[0], now[1] - start[1])
                else:
                    done = abs(math.atan2(math.sin(now[2] - start[2]), math.cos(now[2] - start[2])))
                remaining = goal - done
                if remaining <= tol:
                    return None
                t = time.monotonic()
                if done > best + stall_eps:
                    best, best_at = done, t
                elif t - best_at > cfg.stall_time:
                    return "blocked"
                v = speed * min(1.0, max(cfg.min_speed_fraction, remaining / zone))
                ok = self.transport.command(v if forward else 0.0, 0.0 if forward else sign * v)
                if not ok:
                    return self.transport.halted() or "halted"
                time.sleep(period)
        finally:
            self.transport.end_motion()

    def render(self) -> np.ndarray | None:
        """The last colour image (the runner puts the agent's own view beside it in videos)."""
        if self.render_mode != "rgb_array" or not hasattr(self, "_last_obs"):
            return None
        return np.asarray(self._last_obs["rgb"]).copy()

    def close(self) -> None:
        self.transport.close()
