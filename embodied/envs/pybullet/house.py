"""Procedural houses as pure data: rooms, walls with doorways, furniture and goal objects.

Why pure data (no pybullet here): a house must be generated, checked, serialised, planned on
(navgrid) and drawn (viz) without a physics client, and in worker processes that never render.
`scene.py` turns a `HouseSpec` into PyBullet bodies; nothing else needs the simulator.

Generation is a pure function of the seed (one `numpy.random.Generator(seed)` drives every
draw), so the same seed gives the same house on every machine, and episodes can be stored as
(seed, start, goal) instead of as scenes.

How a house is made (`generate_house`):

1. Footprint: a W x D rectangle (5-12 m a side), split recursively (largest room first, across
   its longer side at 35-65 %) into 1-4 rooms of at least `min_room_side`.
2. Walls: 2.5 m high, 0.1 m thick boxes on the outline and on every split line. Each split line
   gets one doorway (0.9-1.1 m) away from T-junctions; by induction over the split tree this
   connects every room. No ceiling.
3. Furniture per room kind (`objects.ROOM_FURNITURE`), against a wall or free-standing, by
   rejection sampling. A piece is kept only if it stays out of every doorway's clearance zone
   (0.8 m deep on both sides), leaves gaps to other obstacles that are either closed (< 0.3 m,
   too narrow for the agent at any inflation) or corridors (>= 0.6 m), and -- checked on a
   0.05 m raster of cell centres farther than radius + margin (0.21 m) from every footprint --
   does not cut any free cell off from the rest. So the free space stays one connected region.
4. Goal objects: 5-10 of the 12 categories drawn uniformly (so categories are equally frequent
   across houses), some twice, on floors (the same gap and connectivity rules) or on furniture
   surfaces; each must have a free cell within `reach` of its 2-D bounding box.
5. A budget of `max_primitives` (120) primitives keeps rendering fast.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

# --------------------------------------------------------------------------------------------
# categories
# --------------------------------------------------------------------------------------------

#: the 12 RoboTHOR ObjectNav targets, in the order that fixes their semantic ids (1..12)
GOAL_CATEGORIES: tuple[str, ...] = (
    "AlarmClock", "Apple", "BaseballBat", "BasketBall", "Bowl", "GarbageCan", "HousePlant",
    "Laptop", "Mug", "SprayBottle", "Television", "Vase",
)
FURNITURE_CATEGORIES: tuple[str, ...] = (
    "Table", "CoffeeTable", "Desk", "Chair", "Sofa", "Bed", "Shelf", "Counter", "TVStand",
    "SideTable",
)
STRUCTURE_CATEGORIES: tuple[str, ...] = ("Floor", "Wall")
BACKGROUND = "background"

_CATEGORY_NAMES: tuple[str, ...] = (BACKGROUND,) + GOAL_CATEGORIES + FURNITURE_CATEGORIES \
    + STRUCTURE_CATEGORIES
_SEMANTIC_IDS: dict[str, int] = {name: i for i, name in enumerate(_CATEGORY_NAMES)}


def category_names() -> list[str]:
    """All category names; the index of a name is its semantic id (0 = background)."""
    return list(_CATEGORY_NAMES)


def semantic_id(category: str) -> int:
    """Semantic id of a category: 1 + index in GOAL_CATEGORIES for goals, then furniture, then
    structure; 0 is background. Unknown names raise, so a typo never silently maps to 0."""
    try:
        return _SEMANTIC_IDS[category]
    except KeyError:
        raise ValueError(f"unknown category {category!r}; known: {', '.join(_CATEGORY_NAMES)}") \
            from None


# --------------------------------------------------------------------------------------------
# geometry helpers (numpy only)
# --------------------------------------------------------------------------------------------

FOOTPRINT_SIDES = 16
_COS_HALF = math.cos(math.pi / FOOTPRINT_SIDES)


def euler_to_matrix(euler: Sequence[float]) -> np.ndarray:
    """Rotation matrix of (roll, pitch, yaw) = Rz(yaw) @ Ry(pitch) @ Rx(roll), the URDF / pybullet
    `getQuaternionFromEuler` convention, so footprints agree with what pybullet builds."""
    r, p, y = (float(v) for v in euler)
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), \
        math.sin(y)
    return np.array([
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ])


def _rot_z(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull of 2-D points (Andrew's monotone chain)."""
    pts = np.unique(np.round(np.asarray(points, dtype=float), 12), axis=0)
    if len(pts) <= 2:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for q in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    upper: list = []
    for q in pts[::-1]:
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    return np.array(lower[:-1] + upper[:-1])


def circle_polygon(center: Sequence[float], radius: float, sides: int = FOOTPRINT_SIDES
                   ) -> np.ndarray:
    """A regular polygon that *circumscribes* the circle, so it is a conservative footprint."""
    a = np.arange(sides) * (2 * math.pi / sides)
    rr = radius / math.cos(math.pi / sides)
    return np.stack([center[0] + rr * np.cos(a), center[1] + rr * np.sin(a)], axis=1)


