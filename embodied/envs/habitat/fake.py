"""A FAKE `habitat_sim`: a test double with habitat-sim's API, NOT the Habitat simulator.

Why it exists: habitat-sim is not on PyPI (conda only) and renders with EGL on a GPU, so neither
the development machine nor CI can run it. The Habitat ObjectNav adapter
(`embodied.envs.habitat.objectnav`) is written against habitat-sim's documented Python API; this
module implements that API's small subset the adapter uses, with the same names, argument
orders and return types, over a hand-made world, so the adapter's code -- configuration, agent
state, actions, observations, geodesics, metrics -- runs unchanged in tests. Numbers measured on
it say nothing about Habitat; `embodied.envs.habitat.check.check_episode` is the real-sim check.

What is imitated (habitat-sim 0.2.x/0.3.x, `src_python/habitat_sim`):

* `Configuration(sim_cfg, agents)`, `SimulatorConfiguration` (scene_id, scene_dataset_config_file,
  gpu_device_id, allow_sliding, random_seed), `CameraSensorSpec` (uuid, sensor_type, resolution
  [H, W], position, hfov in degrees), `SensorType`, `agent.AgentConfiguration` (height, radius,
  sensor_specifications, action_space), `agent.ActionSpec(name, actuation)`,
  `agent.ActuationSpec(amount, constraint)`, `agent.AgentState(position, rotation)`.
* `Simulator(cfg)`: `get_agent(0)`, `step(action) -> observations` (+ "collided"),
  `get_sensor_observations()` (rgb (H, W, 4) uint8 RGBA, depth (H, W) float32 metres of z-depth,
  semantic (H, W) uint32 object ids), `reconfigure(cfg)`, `seed`, `close`, and `pathfinder`:
  `find_path(ShortestPath | MultiGoalShortestPath) -> bool` (fills `points`,
  `geodesic_distance`, inf when unreachable), `is_navigable`, `snap_point`, `get_bounds`,
  `get_topdown_view(meters_per_pixel, height)` (habitat's sampling: rows = z, columns = x, from the
  lower bound, one sample per pixel corner), `try_step`, `try_step_no_sliding`.
* Frames: y is up, the agent looks along its local -z, `turn_left` is +yaw about +y, `look_up`
  rotates the sensors (not the body) about their x axis, `set_state` takes a quaternion or
  habitat's [x, y, z, w] coefficient list.

What differs (deliberately small): the world is a flat two-room apartment of boxes on one floor;
rotations are about y only (the agent body never tilts in ObjectNav); geodesics are exact
shortest paths around the obstacles grown by the agent radius (`embodied.perception.geodesic`),
where Habitat's come from a Recast/Detour navmesh; sliding along walls is approximated by moving
along the two axes in turn (the fake's walls are axis-aligned); rendering is flat-shaded ray
casting (one colour per surface) without textures.
"""
from __future__ import annotations

import enum
import math
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from shapely.geometry import MultiPoint, Point

from embodied.perception.geodesic import FreeSpace, Target

__version__ = "0.0-fake"
IS_FAKE = True
NOTICE = ("embodied.envs.habitat.fake is a test double of habitat_sim (the same API over a "
          "hand-made two-room world), not the Habitat simulator")

# ------------------------------------------------------------------------------------ the world
SCENE_NAME = "two_rooms.glb"
"""The one scene the fake knows: any scene_id whose file name is this loads it."""
SCENE_ID = f"fake/{SCENE_NAME}"
FLOOR_Y = 0.125
"""Height of the floor (habitat y). Not 0, so that code mixing up heights or axes shows."""
CEILING_Y = FLOOR_Y + 2.6
WALL_THICKNESS = 0.1


@dataclass(frozen=True)
class Box:
    """An axis-aligned box of the world (habitat coordinates, metres) and how it renders."""

    name: str
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    rgb: tuple[int, int, int]
    object_id: int = 0          # what the semantic sensor reads; 0 for walls
    category: str | None = None


def _wall(name: str, x0: float, z0: float, x1: float, z1: float) -> Box:
    return Box(name, (x0, FLOOR_Y, z0), (x1, CEILING_Y, z1), (200, 200, 190))


def _thing(name: str, object_id: int, category: str, x0: float, z0: float, x1: float, z1: float,
           height: float, rgb: tuple[int, int, int]) -> Box:
    return Box(name, (x0, FLOOR_Y, z0), (x1, FLOOR_Y + height, z1), rgb, object_id, category)


