"""ObjectNav on habitat-sim: `embodied/ObjectNav-Habitat-v0`, the task habitat-lab defines, scored here.

The env reads habitat-lab's ObjectNav episode files (HM3D, MP3D), drives `habitat_sim` directly
(no habitat-lab) and hands agents exactly what ObjectNav-PyBullet hands them -- rgb, depth in
metres, a GPS+compass pose relative to the start, the goal's name, the same six actions
(`embodied.interfaces.DiscreteNavigationAction`) -- so every agent runs unchanged on both.

The rules are habitat-lab's ObjectNav task (`habitat/config/habitat/task/objectnav.yaml`,
`habitat/tasks/nav/nav.py`), not RoboTHOR's:

* **Success**: Stop was called and the geodesic distance from the agent to the nearest *view
  point* of any goal instance of the category is < `success_distance` (0.1 m); no visibility
  condition (the view points are where the object was visible from when the dataset was made).
  Strictly less, as habitat-lab's `Success` measure: `metrics.objectnav_success` tests <=, so it
  is given the largest float below 0.1.
* **SPL** = S * l / max(p, l): l is the geodesic distance from the start to the nearest view point
  on the simulator's navmesh (`pathfinder.find_path(MultiGoalShortestPath)`, what habitat-lab's
  `DistanceToGoal` measures at reset), p the summed 3-D straight-line distance between the agent's
  positions after each step (habitat-lab's `SPL`). Soft-SPL as habitat-lab's `SoftSPL`. The
  formulas are `embodied.metrics`', shared with every backend.

Coordinates. Habitat is y-up, and an agent looks along its local -z; the framework (PyBullet
ObjectNav, `perception.geometry`) is z-up with yaw counter-clockwise from +x. The proper rotation
    x_f = -z_h,  y_f = -x_h,  z_f = y_h
maps one onto the other: a body rotated by theta about +y (habitat's `turn_left` is +theta) looks
along (-sin theta, 0, -cos theta), i.e. along (cos theta, sin theta) in the framework, so the
framework yaw *is* habitat's rotation angle about +y. `obs["pose"]` is then (x, y, yaw, pitch) in
the frame of the start pose, exactly as on PyBullet (habitat-lab's GPS sensor reports (forward,
right); this pose is (forward, left)). Pitch is the sensors' tilt (look_up/look_down), kept in
[-60, +30] degrees as on PyBullet: a look beyond it is refused without reaching the simulator.

Camera. rgb and depth come from two pinhole cameras at the same pose, `camera_height` above the
agent's feet, `hfov` degrees across the width, square pixels, principal point at the image centre:
fx = fy = (W / 2) / tan(hfov / 2), cx = (W - 1) / 2 -- what `info["camera"]` says, and what
`Intrinsics` lifts with. Depth is habitat's z-depth in metres, unclipped and unnormalised (0 where
nothing was hit), because agents map with metres (habitat-lab's configs clip to [0.5, 5] m and
normalise; CoW's mapper applies its own 5 m cut-off).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from scipy.spatial import cKDTree

from embodied import metrics
from embodied.config import ConfigError, EnvConfig, with_overrides
from embodied.envs.habitat import episodes as episodes_lib
from embodied.envs.habitat import sim as sim_lib
from embodied.envs.objectnav_spaces import check_action, observation_space
from embodied.interfaces import NAVIGATION_ACTION_NAMES, DiscreteNavigationAction
from embodied.perception.navgrid import NavGrid, distance_field

__all__ = ["ENV_ID", "HabitatObjectNavConfig", "HabitatObjectNavEnv", "habitat_to_world",
           "world_to_habitat", "yaw_from_rotation", "rotation_from_yaw", "scene_path"]

ENV_ID = "embodied/ObjectNav-Habitat-v0"
ACTIONS = NAVIGATION_ACTION_NAMES
_A = DiscreteNavigationAction
PITCH_MIN_DEG, PITCH_MAX_DEG = -60.0, 30.0   # as ObjectNav-PyBullet
DEPTH_FAR = 1000.0   # habitat-sim's CameraSensorSpec.far default: no depth exceeds it
SCENES_PREFIX = "data/scene_datasets/"   # habitat-lab strips it before joining scenes_dir
#: which habitat-sim control each moving action is (Stop never reaches the simulator)
SIM_ACTIONS = {_A.MOVE_AHEAD: "move_forward", _A.ROTATE_LEFT: "turn_left",
               _A.ROTATE_RIGHT: "turn_right", _A.LOOK_UP: "look_up", _A.LOOK_DOWN: "look_down"}


@dataclass
class HabitatObjectNavConfig(EnvConfig):
    """Habitat ObjectNav: habitat-lab's objectnav_hm3d.yaml settings, CoW's 224 x 224 images.

    From habitat-lab (benchmark/nav/objectnav/objectnav_hm3d.yaml and _mp3d.yaml, which agree):
    500 steps, hfov 79, camera 0.88 m up, agent height 0.88 m and radius 0.18 m, no sliding,
    0.25 m steps, 30 degree turns and tilts, success within 0.1 m of a view point. Changed: the
    image is 224 x 224 (CoW's and CLIP's input size) instead of 640 x 480.
    `split` is a split name (filled into `data_path`) or a path to a .json(.gz) episode file;
    `simulator` is habitat_sim, or fake for the test double (`embodied.envs.habitat.fake`, not
    Habitat). `map_resolution` is the cell size of the navigation grid privileged agents get.
    """

    id: str = ENV_ID
    split: str = "val"
    data_path: str = "data/datasets/objectnav/hm3d/v1/{split}/{split}.json.gz"
    scenes_dir: str = "data/scene_datasets"
    scene_dataset_config: str = "data/scene_datasets/hm3d/hm3d_annotated_basis.scene_dataset_config.json"
    simulator: str = "habitat_sim"
    gpu_device_id: int = 0
    width: int = 224
    height: int = 224
    hfov: float = 79.0
    camera_height: float = 0.88
    agent_height: float = 0.88
    agent_radius: float = 0.18
    allow_sliding: bool = False
    max_steps: int = 500
    success_distance: float = 0.1
    step_size: float = 0.25
    rotate_degrees: float = 30.0
    look_degrees: float = 30.0
    map_resolution: float = 0.05

    def __post_init__(self) -> None:
        """Range checks, so a setting no episode could run with fails before the first one."""
        if self.simulator not in sim_lib.SIMULATORS:
            raise ConfigError(f"got {self.simulator!r}, expected one of {', '.join(sim_lib.SIMULATORS)}",
                              key="simulator")
        if self.gpu_device_id < 0:
            raise ConfigError(f"got {self.gpu_device_id}, expected a CUDA device index >= 0",
                              key="gpu_device_id")
        for name in ("width", "height", "max_steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"got {getattr(self, name)}, expected a positive integer", key=name)
        if not 0.0 < self.hfov < 180.0:
            raise ConfigError(f"got {self.hfov}, expected degrees in (0, 180)", key="hfov")
        for name in ("camera_height", "agent_height", "agent_radius", "success_distance",
                     "step_size", "map_resolution"):
            if not getattr(self, name) > 0.0:
                raise ConfigError(f"got {getattr(self, name)}, expected metres > 0", key=name)
        if not 0.0 < self.rotate_degrees <= 180.0:
            raise ConfigError(f"got {self.rotate_degrees}, expected degrees in (0, 180]", key="rotate_degrees")
        if not 0.0 < self.look_degrees <= PITCH_MAX_DEG - PITCH_MIN_DEG:
            raise ConfigError(f"got {self.look_degrees}, expected degrees in (0, "
                              f"{PITCH_MAX_DEG - PITCH_MIN_DEG:g}] (the camera's pitch range)",
                              key="look_degrees")


# ---------------------------------------------------------------------------------- coordinates
def habitat_to_world(p: Sequence[float]) -> np.ndarray:
    """Habitat (x, y up, z) -> framework (x, y, z up): (-z, -x, y). Works on (..., 3)."""
    a = np.asarray(p, dtype=float)
    return np.stack([-a[..., 2], -a[..., 0], a[..., 1]], axis=-1)


def world_to_habitat(p: Sequence[float]) -> np.ndarray:
    """The inverse of `habitat_to_world`: framework (x, y, z) -> habitat (-y, z, -x)."""
    a = np.asarray(p, dtype=float)
    return np.stack([-a[..., 1], a[..., 2], -a[..., 0]], axis=-1)


def _wxyz(rotation: Any) -> tuple[float, float, float, float]:
    if hasattr(rotation, "scalar") and hasattr(rotation, "vector"):   # magnum.Quaternion
        v = rotation.vector
        return float(rotation.scalar), float(v[0]), float(v[1]), float(v[2])
    if hasattr(rotation, "w"):                                         # np.quaternion and alikes
        return float(rotation.w), float(rotation.x), float(rotation.y), float(rotation.z)
    x, y, z, w = (float(v) for v in np.asarray(rotation, dtype=float).reshape(4))   # habitat's coeffs
    return w, x, y, z


def yaw_from_rotation(rotation: Any) -> float:
    """Framework yaw (rad, in (-pi, pi]) of a habitat rotation: a quaternion (numpy-quaternion,
    magnum) or habitat's [x, y, z, w] coefficients. The heading of the rotated forward axis (0, 0,
    -1), so a tilted body still gets the yaw it faces."""
    w, x, y, z = _wxyz(rotation)
    u = np.array([x, y, z])
    v = np.array([0.0, 0.0, -1.0])
    uv = np.cross(u, v)
    f = v + 2.0 * w * uv + 2.0 * np.cross(u, uv)
    yaw = math.atan2(-f[0], -f[2])
    return math.pi if yaw <= -math.pi else yaw


def rotation_from_yaw(yaw: float) -> list[float]:
    """habitat's [x, y, z, w] coefficients of a body facing framework yaw `yaw` (about +y)."""
    return [0.0, math.sin(yaw / 2.0), 0.0, math.cos(yaw / 2.0)]


