"""Rearrangement rooms as pure data: one procedural room, its receptacles, pickupables and openables.

Why a module of its own (and no pybullet here): a room must be generated, named and measured --
which objects can be picked up, where things may be put, where the articulated furniture stands
and how its parts move -- by the episode generator, the env and tests alike, and none of that
needs a physics client. `rearrange_world.py` builds a room in PyBullet; this module only decides.

A room (`generate_room(seed)`, a pure function of the seed):

1. The house: `house.generate_house` with a single room (`ROOM_HOUSE`: 4.5-7 m a side, the
   "studio" furniture list, 8-12 goal categories, the agent's height band raised to 1.6 m for the
   taller rearrangement agent). AI2-THOR's rearrangement uses single rooms too; one room keeps
   the walkthrough short enough to see everything in 250 steps.
2. Pickupables: the house's small objects of `REARRANGE_PICKUPABLE_TYPES`, named
   `<Type>_<instance id>`. GarbageCan, HousePlant and Television stay put, as in AI2-THOR.
3. Articulated furniture from the SfA generator (`articulated.objects`): up to two cabinets and a
   fridge on the floor with their backs 2 cm from a wall, and a microwave on a counter (back to
   the counter's back edge). A floor piece is kept only if every gap to other geometry is closed
   (< 0.3 m) or a corridor (>= 0.6 m) -- the house generator's rule --, the strip in front of it
   (as deep as its longest door or drawer travel) is empty, and no free floor cell is cut off
   (the agent's free space stays one connected region). Every movable part is one openable
   object: a cabinet's doors are "Cabinet"s and its drawers "Drawer"s, a fridge's doors
   "Fridge"s, a microwave's door a "Microwave", named `<Type>|<object index>|<link>`.
   Openness = (joint state - lower) / (upper - lower); the room stands closed (openness 0);
   episodes say which parts are open in the goal state.
4. Receptacles (where shuffles and drops may put things): the house's surfaces (tables, counters,
   desks, shelves' boards, TV stands, side tables), the seat of every sofa, the blanket of every
   bed, and the top of every cabinet.

Instance ids: the house keeps its own (1..N); the articulated links follow, one id per link
(carcass and each movable part), so a segmentation mask tells every part apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from embodied.envs.articulated import objects as art
from embodied.envs.pybullet.house import (HouseConfig, HouseSpec, ObjectSpec, Primitive, Surface,
                                          generate_house, polygon_distance)
from embodied.interfaces import REARRANGE_OPENABLE_TYPES, REARRANGE_PICKUPABLE_TYPES

ROOM_VERSION = 1
#: the house generator's settings for one rearrangement room
ROOM_HOUSE = HouseConfig(min_side=4.5, max_side=7.0, max_rooms=1, goal_categories=(8, 12),
                         max_primitives=140, agent_z=(0.03, 1.6))
AGENT_RADIUS = 0.18
AGENT_HEIGHT = 1.6      # the collision cylinder (z 0.03 .. 1.6) covers the camera
CAMERA_HEIGHT = 1.5     # a standing AI2-THOR agent's eye height (~1.5 m), not the LoCoBot's 0.88
WALL_GAP = 0.02         # articulated furniture stands this far from the wall behind it
CLOSED_GAP, CORRIDOR = 0.3, 0.6
#: which articulated objects a room tries to place, with the probability of trying
ARTICULATED_PLAN: tuple[tuple[str, float], ...] = (
    ("cabinet", 1.0), ("fridge", 0.6), ("cabinet", 0.5), ("microwave", 0.8))
PLACEMENT_ATTEMPTS = 40
HANDLE_RGBA = (0.15, 0.15, 0.15, 1.0)    # the URDF's handle colour (art.urdf_xml)


# --------------------------------------------------------------------------------- data types
@dataclass(frozen=True)
class Pickupable:
    """A small object the agent can pick up. `local_lo`/`local_hi`: its box in its own frame (the
    origin is the centre of its base, on the surface it stands on), so any pose's oriented 3-D
    bounding box is that box turned by the yaw and moved to the position."""

    name: str
    type: str
    instance_id: int
    local_lo: tuple[float, float, float]
    local_hi: tuple[float, float, float]

    @property
    def height(self) -> float:
        return float(self.local_hi[2] - self.local_lo[2])


@dataclass(frozen=True)
class Openable:
    """One movable part of an articulated object: what `open_by_type_<type>` acts on."""

    name: str
    type: str
    articulated: int         # index into RoomSpec.articulated
    joint: str               # URDF joint name
    link: str                # the part's link (= URDF child link)
    instance_id: int
    lower: float
    upper: float

    def joint_state(self, openness: float) -> float:
        """The joint position (rad or m) of an openness in [0, 1]."""
        return self.lower + float(openness) * (self.upper - self.lower)


@dataclass(frozen=True)
class Receptacle:
    """A horizontal rectangle (world, axis-aligned) objects may be put on, with the free height
    above it; `owner` is the instance id of what it belongs to (furniture or a cabinet's carcass).
    The floor is not listed: drops fall back to it, shuffles never use it (see the episodes)."""

    owner: int
    category: str
    rect: tuple[float, float, float, float]
    z: float
    clearance: float

    @property
    def area(self) -> float:
        return (self.rect[2] - self.rect[0]) * (self.rect[3] - self.rect[1])


@dataclass
class RoomSpec:
    """Everything about a room that does not change during an episode."""

    seed: int
    house: HouseSpec
    articulated: list[art.ArticulatedSpec]
    pickupables: list[Pickupable]
    openables: list[Openable]
    receptacles: list[Receptacle]
    #: instance id of each articulated link: (object index, link name) -> id
    link_ids: dict[tuple[int, str], int] = field(default_factory=dict)
    #: category name of every instance id (house objects, articulated links)
    categories: dict[int, str] = field(default_factory=dict)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """The room's interior (inside the wall faces)."""
        return self.house.rooms[0].bounds

    def pickupable(self, name: str) -> Pickupable:
        for p in self.pickupables:
            if p.name == name:
                return p
        raise KeyError(name)

    def openable(self, name: str) -> Openable:
        for o in self.openables:
            if o.name == name:
                return o
        raise KeyError(name)

    @property
    def object_names(self) -> list[str]:
        """Every rearrangeable object: pickupables, then openables (the order poses are listed in)."""
        return [p.name for p in self.pickupables] + [o.name for o in self.openables]


# --------------------------------------------------------------------------------- geometry
def rot_z(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def axis_angle(axis: Sequence[float], angle: float) -> np.ndarray:
    """Rotation matrix about a unit axis (Rodrigues)."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def matrix_to_euler(rot: np.ndarray) -> tuple[float, float, float]:
    """(roll, pitch, yaw) with R = Rz(yaw) Ry(pitch) Rx(roll): `house.euler_to_matrix`'s inverse."""
    r = np.asarray(rot, dtype=float)
    pitch = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    if abs(r[2, 0]) < 1.0 - 1e-9:
        roll = math.atan2(r[2, 1], r[2, 2])
        yaw = math.atan2(r[1, 0], r[0, 0])
    else:                                        # gimbal lock: put everything into yaw
        roll = 0.0
        yaw = math.atan2(-r[0, 1], r[1, 1])
    return roll, pitch, yaw


def matrix_to_quaternion(rot: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation matrix, w >= 0 (the poses' `rotation`)."""
    r = np.asarray(rot, dtype=float)
    w = math.sqrt(max(0.0, 1.0 + r[0, 0] + r[1, 1] + r[2, 2])) / 2.0
    x = math.sqrt(max(0.0, 1.0 + r[0, 0] - r[1, 1] - r[2, 2])) / 2.0
    y = math.sqrt(max(0.0, 1.0 - r[0, 0] + r[1, 1] - r[2, 2])) / 2.0
    z = math.sqrt(max(0.0, 1.0 - r[0, 0] - r[1, 1] + r[2, 2])) / 2.0
    x = math.copysign(x, r[2, 1] - r[1, 2])
    y = math.copysign(y, r[0, 2] - r[2, 0])
    z = math.copysign(z, r[1, 0] - r[0, 1])
    return (x, y, z, w)


def yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a turn about the vertical axis."""
    return (0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


#: corner k of a box has x = hi if k & 4, y = hi if k & 2, z = hi if k & 1 (lo otherwise)
_CORNER_SIGNS = np.array([[(k >> 2) & 1, (k >> 1) & 1, k & 1] for k in range(8)], dtype=bool)


def box_corners(lo: Sequence[float], hi: Sequence[float], rot: np.ndarray,
                position: Sequence[float]) -> np.ndarray:
    """(8, 3) world corners of the box [lo, hi] (in a frame turned by `rot`, placed at
    `position`); corner k takes hi in x, y, z where bits 4, 2, 1 of k are set."""
    local = np.where(_CORNER_SIGNS, np.asarray(hi, float), np.asarray(lo, float))
    return local @ np.asarray(rot, float).T + np.asarray(position, float)


def pickupable_corners(p: Pickupable, position: Sequence[float], yaw: float) -> np.ndarray:
    """The (8, 3) oriented bounding box of a pickupable standing at `position` turned by `yaw`."""
    return box_corners(p.local_lo, p.local_hi, rot_z(yaw), position)


def link_frames(spec: art.ArticulatedSpec, states: dict[str, float]) -> dict[str, tuple[np.ndarray,
                                                                                         np.ndarray]]:
    """World (rotation, origin) of every link at the given joint states (missing: 0).

    Analytic, because every part hangs off the fixed base with an unrotated joint origin
    (`articulated.objects`' convention): a revolute part turns about its axis through the joint
    origin, a prismatic one slides along it. (tests compare this with pybullet's forward
    kinematics.)"""
    r0 = rot_z(spec.base_yaw)
    p0 = np.asarray(spec.base_position, dtype=float)
    frames = {art.BASE_LINK: (r0, p0)}
    for j in spec.joints:
        q = float(states.get(j.name, 0.0))
        origin = np.asarray(j.origin, dtype=float)
        if j.type == "revolute":
            frames[j.child] = (r0 @ axis_angle(j.axis, q), p0 + r0 @ origin)
        else:
            frames[j.child] = (r0, p0 + r0 @ (origin + np.asarray(j.axis, float) * q))
    return frames


def link_primitives(spec: art.ArticulatedSpec, link: str, frame: tuple[np.ndarray, np.ndarray]
                    ) -> list[Primitive]:
    """A link's boxes as world-frame primitives (for the ray-casting renderer), coloured as the
    URDF colours them."""
    rot, origin = frame
    part = next(p for p in spec.parts if p.name == link)
    euler = matrix_to_euler(rot)
    out = []
    for b in part.boxes:
        centre = origin + rot @ np.asarray(b.center, dtype=float)
        rgba = HANDLE_RGBA if b.role == "handle" else part.color
        out.append(Primitive("box", tuple(centre), tuple(0.5 * np.asarray(b.size)), rgba, euler))
    return out


def articulated_local_box(spec: art.ArticulatedSpec) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of the closed object in its own frame (handles included)."""
    pts = []
    frames = link_frames(replace(spec, base_position=(0.0, 0.0, 0.0), base_yaw=0.0), {})
    for part in spec.parts:
        rot, origin = frames[part.name]
        for b in part.boxes:
            half = 0.5 * np.asarray(b.size)
            c = origin + rot @ np.asarray(b.center)
            pts += [c - half, c + half]
    pts = np.array(pts)
    return pts.min(0), pts.max(0)


def _swing(spec: art.ArticulatedSpec) -> float:
    """How far (m) the parts reach in front of the closed object when fully open: a door's
    width (or height, for a bottom hinge), a drawer's travel."""
    reach = 0.0
    for j in spec.joints:
        part = next(p for p in spec.parts if p.name == j.child)
        front = next(b for b in part.boxes if b.role == "front")
        if j.type == "prismatic":
            reach = max(reach, j.upper)
        elif abs(j.axis[2]) > 0.5:
            reach = max(reach, front.size[1])
        else:
            reach = max(reach, front.size[2])
    return reach


def _rect_polygon(lo: Sequence[float], hi: Sequence[float], yaw: float,
                  position: Sequence[float]) -> np.ndarray:
    c = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    r = rot_z(yaw)[:2, :2]
    return c @ r.T + np.asarray(position[:2])


# --------------------------------------------------------------------------------- generation
def _extra_receptacles(house: HouseSpec) -> list[Receptacle]:
    """Sofa seats and bed blankets: surfaces the house generator does not list (it puts nothing
    on them) but AI2-THOR's rearrangement does. Read off the recipes' parts
    (`pybullet.objects._sofa`, `_bed`): the sofa's seat is part 0 and its back part 1, the bed's
    blanket part 4."""
    out = []
    for obj in house.objects:
        if obj.category == "Sofa":
            seat, back = obj.parts[0], obj.parts[1]
            d2, w2 = seat.size[0], seat.size[1]
            x0 = back.pos[0] + back.size[0] + 0.03
            local = (x0, -w2 + 0.2, d2 - 0.03, w2 - 0.2)
            z = seat.pos[2] + seat.size[2]
        elif obj.category == "Bed":
            blanket = obj.parts[4]
            cx, cy, cz = blanket.pos
            hx, hy, hz = blanket.size
            local = (cx - hx + 0.03, cy - hy + 0.03, cx + hx - 0.03, cy + hy - 0.03)
            z = cz + hz
        else:
            continue
        corners = _rect_polygon(local[:2], local[2:], obj.yaw, obj.position)
        lo, hi = corners.min(0), corners.max(0)
        out.append(Receptacle(obj.instance_id, obj.category,
                              tuple(round(float(v), 4) for v in (*lo, *hi)), round(z, 4), 1.0))
    return out


def _obstacle_polygons(house: HouseSpec, z_lo: float = 1e-6, z_hi: float = math.inf
                       ) -> list[np.ndarray]:
    return [poly for o in house.objects if o.category != "Floor"
            for poly in o.footprints(z_lo, z_hi)]


def _free_grid(house: HouseSpec, footprints: list[np.ndarray]) -> np.ndarray:
    """Free cells (5 cm raster) of the agent in the house with `footprints` added."""
    from embodied.perception.navgrid import NavGrid

    band = _obstacle_polygons(house, *ROOM_HOUSE.agent_z) + footprints
    inflate = AGENT_RADIUS + ROOM_HOUSE.agent_margin
    return NavGrid.from_footprints(band, house.bounds, 0.05, inflate).free


def _connected_after(house: HouseSpec, before: np.ndarray, extra: list[np.ndarray],
                     new: list[np.ndarray]) -> bool:
    """True if adding the footprints `new` (to the house's and `extra`, whose free cells are
    `before`) cuts no free cell of the agent's main free region off from the rest."""
    from scipy import ndimage

    after = _free_grid(house, extra + new)
    lab, _ = ndimage.label(before)
    if lab.max() == 0:
        return False
    main = lab == np.bincount(lab.ravel())[1:].argmax() + 1
    keep = main & after
    if not keep.any():
        return False
    lab2, _ = ndimage.label(after)
    ids = lab2[keep]
    return bool(ids.min() == ids.max())


def _rect_of(poly: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = poly.min(0), poly.max(0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def _rect_gap(a: Sequence[float], b: Sequence[float]) -> float:
    dx = max(a[0] - b[2], b[0] - a[2], 0.0)
    dy = max(a[1] - b[3], b[1] - a[3], 0.0)
    return math.hypot(dx, dy)


def _place_on_floor(rng: np.random.Generator, house: HouseSpec, spec: art.ArticulatedSpec,
                    placed: list[np.ndarray]) -> tuple[tuple[float, float, float], float] | None:
    """(position, yaw) putting `spec` back-to-a-wall in the room, or None (see module docstring)."""
    x0, y0, x1, y1 = house.rooms[0].bounds
    lo, hi = articulated_local_box(spec)
    swing = _swing(spec) + 0.25
    obstacles = [(poly, _rect_of(poly)) for poly in _obstacle_polygons(house) + placed]
    before: np.ndarray | None = None
    for _ in range(PLACEMENT_ATTEMPTS):
        side = int(rng.integers(4))     # back against the west, east, south, north wall
        yaw = (0.0, math.pi, math.pi / 2, -math.pi / 2)[side]
        r = rot_z(yaw)[:2, :2]
        box = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]]) @ r.T
        blo, bhi = box.min(0), box.max(0)
        if side in (0, 1):
            if y1 - bhi[1] < y0 - blo[1]:
                continue
            py = float(rng.uniform(y0 - blo[1], y1 - bhi[1]))
            px = x0 + WALL_GAP - blo[0] if side == 0 else x1 - WALL_GAP - bhi[0]
        else:
            if x1 - bhi[0] < x0 - blo[0]:
                continue
            px = float(rng.uniform(x0 - blo[0], x1 - bhi[0]))
            py = y0 + WALL_GAP - blo[1] if side == 2 else y1 - WALL_GAP - bhi[1]
        pos = (round(px, 4), round(py, 4), 0.0)
        poly = _rect_polygon(lo[:2], hi[:2], yaw, pos)
        front = _rect_polygon((hi[0], lo[1] - 0.1), (hi[0] + swing, hi[1] + 0.1), yaw, pos)
        prect, frect = _rect_of(poly), _rect_of(front)
        ok = True
        for other, orect in obstacles:        # bounding rectangles first: most are far away
            if _rect_gap(prect, orect) < CORRIDOR:
                g = polygon_distance(poly, other)
                if g < 1e-3 or CLOSED_GAP < g < CORRIDOR:
                    ok = False
                    break
            if _rect_gap(frect, orect) < 1e-3 and polygon_distance(front, other) < 1e-3:
                ok = False
                break
        if not ok:
            continue
        if before is None:
            before = _free_grid(house, placed)
        if _connected_after(house, before, placed, [poly]):
            return pos, yaw
    return None


def _place_on_counter(rng: np.random.Generator, house: HouseSpec, spec: art.ArticulatedSpec,
                      taken: list[tuple[float, float, float, float]]
                      ) -> tuple[tuple[float, float, float], float, int] | None:
    """(position, yaw, counter id) putting `spec` (a microwave) on a counter, its back to the
    counter's back edge, clear of the objects on that counter and of the strip its door sweeps."""
    counters = [s for s in house.surfaces if s.category == "Counter"]
    if not counters:
        return None
    lo, hi = articulated_local_box(spec)
    swing = _swing(spec) + 0.1
    for _ in range(PLACEMENT_ATTEMPTS):
        s: Surface = counters[int(rng.integers(len(counters)))]
        yaw = s.front_yaw
        box = _rect_polygon(lo[:2], hi[:2], yaw, (0.0, 0.0))
        blo, bhi = box.min(0), box.max(0)
        rx0, ry0, rx1, ry1 = s.rect
        c, sn = round(math.cos(yaw)), round(math.sin(yaw))
        if c != 0:          # front along +-x: back edge at x0 (front +x) or x1 (front -x)
            if ry1 - bhi[1] < ry0 - blo[1]:
                continue
            py = float(rng.uniform(ry0 - blo[1], ry1 - bhi[1]))
            px = rx0 - blo[0] if c > 0 else rx1 - bhi[0]
        else:
            if rx1 - bhi[0] < rx0 - blo[0]:
                continue
            px = float(rng.uniform(rx0 - blo[0], rx1 - bhi[0]))
            py = ry0 - blo[1] if sn > 0 else ry1 - bhi[1]
        pos = (round(px, 4), round(py, 4), round(s.z, 4))
        zone = _rect_polygon((lo[0], lo[1] - 0.05), (hi[0] + swing, hi[1] + 0.05), yaw, pos)
        zlo, zhi = zone.min(0), zone.max(0)
        clash = False
        for obj in house.objects:
            if obj.kind == "object" and obj.support == s.furniture_id:
                olo, ohi = obj.world_aabb()
                if olo[0] < zhi[0] and zlo[0] < ohi[0] and olo[1] < zhi[1] and zlo[1] < ohi[1]:
                    clash = True
                    break
        for t in taken:
            if t[0] < zhi[0] and zlo[0] < t[2] and t[1] < zhi[1] and zlo[1] < t[3]:
                clash = True
        if not clash:
            taken.append((float(zlo[0]), float(zlo[1]), float(zhi[0]), float(zhi[1])))
            return pos, yaw, s.furniture_id
    return None


_PART_TYPE = {("cabinet", "prismatic"): "Drawer", ("cabinet", "revolute"): "Cabinet",
              ("fridge", "revolute"): "Fridge", ("fridge", "prismatic"): "Fridge",
              ("microwave", "revolute"): "Microwave", ("microwave", "prismatic"): "Microwave"}
_CARCASS_CATEGORY = {"cabinet": "CabinetBody", "fridge": "FridgeBody", "microwave": "MicrowaveBody"}


def generate_room(seed: int) -> RoomSpec:
    """The room of `seed`: the same seed always gives the same room (see the module docstring)."""
    house = generate_house(int(seed), ROOM_HOUSE)
    rng = np.random.default_rng([int(seed), ROOM_VERSION, 17])   # independent of the house's draws
    articulated: list[art.ArticulatedSpec] = []
    placed_polys: list[np.ndarray] = []
    counter_taken: list[tuple[float, float, float, float]] = []
    for category, prob in ARTICULATED_PLAN:
        if rng.random() >= prob:
            continue
        obj_seed = int(rng.integers(2 ** 31))
        spec = art.generate_object(obj_seed, category)
        closed = tuple(replace(j, state=0.0) for j in spec.joints)
        spec = replace(spec, joints=closed)
        if category == "microwave":
            found = _place_on_counter(rng, house, spec, counter_taken)
            if found is None:
                continue
            pos, yaw, _ = found
        else:
            found2 = _place_on_floor(rng, house, spec, placed_polys)
            if found2 is None:
                continue
            pos, yaw = found2
            lo, hi = articulated_local_box(spec)
            placed_polys.append(_rect_polygon(lo[:2], hi[:2], yaw, pos))
        articulated.append(replace(spec, base_position=pos, base_yaw=round(yaw, 6)))

    categories = {o.instance_id: o.category for o in house.objects}
    next_id = max(categories) + 1
    link_ids: dict[tuple[int, str], int] = {}
    openables: list[Openable] = []
    receptacles = [Receptacle(s.furniture_id, s.category, s.rect, s.z, s.clearance)
                   for s in house.surfaces] + _extra_receptacles(house)
    for k, spec in enumerate(articulated):
        for part in spec.parts:
            link_ids[(k, part.name)] = next_id
            next_id += 1
        carcass = link_ids[(k, art.BASE_LINK)]
        categories[carcass] = _CARCASS_CATEGORY[spec.category]
        for j in spec.joints:
            kind = _PART_TYPE[(spec.category, j.type)]
            iid = link_ids[(k, j.child)]
            categories[iid] = kind
            openables.append(Openable(f"{kind}|{k}|{j.child}", kind, k, j.name, j.child, iid,
                                      j.lower, j.upper))
        if spec.category == "cabinet":              # its top carries things, like a counter's
            base = next(p for p in spec.parts if p.name == art.BASE_LINK)
            blo = np.min([np.asarray(b.center) - np.asarray(b.size) / 2 for b in base.boxes], 0)
            bhi = np.max([np.asarray(b.center) + np.asarray(b.size) / 2 for b in base.boxes], 0)
            corners = _rect_polygon(blo[:2] + 0.03, bhi[:2] - 0.03, spec.base_yaw,
                                    spec.base_position)
            clo, chi = corners.min(0), corners.max(0)
            receptacles.append(Receptacle(carcass, "CabinetBody",
                                          tuple(round(float(v), 4) for v in (*clo, *chi)),
                                          round(float(bhi[2]), 4), 1.0))

    pickupables = []
    for o in house.objects:
        if o.kind == "object" and o.category in REARRANGE_PICKUPABLE_TYPES:
            lo, hi = ObjectSpec(1, o.category, "object", (0.0, 0.0, 0.0), 0.0, o.parts).world_aabb()
            pickupables.append(Pickupable(f"{o.category}_{o.instance_id}", o.category,
                                          o.instance_id, tuple(float(v) for v in lo),
                                          tuple(float(v) for v in hi)))
    assert all(o.type in REARRANGE_OPENABLE_TYPES for o in openables)
    return RoomSpec(int(seed), house, articulated, pickupables, openables, receptacles, link_ids,
                    categories)


@lru_cache(maxsize=8)
def cached_room(seed: int) -> RoomSpec:
    """Rooms are pure functions of their seed; keep the last few (env resets, the generator)."""
    return generate_room(seed)


def room_summary(room: RoomSpec) -> dict[str, Any]:
    """A few numbers about a room (for logs and the episode statistics)."""
    x0, y0, x1, y1 = room.bounds
    return {"seed": room.seed, "size": (round(x1 - x0, 2), round(y1 - y0, 2)),
            "pickupables": len(room.pickupables), "openables": len(room.openables),
            "articulated": [s.category for s in room.articulated],
            "receptacles": len(room.receptacles)}
