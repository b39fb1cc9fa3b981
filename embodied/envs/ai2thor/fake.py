"""A FAKE AI2-THOR controller: no Unity player, a box world, but real `ai2thor.server.Event`s.

This is a fake, and says so (`FakeController.is_fake`, `metadata["fake"]`, the scene names
`FloorPlan_Fake*`): it lets the THOR adapters and every ObjectNav agent run end to end on a
machine without a GPU or the player build, on the real package's types. What is real and what
is not:

* real: the `Event` objects. Each is built the way `ai2thor.server.Server.create_event` builds
  one: `Event(metadata)` with metadata of the recorded shape (agent, objects with AABBs, colours,
  `lastActionSuccess`, `actionReturn`, ...), then `add_image`, `add_image_depth` and
  `add_image_ids` on raw bottom-up byte buffers, so `event.frame`, `event.depth_frame` and the
  lazy `event.instance_masks` are the package's own code paths;
* real: the action names and arguments the adapter sends (MoveAhead/moveMagnitude,
  RotateLeft/degrees, LookUp/degrees, TeleportFull, GetShortestPath(objectType, position),
  GetReachablePositions), the ValueError THOR raises for an unknown action, and the
  `visibilityDistance` rule of `visible` (in view and within that distance of the agent);
* fake: the world. A walled rectangular room with axis-aligned boxes for objects, drawn by a
  numpy ray caster (flat colours, exact z-depth); collisions are a circle of `AGENT_RADIUS`
  against the boxes and walls; shortest paths are geodesics on a 5 cm grid (the project's
  NavGrid), not Unity's NavMesh; visibility has no occlusion test beyond "has pixels".
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from embodied.envs.ai2thor.controller import ThorSettings
from embodied.perception.navgrid import NavGrid, distance_field

__all__ = ["FakeController", "FakeScene", "FakeObject", "FAKE_SCENES", "FAKE_START", "AGENT_Y",
           "AGENT_RADIUS", "CAMERA_HEIGHT", "fake_episodes"]

AGENT_Y = 0.9009996652603149   # RoboTHOR's LoCoBot centre height (the challenge's initial_position y)
AGENT_RADIUS = 0.18            # m: the collision circle of the fake agent
CAMERA_HEIGHT = 0.88           # m above the floor
NAVMESH_Y = 0.010180532932281494  # the y of RoboTHOR's shortest-path corners (its NavMesh)
WALL_HEIGHT = 2.5
HORIZON_LIMITS = (-30.0, 60.0)  # LoCoBot's camera: 30 deg up, 60 deg down
GRID_RES = 0.05


@dataclass(frozen=True)
class FakeObject:
    """An axis-aligned box standing in for a THOR object: centre and size in THOR (x, y, z)."""

    object_type: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]

    @property
    def object_id(self) -> str:
        """THOR's id format: `Type|+x.xx|+y.yy|+z.zz`."""
        x, y, z = self.center
        return f"{self.object_type}|{x:+.2f}|{y:+.2f}|{z:+.2f}"

    def lo(self) -> np.ndarray:
        return np.asarray(self.center) - np.asarray(self.size) / 2.0

    def hi(self) -> np.ndarray:
        return np.asarray(self.center) + np.asarray(self.size) / 2.0


@dataclass(frozen=True)
class FakeScene:
    """A walled room [x0, x1] x [z0, z1] (THOR x, z; floor at y = 0) with box objects."""

    name: str
    bounds: tuple[float, float, float, float]
    objects: tuple[FakeObject, ...]


def _room(name: str, objects: list[tuple[str, tuple[float, float, float], tuple[float, float, float]]]
          ) -> FakeScene:
    return FakeScene(name, (0.0, 0.0, 6.0, 5.0), tuple(FakeObject(t, c, s) for t, c, s in objects))