T = WALL_THICKNESS
#: Two rooms, x in [0, 4] and [4, 8], z in [0, 6], joined by a 1 m door at z in [2.5, 3.5].
#: Object ids are 41.. so that they can never be mistaken for category ids (0..5).
BOXES: tuple[Box, ...] = (
    _wall("wall_north", -T, -T, 8 + T, 0.0),
    _wall("wall_south", -T, 6.0, 8 + T, 6 + T),
    _wall("wall_west", -T, 0.0, 0.0, 6.0),
    _wall("wall_east", 8.0, 0.0, 8 + T, 6.0),
    _wall("divider_a", 3.95, 0.0, 4.05, 2.5),
    _wall("divider_b", 3.95, 3.5, 4.05, 6.0),
    _thing("sofa_41", 41, "sofa", 1.5, 0.2, 3.0, 1.0, 0.8, (40, 90, 160)),
    _thing("plant_42", 42, "plant", 0.3, 5.2, 0.7, 5.6, 1.2, (30, 140, 40)),
    _thing("chair_43", 43, "chair", 6.6, 0.8, 7.1, 1.3, 0.9, (170, 60, 40)),
    _thing("bed_44", 44, "bed", 5.6, 3.8, 7.6, 5.7, 0.6, (220, 200, 120)),
    _thing("chair_45", 45, "chair", 1.0, 3.6, 1.5, 4.1, 0.9, (170, 60, 40)),
)
BOUNDS_XZ = (-T, -T, 8 + T, 6 + T)
FLOOR_RGB = ((150, 120, 90), (125, 100, 72))   # a 0.5 m checkerboard, so motion is visible
CEILING_RGB = (235, 235, 235)
#: HM3D ObjectNav v1's six goal categories and task ids (`category_to_task_category_id`).
CATEGORIES = {"chair": 0, "bed": 1, "plant": 2, "toilet": 3, "tv_monitor": 4, "sofa": 5}


def _footprint(box: Box) -> np.ndarray:
    (x0, _, z0), (x1, _, z1) = box.lo, box.hi
    return np.array([[x0, z0], [x1, z0], [x1, z1], [x0, z1]])


# ------------------------------------------------------------------------------ habitat_sim API
class SensorType(enum.Enum):
    """habitat_sim.SensorType (the members the adapter uses)."""

    NONE = 0
    COLOR = 1
    DEPTH = 2
    SEMANTIC = 4


class SensorSubType(enum.Enum):
    PINHOLE = 1
    ORTHOGRAPHIC = 2


@dataclass
class CameraSensorSpec:
    """habitat_sim.CameraSensorSpec: resolution is [height, width], hfov in degrees."""

    uuid: str = ""
    sensor_type: SensorType = SensorType.COLOR
    sensor_subtype: SensorSubType = SensorSubType.PINHOLE
    resolution: Sequence[int] = (128, 128)
    position: Sequence[float] = (0.0, 1.5, 0.0)
    orientation: Sequence[float] = (0.0, 0.0, 0.0)
    hfov: float = 90.0
    near: float = 0.01
    far: float = 1000.0


@dataclass
class SimulatorConfiguration:
    """habitat_sim.SimulatorConfiguration (backend settings)."""

    scene_id: str = ""
    scene_dataset_config_file: str = "default"
    gpu_device_id: int = 0
    allow_sliding: bool = True
    enable_physics: bool = False
    random_seed: int = 0
    default_agent_id: int = 0
    load_semantic_mesh: bool = False


@dataclass
class ActuationSpec:
    """habitat_sim.agent.ActuationSpec: `amount` in metres or degrees; `constraint` caps a look."""

    amount: float
    constraint: float | None = None


@dataclass
class ActionSpec:
    """habitat_sim.agent.ActionSpec: the control's registered name and its actuation."""

    name: str
    actuation: ActuationSpec | None = None


def _default_action_space() -> dict[str, ActionSpec]:
    return {"move_forward": ActionSpec("move_forward", ActuationSpec(0.25)),
            "turn_left": ActionSpec("turn_left", ActuationSpec(10.0)),
            "turn_right": ActionSpec("turn_right", ActuationSpec(10.0))}


