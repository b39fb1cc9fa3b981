"""A rearrangement room in PyBullet: movable objects, articulated furniture, collisions, a camera.

Why it looks the way it does:

- The static shell (walls, floor, furniture) and the room's small objects come from ObjectNav's
  `PyBulletScene` (one body per `ObjectSpec`), so collisions and the agent's moves work exactly
  as in ObjectNav (`try_move`: the agent never ends inside geometry). The articulated furniture is
  loaded from the SfA generator's URDFs (`articulated.objects.spawn`), one fixed-base body each.
- The world is kinematic: objects are set (`resetBasePositionAndOrientation`,
  `resetJointState`) and checked for penetration (`getClosestPoints` < -1 mm), never simulated.
  A put-down object therefore stands upright at rest on the surface it was put on; nothing
  tips over, rolls or breaks. A held object is parked far below the floor: it neither collides
  nor shows in frames (AI2-THOR shows it in front of the camera).
- Rendering: "raycast" (open3d's Embree, `pybullet.raycast.RaycastRenderer`, 5 ms at 224x224)
  on a `HouseSpec` of the *current* state -- the house with the small objects where they are now
  and every articulated link as world-frame boxes -- rebuilt only when something moved (a
  pickup, a put-down, an opening, a phase switch: 10-30 ms); otherwise pybullet's TinyRenderer
  (or EGL) on the bodies themselves, with per-link segmentation. "auto" takes raycast when open3d
  imports. Instance ids are the room's (`RoomSpec`): house objects and every articulated link.
- `WorldState` is the part that changes (where each small object is, each part's openness, what
  is held): plain numbers, so the goal and the shuffled state of an episode are two values that
  `apply` switches between in a few milliseconds.
"""
from __future__ import annotations

import math
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from embodied.envs.articulated import objects as art
from embodied.envs.pybullet.house import HouseSpec, ObjectSpec
from embodied.envs.pybullet.scene import SKY_RGB, PyBulletScene
from embodied.envs.rearrange_room import (AGENT_HEIGHT, AGENT_RADIUS, CAMERA_HEIGHT, RoomSpec,
                                          link_frames, link_primitives, matrix_to_quaternion,
                                          pickupable_corners, yaw_quaternion)

RENDERERS = ("auto", "raycast", "tiny", "egl")
PENETRATION = 1e-3          # m: a contact deeper than this is a collision (touching is fine)
PARK_Z = -200.0             # held objects wait here, below the floor and beyond the far plane


@dataclass
class WorldState:
    """What changes during an episode: small objects' poses (x, y, z, yaw), parts' openness in
    [0, 1], and the held object's name (None: empty hands). Plain data: `copy` is a deep copy."""

    poses: dict[str, tuple[float, float, float, float]]
    openness: dict[str, float]
    held: str | None = None

    def copy(self) -> "WorldState":
        return WorldState(dict(self.poses), dict(self.openness), self.held)


def room_state(room: RoomSpec) -> WorldState:
    """A room as generated: every small object where the house put it, every part closed."""
    poses = {}
    for q in room.pickupables:
        o = room.house.object_by_id(q.instance_id)
        poses[q.name] = (o.position[0], o.position[1], o.position[2], o.yaw)
    return WorldState(poses, {o.name: 0.0 for o in room.openables}, None)


@dataclass
class _Art:
    body: int
    joints: dict[str, int] = field(default_factory=dict)   # joint name -> pybullet joint index