def point_polygon_distance(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Euclidean distance from each point (..., 2) to a convex CCW polygon; 0 inside."""
    pts = np.asarray(points, dtype=float)
    a = np.asarray(poly, dtype=float)
    b = np.roll(a, -1, axis=0)
    ab = b - a                                            # (E, 2)
    ap = pts[..., None, :] - a                            # (..., E, 2)
    denom = np.maximum((ab * ab).sum(-1), 1e-18)
    t = np.clip((ap * ab).sum(-1) / denom, 0.0, 1.0)
    d = np.linalg.norm(ap - t[..., None] * ab, axis=-1).min(-1)
    cross = ab[:, 0] * ap[..., 1] - ab[:, 1] * ap[..., 0]
    inside = (cross >= -1e-12).all(-1)
    return np.where(inside, 0.0, d)


def polygon_distance(pa: np.ndarray, pb: np.ndarray) -> float:
    """Distance between two convex polygons (0 if they touch or overlap)."""
    if _polygons_overlap(pa, pb):
        return 0.0
    return float(min(point_polygon_distance(pa, pb).min(), point_polygon_distance(pb, pa).min()))


def _polygons_overlap(pa: np.ndarray, pb: np.ndarray) -> bool:
    """Separating-axis test for two convex polygons."""
    for poly in (pa, pb):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        sa, sb = pa @ normals.T, pb @ normals.T
        if np.any((sa.max(0) < sb.min(0) - 1e-12) | (sb.max(0) < sa.min(0) - 1e-12)):
            return False
    return True


def _rect_poly(r: Sequence[float]) -> np.ndarray:
    x0, y0, x1, y1 = r
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def _rect_gap(a: Sequence[float], b: Sequence[float]) -> float:
    """Distance between two axis-aligned rectangles (0 if they touch or overlap)."""
    dx = max(a[0] - b[2], b[0] - a[2], 0.0)
    dy = max(a[1] - b[3], b[1] - a[3], 0.0)
    return math.hypot(dx, dy)


def _rects_overlap(a: Sequence[float], b: Sequence[float], tol: float = 0.0) -> bool:
    return a[0] < b[2] - tol and b[0] < a[2] - tol and a[1] < b[3] - tol and b[1] < a[3] - tol


# --------------------------------------------------------------------------------------------
# data classes
# --------------------------------------------------------------------------------------------

PRIMITIVE_KINDS = ("box", "cylinder", "sphere")
_SIZE_LEN = {"box": 3, "cylinder": 2, "sphere": 1}


def _ftuple(v: Iterable[float]) -> tuple[float, ...]:
    return tuple(float(x) for x in v)


@dataclass(frozen=True)
class Primitive:
    """One box, cylinder or sphere of an object, in the object's frame.

    size: box -> half extents (hx, hy, hz); cylinder -> (radius, half_length) along its local z;
    sphere -> (radius,). Lists are normalised to float tuples so specs compare by value.
    """
    kind: str
    pos: tuple[float, float, float]
    size: tuple[float, ...]
    rgba: tuple[float, float, float, float]
    euler: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if self.kind not in PRIMITIVE_KINDS:
            raise ValueError(f"primitive kind must be one of {PRIMITIVE_KINDS}, got {self.kind!r}")
        for name in ("pos", "size", "rgba", "euler"):
            object.__setattr__(self, name, _ftuple(getattr(self, name)))
        if len(self.size) != _SIZE_LEN[self.kind]:
            raise ValueError(f"{self.kind} size needs {_SIZE_LEN[self.kind]} numbers, "
                             f"got {self.size}")
        if len(self.pos) != 3 or len(self.euler) != 3 or len(self.rgba) != 4:
            raise ValueError("pos and euler need 3 numbers, rgba 4")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pos": list(self.pos), "size": list(self.size),
                "rgba": list(self.rgba), "euler": list(self.euler)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Primitive":
        return cls(d["kind"], d["pos"], d["size"], d["rgba"], d.get("euler", (0.0, 0.0, 0.0)))


@dataclass
class ObjectSpec:
    """A static thing in the house: structure (walls, floor), furniture, or a goal object.

    `position` and `yaw` place the object frame in the world; the parts are in that frame.
    Extra fields (beyond docs/internals.md): `support` is the instance id of the furniture an
    object stands on (0 = floor), `room` the index of the room it is in (-1 = none/several).
    """
    instance_id: int
    category: str
    kind: str
    position: tuple[float, float, float]
    yaw: float
    parts: list[Primitive]
    support: int = 0
    room: int = -1

    def __post_init__(self) -> None:
        if self.kind not in ("structure", "furniture", "object"):
            raise ValueError("ObjectSpec.kind must be structure|furniture|object, "
                             f"got {self.kind!r}")
        if self.instance_id < 1:
            raise ValueError("instance ids start at 1 (0 means 'nothing')")
        self.position = _ftuple(self.position)
        self.yaw = float(self.yaw)
        self.parts = [q if isinstance(q, Primitive) else Primitive.from_dict(q) for q in self.parts]

    @property
    def semantic_id(self) -> int:
        return semantic_id(self.category)

    def part_poses(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """World (rotation matrix, centre) of every part."""
        rz = _rot_z(self.yaw)
        t = np.asarray(self.position)
        out = []
        for q in self.parts:
            rot = rz @ euler_to_matrix(q.euler) if any(q.euler) else rz
            out.append((rot, t + rz @ np.asarray(q.pos)))
        return out

    def part_aabbs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Exact world AABB of every part (boxes: |R| @ half; cylinders: axis + rim terms)."""
        out = []
        for q, (rot, c) in zip(self.parts, self.part_poses()):
            if q.kind == "box":
                half = np.abs(rot) @ np.asarray(q.size)
            elif q.kind == "cylinder":
                r, hl = q.size
                axis = rot[:, 2]
                half = hl * np.abs(axis) + r * np.sqrt(np.clip(1.0 - axis ** 2, 0.0, 1.0))
            else:
                half = np.full(3, q.size[0])
            out.append((c - half, c + half))
        return out

    def world_aabb(self) -> tuple[np.ndarray, np.ndarray]:
        """(min_xyz, max_xyz) of the whole object in the world."""
        boxes = self.part_aabbs()
        return (np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0))

    def footprints(self, z_lo: float, z_hi: float) -> list[np.ndarray]:
        """Convex CCW polygons (world x, y) of every part whose vertical extent overlaps
        [z_lo, z_hi]. Boxes give their (rotated) outline exactly; cylinders and spheres give
        16-gons circumscribing their circles, so a footprint never under-covers geometry."""
        polys = []
        for q, (rot, c), (lo, hi) in zip(self.parts, self.part_poses(), self.part_aabbs()):
            if hi[2] <= z_lo or lo[2] >= z_hi:
                continue
            if q.kind == "box":
                h = np.asarray(q.size)
                if abs(rot[2, 2] - 1.0) < 1e-9:     # only turned about z: the top face outline
                    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * h[:2]
                    polys.append(corners @ rot[:2, :2].T + c[:2])
                else:
                    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1)
                                      for sz in (-1, 1)], dtype=float)
                    polys.append(convex_hull(((signs * h) @ rot.T + c)[:, :2]))
            elif q.kind == "cylinder":
                r, hl = q.size
                axis = rot[:, 2]
                if abs(axis[2]) > 1.0 - 1e-9:
                    polys.append(circle_polygon(c[:2], r))
                else:
                    e0, e1 = c[:2] - hl * axis[:2], c[:2] + hl * axis[:2]
                    polys.append(convex_hull(np.concatenate([circle_polygon(e0, r),
                                                             circle_polygon(e1, r)])))
            else:
                polys.append(circle_polygon(c[:2], q.size[0]))
        return polys

    def to_dict(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "category": self.category, "kind": self.kind,
                "position": list(self.position), "yaw": self.yaw,
                "parts": [q.to_dict() for q in self.parts], "support": self.support,
                "room": self.room}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ObjectSpec":
        return cls(int(d["instance_id"]), d["category"], d["kind"], d["position"], d["yaw"],
                   [Primitive.from_dict(q) for q in d["parts"]], int(d.get("support", 0)),
                   int(d.get("room", -1)))


