"""RoboTHOR ObjectNav on AI2-THOR: `embodied/ObjectNav-RoboTHOR-v0`.

The same task contract as the PyBullet ObjectNav env (docs/design.md): observations `rgb`,
`depth` (H, W, 1), `pose` (GPS+compass relative to the start, absolute camera pitch) and `goal`;
the six `DiscreteNavigationAction`s; reset info with `goal`, `camera`, `actions` and
`categories`; and the metrics Success, SPL, soft-SPL computed here with `embodied.metrics`, so
every agent runs unchanged and is scored alike on both backends.

The rules are the RoboTHOR challenge's (allenai/robothor-challenge, 2021):

* episodes come from the challenge's dataset files (`env.dataset`, see robothor_episodes.py);
* success = the agent called Stop while an object of the goal type is `visible` in THOR's
  metadata *and* within `success_distance` (1.0 m) by THOR's `distance` (the challenge sets
  `visibilityDistance` 1.0, so THOR's `visible` already implies it; checking both keeps the rule
  true whatever `env.thor.visibility_distance` says);
* SPL = S * l / max(p, l): l is the length of THOR's shortest path (`GetShortestPath` to the goal
  object type from the start, via `ai2thor.util.metrics.get_shortest_path_to_object_type`), p the
  length of the agent's recorded 3-D path (its position after every action, as the challenge
  records it). That is `ai2thor.util.metrics.compute_single_spl(path, shortest_path, success)`
  for every l > 0; the tests check the two agree on recorded paths. (For l == 0 metrics.spl
  scores a success 1.0 where compute_single_spl gives 0 to any path that moved.)
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from embodied import metrics
from embodied.config import ConfigError, EnvConfig, with_overrides
from embodied.envs.ai2thor import robothor_episodes as episodes_lib
from embodied.envs.ai2thor.controller import (ThorSettings, agent_pose, camera_intrinsics,
                                              event_observation, floor_height, make_controller,
                                              object_categories, thor_action, thor_to_world)
from embodied.envs.objectnav_spaces import check_action, observation_space
from embodied.interfaces import NAVIGATION_ACTION_NAMES, DiscreteNavigationAction

ENV_ID = "embodied/ObjectNav-RoboTHOR-v0"
ACTIONS = NAVIGATION_ACTION_NAMES
STOP = DiscreteNavigationAction.STOP
FAR = 20.0  # m: THOR's camera far plane (ai2thor.server.Server.camera_far_plane)
#: RoboTHOR ObjectNav's 12 goal categories (the challenge's object types).
ROBOTHOR_CATEGORIES = ("AlarmClock", "Apple", "BaseballBat", "BasketBall", "Bowl", "GarbageCan",
                       "HousePlant", "Laptop", "Mug", "SprayBottle", "Television", "Vase")
CONTROLLERS = ("ai2thor", "fake")   # the same spellings as Rearrange-iTHOR's env.controller
AGENT_RADIUS = 0.18   # m: LoCoBot's footprint radius, for the privileged navigation grid
NAVGRID_RESOLUTION = 0.05


@dataclass
class RobothorObjectNavConfig(EnvConfig):
    """RoboTHOR ObjectNav on AI2-THOR, by the 2021 challenge's rules (`env.thor`: the player)."""

    id: str = ENV_ID
    split: str = "val"
    dataset: str | None = None
    controller: str = "ai2thor"
    thor: ThorSettings = field(default_factory=ThorSettings)
    max_steps: int = 500
    success_distance: float = 1.0
    shortest_path: str = "query"

    def __post_init__(self) -> None:
        if isinstance(self.thor, dict):  # gymnasium.make(..., thor={"width": 64})
            self.thor = ThorSettings(**self.thor)
        if self.controller not in CONTROLLERS:
            raise ConfigError(f"got {self.controller!r}, expected ai2thor (the AI2-THOR player) or fake "
                              "(embodied.envs.ai2thor.fake: a box world for tests, no simulator)",
                              key="controller")
        if self.max_steps < 1:
            raise ConfigError(f"got {self.max_steps}, expected a positive integer", key="max_steps")
        if not self.success_distance > 0.0:
            raise ConfigError(f"got {self.success_distance}, expected metres > 0", key="success_distance")
        if self.shortest_path not in ("query", "dataset"):
            raise ConfigError(f"got {self.shortest_path!r}, expected query (THOR's GetShortestPath "
                              "from the start) or dataset (the episode's shortest_path)", key="shortest_path")