#: The fake's scenes (RoboTHOR's 12 ObjectNav categories appear across them); tests/data/robothor
#: holds episodes for them in the challenge's format.
FAKE_SCENES: dict[str, FakeScene] = {
    "FloorPlan_Fake1_1": _room("FloorPlan_Fake1_1", [
        ("Television", (5.7, 0.9, 2.5), (0.15, 0.6, 1.0)),
        ("Apple", (1.0, 0.80, 4.3), (0.1, 0.1, 0.1)),
        ("DiningTable", (1.0, 0.375, 4.3), (0.8, 0.75, 0.6)),
        ("GarbageCan", (0.3, 0.2, 0.3), (0.3, 0.4, 0.3)),
        ("HousePlant", (3.0, 0.4, 2.5), (0.4, 0.8, 0.4)),
        ("Sofa", (4.0, 0.4, 0.5), (1.6, 0.8, 0.8)),
        ("Mug", (4.0, 0.85, 0.5), (0.1, 0.1, 0.1)),
    ]),
    "FloorPlan_Fake1_2": _room("FloorPlan_Fake1_2", [
        ("Laptop", (5.0, 0.8, 4.3), (0.35, 0.05, 0.25)),
        ("Desk", (5.0, 0.375, 4.3), (1.0, 0.75, 0.6)),
        ("BasketBall", (0.5, 0.12, 0.5), (0.24, 0.24, 0.24)),
        ("Vase", (3.0, 0.25, 2.0), (0.3, 0.5, 0.3)),
        ("Bowl", (1.2, 0.8, 4.5), (0.2, 0.1, 0.2)),
        ("CoffeeTable", (1.2, 0.375, 4.5), (0.8, 0.75, 0.5)),
    ]),
}


def _colour(k: int) -> list[int]:
    """A distinct RGB colour per index (THOR's segmentation colours are arbitrary but unique)."""
    return [(37 * k + 50) % 256, (91 * k + 20) % 256, (53 * k + 140) % 256]