def wrap_angle(a: float) -> float:
    return math.atan2(math.sin(a), math.cos(a))


def scene_path(scene_id: str, scenes_dir: str) -> str:
    """Where the scene file is: `scenes_dir` joined with the episode's scene_id (without
    habitat-lab's "data/scene_datasets/" prefix, as habitat-lab joins them)."""
    sid = scene_id[len(SCENES_PREFIX):] if scene_id.startswith(SCENES_PREFIX) else scene_id
    return str(Path(scenes_dir) / sid)


def _object_id(goal: dict[str, Any]) -> int | None:
    """A goal's `object_id` as the int the semantic sensor reports (None if it is not one)."""
    oid = goal.get("object_id")
    return int(oid) if isinstance(oid, int) or (isinstance(oid, str) and oid.isdigit()) else None


def _footprints(grid: NavGrid) -> list[np.ndarray]:
    """The grid's non-navigable cells as rectangles (runs along each row merged): what the
    oracle rasterises its own finer grid from. Thousands of rectangles, not 10^5 squares."""
    res, (x0, y0) = grid.resolution, grid.origin
    blocked = ~grid.free
    out = []
    for i in range(blocked.shape[0]):
        row = np.concatenate([[False], blocked[i], [False]]).astype(np.int8)
        starts, ends = np.flatnonzero(np.diff(row) == 1), np.flatnonzero(np.diff(row) == -1)
        ya, yb = y0 + i * res, y0 + (i + 1) * res
        for j0, j1 in zip(starts, ends):
            xa, xb = x0 + j0 * res, x0 + j1 * res
            out.append(np.array([[xa, ya], [xb, ya], [xb, yb], [xa, yb]]))
    return out