@dataclass
class AgentConfiguration:
    """habitat_sim.agent.AgentConfiguration."""

    height: float = 1.5
    radius: float = 0.1
    sensor_specifications: list[CameraSensorSpec] = field(default_factory=list)
    action_space: dict[Any, ActionSpec] = field(default_factory=_default_action_space)
    body_type: str = "cylinder"


@dataclass
class Configuration:
    """habitat_sim.Configuration(sim_cfg, agents)."""

    sim_cfg: SimulatorConfiguration
    agents: list[AgentConfiguration]


@dataclass(frozen=True)
class Quaternion:
    """Stands in for numpy-quaternion's `np.quaternion(w, x, y, z)`, what habitat-sim returns."""

    w: float = 1.0
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


def _yaw_quaternion(yaw: float) -> Quaternion:
    return Quaternion(math.cos(yaw / 2), 0.0, math.sin(yaw / 2), 0.0)


def _yaw_of(rotation: Any) -> float:
    """Yaw (rad, about +y) of a quaternion object (w, x, y, z attributes) or of habitat's
    [x, y, z, w] coefficient list; the fake's bodies only turn about y."""
    if hasattr(rotation, "w"):
        w, x, y, z = (float(rotation.w), float(rotation.x), float(rotation.y), float(rotation.z))
    else:
        x, y, z, w = (float(v) for v in np.asarray(rotation, dtype=float).reshape(4))
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    if abs(norm - 1.0) > 1e-3:
        raise ValueError(f"rotation must be a unit quaternion, got norm {norm:.4f}")
    if abs(x) > 1e-6 * norm or abs(z) > 1e-6 * norm:
        raise ValueError(f"the fake simulator only turns bodies about y; got rotation {rotation!r}")
    return 2.0 * math.atan2(y, w)


@dataclass
class SixDOFPose:
    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: Any = field(default_factory=Quaternion)


@dataclass
class AgentState:
    """habitat_sim.agent.AgentState: position (3,) and rotation (a quaternion, or [x, y, z, w])."""

    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: Any = field(default_factory=Quaternion)
    sensor_states: dict[str, SixDOFPose] = field(default_factory=dict)


#: habitat_sim.agent, as a namespace (the adapter writes `hs.agent.AgentConfiguration()`).
agent = types.SimpleNamespace(AgentConfiguration=AgentConfiguration, ActionSpec=ActionSpec,
                              ActuationSpec=ActuationSpec, AgentState=AgentState,
                              SixDOFPose=SixDOFPose)


@dataclass
class ShortestPath:
    """habitat_sim.ShortestPath: set requested_start/end, call pathfinder.find_path(path)."""

    requested_start: Any = field(default_factory=lambda: np.zeros(3))
    requested_end: Any = field(default_factory=lambda: np.zeros(3))
    points: list[np.ndarray] = field(default_factory=list)
    geodesic_distance: float = math.inf


@dataclass
class MultiGoalShortestPath:
    """habitat_sim.MultiGoalShortestPath: the nearest of `requested_ends`."""

    requested_start: Any = field(default_factory=lambda: np.zeros(3))
    requested_ends: Any = field(default_factory=list)
    points: list[np.ndarray] = field(default_factory=list)
    geodesic_distance: float = math.inf
    closest_end_point_index: int = -1