class FakeController:
    """FAKE stand-in for `ai2thor.controller.Controller` (reset/step/last_event/stop); see the
    module docstring for what is real. `is_fake` is True so a run can never mistake it for THOR."""

    is_fake = True

    def __init__(self, settings: ThorSettings | None = None, scenes: dict[str, FakeScene] | None = None,
                 scene: str | None = None) -> None:
        from ai2thor.server import DepthFormat, Event  # the real types; lazy like the real backend

        self._Event, self._meters = Event, DepthFormat.Meters
        self.settings = settings or ThorSettings()
        self.scenes = dict(FAKE_SCENES if scenes is None else scenes)
        self.initialization_parameters: dict[str, Any] = {}
        self.width, self.height = self.settings.width, self.settings.height
        self.calls: list[dict[str, Any]] = []   # every step's action, for tests
        self._grids: dict[str, NavGrid] = {}
        self._fields: dict[tuple[str, str], np.ndarray] = {}
        self.last_event: Any = None
        self.reset(scene or sorted(self.scenes)[0])

    # ------------------------------------------------------------------------------- the API
    def reset(self, scene: str | None = None, **init_params: Any) -> Any:
        scene = scene or self.scene.name
        if scene not in self.scenes:
            raise ValueError(f"\nScene '{scene}' not contained in build (scene names are case "
                             f"sensitive).\nPlease choose one of the following scene names:\n\n"
                             f"{', '.join(sorted(self.scenes))}")
        self.scene = self.scenes[scene]
        self.position = dict(FAKE_START)
        self.rotation, self.horizon = 0.0, 0.0
        self.initialization_parameters.update(init_params)
        return self._emit("Reset", True)

    def step(self, action: str | dict[str, Any] | None = None, **kwargs: Any) -> Any:
        args = dict(action) if isinstance(action, dict) else {"action": action}
        args.update(kwargs)
        name = args.pop("action")
        self.calls.append({"action": name, **args})
        handler = getattr(self, f"_do_{name}", None)
        if handler is None:  # what THOR does for an action it does not know (errorCode InvalidAction)
            raise ValueError(f"Invalid action: {name}")
        ok, error, ret = handler(**args)
        return self._emit(name, ok, error, ret)

    def stop(self) -> None:
        """Nothing to stop (no player process)."""

    # ------------------------------------------------------------------------------ actions
    def _do_MoveAhead(self, moveMagnitude: float | None = None, **_: Any) -> tuple[bool, str, Any]:
        d = self.settings.grid_size if moveMagnitude is None else float(moveMagnitude)
        th = math.radians(self.rotation)
        x = self.position["x"] + d * math.sin(th)
        z = self.position["z"] + d * math.cos(th)
        mid_ok = self._free(self.position["x"] + d / 2 * math.sin(th), self.position["z"] + d / 2 * math.cos(th))
        if not (mid_ok and self._free(x, z)):
            return False, "MoveAhead blocked: the fake agent would hit an object or a wall", None
        self.position = {"x": x, "y": AGENT_Y, "z": z}
        return True, "", None

    def _rotate(self, sign: float, degrees: float | None) -> tuple[bool, str, Any]:
        step = self.settings.rotate_step_degrees if degrees is None else float(degrees)
        self.rotation = (self.rotation + sign * step) % 360.0
        return True, "", None

    def _do_RotateLeft(self, degrees: float | None = None, **_: Any) -> tuple[bool, str, Any]:
        return self._rotate(-1.0, degrees)

    def _do_RotateRight(self, degrees: float | None = None, **_: Any) -> tuple[bool, str, Any]:
        return self._rotate(1.0, degrees)

    def _look(self, sign: float, degrees: float | None) -> tuple[bool, str, Any]:
        step = self.settings.horizon_step_degrees if degrees is None else float(degrees)
        horizon = self.horizon + sign * step
        if not HORIZON_LIMITS[0] - 1e-6 <= horizon <= HORIZON_LIMITS[1] + 1e-6:
            return False, f"horizon {horizon} outside {HORIZON_LIMITS}", None
        self.horizon = horizon
        return True, "", None

    def _do_LookUp(self, degrees: float | None = None, **_: Any) -> tuple[bool, str, Any]:
        return self._look(-1.0, degrees)

    def _do_LookDown(self, degrees: float | None = None, **_: Any) -> tuple[bool, str, Any]:
        return self._look(1.0, degrees)

    def _do_Done(self, **_: Any) -> tuple[bool, str, Any]:
        return True, "", None

    _do_Pass = _do_Done

    def _do_TeleportFull(self, x: float, y: float, z: float, rotation: Any = 0.0, horizon: float = 0.0,
                         standing: bool = True, **_: Any) -> tuple[bool, str, Any]:
        if not self._free(float(x), float(z)):
            return False, f"TeleportFull: ({x}, {z}) is not a free position of {self.scene.name}", None
        self.position = {"x": float(x), "y": float(y), "z": float(z)}
        self.rotation = float(rotation["y"] if isinstance(rotation, dict) else rotation) % 360.0
        self.horizon = float(horizon)
        return True, "", None

    def _do_GetReachablePositions(self, gridSize: float | None = None, **_: Any) -> tuple[bool, str, Any]:
        g = float(gridSize or self.settings.grid_size)
        x0, z0, x1, z1 = self.scene.bounds
        out = [{"x": float(x), "y": AGENT_Y, "z": float(z)}
               for x in np.arange(x0 + g, x1, g) for z in np.arange(z0 + g, z1, g)
               if self._free(float(x), float(z))]
        return True, "", out

    def _do_GetShortestPath(self, position: dict[str, float], objectType: str | None = None,
                            objectId: str | None = None, **_: Any) -> tuple[bool, str, Any]:
        targets = [o for o in self.scene.objects
                   if (objectId is not None and o.object_id == objectId)
                   or (objectId is None and o.object_type == objectType)]
        if not targets:
            return False, f"No object of type {objectType!r} / id {objectId!r} in {self.scene.name}", None
        corners = self._shortest_path((float(position["x"]), float(position["z"])), targets,
                                      objectId or str(objectType))
        if corners is None:
            return False, "Path to target could not be found", None
        return True, "", {"corners": corners}

    # ------------------------------------------------------------------------------ geometry
    def _free(self, x: float, z: float) -> bool:
        """The agent's circle at (x, z) touches no wall and no object box."""
        x0, z0, x1, z1 = self.scene.bounds
        r = AGENT_RADIUS
        if not (x0 + r <= x <= x1 - r and z0 + r <= z <= z1 - r):
            return False
        for o in self.scene.objects:
            lo, hi = o.lo(), o.hi()
            dx = max(lo[0] - x, 0.0, x - hi[0])
            dz = max(lo[2] - z, 0.0, z - hi[2])
            if math.hypot(dx, dz) < r:
                return False
        return True

    def _grid(self) -> NavGrid:
        if self.scene.name not in self._grids:
            x0, z0, x1, z1 = self.scene.bounds
            walls = [np.array([[x0, z0], [x1, z0]]), np.array([[x1, z0], [x1, z1]]),
                     np.array([[x1, z1], [x0, z1]]), np.array([[x0, z1], [x0, z0]])]
            boxes = [np.array([[o.lo()[0], o.lo()[2]], [o.hi()[0], o.lo()[2]], [o.hi()[0], o.hi()[2]],
                               [o.lo()[0], o.hi()[2]]]) for o in self.scene.objects]
            self._grids[self.scene.name] = NavGrid.from_footprints(
                walls + boxes, (x0, z0, x1, z1), resolution=GRID_RES, inflation=AGENT_RADIUS + 0.01)
        return self._grids[self.scene.name]

    def _shortest_path(self, start: tuple[float, float], targets: list[FakeObject], key: str
                       ) -> list[dict[str, float]] | None:
        """Geodesic from `start` to the free cells closest to any target box (where THOR's path
        ends too: as near the object as the agent can stand), as corner points."""
        grid = self._grid()
        field_key = (self.scene.name, key)
        if field_key not in self._fields:
            h, w = grid.free.shape
            xs = grid.origin[0] + (np.arange(w) + 0.5) * grid.resolution
            zs = grid.origin[1] + (np.arange(h) + 0.5) * grid.resolution
            best = np.full((h, w), np.inf)
            for o in targets:
                lo, hi = o.lo(), o.hi()
                dx = np.maximum(np.maximum(lo[0] - xs, xs - hi[0]), 0.0)
                dz = np.maximum(np.maximum(lo[2] - zs, zs - hi[2]), 0.0)
                best = np.minimum(best, np.hypot(dz[:, None], dx[None, :]))
            best[~grid.free] = np.inf
            if not np.isfinite(best).any():
                return None
            self._fields[field_key] = distance_field(grid, best <= best.min() + grid.resolution)
        field = self._fields[field_key]
        cell = grid.world_to_cell(np.array(start))
        i, j = int(cell[0]), int(cell[1])
        if not (0 <= i < field.shape[0] and 0 <= j < field.shape[1] and np.isfinite(field[i, j])):
            # off the grid's free cells (they are inflated a little more than the agent): snap to
            # the nearest reachable cell within 0.3 m, as THOR snaps a start onto its NavMesh
            ok = np.argwhere(np.isfinite(field))
            if not len(ok):
                return None
            gap = np.hypot(ok[:, 0] - i, ok[:, 1] - j)
            if gap.min() * grid.resolution > 0.3:
                return None
            i, j = (int(v) for v in ok[int(np.argmin(gap))])
        cells = [(i, j)]
        while field[i, j] > 0:  # steepest descent on the geodesic field
            nbrs = [(i + a, j + b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a or b)
                    and 0 <= i + a < field.shape[0] and 0 <= j + b < field.shape[1]]
            i, j = min(nbrs, key=lambda c: field[c])
            cells.append((i, j))
        pts = [np.array(start)] + [grid.cell_to_world(np.array(c)) for c in cells[1:]]
        corners = [pts[0]]
        k = 0
        while k < len(pts) - 1:  # string pulling: the farthest point still in line of sight
            nxt = k + 1
            for m in range(len(pts) - 1, k, -1):
                if self._clear(grid, pts[k], pts[m]):
                    nxt = m
                    break
            corners.append(pts[nxt])
            k = nxt
        return [{"x": float(p[0]), "y": NAVMESH_Y, "z": float(p[1])} for p in corners]

    @staticmethod
    def _clear(grid: NavGrid, a: np.ndarray, b: np.ndarray) -> bool:
        n = max(2, int(np.linalg.norm(b - a) / (grid.resolution / 2)) + 1)
        ij = grid.world_to_cell(a + np.linspace(0, 1, n)[:, None] * (b - a))
        ok = grid.in_grid(ij)
        return bool(ok.all() and grid.free[ij[:, 0], ij[:, 1]].all())

    # ------------------------------------------------------------------------------ rendering
    def _render(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ray-cast the room: (rgb (H, W, 3) uint8, z-depth (H, W) float32, hit (H, W) int:
        -1 wall/ceiling, 0 floor, k >= 1 the k-th scene object)."""
        s = self.settings
        w, h = s.width, s.height
        fy = (h / 2.0) / math.tan(math.radians(s.field_of_view) / 2.0)
        fx = fy
        th, hz = math.radians(self.rotation), math.radians(self.horizon)
        fwd = np.array([math.sin(th) * math.cos(hz), -math.sin(hz), math.cos(th) * math.cos(hz)])
        right = np.array([math.cos(th), 0.0, -math.sin(th)])
        up = np.array([math.sin(th) * math.sin(hz), math.cos(hz), math.cos(th) * math.sin(hz)])
        cols = (np.arange(w) - (w - 1) / 2.0) / fx
        rows = (np.arange(h) - (h - 1) / 2.0) / fy
        d = fwd[None, None, :] + cols[None, :, None] * right - rows[:, None, None] * up  # forward comp. 1
        o = np.array([self.position["x"], CAMERA_HEIGHT, self.position["z"]])
        x0, z0, x1, z1 = self.scene.bounds
        with np.errstate(divide="ignore", invalid="ignore"):
            room_lo, room_hi = np.array([x0, 0.0, z0]), np.array([x1, WALL_HEIGHT, z1])
            t_far = np.maximum((room_lo - o) / d, (room_hi - o) / d)
            t_far = np.where(np.isnan(t_far), np.inf, t_far)
            axis = np.argmin(t_far, axis=-1)
            depth = np.min(t_far, axis=-1)
            hit = np.where((axis == 1) & (d[..., 1] < 0), 0, -1)
            for k, obj in enumerate(self.scene.objects, start=1):
                t1, t2 = (obj.lo() - o) / d, (obj.hi() - o) / d
                t_in = np.nanmax(np.minimum(t1, t2), axis=-1)
                t_out = np.nanmin(np.maximum(t1, t2), axis=-1)
                closer = (t_in <= t_out) & (t_in > 0) & (t_in < depth)
                depth = np.where(closer, t_in, depth)
                hit = np.where(closer, k, hit)
        shade = np.clip(1.0 - depth / 12.0, 0.3, 1.0)[..., None]
        base = np.zeros((h, w, 3))
        base[hit == -1] = (200, 200, 190)
        base[hit == 0] = (140, 100, 60)
        for k in range(1, len(self.scene.objects) + 1):
            base[hit == k] = _colour(k)
        rgb = (base * shade).astype(np.uint8)
        return rgb, depth.astype(np.float32), hit

    def _emit(self, action: str, ok: bool, error: str = "", ret: Any = None) -> Any:
        """A real `ai2thor.server.Event` for the current state, built like the server builds one."""
        s = self.settings
        rgb, depth, hit = self._render()
        colours = []
        ids = np.zeros(hit.shape + (4,), np.uint8)
        ids[..., 3] = 255
        objects = []
        cam = np.array([self.position["x"], self.position["y"], self.position["z"]])
        floor = {"objectId": "Floor|+00.00|+00.00|+00.00", "objectType": "Floor", "name": "Floor",
                 "position": {"x": 0.0, "y": 0.0, "z": 0.0}, "visible": bool((hit == 0).any()),
                 "distance": 0.0, "axisAlignedBoundingBox": {
                     "center": {"x": 3.0, "y": -0.05, "z": 2.5}, "size": {"x": 6.0, "y": 0.1, "z": 5.0},
                     "cornerPoints": []}}
        for k, obj in enumerate((None, *self.scene.objects)):
            colour = _colour(100 + k) if obj is None else _colour(k)
            oid = floor["objectId"] if obj is None else obj.object_id
            colours.append({"name": oid, "color": colour})
            ids[hit == k, :3] = colour
            if obj is None:
                objects.append(floor)
                continue
            centre = np.asarray(obj.center)
            distance = float(np.linalg.norm(centre - cam))
            objects.append({
                "objectId": oid, "objectType": obj.object_type, "name": oid.replace("|", "_"),
                "position": {"x": centre[0], "y": centre[1], "z": centre[2]},
                "rotation": {"x": 0.0, "y": 0.0, "z": 0.0},
                "visible": bool((hit == k).any()) and distance <= s.visibility_distance,
                "distance": distance, "pickupable": obj.size[0] < 0.4, "receptacle": False,
                "axisAlignedBoundingBox": {
                    "center": {"x": centre[0], "y": centre[1], "z": centre[2]},
                    "size": {"x": obj.size[0], "y": obj.size[1], "z": obj.size[2]},
                    "cornerPoints": []},
            })
        for t in sorted({o.object_type for o in self.scene.objects} | {"Floor"}):
            colours.append({"name": t, "color": _colour(200 + len(t))})
        metadata = {
            "fake": True, "sceneName": self.scene.name, "screenWidth": s.width, "screenHeight": s.height,
            "agent": {"name": "agent", "position": dict(self.position),
                      "rotation": {"x": 0.0, "y": self.rotation, "z": 0.0},
                      "cameraHorizon": self.horizon, "isStanding": True, "inHighFrictionArea": False},
            "cameraPosition": {"x": self.position["x"], "y": CAMERA_HEIGHT, "z": self.position["z"]},
            "fov": s.field_of_view, "objects": objects, "colors": colours, "depthFormat": "Meters",
            "lastAction": action, "lastActionSuccess": bool(ok), "errorMessage": error,
            "errorCode": "" if ok else "ActionFailed", "actionReturn": copy.deepcopy(ret),
            "thirdPartyCameras": [], "sequenceId": 0, "agentId": 0,
        }
        event = self._Event(metadata)
        event.add_image(np.flipud(rgb).tobytes())              # the server's buffers are bottom-up
        if s.render_depth:
            event.add_image_depth(np.flipud(depth).tobytes(), depth_format=self._meters,
                                  camera_near_plane=0.1, camera_far_plane=20.0, add_noise=False)
        if s.render_instance_segmentation:
            event.add_image_ids(np.ascontiguousarray(np.flipud(ids)).tobytes())
        self.last_event = event
        return event


#: RoboTHOR ObjectNav's goal types (the fake's episodes use those its scenes have).
_GOAL_TYPES = ("AlarmClock", "Apple", "BaseballBat", "BasketBall", "Bowl", "GarbageCan", "HousePlant",
               "Laptop", "Mug", "SprayBottle", "Television", "Vase")
FAKE_START = {"x": 1.5, "y": AGENT_Y, "z": 2.0}


def fake_episodes() -> list[dict[str, Any]]:
    """FAKE episodes in the challenge's format (one per scene and goal type present, from one
    start pose), for the fake controller when no dataset is configured."""
    out = []
    for name in sorted(FAKE_SCENES):
        for t in sorted({o.object_type for o in FAKE_SCENES[name].objects} & set(_GOAL_TYPES)):
            ident = f"{name}_{t}_0"
            out.append({"id": ident, "episode_id": ident, "scene": name, "object_type": t,
                        "initial_position": dict(FAKE_START), "initial_orientation": 90.0,
                        "initial_horizon": 30.0})
    return out