@dataclass
class Room:
    """A rectangular room; `bounds` is its interior (inside the wall faces)."""
    index: int
    kind: str
    bounds: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        self.bounds = _ftuple(self.bounds)

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bounds
        return ((x0 + x1) / 2, (y0 + y1) / 2)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.bounds
        return (x1 - x0) * (y1 - y0)

    def contains(self, xy: Sequence[float], margin: float = 0.0) -> bool:
        x0, y0, x1, y1 = self.bounds
        return x0 + margin <= xy[0] <= x1 - margin and y0 + margin <= xy[1] <= y1 - margin


@dataclass
class Doorway:
    """An opening in an interior wall. `normal` is the direction through it; `rooms` the two
    rooms it joins. Kept in the spec so maps, episode samplers and tests need not re-derive it."""
    center: tuple[float, float]
    normal: tuple[float, float]
    width: float
    rooms: tuple[int, int]

    def __post_init__(self) -> None:
        self.center = _ftuple(self.center)
        self.normal = _ftuple(self.normal)
        self.width = float(self.width)
        self.rooms = tuple(int(r) for r in self.rooms)

    def clearance_zone(self, depth: float, wall_thickness: float, side_margin: float = 0.1
                       ) -> tuple[float, float, float, float]:
        """Axis-aligned rectangle in front of and behind the doorway that must stay empty."""
        cx, cy = self.center
        along = self.width / 2 + side_margin
        across = wall_thickness / 2 + depth
        if abs(self.normal[0]) > 0.5:
            return (cx - across, cy - along, cx + across, cy + along)
        return (cx - along, cy - across, cx + along, cy + across)


@dataclass
class Surface:
    """A horizontal area of a piece of furniture on which goal objects stand (world frame).
    Kept in the spec so that tasks which move objects (rearrangement) know where they may go."""
    furniture_id: int
    category: str
    rect: tuple[float, float, float, float]
    z: float
    clearance: float
    front_yaw: float

    def __post_init__(self) -> None:
        self.rect = _ftuple(self.rect)
        self.z, self.clearance, self.front_yaw = float(self.z), float(self.clearance), \
            float(self.front_yaw)