class PathFinder:
    """habitat_sim.nav.PathFinder over the fake world's exact free space (one floor)."""

    is_loaded = True

    def __init__(self, radius: float) -> None:
        self.radius = float(radius)
        self.free = FreeSpace([_footprint(b) for b in BOXES], BOUNDS_XZ, self.radius)

    def seed(self, new_seed: int) -> None:
        """Nothing is random here (habitat seeds its random navigable points)."""

    def _on_floor(self, y: float, max_y_delta: float) -> bool:
        return abs(float(y) - FLOOR_Y) <= max_y_delta

    def get_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        x0, z0, x1, z1 = self.free.polygon.bounds
        return np.array([x0, FLOOR_Y, z0], np.float32), np.array([x1, FLOOR_Y, z1], np.float32)

    def is_navigable(self, pt: Any, max_y_delta: float = 0.5) -> bool:
        p = np.asarray(pt, dtype=float).reshape(3)
        return self._on_floor(p[1], max_y_delta) and bool(self.free.contains(p[[0, 2]])[0])

    def snap_point(self, point: Any) -> np.ndarray:
        p = np.asarray(point, dtype=float).reshape(3)
        snapped = self.free.snap(p[[0, 2]], snap_distance=math.inf)
        if snapped is None:
            return np.full(3, np.nan, np.float32)
        xz = snapped[0]
        return np.array([xz[0], FLOOR_Y, xz[1]], np.float32)

    def get_topdown_view(self, meters_per_pixel: float, height: float, eps: float = 0.5) -> np.ndarray:
        """(rows = z, columns = x) bool grid, sampled as habitat-sim samples it: pixel (h, w) is
        the point (min_x + w * mpp, height, min_z + h * mpp) of the navmesh bounds."""
        lo, hi = self.get_bounds()
        mpp = float(meters_per_pixel)
        nx, nz = int((hi[0] - lo[0]) / mpp), int((hi[2] - lo[2]) / mpp)
        xs = float(lo[0]) + np.arange(nx) * mpp
        zs = float(lo[2]) + np.arange(nz) * mpp
        gx, gz = np.meshgrid(xs, zs)
        pts = np.stack([gx.ravel(), gz.ravel()], axis=1)
        ok = self.free.contains(pts).reshape(nz, nx)
        return ok & self._on_floor(height, eps)

    # ------------------------------------------------------------------ motion
    def _clip(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The farthest point of the segment a-b the free space holds (from a)."""
        if bool(self.free.sees(a, b)[0]):
            return b
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            if bool(self.free.sees(a, a + mid * (b - a))[0]):
                lo = mid
            else:
                hi = mid
        return a + lo * (b - a)

    def try_step_no_sliding(self, start: Any, end: Any) -> np.ndarray:
        s, e = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
        xz = self._clip(s[[0, 2]], e[[0, 2]])
        return np.array([xz[0], s[1], xz[1]], np.float32)

    def try_step(self, start: Any, end: Any) -> np.ndarray:
        """Move, then slide: what the wall stopped is tried along x and along z in turn."""
        s, e = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
        a, b = s[[0, 2]], e[[0, 2]]
        p = self._clip(a, b)
        rest = b - p
        for axis in (0, 1):
            if abs(rest[axis]) > 1e-9:
                q = p.copy()
                q[axis] += rest[axis]
                p = self._clip(p, q)
        return np.array([p[0], s[1], p[1]], np.float32)

    # ------------------------------------------------------------------ shortest paths
    def find_path(self, path: ShortestPath | MultiGoalShortestPath) -> bool:
        """Fill `path` with the shortest path from its start to (the nearest of) its end(s);
        False (geodesic_distance inf, no points) when no end can be reached."""
        multi = isinstance(path, MultiGoalShortestPath)
        ends3 = np.asarray(path.requested_ends if multi else [path.requested_end], dtype=float)
        ends3 = ends3.reshape(-1, 3)
        path.points, path.geodesic_distance = [], math.inf
        if multi:
            path.closest_end_point_index = -1
        start3 = np.asarray(path.requested_start, dtype=float).reshape(3)
        snapped = self.free.snap(start3[[0, 2]])
        on_floor = np.abs(ends3[:, 1] - FLOOR_Y) <= 0.5
        if snapped is None or len(ends3) == 0 or not self._on_floor(start3[1], 0.5) or not on_floor.any():
            return False
        start, gap = snapped
        ends = ends3[:, [0, 2]]
        region = MultiPoint([Point(p) for p in ends[on_floor]])
        d = self.free.distance_to([Target(self.free, region)], start)
        if not math.isfinite(d):
            return False
        index = self._closest_end(start, ends, on_floor, d - gap)
        route = self._route(start, ends[index], d - gap)
        path.geodesic_distance = float(d)
        path.points = [np.array([x, FLOOR_Y, z], np.float32) for x, z in route]
        if multi:
            path.closest_end_point_index = index
        return True

    def _closest_end(self, start: np.ndarray, ends: np.ndarray, ok: np.ndarray, d: float) -> int:
        """Which end the shortest distance `d` belongs to: ends in order of their straight-line
        distance (a lower bound), the first whose own geodesic is `d`."""
        euclid = np.linalg.norm(ends - start, axis=1)
        for i in np.argsort(euclid, kind="stable"):
            if ok[i] and euclid[i] <= d + 1e-6 and abs(self.free.distance(start, ends[i]) - d) <= 1e-6:
                return int(i)
        raise RuntimeError("fake pathfinder: no end matches the shortest distance")  # a bug here

    def _route(self, start: np.ndarray, end: np.ndarray, d: float) -> list[np.ndarray]:
        """The bends of the shortest path to `end`, rebuilt backwards from the node distances:
        the previous bend u of a point g at distance r sees g and has d(u) + |u g| = r."""
        nodes = self.free.nodes
        dist = self.free.node_distances(start) if len(nodes) else np.zeros(0)
        route, current, remaining = [end], end, d
        for _ in range(len(nodes) + 1):
            if abs(np.linalg.norm(current - start) - remaining) <= 1e-6 \
                    and bool(self.free.sees(start, current)[0]):
                return [start, *route[::-1]]
            via = dist + np.linalg.norm(nodes - current, axis=1)
            cand = np.flatnonzero(np.abs(via - remaining) <= 1e-6)
            cand = [c for c in cand if bool(self.free.sees(nodes[c], current)[0])
                    and np.linalg.norm(nodes[c] - current) > 1e-9]
            if not cand:
                break
            current, remaining = nodes[cand[0]], float(dist[cand[0]])
            route.append(current)
        raise RuntimeError("fake pathfinder: could not rebuild the path")  # a bug here


# ------------------------------------------------------------------------------------ rendering
_LO = np.array([b.lo for b in BOXES])
_HI = np.array([b.hi for b in BOXES])
_BOX_RGB = np.array([b.rgb for b in BOXES], dtype=float)
_BOX_IDS = np.array([b.object_id for b in BOXES], dtype=np.uint32)
_SHADE = np.array([0.85, 1.0, 0.7])   # faces whose normal is along x, y, z


def _rotation_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rotation_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def render(spec: CameraSensorSpec, eye: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """One sensor's image from `eye` with camera-to-world `rotation` (camera looks along -z)."""
    rgba, depth, semantic = cast(int(spec.resolution[0]), int(spec.resolution[1]), float(spec.hfov),
                                 float(spec.far), eye, rotation)
    if spec.sensor_type == SensorType.DEPTH:
        return depth
    if spec.sensor_type == SensorType.SEMANTIC:
        return semantic
    return rgba


def cast(h: int, w: int, hfov_deg: float, far: float, eye: np.ndarray, rotation: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgba, depth, semantic) of an h x w pinhole camera: exact ray casting against the floor,
    the ceiling and every box (slab test). Sensors sharing a pose share one cast."""
    fx = (w / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    a = (np.arange(w) - (w - 1) / 2.0) / fx
    b = ((h - 1) / 2.0 - np.arange(h)) / fx               # square pixels: fy = fx
    cam = np.stack(np.broadcast_arrays(a[None, :], b[:, None], -np.ones((h, w))), axis=-1)
    d = cam.reshape(-1, 3) @ rotation.T                  # forward component of cam is 1: t = z-depth
    n = len(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
        t_floor = np.where(d[:, 1] < 0, (FLOOR_Y - eye[1]) * inv[:, 1], np.inf)
        t_ceil = np.where(d[:, 1] > 0, (CEILING_Y - eye[1]) * inv[:, 1], np.inf)
        t1 = (_LO[None] - eye[None, None]) * inv[:, None]
        t2 = (_HI[None] - eye[None, None]) * inv[:, None]
    near_t = np.minimum(t1, t2)
    t_in = near_t.max(axis=2)
    t_out = np.maximum(t1, t2).min(axis=2)
    hit = (t_out >= t_in) & (t_in > 1e-6)
    t_box = np.where(hit, t_in, np.inf)
    k = np.argmin(t_box, axis=1)
    t_best_box = t_box[np.arange(n), k]
    face = np.argmax(near_t[np.arange(n), k], axis=1)
    t = np.minimum(np.minimum(t_floor, t_ceil), t_best_box)
    rgb = np.empty((n, 3))
    sem = np.zeros(n, np.uint32)
    is_box = t_best_box <= np.minimum(t_floor, t_ceil)
    rgb[is_box] = _BOX_RGB[k[is_box]] * _SHADE[face[is_box], None]
    sem[is_box] = _BOX_IDS[k[is_box]]
    floor = ~is_box & (t_floor <= t_ceil)
    pts = eye[None] + t[floor, None] * d[floor]
    tile = (np.floor(pts[:, 0] / 0.5) + np.floor(pts[:, 2] / 0.5)).astype(int) % 2
    rgb[floor] = np.asarray(FLOOR_RGB, float)[tile]
    rgb[~is_box & ~floor] = CEILING_RGB
    depth = np.where(np.isfinite(t) & (t <= far), t, 0.0).astype(np.float32)
    out = np.full((n, 4), 255, np.uint8)
    out[:, :3] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return out.reshape(h, w, 4), depth.reshape(h, w), sem.reshape(h, w)


# ------------------------------------------------------------------------------------ simulator
class Agent:
    """habitat_sim.Agent: a body (position, yaw) with sensors that can look up and down."""

    def __init__(self, sim: "Simulator", config: AgentConfiguration) -> None:
        self.sim = sim
        self.agent_config = config
        self.position = np.array([0.0, FLOOR_Y, 0.0])
        self.yaw = 0.0
        self.sensor_pitch = 0.0
        self.initial_state: AgentState | None = None

    def get_state(self) -> AgentState:
        rotation = _yaw_quaternion(self.yaw)
        state = AgentState(self.position.astype(np.float32), rotation)
        for spec in self.agent_config.sensor_specifications:
            eye, _ = self.sim._sensor_pose(self, spec)
            q = _yaw_quaternion(self.yaw)   # the sensors' pitch is not part of the fake's states
            state.sensor_states[spec.uuid] = SixDOFPose(eye.astype(np.float32), q)
        return state

    def set_state(self, state: AgentState, reset_sensors: bool = True,
                  infer_sensor_states: bool = True, is_initial: bool = False) -> None:
        position = np.asarray(state.position, dtype=float).reshape(3)
        if not np.all(np.isfinite(position)):
            raise ValueError(f"AgentState.position must be finite, got {position}")
        self.yaw = _yaw_of(state.rotation)
        self.position = position.copy()
        if reset_sensors:
            self.sensor_pitch = 0.0
        if is_initial:
            self.initial_state = state

    def act(self, action_id: Any) -> bool:
        """Take the action; returns whether it collided (the step was cut short)."""
        assert action_id in self.agent_config.action_space, f"No action {action_id} in action space"
        spec = self.agent_config.action_space[action_id]
        amount = float(spec.actuation.amount) if spec.actuation is not None else 0.0
        if spec.name in ("move_forward", "move_backward"):
            sign = 1.0 if spec.name == "move_forward" else -1.0
            forward = np.array([-math.sin(self.yaw), 0.0, -math.cos(self.yaw)])
            target = self.position + sign * amount * forward
            pf = self.sim.pathfinder
            step = pf.try_step if self.sim.config.sim_cfg.allow_sliding else pf.try_step_no_sliding
            start = self.position
            end = np.asarray(step(start, target), dtype=float)
            self.position = end
            # habitat's rule (ObjectControls.action): collided if the filter shortened the move
            before, after = float(np.sum((target - start) ** 2)), float(np.sum((end - start) ** 2))
            return after + 1e-5 < before
        if spec.name in ("turn_left", "turn_right"):
            self.yaw += math.radians(amount if spec.name == "turn_left" else -amount)
            self.yaw = math.atan2(math.sin(self.yaw), math.cos(self.yaw))
            return False
        if spec.name in ("look_up", "look_down"):
            pitch = self.sensor_pitch + math.radians(amount if spec.name == "look_up" else -amount)
            limit = spec.actuation.constraint if spec.actuation is not None else None
            if limit is not None:
                pitch = max(-math.radians(limit), min(math.radians(limit), pitch))
            self.sensor_pitch = pitch
            return False
        raise ValueError(f"fake simulator: unsupported control {spec.name!r}")


class Simulator:
    """habitat_sim.Simulator over the fake world. Says it is a fake (`IS_FAKE`, `NOTICE`)."""

    IS_FAKE = True

    def __init__(self, config: Configuration) -> None:
        self.config = config
        self._closed = False
        self._configure(config)

    def _configure(self, config: Configuration) -> None:
        scene = str(config.sim_cfg.scene_id)
        if Path(scene).name != SCENE_NAME:
            raise RuntimeError(f"fake simulator: unknown scene {scene!r}; the fake only has "
                               f"{SCENE_NAME!r} ({NOTICE})")
        if len(config.agents) == 0:
            raise RuntimeError("Config has not agents specified.  Must specify at least 1 agent")
        self.config = config
        self.pathfinder = PathFinder(config.agents[0].radius)
        self.agents = [Agent(self, cfg) for cfg in config.agents]
        for agent_ in self.agents:
            agent_.position = np.array([1.0, FLOOR_Y, 1.0])

    def reconfigure(self, config: Configuration) -> None:
        self._configure(config)

    def seed(self, new_seed: int) -> None:
        self.pathfinder.seed(new_seed)

    def get_agent(self, agent_id: int) -> Agent:
        return self.agents[agent_id]

    def initialize_agent(self, agent_id: int, initial_state: AgentState | None = None) -> Agent:
        agent_ = self.get_agent(agent_id)
        agent_.set_state(initial_state or AgentState(np.array([1.0, FLOOR_Y, 1.0])), is_initial=True)
        return agent_

    def _sensor_pose(self, agent_: Agent, spec: CameraSensorSpec) -> tuple[np.ndarray, np.ndarray]:
        body = _rotation_y(agent_.yaw)
        eye = agent_.position + body @ np.asarray(spec.position, dtype=float)
        return eye, body @ _rotation_x(agent_.sensor_pitch)

    def get_sensor_observations(self, agent_ids: int | list[int] = 0) -> dict[Any, Any]:
        if self._closed:
            raise RuntimeError("fake simulator: used after close()")
        single = isinstance(agent_ids, int)
        out = {}
        for i in ([agent_ids] if single else agent_ids):
            agent_ = self.get_agent(i)
            obs, casts = {}, {}
            for spec in agent_.agent_config.sensor_specifications:
                eye, rot = self._sensor_pose(agent_, spec)
                key = (int(spec.resolution[0]), int(spec.resolution[1]), float(spec.hfov),
                       float(spec.far), tuple(eye), tuple(rot.ravel()))
                if key not in casts:
                    casts[key] = cast(*key[:4], eye, rot)
                rgba, depth, semantic = casts[key]
                kind = {SensorType.DEPTH: depth, SensorType.SEMANTIC: semantic}
                obs[spec.uuid] = kind.get(spec.sensor_type, rgba).copy()
            out[i] = obs
        return out[agent_ids] if single else out

    def step(self, action: Any, dt: float = 1.0 / 60.0) -> dict[str, Any]:
        collided = self.get_agent(self.config.sim_cfg.default_agent_id).act(action)
        obs = self.get_sensor_observations(self.config.sim_cfg.default_agent_id)
        obs["collided"] = bool(collided)
        return obs

    def close(self, destroy: bool = True) -> None:
        self._closed = True

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------- its episode file
VIEW_POINT_SPACING = 0.1
VIEW_POINT_REACH = 1.0
"""View points: navigable points of a 0.1 m lattice within 1 m (ground distance) of the object, so
that the union of 0.1 m discs around them covers that band. habitat-lab's datasets place view
points near each goal instance, where it is visible; the fake's reach is its own choice and it
skips the visibility test."""

#: (category, start (x, z), start yaw in degrees): the fake's hand-picked episodes. Episode 0 is
#: the hand-checked one: from (2.3, 2.9) facing -z, the nearest view point of the sofa is
#: (2.3, 2.0), 0.9 m straight ahead.
EPISODES: tuple[tuple[str, tuple[float, float], float], ...] = (
    ("sofa", (2.3, 2.9), 0.0),
    ("bed", (0.8, 1.5), 90.0),
    ("chair", (6.0, 2.5), 180.0),
    ("plant", (5.0, 1.0), -90.0),
)


def _rotation_coeffs(yaw_deg: float) -> list[float]:
    """habitat's [x, y, z, w] coefficients of a rotation about +y."""
    q = _yaw_quaternion(math.radians(yaw_deg))
    return [0.0, round(q.y, 6), 0.0, round(q.w, 6)]


def view_points(box: Box, radius: float = 0.18) -> list[list[float]]:
    """The view points of one object (habitat [x, y, z]), generated as VIEW_POINT_REACH says."""
    free = FreeSpace([_footprint(b) for b in BOXES], BOUNDS_XZ, radius)
    (x0, _, z0), (x1, _, z1) = box.lo, box.hi
    r, s = VIEW_POINT_REACH, VIEW_POINT_SPACING
    xs = np.round(np.arange(math.floor((x0 - r) / s), math.ceil((x1 + r) / s) + 1) * s, 3)
    zs = np.round(np.arange(math.floor((z0 - r) / s), math.ceil((z1 + r) / s) + 1) * s, 3)
    gx, gz = np.meshgrid(xs, zs)
    pts = np.stack([gx.ravel(), gz.ravel()], axis=1)
    gap = np.hypot(np.maximum(np.maximum(x0 - pts[:, 0], pts[:, 0] - x1), 0),
                   np.maximum(np.maximum(z0 - pts[:, 1], pts[:, 1] - z1), 0))
    pts = pts[(gap <= r + 1e-9) & free.contains(pts)]
    return [[float(x), FLOOR_Y, float(z)] for x, z in pts]


def dataset(radius: float = 0.18) -> dict[str, Any]:
    """The fake scene's ObjectNav episodes in habitat-lab's ObjectNav-v1 json format (what
    tests/data/habitat/objectnav_fake.json.gz holds): top-level category maps, `goals_by_category`
    keyed "<scene file name>_<category>", and episodes whose `info.geodesic_distance` is the
    fake pathfinder's distance from the start to the nearest view point."""
    goals: dict[str, list[dict[str, Any]]] = {}
    for box in BOXES:
        if box.category is None:
            continue
        centre = [(box.lo[0] + box.hi[0]) / 2, (box.lo[1] + box.hi[1]) / 2, (box.lo[2] + box.hi[2]) / 2]
        goals.setdefault(f"{SCENE_NAME}_{box.category}", []).append({
            "position": [round(v, 4) for v in centre], "radius": None,
            "object_id": box.object_id, "object_name": box.name, "object_name_id": None,
            "object_category": box.category, "room_id": None, "room_name": None,
            "view_points": [{"agent_state": {"position": p, "rotation": [0.0, 0.0, 0.0, 1.0]},
                             "iou": None} for p in view_points(box, radius)],
        })
    finder = PathFinder(radius)
    episodes = []
    for i, (category, (x, z), yaw) in enumerate(EPISODES):
        ends = [vp["agent_state"]["position"] for g in goals[f"{SCENE_NAME}_{category}"]
                for vp in g["view_points"]]
        path = MultiGoalShortestPath(requested_start=[x, FLOOR_Y, z], requested_ends=ends)
        if not finder.find_path(path):
            raise RuntimeError(f"fake episode {i}: no path to a {category}")
        nearest = np.asarray(ends[path.closest_end_point_index])
        episodes.append({
            "episode_id": str(i), "scene_id": SCENE_ID,
            "start_position": [x, FLOOR_Y, z], "start_rotation": _rotation_coeffs(yaw),
            "info": {"geodesic_distance": round(float(path.geodesic_distance), 6),
                     "euclidean_distance": round(float(np.linalg.norm(nearest - [x, FLOOR_Y, z])), 6),
                     "closest_goal_object_id": None},
            "goals": [], "start_room": None, "shortest_paths": None, "object_category": category,
        })
    return {"episodes": episodes, "category_to_task_category_id": dict(CATEGORIES),
            "category_to_scene_annotation_category_id": dict(CATEGORIES),
            "goals_by_category": goals}


def write_dataset(path: str | Path, radius: float = 0.18) -> Path:
    """Write `dataset()` as habitat's .json.gz (how tests/data/habitat/objectnav_fake.json.gz was
    made: `python -c "from embodied.envs.habitat import fake; fake.write_dataset(PATH)"`)."""
    from embodied.envs.habitat.episodes import write_dataset as write

    return write(path, dataset(radius))


__all__ = [
    "IS_FAKE", "NOTICE", "SCENE_ID", "SCENE_NAME", "FLOOR_Y", "BOXES", "CATEGORIES", "SensorType",
    "CameraSensorSpec", "SimulatorConfiguration", "Configuration", "agent", "AgentConfiguration",
    "ActionSpec", "ActuationSpec", "AgentState", "Quaternion", "ShortestPath",
    "MultiGoalShortestPath", "PathFinder", "Simulator", "Agent", "render", "cast", "dataset",
    "write_dataset", "view_points",
]