def build_controller(config: RobothorObjectNavConfig) -> Any:
    """The controller `config.controller` names: THOR's (checked, never downloading) or the fake."""
    if config.controller == "fake":
        from embodied.envs.ai2thor.fake import FakeController

        return FakeController(config.thor)
    return make_controller(config.thor)


def path_length_3d(points: list[dict[str, float]]) -> float:
    """Length of a polyline of THOR {x, y, z} points (all three coordinates, like ai2thor's
    `path_distance`)."""
    if len(points) < 2:
        return 0.0
    return metrics.path_length(np.array([[p["x"], p["y"], p["z"]] for p in points], dtype=float))


class RobothorObjectNavEnv(gym.Env):
    """Find an object of a named type in a RoboTHOR apartment, then call Stop (AI2-THOR)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, config: RobothorObjectNavConfig | None = None, render_mode: str | None = None,
                 privileged: bool = False, thor_controller: Any = None, **overrides: Any) -> None:
        config = with_overrides(config or RobothorObjectNavConfig(), overrides, "RobothorObjectNavEnv")
        if isinstance(config.thor, dict):
            config.__post_init__()
        self.config = config
        self.render_mode = render_mode
        self.privileged = privileged
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.observation_space = observation_space(config.thor.height, config.thor.width, FAR, privileged)
        if privileged and not config.thor.render_instance_segmentation:
            raise ConfigError("a privileged agent needs instance masks; set "
                              "env.thor.render_instance_segmentation=true", key="env.thor")
        # `thor_controller`: an already started controller to drive (tests, notebooks); else the
        # one `config.controller` names
        self.controller = thor_controller if thor_controller is not None else build_controller(config)
        self._episodes: list[dict[str, Any]] | None = None
        self._scene: str | None = None
        self._geometry: dict[str, Any] = {}
        self.episode: dict[str, Any] | None = None
        self.done = False

    # ----------------------------------------------------------------------------- episodes
    def _default_episode(self) -> dict[str, Any]:
        if self._episodes is None:
            self._episodes = list_robothor_episodes(self.config, check=False)
        return self._episodes[int(self.np_random.integers(len(self._episodes)))]

    def _shortest_path(self, position: dict[str, float]) -> list[dict[str, float]]:
        """THOR's shortest path (corners) from `position` to the goal type; ValueError if none."""
        from ai2thor.util.metrics import get_shortest_path_to_object_type  # lazy: optional extra

        return get_shortest_path_to_object_type(self.controller, self.category,
                                                {k: float(position[k]) for k in ("x", "y", "z")})

    # ----------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        spec = (options or {}).get("episode") or self._default_episode()
        self.episode = spec
        self.category = str(spec["object_type"])
        if spec["scene"] != self._scene:
            self.controller.reset(spec["scene"])
            self._scene = str(spec["scene"])
            self._geometry = {}
        pos = spec["initial_position"]
        event = self.controller.step(action="TeleportFull", x=float(pos["x"]), y=float(pos["y"]),
                                     z=float(pos["z"]),
                                     rotation={"x": 0.0, "y": float(spec["initial_orientation"]), "z": 0.0},
                                     horizon=float(spec.get("initial_horizon", 0.0)), standing=True)
        if not event.metadata["lastActionSuccess"]:
            raise RuntimeError(f"episode {spec['episode_id']}: THOR refused the start pose in "
                               f"{spec['scene']} ({event.metadata.get('errorMessage')})")
        self.start = agent_pose(event.metadata)[:3]
        self.path = [dict(event.metadata["agent"]["position"])]
        if self.config.shortest_path == "dataset" and spec.get("shortest_path"):
            self.shortest_path = [dict(p) for p in spec["shortest_path"]]
        else:
            try:
                self.shortest_path = self._shortest_path(self.path[0])
            except ValueError as exc:
                raise RuntimeError(f"episode {spec['episode_id']}: {exc}") from None
        self.shortest_path_length = path_length_3d(self.shortest_path)
        self.steps = 0
        self.done = False
        self._event = event
        self.categories = object_categories(event)
        camera_height = float(event.metadata["cameraPosition"]["y"]) - floor_height(event.metadata)
        self.camera = camera_intrinsics(self.config.thor, camera_height, FAR)
        info = {
            "episode_id": spec["episode_id"],
            "goal": self.category,
            "camera": dict(self.camera),
            "renderer": "fake" if getattr(self.controller, "is_fake", False) else "ai2thor",
            "scene": self._scene,
            "actions": ACTIONS,
            "categories": dict(self.categories),
        }
        if self.privileged:
            info["privileged"] = self._privileged_info(event)
        return self._observe(event), info

    def step(self, action: int) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.episode is None or self.done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        action = check_action(self.action_space, action)
        self.steps += 1
        command = thor_action(action, self.config.thor)
        if command is None:  # Stop: THOR is not stepped; the last event is scored
            event, success = self._event, True
        else:
            event = self.controller.step(**command)
            success = bool(event.metadata["lastActionSuccess"])
            self.path.append(dict(event.metadata["agent"]["position"]))
        self._event = event
        terminated = action == STOP
        truncated = not terminated and self.steps >= self.config.max_steps
        info: dict[str, Any] = {"last_action_success": success, "steps": self.steps}
        if terminated or truncated:
            self.done = True
            info["metrics"] = self._metrics(event, stop_called=terminated)
            info["record"] = {"category": self.category, "scene": self._scene,
                              "renderer": "fake" if getattr(self.controller, "is_fake", False) else "ai2thor",
                              "path": [[p["x"], p["y"], p["z"]] for p in self.path],
                              "shortest_path": [[p["x"], p["y"], p["z"]] for p in self.shortest_path],
                              "dataset_shortest_path_length": self.episode.get("shortest_path_length")}
        return self._observe(event), 0.0, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.episode is None:
            return None
        frame = self._event.frame
        return np.zeros((self.config.thor.height, self.config.thor.width, 3), np.uint8) if frame is None \
            else np.array(frame[..., :3], dtype=np.uint8)

    def close(self) -> None:
        stop = getattr(self.controller, "stop", None)
        if callable(stop):
            stop()

    # ----------------------------------------------------------------------------- internals
    def _observe(self, event: Any) -> dict[str, Any]:
        return event_observation(event, self.start, self.category, self.categories,
                                 masks=self.privileged, far=FAR)

    def goal_visible(self, event: Any) -> bool:
        """An object of the goal type is `visible` and within `success_distance` (THOR's metadata)."""
        return any(o["objectType"] == self.category and o.get("visible")
                   and float(o.get("distance", math.inf)) <= self.config.success_distance
                   for o in event.metadata["objects"])

    def _distance_to_goal(self, position: dict[str, float]) -> float:
        """Geodesic distance (m) from `position` to the goal (THOR's shortest path); inf if none."""
        try:
            return path_length_3d(self._shortest_path(position))
        except ValueError:
            return math.inf

    def _metrics(self, event: Any, stop_called: bool) -> dict[str, Any]:
        success = bool(stop_called and self.goal_visible(event))
        p, l = path_length_3d(self.path), self.shortest_path_length
        d_final = self._distance_to_goal(self.path[-1])
        return {
            "success": success,
            "spl": metrics.spl(success, l, p),
            "soft_spl": metrics.soft_spl(l, d_final, l, p),
            "distance_to_goal": d_final,
            "path_length": p,
            "shortest_path_length": l,
            "steps": self.steps,
        }

    # ---------------------------------------------------------------------- privileged (oracles)
    def _scene_geometry(self) -> dict[str, Any]:
        """The scene's navigable space as the oracle plans in it: THOR's reachable positions on
        its grid; every grid point inside their bounds that is *not* reachable is a point
        obstacle. An approximation of the scene (THOR lists no walls), built once per scene."""
        if not self._geometry:
            g = self.config.thor.grid_size
            event = self.controller.step(action="GetReachablePositions")
            reach = np.array([thor_to_world(p) for p in (event.metadata["actionReturn"] or [])], float)
            if not len(reach):
                raise RuntimeError(f"{self._scene}: THOR returned no reachable positions")
            lo, hi = reach.min(axis=0) - g, reach.max(axis=0) + g
            key = {tuple(np.round(p / g).astype(int)) for p in reach}
            ii = np.arange(int(round(lo[0] / g)), int(round(hi[0] / g)) + 1)
            jj = np.arange(int(round(lo[1] / g)), int(round(hi[1] / g)) + 1)
            blocked = [np.array([[i * g, j * g]]) for i in ii for j in jj if (i, j) not in key]
            bounds = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
            self._geometry = {"footprints": blocked, "bounds": bounds}
        return self._geometry

    def _privileged_info(self, event: Any) -> dict[str, Any]:
        """What oracles read (the keys the PyBullet env hands out), from THOR's metadata and
        reachable positions; copies throughout."""
        from embodied.perception.navgrid import NavGrid, distance_field

        geo = self._scene_geometry()
        grid = NavGrid.from_footprints(geo["footprints"], geo["bounds"], resolution=NAVGRID_RESOLUTION,
                                       inflation=AGENT_RADIUS)
        floor = floor_height(event.metadata)
        agent_y = float(event.metadata["agent"]["position"]["y"])
        boxes, heights, reach = [], {}, []
        for k, obj in enumerate(event.metadata["objects"]):
            if obj["objectType"] != self.category:
                continue
            # THOR's `distance` is agent centre to object centre (3-D): the goal "box" is the
            # centre, and the reach the ground distance that keeps the 3-D one within range
            box = obj["axisAlignedBoundingBox"]
            c, s = box["center"], box["size"]
            centre = np.array([c["x"], c["z"]], float)
            boxes.append((centre.copy(), centre.copy(), k + 1))
            heights[k + 1] = (c["y"] - s["y"] / 2 - floor, c["y"] + s["y"] / 2 - floor)
            dy = float(obj["position"]["y"]) - agent_y
            reach.append(math.sqrt(max(self.config.success_distance ** 2 - dy * dy, 0.0)))
        reach_m = max(min(reach, default=0.0) - 0.05, 0.05)
        h, w = grid.free.shape
        xs = grid.origin[0] + (np.arange(w) + 0.5) * grid.resolution
        ys = grid.origin[1] + (np.arange(h) + 0.5) * grid.resolution
        near = np.zeros((h, w), bool)
        for lo, hi, _ in boxes:
            dx = np.maximum(np.maximum(lo[0] - xs, xs - hi[0]), 0.0)
            dy = np.maximum(np.maximum(lo[1] - ys, ys - hi[1]), 0.0)
            near |= np.hypot(dy[:, None], dx[None, :]) <= reach_m
        return {
            "navgrid": grid,
            "footprints": copy.deepcopy(geo["footprints"]),
            "bounds": tuple(geo["bounds"]),
            "agent_radius": AGENT_RADIUS,
            "goal_field": distance_field(grid, near & grid.free),
            "goal_semantic_id": self.categories.get(self.category, 0),
            "goal_boxes": boxes,
            "start_world": tuple(self.start),
            "success_distance": reach_m,
            "min_visible_pixels": 1,
            "step_size": self.config.thor.grid_size,
            "rotate_degrees": self.config.thor.rotate_step_degrees,
            "look_degrees": self.config.thor.horizon_step_degrees,
            "goal_heights": heights,
        }


def list_robothor_episodes(cfg: RobothorObjectNavConfig, check: bool = True) -> list[dict[str, Any]]:
    """The episodes of `env.split` in `env.dataset` (the fake's own when the fake runs without one).

    With the real controller this first checks that THOR can start here (`check`): the runner
    lists episodes before it starts any worker, so a machine without the player build, a GPU or
    a display learns it in well under a second, with the fix, instead of after the workers spawn.
    """
    if cfg.controller == "ai2thor" and check:
        from embodied.envs.ai2thor.controller import check_thor_available

        check_thor_available(cfg.thor)
    if cfg.controller == "fake" and not cfg.dataset:
        from embodied.envs.ai2thor.fake import fake_episodes

        return fake_episodes()
    return episodes_lib.read_episodes(cfg.dataset, cfg.split)