class RearrangeWorld:
    """The simulator side of the rearrangement env: load a room, set states, check collisions,
    render. Rules (what an action does) live in the env; this class only does geometry."""

    def __init__(self, width: int = 224, height: int = 224, hfov_deg: float = 90.0,
                 renderer: str = "auto", camera_height: float = CAMERA_HEIGHT,
                 raycast_threads: int = 1) -> None:
        if renderer not in RENDERERS:
            raise ValueError(f"renderer must be one of {RENDERERS}, got {renderer!r}")
        import pybullet as p

        self._p = p
        self.scene = PyBulletScene(width, height, hfov_deg,
                                   renderer="egl" if renderer == "egl" else "tiny",
                                   agent_radius=AGENT_RADIUS, agent_height=AGENT_HEIGHT,
                                   camera_height=camera_height)
        self.width, self.height = int(width), int(height)
        self.camera_height = float(camera_height)
        self._raycaster: Any = None
        if renderer in ("auto", "raycast"):
            try:
                from embodied.envs.pybullet.raycast import RaycastRenderer
                self._raycaster = RaycastRenderer(self.width, self.height, self.scene.hfov,
                                                  self.scene.near, self.scene.far, camera_height,
                                                  threads=raycast_threads)
            except (ImportError, OSError) as exc:
                if renderer == "raycast":
                    raise RuntimeError(f"renderer='raycast' needs open3d ({exc})") from exc
        self.renderer = "raycast" if self._raycaster is not None else self.scene.renderer
        self.room: RoomSpec | None = None
        self.state: WorldState | None = None
        self._arts: list[_Art] = []
        self._tmp: str | None = None
        self._dirty = True
        self._lut = np.zeros(1, dtype=np.int32)
        self._lut_stride = 1
        self._pick_body: dict[str, int] = {}
        self._proj: Any = None

    # ------------------------------------------------------------------------------ building
    @property
    def client(self) -> int:
        return self.scene.client

    def load(self, room: RoomSpec) -> None:
        """Build `room` (static shell, small objects at their house poses, articulated furniture
        closed); a no-op when it is already the loaded room."""
        if room is self.room:
            return
        p, cid = self._p, self.client
        self.scene.load(room.house)
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="embodied_rearrange_")
        self._arts = []
        for spec in room.articulated:
            body, index = art.spawn(spec, self._tmp, cid)
            for j in index.values():      # no motors: joints stay where they are set
                p.setJointMotorControl2(body, j, p.VELOCITY_CONTROL, force=0.0,
                                        physicsClientId=cid)
            self._arts.append(_Art(body, index))
        self._pick_body = {q.name: self.scene.bodies[q.instance_id] for q in room.pickupables}
        # (body, link) -> instance id, as one flat table indexed by body * stride + link + 1
        pairs = {(body, -1): iid for iid, body in self.scene.bodies.items()}
        for k, a in enumerate(self._arts):
            pairs[(a.body, -1)] = room.link_ids[(k, art.BASE_LINK)]
            for jname, j in a.joints.items():
                child = next(jj.child for jj in room.articulated[k].joints if jj.name == jname)
                pairs[(a.body, j)] = room.link_ids[(k, child)]
        self._lut_stride = max([link for _, link in pairs] + [0]) + 2
        n_bodies = max(b for b, _ in pairs) + 2
        self._lut = np.zeros(n_bodies * self._lut_stride + 1, dtype=np.int32)
        for (body, link), iid in pairs.items():
            self._lut[body * self._lut_stride + link + 1] = iid
        self.room = room
        self.state = self.initial_state()
        self._dirty = True
        self._sync_collisions()

    def initial_state(self) -> WorldState:
        """The loaded room as generated (`room_state`)."""
        return room_state(self._require_room())

    def _require_room(self) -> RoomSpec:
        if self.room is None:
            raise RuntimeError("no room loaded: call world.load(room) first")
        return self.room

    def _sync_collisions(self) -> None:
        """Refresh the broadphase after bodies moved, so `getOverlappingObjects` sees them."""
        self._p.performCollisionDetection(physicsClientId=self.client)

    # ------------------------------------------------------------------------------ state
    def apply(self, state: WorldState) -> None:
        """Set every object to `state` (copied in)."""
        room = self._require_room()
        for q in room.pickupables:
            if q.name == state.held:
                self._park(q.name)
            else:
                self._put(q.name, state.poses[q.name])
        for o in room.openables:
            self._set_joint(o.name, state.openness[o.name])
        self.state = state.copy()
        self._dirty = True
        self._sync_collisions()

    def _put(self, name: str, pose: Sequence[float]) -> None:
        x, y, z, yaw = (float(v) for v in pose)
        self._p.resetBasePositionAndOrientation(self._pick_body[name], [x, y, z],
                                                list(yaw_quaternion(yaw)),
                                                physicsClientId=self.client)

    def _park(self, name: str) -> None:
        self._p.resetBasePositionAndOrientation(self._pick_body[name], [0.0, 0.0, PARK_Z],
                                                [0.0, 0.0, 0.0, 1.0], physicsClientId=self.client)

    def _set_joint(self, name: str, openness: float) -> None:
        o = self._require_room().openable(name)
        a = self._arts[o.articulated]
        self._p.resetJointState(a.body, a.joints[o.joint], o.joint_state(openness),
                                physicsClientId=self.client)

    def set_pose(self, name: str, pose: Sequence[float]) -> None:
        """Move a small object to (x, y, z, yaw) (it stops being held, if it was)."""
        assert self.state is not None
        pose = tuple(float(v) for v in pose)
        self._put(name, pose)
        self.state.poses[name] = pose       # type: ignore[assignment]
        if self.state.held == name:
            self.state.held = None
        self._dirty = True
        self._sync_collisions()

    def hold(self, name: str) -> None:
        """Take a small object into the hand (out of the world); its last pose is kept."""
        assert self.state is not None
        self._park(name)
        self.state.held = name
        self._dirty = True
        self._sync_collisions()

    def set_openness(self, name: str, openness: float) -> None:
        """Set an openable part's openness in [0, 1] (no collision check: callers check)."""
        assert self.state is not None
        self._set_joint(name, openness)
        self.state.openness[name] = float(openness)
        self._dirty = True
        self._sync_collisions()

    # ------------------------------------------------------------------------------ geometry
    def corners(self, name: str, pose: Sequence[float] | None = None) -> np.ndarray:
        """(8, 3) oriented box of a small object at `pose` (default: its current pose)."""
        room = self._require_room()
        assert self.state is not None
        x, y, z, yaw = pose if pose is not None else self.state.poses[name]
        return pickupable_corners(room.pickupable(name), (x, y, z), yaw)

    def openable_frame(self, name: str, openness: float | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """World (rotation, origin) of an openable part's link at `openness` (default: now)."""
        room = self._require_room()
        assert self.state is not None
        o = room.openable(name)
        value = self.state.openness[name] if openness is None else openness
        spec = room.articulated[o.articulated]
        return link_frames(spec, {o.joint: o.joint_state(value)})[o.link]

    def aabb(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World axis-aligned box of a rearrangeable object as it is now (a held object: where it
        was picked up)."""
        room = self._require_room()
        if any(q.name == name for q in room.pickupables):
            c = self.corners(name)
            return c.min(0), c.max(0)
        o = room.openable(name)
        a = self._arts[o.articulated]
        lo, hi = self._p.getAABB(a.body, a.joints[o.joint], physicsClientId=self.client)
        return np.asarray(lo), np.asarray(hi)

    def pose(self, name: str, hand: Sequence[float] | None = None) -> dict[str, Any]:
        """AI2-THOR's pose record of one object (fresh objects every call).

        position (x, y, z): a small object's base point (its frame origin), an openable part's
        link origin (on its hinge line or slide); rotation (x, y, z, w) quaternion; bounding_box
        (8, 3) world corners of a small object's oriented box, None for openable parts (fixed
        furniture, as AI2-THOR gives boxes only for movable objects); openness in [0, 1] for
        parts, None for small objects; pickupable; broken (always False: nothing breaks here).
        `hand` (x, y, z, yaw) is where a held object counts as being (in front of the agent)."""
        room = self._require_room()
        assert self.state is not None
        for q in room.pickupables:
            if q.name == name:
                pose = tuple(hand) if (hand is not None and self.state.held == name) \
                    else self.state.poses[name]
                x, y, z, yaw = (float(v) for v in pose)
                return {"name": name, "type": q.type, "position": (x, y, z),
                        "rotation": yaw_quaternion(yaw),
                        "bounding_box": pickupable_corners(q, (x, y, z), yaw),
                        "openness": None, "pickupable": True, "broken": False}
        o = room.openable(name)
        rot, origin = self.openable_frame(name)
        return {"name": name, "type": o.type, "position": tuple(float(v) for v in origin),
                "rotation": matrix_to_quaternion(rot), "bounding_box": None,
                "openness": float(self.state.openness[name]), "pickupable": False,
                "broken": False}

    def poses(self, hand: Sequence[float] | None = None) -> dict[str, dict[str, Any]]:
        """Every rearrangeable object's pose record, pickupables first, by name."""
        return {n: self.pose(n, hand) for n in self._require_room().object_names}

    # ------------------------------------------------------------------------------ collisions
    def _penetrates(self, body: int, link: int | None = None) -> bool:
        p, cid = self._p, self.client
        lo, hi = p.getAABB(body, -1 if link is None else link, physicsClientId=cid)
        m = 0.01
        others = p.getOverlappingObjects([v - m for v in lo], [v + m for v in hi],
                                         physicsClientId=cid) or ()
        seen = set()
        for other, _ in others:
            if other == body or other == self.scene.agent_body or other in seen:
                continue
            seen.add(other)
            kwargs = {} if link is None else {"linkIndexA": link}
            for cp in p.getClosestPoints(body, other, 0.0, physicsClientId=cid, **kwargs):
                if cp[8] < -PENETRATION:
                    return True
        return False

    def pickupable_collides(self, name: str) -> bool:
        """Does the small object, where it is now, cut into anything (the agent excluded)?"""
        return self._penetrates(self._pick_body[name])

    def openable_collides(self, name: str) -> bool:
        """Does the part, at its current openness, cut into anything but its own object?"""
        o = self._require_room().openable(name)
        a = self._arts[o.articulated]
        return self._penetrates(a.body, a.joints[o.joint])

    def agent_collides(self, xy: Sequence[float]) -> bool:
        """Would the agent's cylinder at xy touch any geometry (or leave the room)?"""
        return self.scene.collides(xy)

    def try_move(self, xy_from: Sequence[float], xy_to: Sequence[float]) -> bool:
        """ObjectNav's collision-checked slide (target and every 0.1 m along the way)."""
        return self.scene.try_move(xy_from, xy_to)

    def agent_clearance(self, xy: Sequence[float]) -> float:
        """Signed distance (m) from the agent's cylinder at xy to the nearest body."""
        return self.scene.min_distance(xy)

    def ray_hits(self, origins: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(instance id, hit fraction) of the first thing each segment origins[i] -> targets[i]
        hits (0 and 1.0 if nothing): line-of-sight queries without rendering."""
        o = np.asarray(origins, dtype=float).reshape(-1, 3)
        t = np.asarray(targets, dtype=float).reshape(-1, 3)
        ids = np.zeros(len(o), dtype=np.int32)
        frac = np.ones(len(o))
        for s in range(0, len(o), 8192):
            res = self._p.rayTestBatch(o[s:s + 8192].tolist(), t[s:s + 8192].tolist(),
                                       physicsClientId=self.client)
            body = np.array([r[0] for r in res], dtype=np.int64)
            link = np.array([r[1] for r in res], dtype=np.int64)
            ids[s:s + 8192] = self._ids(body, link)
            frac[s:s + 8192] = [r[2] for r in res]
        return ids, frac

    def _ids(self, body: np.ndarray, link: np.ndarray) -> np.ndarray:
        """Instance ids of (body, link) pairs (0 for nothing / unknown)."""
        key = body * self._lut_stride + link + 1
        ok = (body >= 0) & (key >= 0) & (key < len(self._lut))
        return np.where(ok, self._lut[np.clip(key, 0, len(self._lut) - 1)], 0).astype(np.int32)

    # ------------------------------------------------------------------------------ camera
    def render(self, x: float, y: float, yaw: float, pitch: float) -> dict[str, np.ndarray]:
        """rgb (H, W, 3) uint8, depth (H, W) float32 z-depth in metres (far = nothing), instance
        (H, W) int32 (0 = nothing) from the agent camera; new arrays every call."""
        self._require_room()
        if self._raycaster is not None:
            if self._dirty:
                self._raycaster.load(self.render_house())
                self._dirty = False
            out = self._raycaster.render(x, y, yaw, pitch, want_depth=True, want_seg=True)
            out.pop("semantic", None)
            return out
        p, sc = self._p, self.scene
        if self._proj is None:
            self._proj = p.computeProjectionMatrixFOV(math.degrees(sc.vfov),
                                                      self.width / self.height, sc.near, sc.far,
                                                      physicsClientId=self.client)
        flag = p.ER_BULLET_HARDWARE_OPENGL if sc.renderer == "egl" else p.ER_TINY_RENDERER
        _, _, rgba, depth_buf, seg = p.getCameraImage(
            self.width, self.height, viewMatrix=sc.view_matrix(x, y, yaw, pitch),
            projectionMatrix=self._proj, renderer=flag,
            flags=p.ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX, physicsClientId=self.client)
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(self.height, self.width, 4)
        dbuf = np.asarray(depth_buf, dtype=np.float32).reshape(self.height, self.width)
        background = dbuf >= 1.0 - 1e-7
        rgb = np.ascontiguousarray(rgba[..., :3])
        rgb[background] = SKY_RGB
        n, f = sc.near, sc.far
        depth = (f * n / (f - (f - n) * dbuf.astype(np.float64))).astype(np.float32)
        depth[background] = f
        s = np.asarray(seg, dtype=np.int64).reshape(self.height, self.width)
        body = np.where(s < 0, -1, s & ((1 << 24) - 1))
        link = np.where(s < 0, -1, (s >> 24) - 1)
        return {"rgb": rgb, "depth": depth, "instance": self._ids(body, link)}

    def render_house(self) -> HouseSpec:
        """The current state as a `HouseSpec` the ray caster can draw: small objects where they
        are (held ones left out), articulated links as world-frame boxes. (Their category only
        feeds the ray caster's semantic table, which this world does not use.)"""
        room = self._require_room()
        assert self.state is not None
        moved = {q.instance_id: q.name for q in room.pickupables}
        objects: list[ObjectSpec] = []
        for o in room.house.objects:
            name = moved.get(o.instance_id)
            if name is None:
                objects.append(o)
            elif name != self.state.held:
                x, y, z, yaw = self.state.poses[name]
                objects.append(replace(o, position=(x, y, z), yaw=yaw))
        for k, spec in enumerate(room.articulated):
            states = {}
            for o in room.openables:
                if o.articulated == k:
                    states[o.joint] = o.joint_state(self.state.openness[o.name])
            for link, frame in link_frames(spec, states).items():
                objects.append(ObjectSpec(room.link_ids[(k, link)], "Shelf", "furniture",
                                          (0.0, 0.0, 0.0), 0.0,
                                          link_primitives(spec, link, frame)))
        return HouseSpec(room.house.seed, room.house.bounds, room.house.rooms, objects,
                         room.house.doors, room.house.surfaces)

    def camera_position(self, x: float, y: float) -> np.ndarray:
        """The camera's world position for an agent standing at (x, y)."""
        return np.array([x, y, self.camera_height])

    def project(self, points: np.ndarray, x: float, y: float, yaw: float, pitch: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, v, z): pixel column, row and z-depth of world points (N, 3) in the agent camera
        (the pinhole of `PyBulletScene.intrinsics()`; z <= 0 is behind the camera)."""
        from embodied.envs.pybullet.raycast import RaycastRenderer

        k = self.scene.intrinsics()
        basis = RaycastRenderer.camera_basis(yaw, pitch).astype(float)   # forward, right, up
        d = np.asarray(points, dtype=float).reshape(-1, 3) - self.camera_position(x, y)
        fwd, right, up = d @ basis[0], d @ basis[1], d @ basis[2]
        z = fwd
        safe = np.where(z > 1e-9, z, 1e-9)
        return k["cx"] + k["fx"] * right / safe, k["cy"] - k["fy"] * up / safe, z

    # ------------------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Disconnect and remove the URDF folder (idempotent)."""
        self.scene.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------------- lattice
def lattice_step(yaw: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """The lattice axes of an agent whose heading is `yaw` plus multiples of 90 deg: moves of
    `step` along (cos yaw, sin yaw) and its left normal."""
    ex = step * np.array([math.cos(yaw), math.sin(yaw)])
    return ex, np.array([-ex[1], ex[0]])


def lattice_bfs(world: RearrangeWorld, start_xy: Sequence[float], yaw: float, step: float,
                max_cells: int = 5000) -> tuple[dict[tuple[int, int], np.ndarray],
                                                dict[tuple[int, int], tuple[int, int] | None]]:
    """Every lattice point the agent can reach from `start_xy` with collision-checked moves of
    `step` along its four axes (its heading is a multiple of 90 deg from `yaw`, as the
    challenge's axis-aligned starts and 90-degree turns keep it): positions by (i, j) offset,
    and each point's predecessor (for paths). Breadth first, so predecessors give shortest
    paths in moves."""
    ex, ey = lattice_step(yaw, step)
    start = np.asarray(start_xy, dtype=float)[:2]
    cells = {(0, 0): start.copy()}
    parent: dict[tuple[int, int], tuple[int, int] | None] = {(0, 0): None}
    queue = deque([(0, 0)])
    while queue and len(cells) < max_cells:
        i, j = queue.popleft()
        here = cells[(i, j)]
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            key = (i + di, j + dj)
            if key in parent:
                continue
            there = start + (i + di) * ex + (j + dj) * ey
            if world.try_move(here, there):
                cells[key] = there
                parent[key] = (i, j)
                queue.append(key)
    return cells, parent


def lattice_path(parent: dict[tuple[int, int], tuple[int, int] | None],
                 goal: tuple[int, int]) -> list[tuple[int, int]]:
    """The lattice points from the start to `goal` (both included), from `lattice_bfs`."""
    path = [goal]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])  # type: ignore[arg-type]
    return path[::-1]


def distances_2d(xy: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N,) floor-plane distances from points (N, 2) to the box [lo, hi] (0 inside): the
    'within 1.5 m' of the interaction rules."""
    pts = np.asarray(xy, dtype=float).reshape(-1, 2)
    gap = np.maximum(np.maximum(np.asarray(lo)[:2] - pts, pts - np.asarray(hi)[:2]), 0.0)
    return np.hypot(gap[:, 0], gap[:, 1])

