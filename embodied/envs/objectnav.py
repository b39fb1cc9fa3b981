"""ObjectNav on the embedded PyBullet houses: `embodied/ObjectNav-PyBullet-v0`.

The task layer owns the rules and the metrics (docs/design.md): the agent sees rgb, depth, a
GPS+compass pose relative to its start and the goal's name; it moves on a continuous floor with
RoboTHOR's action set and calls Stop. Success, SPL and soft-SPL are computed here from the
backend's geodesic distances, never by agents, so every agent is scored the same way.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from embodied import metrics
from embodied.config import ConfigError, EnvConfig, with_overrides
from embodied.envs import objectnav_episodes as episodes_lib
from embodied.envs.pybullet.house import category_names, semantic_id
from embodied.envs.pybullet.scene import PyBulletScene
from embodied.envs.objectnav_spaces import check_action, observation_space
from embodied.interfaces import NAVIGATION_ACTION_NAMES, DiscreteNavigationAction
from embodied.perception.geodesic import Target
from embodied.perception.navgrid import NavGrid

ENV_ID = "embodied/ObjectNav-PyBullet-v0"
ACTIONS = NAVIGATION_ACTION_NAMES  # the action set lives in embodied.interfaces, shared with agents
# shorthands for the enum members, kept for code that imports them from here
_A = DiscreteNavigationAction
MOVE_AHEAD, ROTATE_LEFT, ROTATE_RIGHT = _A.MOVE_AHEAD, _A.ROTATE_LEFT, _A.ROTATE_RIGHT
LOOK_UP, LOOK_DOWN, STOP = _A.LOOK_UP, _A.LOOK_DOWN, _A.STOP
PITCH_MIN_DEG, PITCH_MAX_DEG = -60.0, 30.0


@dataclass
class ObjectNavConfig(EnvConfig):
    """Settings of the embedded ObjectNav task (RoboTHOR's defaults where they exist)."""

    id: str = ENV_ID
    split: str = "val"
    width: int = 224
    height: int = 224
    hfov: float = 90.0
    renderer: str = "auto"
    max_steps: int = 500
    success_distance: float = 1.0
    require_visible: bool = True
    min_visible_pixels: int = 10
    step_size: float = 0.25
    rotate_degrees: float = 30.0
    look_degrees: float = 30.0

    def __post_init__(self) -> None:
        """Range checks, so a setting no episode can be run (or scored) with fails before the first one.

        Keys are relative (`key=`): the loader prefixes the section's path, so the same message
        serves `env.*` in an experiment and `embodied episodes generate`.
        """
        if self.renderer not in ("auto", "tiny", "egl", "raycast"):
            raise ConfigError(f"got {self.renderer!r}, expected one of auto, tiny, egl, raycast", key="renderer")
        for name in ("width", "height", "max_steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"got {getattr(self, name)}, expected a positive integer", key=name)
        if not 0.0 < self.hfov < 180.0:
            raise ConfigError(f"got {self.hfov}, expected degrees in (0, 180)", key="hfov")
        # The agent's centre stays more than its radius from every object, so no position is within
        # a smaller success distance of a goal: every episode would be unsolvable (and the split
        # generator finds no start for any goal).
        radius = episodes_lib.AGENT_RADIUS
        if not self.success_distance > radius:
            raise ConfigError(f"got {self.success_distance}, expected metres > {radius:g} (the agent's "
                              "radius: its centre never comes closer to an object)", key="success_distance")
        if not 1 <= self.min_visible_pixels <= self.width * self.height:
            raise ConfigError(f"got {self.min_visible_pixels}, expected a pixel count in [1, "
                              f"{self.width * self.height}] (width x height); to drop the visibility "
                              "condition set env.require_visible=false", key="min_visible_pixels")
        if not self.step_size > 0.0:
            raise ConfigError(f"got {self.step_size}, expected metres > 0 (MoveAhead's step)", key="step_size")
        if not 0.0 < self.rotate_degrees <= 180.0:
            raise ConfigError(f"got {self.rotate_degrees}, expected degrees in (0, 180]", key="rotate_degrees")
        if not 0.0 < self.look_degrees <= PITCH_MAX_DEG - PITCH_MIN_DEG:
            raise ConfigError(f"got {self.look_degrees}, expected degrees in (0, {PITCH_MAX_DEG - PITCH_MIN_DEG:g}] "
                              "(the camera's pitch range)", key="look_degrees")


def _copy_navgrid(grid: NavGrid) -> NavGrid:
    """A NavGrid sharing no array with `grid` (and without its cached graph, rebuilt on use).

    Why not `copy.deepcopy`: it would also copy the cached search graph (tens of MB)."""
    return dataclasses.replace(grid, **{f.name: copy.deepcopy(getattr(grid, f.name))
                                        for f in dataclasses.fields(grid) if f.init})


def wrap_angle(a: float) -> float:
    """Angle in (-pi, pi], so yaws compare and print the same however the agent turned."""
    return math.atan2(math.sin(a), math.cos(a))


class ObjectNavEnv(gym.Env):
    """Find an instance of a named object category in a procedural house, then call Stop."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, config: ObjectNavConfig | None = None, render_mode: str | None = None,
                 privileged: bool = False, **overrides: Any) -> None:
        config = with_overrides(config or ObjectNavConfig(), overrides, "ObjectNavEnv")
        self.config = config
        self.render_mode = render_mode
        self.privileged = privileged
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.scene = PyBulletScene(width=config.width, height=config.height, hfov_deg=config.hfov,
                                   renderer=config.renderer,
                                   agent_radius=episodes_lib.AGENT_RADIUS,
                                   agent_height=episodes_lib.AGENT_HEIGHT,
                                   camera_height=episodes_lib.CAMERA_HEIGHT)
        self.scene_far = float(self.scene.far)
        self.observation_space = observation_space(config.height, config.width, self.scene_far, privileged)
        self._house_seed: int | None = None
        self._fields: dict[str, np.ndarray] = {}
        self._targets: dict[str, list[Target]] = {}
        self._file_episodes: list[dict[str, Any]] | None = None
        self._frame: dict[str, np.ndarray] = {}
        self.episode: dict[str, Any] | None = None

    # ----------------------------------------------------------------------------- episodes
    def _default_episode(self) -> dict[str, Any]:
        """An episode of the configured split, drawn with the env's RNG (reset without options)."""
        split = self.config.split
        if split in episodes_lib.SPLITS:
            size = episodes_lib.SPLITS[split].size
            index = int(self.np_random.integers(size))
            return episodes_lib.split_episode(split, index, self.config.success_distance)
        if self._file_episodes is None:
            self._file_episodes = episodes_lib.read_dataset(split)
        return self._file_episodes[int(self.np_random.integers(len(self._file_episodes)))]

    def _load_house(self, seed: int) -> None:
        if seed == self._house_seed:
            return
        self.house = episodes_lib.cached_house(seed)
        self.scene.load(self.house)
        self.footprints = episodes_lib.house_footprints(self.house)
        self.free_space = episodes_lib.house_free_space(self.house)
        self._grid: NavGrid | None = None
        self._fields = {}
        self._targets = {}
        self._house_seed = seed

    @property
    def grid(self) -> NavGrid:
        """The house's navigation grid, built on first use: scoring does not need it (l is exact),
        only plots and privileged agents do."""
        if self._grid is None:
            self._grid = episodes_lib.house_navgrid(self.house)
        return self._grid

    def _rays(self) -> episodes_lib.RayFn | None:
        """Line-of-sight queries when success requires visibility, else None."""
        return self.scene.ray_hits if self.config.require_visible else None

    def _goal_field(self, category: str) -> np.ndarray:
        """The grid's distance field to the success region: only oracles plan with it."""
        if category not in self._fields:
            self._fields[category] = episodes_lib.goal_field(
                self.grid, self.house, self.goal_boxes, self.config.success_distance, self._rays())
        return self._fields[category]

    def _goal_targets(self, category: str) -> list[Target]:
        """The exact success region (scoring): built once per house and category."""
        if category not in self._targets:
            self._targets[category] = episodes_lib.goal_targets(
                self.free_space, self.house, self.goal_boxes, self.config.success_distance,
                self._rays())
        return self._targets[category]

    # ----------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        spec = (options or {}).get("episode") or self._default_episode()
        self.episode = spec
        self._load_house(int(spec["house_seed"]))
        self.category = str(spec["category"])
        self.goal_boxes = episodes_lib.goal_boxes(self.house, self.category)
        if not self.goal_boxes:
            raise ValueError(f"episode {spec['episode_id']}: house {spec['house_seed']} has no "
                             f"{self.category!r}")
        self.targets = self._goal_targets(self.category)
        x, y, yaw = (float(v) for v in spec["start"])
        self.start = (x, y, yaw)
        self.position = np.array([x, y])
        self.yaw, self.pitch = yaw, 0.0
        self.trajectory = [self.position.copy()]
        self.path_length = 0.0
        self.steps = 0
        self.shortest_path_length = self._distance_to_goal()
        self.done = False
        obs = self._observe()
        info = {
            "episode_id": spec["episode_id"],
            "goal": self.category,
            "camera": {**self.scene.intrinsics(), "height_m": self.scene.camera_height},
            "renderer": self.scene.renderer,
            "actions": ACTIONS,
            # name -> the id obs["semantic"] uses: how an agent learns this backend's id scheme
            # without importing it (the ground-truth localizer reads it)
            "categories": {name: semantic_id(name) for name in category_names()},
        }
        if self.privileged:
            info["privileged"] = self._privileged_info()
        return obs, info

    def step(self, action: int) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.episode is None or self.done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        action = check_action(self.action_space, action)
        self.steps += 1
        success = self._apply(action)
        terminated = action == STOP
        truncated = not terminated and self.steps >= self.config.max_steps
        obs = self._observe(segment=terminated or truncated)
        info: dict[str, Any] = {"last_action_success": success, "steps": self.steps}
        if terminated or truncated:
            self.done = True
            info["metrics"] = self._metrics(stop_called=terminated)
            info["record"] = {"category": self.category, "renderer": self.scene.renderer}
        return obs, 0.0, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        from embodied import viz
        return viz.objectnav_frame(self._frame["rgb"], self.grid, self.trajectory,
                                   (self.position[0], self.position[1], self.yaw),
                                   self.goal_boxes, self.category)

    def close(self) -> None:
        self.scene.close()

    # ----------------------------------------------------------------- continuous motion (ros-sim)
    def drive(self, linear: float, angular: float) -> bool:
        """Continuous motion for a velocity-commanded robot (`embodied ros-sim`): turn by `angular`
        rad, then move `linear` m along the new heading under the same collision rule as
        MoveAhead (a blocked move leaves the position unchanged). Counts into the path length, not
        into the steps. False when the move was blocked."""
        if self.episode is None or self.done:
            raise RuntimeError("drive() called before reset() or after the episode ended")
        self.yaw = wrap_angle(self.yaw + float(angular))
        if abs(linear) < 1e-9:
            return True
        return self._slide(float(linear))

    def observe(self) -> dict[str, Any]:
        """The observation at the current pose (a velocity-commanded robot is observed at a rate,
        not per action)."""
        return self._observe()

    def stop_metrics(self, stop_called: bool = True) -> dict[str, Any]:
        """The episode's metrics ended here -- by Stop, or (`stop_called=False`) by a step limit
        or a safety halt, which never succeed. What `ros-sim` reports when a client ends it."""
        self._observe(segment=True)
        return self._metrics(stop_called=stop_called)

    # ----------------------------------------------------------------------------- internals
    def _slide(self, distance: float) -> bool:
        """Move `distance` m along the heading if the collision rule allows; the path grows."""
        target = self.position + distance * np.array([math.cos(self.yaw), math.sin(self.yaw)])
        if not self.scene.try_move(self.position, target):
            return False
        self.path_length += float(np.linalg.norm(target - self.position))
        self.position = target
        self.trajectory.append(target.copy())
        return True

    def _apply(self, action: int) -> bool:
        cfg = self.config
        if action == MOVE_AHEAD:
            return self._slide(cfg.step_size)
        if action in (ROTATE_LEFT, ROTATE_RIGHT):
            sign = 1.0 if action == ROTATE_LEFT else -1.0
            self.yaw = wrap_angle(self.yaw + sign * math.radians(cfg.rotate_degrees))
            return True
        if action in (LOOK_UP, LOOK_DOWN):
            sign = 1.0 if action == LOOK_UP else -1.0
            pitch = self.pitch + sign * math.radians(cfg.look_degrees)
            lo, hi = math.radians(PITCH_MIN_DEG), math.radians(PITCH_MAX_DEG)
            if pitch < lo - 1e-9 or pitch > hi + 1e-9:
                return False
            self.pitch = pitch
            return True
        return True  # Stop

    def _observe(self, segment: bool = False) -> dict[str, Any]:
        want_seg = segment or self.privileged
        frame = self.scene.render(self.position[0], self.position[1], self.yaw, self.pitch,
                                  want_depth=True, want_seg=want_seg)
        self._frame = frame
        obs = {
            "rgb": frame["rgb"].copy(),  # the frame stays the env's (render); the agent gets its own
            "depth": frame["depth"][..., None].astype(np.float32),
            "pose": self._relative_pose(),
            "goal": self.category,
        }
        if self.privileged:
            obs["instance"] = frame["instance"].astype(np.int32)
            obs["semantic"] = frame["semantic"].astype(np.int32)
        return obs

    def _relative_pose(self) -> np.ndarray:
        """GPS+compass: position and heading in the frame of the start pose."""
        x0, y0, yaw0 = self.start
        dx, dy = self.position[0] - x0, self.position[1] - y0
        c, s = math.cos(-yaw0), math.sin(-yaw0)
        return np.array([c * dx - s * dy, s * dx + c * dy, wrap_angle(self.yaw - yaw0), self.pitch],
                        dtype=np.float32)

    def _distance_to_goal(self) -> float:
        """Exact shortest path length from the agent to the success region (SPL's l, d_T)."""
        return float(self.free_space.distance_to(self.targets, self.position))

    def visible_pixels(self) -> dict[int, int]:
        """Pixels of each goal instance in the last frame (needs a segmented frame)."""
        inst = self._frame.get("instance")
        if inst is None:
            return {}
        return {iid: int(np.count_nonzero(inst == iid)) for _, _, iid in self.goal_boxes}

    def _metrics(self, stop_called: bool) -> dict[str, Any]:
        cfg = self.config
        pixels = self.visible_pixels()
        success = False
        for lo, hi, iid in self.goal_boxes:
            distance = metrics.distance_to_box_2d(self.position, lo, hi)
            visible = pixels.get(iid, 0) >= cfg.min_visible_pixels
            success = success or metrics.objectnav_success(
                stop_called, distance, cfg.success_distance, visible, cfg.require_visible)
        d_final = self._distance_to_goal()
        l, p = self.shortest_path_length, self.path_length
        return {
            "success": bool(success),
            "spl": metrics.spl(success, l, p),
            "soft_spl": metrics.soft_spl(l, d_final, l, p),
            "distance_to_goal": d_final,
            "path_length": p,
            "shortest_path_length": l,
            "steps": self.steps,
        }

    def _privileged_info(self) -> dict[str, Any]:
        """What oracles may read: the map, the goal region's distance field, the goal boxes.

        All copies: the grid, the distance field and the boxes are what the env scores with (and
        caches across episodes), so an agent writing into what it was handed must not change
        any episode's shortest path or success. Copying costs well under a millisecond per
        reset, paid only by privileged envs.
        """
        return {
            "navgrid": _copy_navgrid(self.grid),
            "footprints": copy.deepcopy(self.footprints),
            "bounds": tuple(self.house.bounds),
            "agent_radius": episodes_lib.AGENT_RADIUS,
            "goal_field": self._goal_field(self.category).copy(),
            "goal_semantic_id": semantic_id(self.category),
            "goal_boxes": copy.deepcopy(self.goal_boxes),
            "start_world": self.start,
            "success_distance": self.config.success_distance,
            "min_visible_pixels": self.config.min_visible_pixels,
            "step_size": self.config.step_size,
            "rotate_degrees": self.config.rotate_degrees,
            "look_degrees": self.config.look_degrees,
            "goal_heights": {iid: self._instance_height(iid) for _, _, iid in self.goal_boxes},
        }

    def _instance_height(self, instance_id: int) -> tuple[float, float]:
        for obj in self.house.objects:
            if obj.instance_id == instance_id:
                lo, hi = obj.world_aabb()
                return float(lo[2]), float(hi[2])
        raise KeyError(instance_id)