class HabitatObjectNavEnv(gym.Env):
    """Find an instance of a named object category in a Habitat scene (HM3D, MP3D), then Stop."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, config: HabitatObjectNavConfig | None = None, render_mode: str | None = None,
                 privileged: bool = False, backend: Any = None, **overrides: Any) -> None:
        """`backend` is the module implementing habitat-sim's API the env drives: None means
        `config.simulator` (habitat_sim after its fast checks, or the fake); tests pass a double."""
        config = with_overrides(config or HabitatObjectNavConfig(), overrides, "HabitatObjectNavEnv")
        self.config = config
        self.render_mode = render_mode
        self.privileged = privileged
        self.hs = backend if backend is not None else sim_lib.load_backend(config.simulator,
                                                                           config.gpu_device_id)
        self.simulator_name = "fake" if sim_lib.is_fake(self.hs) else "habitat-sim"
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.observation_space = observation_space(config.height, config.width, DEPTH_FAR, privileged)
        self.sim: Any = None
        self._scene: str | None = None
        self._file_episodes: list[dict[str, Any]] | None = None
        self._grids: dict[tuple[str, float], NavGrid] = {}
        self._frame: dict[str, np.ndarray] = {}
        self.episode: dict[str, Any] | None = None
        self.done = False

    # ----------------------------------------------------------------------------- episodes
    def _default_episode(self) -> dict[str, Any]:
        """An episode of `env.split`, drawn with the env's RNG (reset without options)."""
        if self._file_episodes is None:
            path = episodes_lib.split_path(self.config.split, self.config.data_path)
            self._file_episodes = episodes_lib.read_episodes(path)
        return self._file_episodes[int(self.np_random.integers(len(self._file_episodes)))]

    def _settings(self, scene: str) -> sim_lib.SimSettings:
        c = self.config
        return sim_lib.SimSettings(
            scene_id=scene, scene_dataset_config=c.scene_dataset_config, gpu_device_id=c.gpu_device_id,
            width=c.width, height=c.height, hfov=c.hfov, camera_height=c.camera_height,
            agent_height=c.agent_height, agent_radius=c.agent_radius, allow_sliding=c.allow_sliding,
            step_size=c.step_size, turn_degrees=c.rotate_degrees, tilt_degrees=c.look_degrees,
            semantic=self.privileged)

    def _load_scene(self, scene_id: str) -> None:
        """Build the simulator on the first episode, reconfigure it when the scene changes."""
        scene = scene_path(scene_id, self.config.scenes_dir)
        if scene == self._scene:
            return
        if self.simulator_name == "habitat-sim":
            if not Path(scene).is_file():
                raise ConfigError(f"scene {scene!r} does not exist; {episodes_lib.DATASETS_HELP}",
                                  key="env.scenes_dir")
            cfg_file = self.config.scene_dataset_config
            if cfg_file != "default" and not Path(cfg_file).is_file():
                raise ConfigError(f"{cfg_file!r} does not exist (HM3D's semantic annotations "
                                  "come with hm3d_annotated_basis.scene_dataset_config.json; set "
                                  "it to \"default\" for MP3D)", key="env.scene_dataset_config")
        if self.sim is None:
            self.sim = sim_lib.make_simulator(self.hs, self._settings(scene))
        else:
            self.sim.reconfigure(sim_lib.make_configuration(self.hs, self._settings(scene)))
        self._scene = scene

    def _goal_setup(self, spec: dict[str, Any]) -> None:
        """The episode's goals, from its dataset file: the view points (success and l), each
        one's object, the category ids, and instance id -> category id for obs["semantic"]."""
        goals, task_ids = episodes_lib.read_goals(spec["dataset"])
        goal_list = goals[spec["goals_key"]]
        self.goal_objects = [(oid, np.asarray(g["position"], float)) for g in goal_list
                             if (oid := _object_id(g)) is not None]
        vps, owners = [], []
        for g in goal_list:
            for vp in g.get("view_points") or []:
                vps.append(vp["agent_state"]["position"])
                owners.append(_object_id(g) or 0)
        if not vps:
            raise ValueError(f"episode {spec['episode_id']}: the goals {spec['goals_key']!r} have no "
                             "view points (success is defined by them)")
        self.view_points = np.asarray(vps, dtype=np.float32).reshape(-1, 3)
        self.view_point_owner = np.asarray(owners, dtype=np.int64)
        # category ids: the dataset's task ids + 1 (0 is "not a goal category"); instance -> id
        self.categories = {str(k): int(v) + 1 for k, v in task_ids.items()}
        if self.category not in self.categories:
            self.categories[self.category] = max(self.categories.values(), default=0) + 1
        prefix = Path(spec["scene_id"]).name + "_"
        lut: dict[int, int] = {}
        for key, objs in goals.items():
            name = key[len(prefix):] if key.startswith(prefix) else None
            if name in self.categories:
                for g in objs:
                    if (oid := _object_id(g)) is not None:
                        lut[oid] = self.categories[name]
        self._instance_to_category = lut
        self._path = self.hs.MultiGoalShortestPath()
        self._path.requested_ends = self.view_points

    # ----------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        spec = (options or {}).get("episode") or self._default_episode()
        self.episode = spec
        self.category = str(spec["category"])
        self._goal_setup(spec)
        self._load_scene(str(spec["scene_id"]))
        rotation = np.asarray(spec["start_rotation"], dtype=float)
        state = self.hs.agent.AgentState()
        state.position = np.asarray(spec["start_position"], dtype=np.float32)
        state.rotation = list(rotation / np.linalg.norm(rotation))   # habitat's [x, y, z, w]
        self.sim.get_agent(0).set_state(state, reset_sensors=True)
        self.pitch = 0.0
        self.position = self._sim_position()
        self.floor_y = float(self.position[1])
        x, y, _ = habitat_to_world(self.position)
        self.start = (float(x), float(y), self._sim_yaw())
        self.trajectory = [np.array([x, y])]
        self.path_length = 0.0
        self.steps = 0
        self.done = False
        self.shortest_path_length = self._distance_to_goal()
        if not math.isfinite(self.shortest_path_length):
            raise ValueError(f"episode {spec['episode_id']}: no path on the navmesh from the start "
                             f"{list(spec['start_position'])} to any view point of {self.category!r}")
        obs = self._observe(self.sim.get_sensor_observations())
        info = {
            "episode_id": spec["episode_id"],
            "goal": self.category,
            "camera": self.intrinsics(),
            "renderer": self.simulator_name,
            "simulator": self.simulator_name,
            "actions": ACTIONS,
            "categories": dict(self.categories),
        }
        if self.privileged:
            info["privileged"] = self._privileged_info()
        return obs, info

    def step(self, action: int) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.episode is None or self.done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        action = check_action(self.action_space, action)
        self.steps += 1
        raw, success = self._apply(action)
        terminated = action == _A.STOP
        truncated = not terminated and self.steps >= self.config.max_steps
        obs = self._observe(raw)
        info: dict[str, Any] = {"last_action_success": success, "steps": self.steps}
        if terminated or truncated:
            self.done = True
            info["metrics"] = self._metrics(stop_called=terminated)
            info["record"] = {"category": self.category, "renderer": self.simulator_name,
                              "scene": episodes_lib.scene_name(str(self.episode["scene_id"]))}
        return obs, 0.0, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        from embodied import viz
        x, y, yaw = self._world_pose()
        boxes = [(xy, xy, 0) for xy in habitat_to_world(self.view_points)[:, :2]]
        return viz.objectnav_frame(self._frame["rgb"], self.navgrid(), self.trajectory, (x, y, yaw),
                                   boxes, self.category)

    def close(self) -> None:
        if self.sim is not None:
            self.sim.close()
            self.sim = None
            self._scene = None

    # ----------------------------------------------------------------------------- internals
    def intrinsics(self) -> dict[str, float]:
        """The cameras' pinhole, in `Intrinsics.from_info`'s keys (radians, metres, pixels)."""
        c = self.config
        hfov = math.radians(c.hfov)
        fx = (c.width / 2.0) / math.tan(hfov / 2.0)
        vfov = 2.0 * math.atan((c.height / 2.0) / fx)
        return {"fx": fx, "fy": fx, "cx": (c.width - 1) / 2.0, "cy": (c.height - 1) / 2.0,
                "width": c.width, "height": c.height, "hfov": hfov, "hfov_deg": c.hfov,
                "vfov": vfov, "near": 0.0, "far": DEPTH_FAR, "camera_height": c.camera_height,
                "height_m": c.camera_height}

    def _sim_position(self) -> np.ndarray:
        return np.asarray(self.sim.get_agent(0).get_state().position, dtype=float).reshape(3).copy()

    def _sim_yaw(self) -> float:
        return yaw_from_rotation(self.sim.get_agent(0).get_state().rotation)

    def _world_pose(self) -> tuple[float, float, float]:
        x, y, _ = habitat_to_world(self.position)
        return float(x), float(y), self._sim_yaw()

    def _apply(self, action: int) -> tuple[dict[str, Any], bool]:
        """Send the action to the simulator; returns its observations and whether the action did
        all it asked. A move counts as done when the agent advanced the full step (habitat-sim's
        `collided` flag is not read: some releases return it as an uninitialised array)."""
        if action == _A.STOP:
            return self.sim.get_sensor_observations(), True
        if action in (_A.LOOK_UP, _A.LOOK_DOWN):
            sign = 1.0 if action == _A.LOOK_UP else -1.0
            pitch = self.pitch + sign * math.radians(self.config.look_degrees)
            if not math.radians(PITCH_MIN_DEG) - 1e-9 <= pitch <= math.radians(PITCH_MAX_DEG) + 1e-9:
                return self.sim.get_sensor_observations(), False
            self.pitch = pitch
            return self.sim.step(SIM_ACTIONS[_A(action)]), True
        before = self.position
        raw = self.sim.step(SIM_ACTIONS[_A(action)])
        self.position = self._sim_position()
        moved = float(np.linalg.norm(self.position - before))
        if moved > 0.0:
            self.path_length += moved
            x, y, _ = habitat_to_world(self.position)
            self.trajectory.append(np.array([x, y]))
        if action == _A.MOVE_AHEAD:
            return raw, moved + 1e-4 >= self.config.step_size
        return raw, True

    def _observe(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Copies of the simulator's buffers (habitat-sim reuses them every frame), in the
        framework's layout: rgb (H, W, 3) uint8, depth (H, W, 1) float32 metres."""
        c = self.config
        rgb = np.array(np.asarray(raw[sim_lib.SENSOR_UUIDS["rgb"]])[..., :3], dtype=np.uint8)
        depth = np.array(raw[sim_lib.SENSOR_UUIDS["depth"]], dtype=np.float32)
        if rgb.shape != (c.height, c.width, 3) or depth.shape != (c.height, c.width):
            raise ValueError(f"simulator returned rgb {rgb.shape} and depth {depth.shape}, "
                             f"expected ({c.height}, {c.width}[, 3])")
        depth = np.clip(np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0), 0.0, DEPTH_FAR)
        self._frame = {"rgb": rgb}
        obs = {"rgb": rgb.copy(), "depth": depth[..., None], "pose": self._relative_pose(),
               "goal": self.category}
        if self.privileged:
            inst = np.asarray(raw[sim_lib.SENSOR_UUIDS["semantic"]]).astype(np.int64)
            inst = np.clip(inst, 0, np.iinfo(np.int32).max)
            ids, inverse = np.unique(inst, return_inverse=True)
            cats = np.array([self._instance_to_category.get(int(i), 0) for i in ids], np.int32)
            obs["instance"] = inst.astype(np.int32)
            obs["semantic"] = cats[inverse.reshape(inst.shape)]
        return obs

    def _relative_pose(self) -> np.ndarray:
        """GPS+compass: position and heading in the frame of the start pose (as PyBullet's)."""
        x, y, yaw = self._world_pose()
        x0, y0, yaw0 = self.start
        dx, dy = x - x0, y - y0
        c, s = math.cos(-yaw0), math.sin(-yaw0)
        return np.array([c * dx - s * dy, s * dx + c * dy, wrap_angle(yaw - yaw0), self.pitch],
                        dtype=np.float32)

    def _distance_to_goal(self) -> float:
        """Geodesic distance (m) on the navmesh to the nearest view point (inf: unreachable)."""
        self._path.requested_start = np.asarray(self.position, dtype=np.float32)
        if not self.sim.pathfinder.find_path(self._path):
            return math.inf
        return float(self._path.geodesic_distance)

    def _metrics(self, stop_called: bool) -> dict[str, Any]:
        d_final = self._distance_to_goal()
        within = math.nextafter(self.config.success_distance, -math.inf)   # habitat: d < 0.1
        success = metrics.objectnav_success(stop_called, d_final, within, visible=True,
                                            require_visible=False)
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

    # ----------------------------------------------------------------------------- privileged
    def navgrid(self) -> NavGrid:
        """The navmesh at the agent's floor as a framework NavGrid (row <-> y, column <-> x).

        habitat-sim's top-down view has rows along +z and columns along +x, sampled at
        lower_bound + index * mpp; with x_f = -z_h and y_f = -x_h both axes flip and swap."""
        key = (str(self._scene), round(self.floor_y, 2))
        if key not in self._grids:
            res = self.config.map_resolution
            pf = self.sim.pathfinder
            top = np.asarray(pf.get_topdown_view(res, self.floor_y), dtype=bool)
            lower = np.array([float(v) for v in pf.get_bounds()[0]])   # np array or magnum Vector3
            nz, nx = top.shape
            free = np.ascontiguousarray(top[::-1, ::-1].T)
            origin = (-(lower[2] + (nz - 0.5) * res), -(lower[0] + (nx - 0.5) * res))
            self._grids[key] = NavGrid(free=free, origin=origin, resolution=res)
        return self._grids[key]

    def _privileged_info(self) -> dict[str, Any]:
        """What oracles may read, in the framework's world frame, all freshly built (copies).

        `agent_radius` is 0: the footprints are the navmesh's non-navigable area, which habitat
        already shrank by the agent's radius. `min_visible_pixels` is 0: habitat's success has
        no visibility condition. Each view point is a zero-size goal box owned by its object."""
        cached = self.navgrid()
        grid = NavGrid(free=cached.free.copy(), origin=cached.origin, resolution=cached.resolution)
        vp_xy = habitat_to_world(self.view_points)[:, :2]
        ij = np.argwhere(grid.free)
        near = cKDTree(vp_xy).query(grid.cell_to_world(ij), distance_upper_bound=self.config.success_distance)[0]
        sources = np.zeros_like(grid.free)
        hit = np.isfinite(near)
        sources[ij[hit, 0], ij[hit, 1]] = True
        heights = {oid: float(pos[1]) - self.floor_y for oid, pos in self.goal_objects}
        return {
            "navgrid": grid,
            "footprints": _footprints(grid),
            "bounds": tuple(grid.bounds),
            "agent_radius": 0.0,
            "goal_field": distance_field(grid, sources),
            "goal_semantic_id": self.categories[self.category],
            "goal_boxes": [(xy.copy(), xy.copy(), int(o)) for xy, o in zip(vp_xy, self.view_point_owner)],
            "start_world": self.start,
            "success_distance": self.config.success_distance,
            "min_visible_pixels": 0,
            "step_size": self.config.step_size,
            "rotate_degrees": self.config.rotate_degrees,
            "look_degrees": self.config.look_degrees,
            "goal_heights": {int(o): (heights.get(int(o), 0.0),) * 2 for o in set(self.view_point_owner)},
        }