@dataclass
class HouseSpec:
    """A whole house. `bounds` = (xmin, ymin, xmax, ymax) of the outer wall faces."""
    seed: int
    bounds: tuple[float, float, float, float]
    rooms: list[Room]
    objects: list[ObjectSpec]
    doors: list[Doorway] = field(default_factory=list)
    surfaces: list[Surface] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bounds = _ftuple(self.bounds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (floats, ints, strings, lists only)."""
        return {
            "seed": int(self.seed), "bounds": list(self.bounds),
            "rooms": [{"index": r.index, "kind": r.kind, "bounds": list(r.bounds)}
                      for r in self.rooms],
            "objects": [o.to_dict() for o in self.objects],
            "doors": [{"center": list(d.center), "normal": list(d.normal), "width": d.width,
                       "rooms": list(d.rooms)} for d in self.doors],
            "surfaces": [{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()}
                         for s in self.surfaces],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HouseSpec":
        return cls(int(d["seed"]), d["bounds"],
                   [Room(int(r["index"]), r["kind"], r["bounds"]) for r in d["rooms"]],
                   [ObjectSpec.from_dict(o) for o in d["objects"]],
                   [Doorway(x["center"], x["normal"], x["width"], x["rooms"])
                    for x in d.get("doors", [])],
                   [Surface(**s) for s in d.get("surfaces", [])])

    def goal_instances(self, category: str) -> list[ObjectSpec]:
        """Every goal object of `category` (empty if the house has none)."""
        return [o for o in self.objects if o.kind == "object" and o.category == category]

    def goal_categories(self) -> list[str]:
        """Goal categories present in this house, in GOAL_CATEGORIES order."""
        present = {o.category for o in self.objects if o.kind == "object"}
        return [c for c in GOAL_CATEGORIES if c in present]

    def object_by_id(self, instance_id: int) -> ObjectSpec:
        for o in self.objects:
            if o.instance_id == instance_id:
                return o
        raise KeyError(f"no object with instance id {instance_id}")

    def num_primitives(self) -> int:
        return sum(len(o.parts) for o in self.objects)

    def obstacle_footprints(self, z_lo: float = 0.03, z_hi: float = 1.0) -> list[np.ndarray]:
        """Footprints of every part that overlaps the agent's height band (default: the agent
        cylinder's z range), ready for `NavGrid.from_footprints`."""
        return [poly for o in self.objects for poly in o.footprints(z_lo, z_hi)]

    def room_of(self, xy: Sequence[float]) -> int:
        """Index of the room whose interior contains xy, or -1 (inside a wall, a doorway, out)."""
        for r in self.rooms:
            if r.contains(xy):
                return r.index
        return -1


@dataclass(frozen=True)
class HouseConfig:
    """Knobs of the generator. Defaults give RoboTHOR-like apartments for a 0.18 m agent."""
    min_side: float = 5.0
    max_side: float = 12.0
    max_rooms: int = 4
    min_room_side: float = 2.6          # between wall centre lines
    room_area_per_room: float = 9.0     # at most area / this many rooms
    wall_height: float = 2.5
    wall_thickness: float = 0.1
    door_width: tuple[float, float] = (0.9, 1.1)
    door_height: float = 2.1
    door_clearance: float = 0.8         # depth of the empty zone on each side of a doorway
    agent_radius: float = 0.18
    agent_margin: float = 0.03          # free = centre farther than radius + margin from geometry
    agent_z: tuple[float, float] = (0.03, 1.0)
    corridor: float = 0.6               # gaps between obstacles are >= this ...
    closed_gap: float = 0.3             # ... or <= this (too narrow for the agent anyway)
    wall_gap: float = 0.02              # furniture "against a wall" stands this far from it
    goal_categories: tuple[int, int] = (5, 10)
    duplicate_prob: float = 0.3
    reach: float = 0.6                  # object bbox -> nearest free cell (checks allow 0.7)
    max_primitives: int = 120
    grid_resolution: float = 0.05
    furniture_attempts: int = 40
    area_per_furniture_round: float = 25.0   # a room gets 1 + area // this rounds of furniture
    object_attempts: int = 60


# --------------------------------------------------------------------------------------------
# generator internals
# --------------------------------------------------------------------------------------------

class _Occupancy:
    """Raster of cell centres that are free for the agent, and the one connected free region.

    Used while generating: a new obstacle is accepted only if every cell of the connected free
    region that it does not cover stays connected, so no placement ever seals off floor space.
    """

    def __init__(self, bounds: Sequence[float], res: float, inflation: float) -> None:
        self.x0, self.y0 = float(bounds[0]), float(bounds[1])
        self.res, self.inflation = res, inflation
        self.w = int(math.ceil((bounds[2] - bounds[0]) / res))
        self.h = int(math.ceil((bounds[3] - bounds[1]) / res))
        self.xs = self.x0 + (np.arange(self.w) + 0.5) * res
        self.ys = self.y0 + (np.arange(self.h) + 0.5) * res
        self.occ = np.zeros((self.h, self.w), dtype=bool)
        self.main = np.zeros((self.h, self.w), dtype=bool)

    def _window(self, lo: Sequence[float], hi: Sequence[float], pad: float
                ) -> tuple[slice, slice]:
        j0 = max(int(math.floor((lo[0] - pad - self.x0) / self.res)), 0)
        j1 = min(int(math.ceil((hi[0] + pad - self.x0) / self.res)) + 1, self.w)
        i0 = max(int(math.floor((lo[1] - pad - self.y0) / self.res)), 0)
        i1 = min(int(math.ceil((hi[1] + pad - self.y0) / self.res)) + 1, self.h)
        return slice(i0, max(i0, i1)), slice(j0, max(j0, j1))

    def blocked_by(self, polys: Iterable[np.ndarray]) -> np.ndarray:
        """Cells whose centre is within the inflation distance of any polygon."""
        mask = np.zeros_like(self.occ)
        for poly in polys:
            si, sj = self._window(poly.min(0), poly.max(0), self.inflation + self.res)
            if si.stop <= si.start or sj.stop <= sj.start:
                continue
            gx, gy = np.meshgrid(self.xs[sj], self.ys[si])
            d = point_polygon_distance(np.stack([gx, gy], axis=-1), poly)
            mask[si, sj] |= d <= self.inflation
        return mask

    def init_from(self, polys: Iterable[np.ndarray]) -> None:
        from scipy import ndimage
        self.occ = self.blocked_by(polys)
        self.occ[[0, -1], :] = True
        self.occ[:, [0, -1]] = True
        lab, n = ndimage.label(~self.occ)
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        self.main = lab == int(sizes.argmax())

    def propose(self, polys: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        """(occupancy, main region) after adding the obstacle, or None if it would cut free
        cells off from the rest."""
        from scipy import ndimage
        m = self.blocked_by(polys)
        rem = self.main & ~m
        if not rem.any():
            return None
        new = self.occ | m
        lab, _ = ndimage.label(~new)
        ids = lab[rem]
        if ids.min() != ids.max():
            return None
        return new, lab == ids[0]

    def commit(self, proposal: tuple[np.ndarray, np.ndarray]) -> None:
        self.occ, self.main = proposal

    def near_main(self, rect: Sequence[float], reach: float,
                  main: np.ndarray | None = None) -> bool:
        """Is some free, connected cell centre within `reach` of the rectangle?"""
        main = self.main if main is None else main
        si, sj = self._window(rect[:2], rect[2:], reach)
        if si.stop <= si.start or sj.stop <= sj.start:
            return False
        gx, gy = np.meshgrid(self.xs[sj], self.ys[si])
        dx = np.maximum(np.maximum(rect[0] - gx, gx - rect[2]), 0.0)
        dy = np.maximum(np.maximum(rect[1] - gy, gy - rect[3]), 0.0)
        return bool((main[si, sj] & (np.hypot(dx, dy) <= reach)).any())


@dataclass
class _Wall:
    """An interior split line: the wall x = c (axis 'x') or y = c (axis 'y') from lo to hi."""
    axis: str
    c: float
    lo: float
    hi: float
    door: tuple[float, float] | None = None   # (centre along the line, width)


def _split_footprint(rng: np.random.Generator, cfg: HouseConfig
                     ) -> tuple[float, float, list[tuple[float, float, float, float]], list[_Wall]]:
    """Recursive splits of a W x D footprint into rooms: returns W, D, cells, split walls."""
    W = round(float(rng.uniform(cfg.min_side, cfg.max_side)), 2)
    D = round(float(rng.uniform(cfg.min_side, cfg.max_side)), 2)
    n_max = max(1, min(cfg.max_rooms, int(W * D // cfg.room_area_per_room)))
    n_rooms = int(rng.integers(1, n_max + 1))
    cells = [(-W / 2, -D / 2, W / 2, D / 2)]
    walls: list[_Wall] = []
    while len(cells) < n_rooms:
        order = sorted(range(len(cells)), key=lambda i: -(cells[i][2] - cells[i][0])
                       * (cells[i][3] - cells[i][1]))
        done = False
        for i in order:
            x0, y0, x1, y1 = cells[i]
            sides = [("x", x1 - x0), ("y", y1 - y0)]
            sides.sort(key=lambda s: -s[1])
            for axis, length in sides:
                if length < 2 * cfg.min_room_side:
                    continue
                f_lo = max(0.35, cfg.min_room_side / length)
                f_hi = min(0.65, 1.0 - cfg.min_room_side / length)
                f = float(rng.uniform(f_lo, f_hi))
                if axis == "x":
                    c = round(x0 + f * length, 3)
                    cells[i:i + 1] = [(x0, y0, c, y1), (c, y0, x1, y1)]
                    walls.append(_Wall("x", c, y0, y1))
                else:
                    c = round(y0 + f * length, 3)
                    cells[i:i + 1] = [(x0, y0, x1, c), (x0, c, x1, y1)]
                    walls.append(_Wall("y", c, x0, x1))
                done = True
                break
            if done:
                break
        if not done:
            break
    return W, D, cells, walls


def _place_doors(rng: np.random.Generator, cfg: HouseConfig, walls: list[_Wall]) -> None:
    """One doorway per split wall, between T-junctions with room for its clearance zone."""
    margin = cfg.wall_thickness / 2 + 0.35
    for w in walls:
        junctions = {w.lo, w.hi}
        for o in walls:
            if o.axis != w.axis and w.lo < o.c < w.hi and (abs(o.lo - w.c) < 1e-6
                                                            or abs(o.hi - w.c) < 1e-6):
                junctions.add(o.c)
        pts = sorted(junctions)
        width = round(float(rng.uniform(*cfg.door_width)), 3)
        gaps = [(a, b) for a, b in zip(pts[:-1], pts[1:]) if b - a >= width + 2 * margin]
        if not gaps:      # cannot happen with min_room_side >= 2.6, kept as a clear failure
            raise RuntimeError(f"no room for a doorway on wall {w}")
        lengths = np.array([b - a for a, b in gaps])
        a, b = gaps[int(rng.choice(len(gaps), p=lengths / lengths.sum()))]
        centre = float(rng.uniform(a + margin + width / 2, b - margin - width / 2))
        w.door = (round(centre, 3), width)


def _cell_of(cells: list[tuple[float, float, float, float]], xy: Sequence[float]) -> int:
    for i, (x0, y0, x1, y1) in enumerate(cells):
        if x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1:
            return i
    return -1


def _jitter(rgb: Sequence[float], rng: np.random.Generator, amount: float = 0.04
            ) -> tuple[float, float, float, float]:
    f = float(rng.uniform(1 - amount, 1 + amount))
    return tuple(round(float(min(max(c * f, 0.0), 1.0)), 4) for c in rgb) + (1.0,)


_WALL_PAINTS = [(0.9, 0.88, 0.82), (0.84, 0.87, 0.9), (0.92, 0.84, 0.76), (0.8, 0.86, 0.8),
                (0.88, 0.82, 0.86)]
_FLOORS = {"living": (0.55, 0.4, 0.26), "bedroom": (0.62, 0.48, 0.34), "office": (0.45, 0.34, 0.24),
           "kitchen": (0.78, 0.78, 0.75), "studio": (0.58, 0.44, 0.3)}


def _box_part(center: Sequence[float], half: Sequence[float], rgba) -> Primitive:
    return Primitive("box", tuple(round(float(v), 4) for v in center),
                     tuple(round(float(v), 4) for v in half), rgba)


def _structure(rng: np.random.Generator, cfg: HouseConfig, W: float, D: float,
               cells: list, walls: list[_Wall], kinds: list[str]) -> list[tuple[str, Any]]:
    """Floor and wall ObjectSpec arguments (without instance ids)."""
    t, H = cfg.wall_thickness, cfg.wall_height
    out = []
    floor_parts = []
    for (x0, y0, x1, y1), kind in zip(cells, kinds):
        # extend under the exterior walls so the floor reaches the outer faces
        ex0 = x0 - t / 2 if abs(x0 + W / 2) < 1e-9 else x0
        ex1 = x1 + t / 2 if abs(x1 - W / 2) < 1e-9 else x1
        ey0 = y0 - t / 2 if abs(y0 + D / 2) < 1e-9 else y0
        ey1 = y1 + t / 2 if abs(y1 - D / 2) < 1e-9 else y1
        floor_parts.append(_box_part(((ex0 + ex1) / 2, (ey0 + ey1) / 2, -0.05),
                                     ((ex1 - ex0) / 2, (ey1 - ey0) / 2, 0.05),
                                     _jitter(_FLOORS[kind], rng, 0.08)))
    out.append(("Floor", ((0.0, 0.0, 0.0), floor_parts)))

    paint = _WALL_PAINTS[int(rng.integers(len(_WALL_PAINTS)))]

    def wall_spec(axis: str, c: float, lo: float, hi: float, door):
        """A wall line as one object: pieces left/right of the doorway and a lintel above it."""
        rgba = _jitter(paint, rng, 0.03)
        mid = (lo + hi) / 2
        pos = (c, mid, 0.0) if axis == "x" else (mid, c, 0.0)
        spans = [(lo, hi, 0.0, H)]
        if door is not None:
            dc, dw = door
            spans = [(lo, dc - dw / 2, 0.0, H), (dc + dw / 2, hi, 0.0, H),
                     (dc - dw / 2, dc + dw / 2, cfg.door_height, H)]
        parts = []
        for a, b, z0, z1 in spans:
            if b - a < 1e-3:
                continue
            along_c, along_h = (a + b) / 2 - mid, (b - a) / 2
            zc, zh = (z0 + z1) / 2, (z1 - z0) / 2
            if axis == "x":
                parts.append(_box_part((0.0, along_c, zc), (t / 2, along_h, zh), rgba))
            else:
                parts.append(_box_part((along_c, 0.0, zc), (along_h, t / 2, zh), rgba))
        return ("Wall", (pos, parts))

    out.append(wall_spec("y", -D / 2, -W / 2 - t / 2, W / 2 + t / 2, None))
    out.append(wall_spec("y", D / 2, -W / 2 - t / 2, W / 2 + t / 2, None))
    out.append(wall_spec("x", -W / 2, -D / 2 + t / 2, D / 2 - t / 2, None))
    out.append(wall_spec("x", W / 2, -D / 2 + t / 2, D / 2 - t / 2, None))
    for w in walls:   # 0.5 mm short of the walls they meet, so rounding never overlaps them
        out.append(wall_spec(w.axis, w.c, w.lo + t / 2 + 5e-4, w.hi - t / 2 - 5e-4, w.door))
    return out


class _Builder:
    """Mutable state of one house under construction: specs, obstacle footprints, raster."""

    def __init__(self, rng: np.random.Generator, cfg: HouseConfig,
                 bounds: tuple[float, float, float, float]) -> None:
        self.rng, self.cfg = rng, cfg
        self.objects: list[ObjectSpec] = []
        # (instance id, navigation footprints, solid footprints, solid bounding rectangle)
        self.obstacles: list[tuple[int, list[np.ndarray], list[np.ndarray],
                                   tuple[float, float, float, float]]] = []
        self.door_zones: list[tuple[float, float, float, float]] = []
        self.surfaces: list[Surface] = []
        self.on_surface: dict[tuple[int, float], list[tuple[float, float, float, float]]] = {}
        self.occ = _Occupancy(bounds, cfg.grid_resolution, cfg.agent_radius + cfg.agent_margin)

    @property
    def next_id(self) -> int:
        return len(self.objects) + 1

    def primitives(self) -> int:
        return sum(len(o.parts) for o in self.objects)

    def footprint(self, spec: ObjectSpec
                  ) -> tuple[list[np.ndarray], list[np.ndarray], tuple[float, ...]]:
        """(navigation footprints: parts in the agent's height band; solid footprints: every
        part above the floor, so that nothing is placed into e.g. a thin part lying below the
        band; bounding rectangle of the solid ones)."""
        nav = spec.footprints(*self.cfg.agent_z)
        solid = spec.footprints(1e-6, math.inf)
        allp = np.concatenate(solid) if solid else np.zeros((1, 2))
        lo, hi = allp.min(0), allp.max(0)
        return nav, solid, (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def add_obstacle(self, spec: ObjectSpec) -> None:
        self.objects.append(spec)
        self.obstacles.append((spec.instance_id, *self.footprint(spec)))

    def gaps_ok(self, polys: list[np.ndarray], rect: Sequence[float]) -> bool:
        """Every gap between solid footprints is either closed or a full corridor."""
        cfg = self.cfg
        for _, _, opolys, orect in self.obstacles:
            if _rect_gap(rect, orect) >= cfg.corridor:
                continue
            g = min(polygon_distance(a, b) for a in polys for b in opolys)
            if g < 1e-3 or (cfg.closed_gap < g < cfg.corridor):
                return False
        return True

    def in_door_zone(self, rect: Sequence[float]) -> bool:
        return any(_rects_overlap(rect, z) for z in self.door_zones)


def _pose_candidate(rng: np.random.Generator, cfg: HouseConfig, room: Room,
                    local: tuple[float, float, float, float], against_wall: bool,
                    free_yaws: Sequence[float]) -> tuple[float, float, float] | None:
    """A random (x, y, yaw) putting an object with local footprint rect `local` in `room`,
    either back (-x) against one of the room's walls or free-standing a corridor away from them.
    Yaws are multiples of 90 deg, so the turned rectangle is exact; callers still re-check the
    final footprint against every rule."""
    x0, y0, x1, y1 = room.bounds
    if against_wall:
        side = int(rng.integers(4))            # 0: west wall, 1: east, 2: south, 3: north
        yaw = (0.0, math.pi, math.pi / 2, -math.pi / 2)[side]
    else:
        yaw = float(free_yaws[int(rng.integers(len(free_yaws)))])
    c, s = round(math.cos(yaw)), round(math.sin(yaw))
    corners = np.array([[local[0], local[1]], [local[2], local[1]], [local[2], local[3]],
                        [local[0], local[3]]])
    rot = corners @ np.array([[c, s], [-s, c]])      # rotate by yaw (row vectors)
    lo, hi = rot.min(0), rot.max(0)
    g = cfg.wall_gap
    if against_wall:
        if side in (0, 1):
            ylo, yhi = y0 - lo[1], y1 - hi[1]
            if yhi < ylo:
                return None
            py = float(rng.uniform(ylo, yhi))
            px = x0 + g - lo[0] if side == 0 else x1 - g - hi[0]
        else:
            xlo, xhi = x0 - lo[0], x1 - hi[0]
            if xhi < xlo:
                return None
            px = float(rng.uniform(xlo, xhi))
            py = y0 + g - lo[1] if side == 2 else y1 - g - hi[1]
    else:
        m = cfg.corridor
        xlo, xhi = x0 + m - lo[0], x1 - m - hi[0]
        ylo, yhi = y0 + m - lo[1], y1 - m - hi[1]
        if xhi < xlo or yhi < ylo:
            return None
        px, py = float(rng.uniform(xlo, xhi)), float(rng.uniform(ylo, yhi))
    return round(px, 4), round(py, 4), round(yaw, 4)


def _local_rect(parts: list[Primitive], yaw: float = 0.0) -> tuple[float, float, float, float]:
    """2-D bounding rectangle of parts turned by `yaw` about the object origin."""
    lo, hi = ObjectSpec(1, "Wall", "structure", (0.0, 0.0, 0.0), yaw, parts).world_aabb()
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def _place_furniture(b: _Builder, rooms: list[Room], budget: int) -> None:
    from embodied.envs.pybullet import objects as recipes
    rng, cfg = b.rng, b.cfg
    # big rooms get extra, less likely rounds of the same list, so they are not left empty
    # (round-major, so every room gets its first round before any room gets a second one)
    plan = sorted(((k, room, category, prob * 0.6 ** k) for room in rooms
                   for k in range(1 + int(room.area // cfg.area_per_furniture_round))
                   for category, prob in recipes.ROOM_FURNITURE[room.kind]),
                  key=lambda item: item[0])
    for _, room, category, prob in plan:
        if rng.random() >= prob:
            continue
        recipe = recipes.make_furniture(category, rng)
        if b.primitives() + len(recipe.parts) > budget:
            continue
        local = _local_rect(recipe.parts)
        p_wall = recipes.AGAINST_WALL[category]
        for _ in range(cfg.furniture_attempts):
            against = bool(rng.random() < p_wall)
            pose = _pose_candidate(rng, cfg, room, local, against,
                                   (0.0, math.pi / 2, math.pi, -math.pi / 2))
            if pose is None:
                continue
            spec = ObjectSpec(b.next_id, category, "furniture", (pose[0], pose[1], 0.0),
                              pose[2], recipe.parts, room=room.index)
            nav, solid, rect = b.footprint(spec)
            if not room.contains(rect[:2], -1e-6) or not room.contains(rect[2:], -1e-6):
                continue
            if b.in_door_zone(rect) or not b.gaps_ok(solid, rect):
                continue
            proposal = b.occ.propose(nav)
            if proposal is None:
                continue
            b.occ.commit(proposal)
            b.add_obstacle(spec)
            rz = _rot_z(spec.yaw)
            for s in recipe.surfaces:
                corners = _rect_poly(s.rect) @ rz[:2, :2].T + np.asarray(spec.position[:2])
                lo, hi = corners.min(0), corners.max(0)
                b.surfaces.append(Surface(spec.instance_id, category,
                                          tuple(round(float(v), 4) for v in (*lo, *hi)),
                                          round(s.z, 4), round(s.clearance, 4), spec.yaw))
            break


def _place_floor_object(b: _Builder, rooms: list[Room], category: str,
                        parts: list[Primitive]) -> bool:
    """Put a goal object on a room's floor, against a wall or free, under the same gap,
    doorway and connectivity rules as furniture, and only where the agent can get near it."""
    rng, cfg = b.rng, b.cfg
    areas = np.array([r.area for r in rooms])
    for _ in range(cfg.object_attempts):
        room = rooms[int(rng.choice(len(rooms), p=areas / areas.sum()))]
        against = bool(rng.random() < 0.6)
        if category == "BaseballBat" and against:
            extra = math.pi / 2 + float(rng.uniform(-0.05, 0.05))   # lie along the wall
        else:
            extra = float(rng.uniform(-math.pi, math.pi))
        pose = _pose_candidate(rng, cfg, room, _local_rect(parts, extra), against, (0.0,))
        if pose is None:
            continue
        spec = ObjectSpec(b.next_id, category, "object", (pose[0], pose[1], 0.0),
                          round(pose[2] + extra, 4), parts, room=room.index)
        nav, solid, rect = b.footprint(spec)
        if not room.contains(rect[:2], -1e-6) or not room.contains(rect[2:], -1e-6):
            continue
        if b.in_door_zone(rect) or not b.gaps_ok(solid, rect):
            continue
        proposal = b.occ.propose(nav)
        if proposal is None or not b.occ.near_main(rect, cfg.reach, proposal[1]):
            continue
        b.occ.commit(proposal)
        b.add_obstacle(spec)
        return True
    return False


def _place_surface_object(b: _Builder, category: str, parts: list[Primitive]) -> bool:
    from embodied.envs.pybullet import objects as recipes
    rng, cfg = b.rng, b.cfg
    hosts = recipes.SURFACE_HOSTS.get(category)
    probe = ObjectSpec(1, category, "object", (0.0, 0.0, 0.0), 0.0, parts)
    height = float(probe.world_aabb()[1][2])
    eligible = [s for s in b.surfaces if (hosts is None or s.category in hosts)
                and s.clearance >= height + 0.02]
    if not eligible:
        return False
    areas = np.array([(s.rect[2] - s.rect[0]) * (s.rect[3] - s.rect[1]) for s in eligible])
    for _ in range(cfg.object_attempts):
        s = eligible[int(rng.choice(len(eligible), p=areas / areas.sum()))]
        if category == "Television":
            yaw = s.front_yaw
        elif category == "Laptop":
            yaw = s.front_yaw + float(rng.uniform(-0.4, 0.4))
        else:
            yaw = float(rng.uniform(-math.pi, math.pi))
        probe = ObjectSpec(1, category, "object", (0.0, 0.0, 0.0), yaw, parts)
        lo, hi = probe.world_aabb()
        m = 0.02
        xlo, xhi = s.rect[0] + m - lo[0], s.rect[2] - m - hi[0]
        ylo, yhi = s.rect[1] + m - lo[1], s.rect[3] - m - hi[1]
        if xhi < xlo or yhi < ylo:
            continue
        x, y = round(float(rng.uniform(xlo, xhi)), 4), round(float(rng.uniform(ylo, yhi)), 4)
        rect = (x + lo[0], y + lo[1], x + hi[0], y + hi[1])
        taken = b.on_surface.setdefault((s.furniture_id, s.z), [])
        if any(_rect_gap(rect, r) < 0.03 or _rects_overlap(rect, r) for r in taken):
            continue
        if not b.occ.near_main(rect, cfg.reach):
            continue
        furniture = b.objects[s.furniture_id - 1]
        spec = ObjectSpec(b.next_id, category, "object", (x, y, s.z), round(yaw, 4), parts,
                          support=s.furniture_id, room=furniture.room)
        taken.append(rect)
        b.objects.append(spec)
        return True
    return False


def generate_house(seed: int, cfg: HouseConfig = HouseConfig()) -> HouseSpec:
    """Build a random, navigable, furnished house; the same seed always gives the same house."""
    from embodied.envs.pybullet import objects as recipes

    rng = np.random.default_rng(int(seed))
    W, D, cells, walls = _split_footprint(rng, cfg)
    _place_doors(rng, cfg, walls)
    t = cfg.wall_thickness
    bounds = (round(-W / 2 - t / 2, 4), round(-D / 2 - t / 2, 4), round(W / 2 + t / 2, 4),
              round(D / 2 + t / 2, 4))

    # room kinds: the largest room is the living room; a single room is a studio
    if len(cells) == 1:
        kinds = ["studio"]
    else:
        others = [str(k) for k in rng.permutation(["kitchen", "bedroom", "office"])]
        largest = int(np.argmax([(c[2] - c[0]) * (c[3] - c[1]) for c in cells]))
        kinds, k = [], 0
        for i in range(len(cells)):
            if i == largest:
                kinds.append("living")
            else:
                kinds.append(others[k % len(others)])
                k += 1
    rooms = [Room(i, kind, (round(c[0] + t / 2, 4), round(c[1] + t / 2, 4),
                            round(c[2] - t / 2, 4), round(c[3] - t / 2, 4)))
             for i, (c, kind) in enumerate(zip(cells, kinds))]

    b = _Builder(rng, cfg, bounds)
    doors = []
    for w in walls:
        dc, dw = w.door
        if w.axis == "x":
            centre, normal = (w.c, dc), (1.0, 0.0)
            ra, rb = _cell_of(cells, (w.c - 0.2, dc)), _cell_of(cells, (w.c + 0.2, dc))
        else:
            centre, normal = (dc, w.c), (0.0, 1.0)
            ra, rb = _cell_of(cells, (dc, w.c - 0.2)), _cell_of(cells, (dc, w.c + 0.2))
        doors.append(Doorway(centre, normal, dw, (ra, rb)))
    b.door_zones = [d.clearance_zone(cfg.door_clearance, t) for d in doors]

    for category, (pos, parts) in _structure(rng, cfg, W, D, cells, walls, kinds):
        spec = ObjectSpec(b.next_id, category, "structure", pos, 0.0, parts)
        if category == "Floor":
            b.objects.append(spec)
        else:
            b.add_obstacle(spec)
    b.occ.init_from([p for _, nav, _, _ in b.obstacles for p in nav])

    # which goal objects, decided before furniture so the budget can reserve their primitives
    k_lo, k_hi = cfg.goal_categories
    k = int(rng.integers(k_lo, k_hi + 1))
    chosen = [str(c) for c in rng.choice(GOAL_CATEGORIES, size=k, replace=False)]
    reserve = sum(recipes.OBJECT_PRIMITIVES[c] for c in chosen)
    _place_furniture(b, rooms, cfg.max_primitives - reserve)

    # floor objects first (they need floor space), big ones before small ones
    def place(category: str) -> bool:
        parts = recipes.make_object(category, rng)
        if b.primitives() + len(parts) > cfg.max_primitives:
            return False
        if recipes.OBJECT_PLACEMENT[category] == "floor":
            return _place_floor_object(b, rooms, category, parts)
        return _place_surface_object(b, category, parts)

    order = sorted(chosen, key=lambda c: (recipes.OBJECT_PLACEMENT[c] != "floor",
                                          c != "Television"))
    placed = [c for c in order if place(c)]
    # keep at least the minimum number of categories: try the others in random order
    spare = [str(c) for c in rng.permutation([c for c in GOAL_CATEGORIES if c not in chosen])]
    for c in spare:
        if len(placed) >= k_lo:
            break
        if place(c):
            placed.append(c)
    for c in list(placed):
        if rng.random() < cfg.duplicate_prob:
            place(c)

    return HouseSpec(int(seed), bounds, rooms, b.objects, doors, b.surfaces)
