"""Procedural articulated objects as URDF: the object set for SfA ("Structure from Action").

Why this exists: `pybullet_data` ships no cabinets, drawers or doors, yet SfA needs objects whose
parts move on revolute and prismatic joints, with known ground truth to score joint estimates
against. This module builds them from boxes, as pure data first (`ArticulatedSpec`, JSON-able, a
pure function of the seed), then as a URDF file that pybullet loads.

Conventions (the same as `embodied.envs.pybullet.objects`):

- the object's own frame has its origin at the centre of the footprint, z = 0 the floor;
- the front (where drawers slide out and doors open) faces local +x;
- sizes are real-world metres, colours RGBA in [0, 1].

Every movable part is a direct child of the fixed base link (the carcass), and every joint
origin has zero rotation, so a child link's frame is parallel to the base frame at joint state 0.
That keeps the ground truth simple: the joint axis and a point on it are fixed in the base frame,
whatever the joint states are.

The carcass is hollow (back, two sides, bottom, top panels, plus dividers between slots) with a
few millimetres of clearance around each part, so that parts have room to move and never touch
the carcass or each other in their closed state.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

Vec3 = tuple[float, float, float]
RGBA = tuple[float, float, float, float]

CATEGORIES: tuple[str, ...] = ("cabinet", "microwave", "oven", "box", "fridge")
JOINT_TYPES: tuple[str, ...] = ("revolute", "prismatic")

#: kg / m^3: a wood-like density, so masses (a door: a few kg) are plausible for pulling.
DENSITY = 500.0
#: m: gap between a part and the carcass / its neighbours, so closed parts never touch.
GAP = 0.004
#: joint limits written into the URDF; large enough for any pull an agent makes.
EFFORT = 100.0
VELOCITY = 2.0
DAMPING = 0.5

BASE_LINK = "base"


def _r(v: float) -> float:
    """Round to 0.1 mm / 1e-4 rad: short JSON, and an exact to_dict/from_dict round trip."""
    return round(float(v), 4)


def _v(xs: Sequence[float]) -> Vec3:
    return (_r(xs[0]), _r(xs[1]), _r(xs[2]))


# --------------------------------------------------------------------------------------------
# specs: pure data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    """One box of a link, in the link frame. `role` says what it is ("panel", "handle", ...)."""

    role: str
    center: Vec3
    size: Vec3

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "center": list(self.center), "size": list(self.size)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Box":
        return Box(str(d["role"]), _v(d["center"]), _v(d["size"]))


@dataclass(frozen=True)
class PartSpec:
    """A rigid link: the carcass (kind "base") or a movable drawer / door / lid.

    Boxes are in the link frame; for movable parts the link frame is the joint frame, so the
    hinge line or the slide's start point is the link origin.
    """

    name: str
    kind: str
    boxes: tuple[Box, ...]
    color: RGBA

    @property
    def handle(self) -> Box | None:
        """The handle box (where an agent should grasp), or None for the base."""
        return next((b for b in self.boxes if b.role == "handle"), None)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "color": list(self.color),
                "boxes": [b.to_dict() for b in self.boxes]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "PartSpec":
        c = d["color"]
        return PartSpec(str(d["name"]), str(d["kind"]), tuple(Box.from_dict(b) for b in d["boxes"]),
                        (_r(c[0]), _r(c[1]), _r(c[2]), _r(c[3])))


@dataclass(frozen=True)
class JointSpec:
    """A 1-DoF joint from `parent` to `child`; origin in the parent frame, axis a unit vector.

    `state` is the joint position the object starts in (metres or radians), within limits.
    """

    name: str
    type: str
    parent: str
    child: str
    origin: Vec3
    axis: Vec3
    lower: float
    upper: float
    state: float

    def __post_init__(self) -> None:
        if self.type not in JOINT_TYPES:
            raise ValueError(f"joint {self.name!r}: type {self.type!r} not in {JOINT_TYPES}")
        if abs(float(np.linalg.norm(self.axis)) - 1.0) > 1e-3:
            raise ValueError(f"joint {self.name!r}: axis {self.axis} is not a unit vector")
        if not self.lower <= self.state <= self.upper:
            raise ValueError(f"joint {self.name!r}: state {self.state} outside "
                             f"[{self.lower}, {self.upper}]")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "parent": self.parent, "child": self.child,
                "origin": list(self.origin), "axis": list(self.axis), "lower": self.lower,
                "upper": self.upper, "state": self.state}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "JointSpec":
        return JointSpec(str(d["name"]), str(d["type"]), str(d["parent"]), str(d["child"]),
                         _v(d["origin"]), _v(d["axis"]), _r(d["lower"]), _r(d["upper"]),
                         _r(d["state"]))


@dataclass(frozen=True)
class ArticulatedSpec:
    """A whole object: the base pose in the world (position, yaw about z), links and joints.

    `parts[0]` is always the fixed base; every joint's parent is the base.
    """

    seed: int
    category: str
    base_position: Vec3
    base_yaw: float
    parts: tuple[PartSpec, ...]
    joints: tuple[JointSpec, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return f"{self.category}_{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "category": self.category,
                "base_position": list(self.base_position), "base_yaw": self.base_yaw,
                "parts": [p.to_dict() for p in self.parts],
                "joints": [j.to_dict() for j in self.joints]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ArticulatedSpec":
        return ArticulatedSpec(int(d["seed"]), str(d["category"]), _v(d["base_position"]),
                               _r(d["base_yaw"]),
                               tuple(PartSpec.from_dict(p) for p in d["parts"]),
                               tuple(JointSpec.from_dict(j) for j in d["joints"]))


# --------------------------------------------------------------------------------------------
# generation
# --------------------------------------------------------------------------------------------
#: (width y, depth x, height z) ranges in metres, and panel thickness, per category.
_SIZES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float], float]] = {
    "cabinet": ((0.40, 1.00), (0.35, 0.60), (0.50, 1.20), 0.018),
    "microwave": ((0.45, 0.60), (0.30, 0.45), (0.25, 0.35), 0.012),
    "oven": ((0.50, 0.76), (0.50, 0.65), (0.60, 0.90), 0.020),
    "box": ((0.30, 0.70), (0.25, 0.50), (0.20, 0.45), 0.012),
    "fridge": ((0.55, 0.90), (0.60, 0.75), (1.50, 1.90), 0.030),
}
_BODY_COLORS: tuple[RGBA, ...] = ((0.85, 0.82, 0.75, 1.0), (0.55, 0.38, 0.22, 1.0),
                                  (0.92, 0.92, 0.92, 1.0), (0.25, 0.25, 0.27, 1.0),
                                  (0.60, 0.65, 0.70, 1.0), (0.35, 0.45, 0.35, 1.0))


@dataclass(frozen=True)
class _Slot:
    """A rectangle in the carcass's front opening that one part fills: y and z ranges."""

    y0: float
    y1: float
    z0: float
    z1: float


def _color(rng: np.random.Generator) -> RGBA:
    base = _BODY_COLORS[int(rng.integers(len(_BODY_COLORS)))]
    jitter = rng.uniform(-0.06, 0.06, size=3)
    r, g, b = (float(np.clip(c + j, 0.0, 1.0)) for c, j in zip(base[:3], jitter))
    return (_r(r), _r(g), _r(b), 1.0)


def _handle(x: float, y: float, z: float, vertical: bool) -> Box:
    """A small bar standing 2.5 cm proud of a front face at x (in the part's link frame)."""
    size = (0.02, 0.02, 0.10) if vertical else (0.02, 0.10, 0.02)
    return Box("handle", _v((x + 0.025, y, z)), _v(size))


def _carcass(w: float, d: float, h: float, t: float, top: bool) -> list[Box]:
    """The hollow body: back, left, right and bottom panels, then either a top (cabinets,
    whose front is open for doors and drawers) or a front (a chest, open at the top for its lid)."""
    boxes = [Box("panel", _v((-d / 2 + t / 2, 0, h / 2)), _v((t, w, h))),
             Box("panel", _v((0, -w / 2 + t / 2, h / 2)), _v((d, t, h))),
             Box("panel", _v((0, w / 2 - t / 2, h / 2)), _v((d, t, h))),
             Box("panel", _v((0, 0, t / 2)), _v((d, w, t)))]
    if top:
        boxes.append(Box("panel", _v((0, 0, h - t / 2)), _v((d, w, t))))
    else:
        boxes.append(Box("panel", _v((d / 2 - t / 2, 0, h / 2)), _v((t, w - 2 * t, h))))
    return boxes


def _drawer(name: str, slot: _Slot, d: float, t: float, color: RGBA,
            rng: np.random.Generator) -> tuple[PartSpec, JointSpec]:
    """An open-top box of 5 panels sliding out along +x; the joint sits mid-front of the slot."""
    sw, sh = slot.y1 - slot.y0 - 2 * GAP, slot.z1 - slot.z0 - 2 * GAP
    depth = d - 2 * t - 2 * GAP                   # front face flush, back clears the back panel
    bw, bh = sw - 2 * GAP, 0.75 * sh              # the tray is a little narrower than the front
    tz = -sh / 2 + bh / 2                         # tray sits at the bottom of the front panel
    boxes = (Box("front", _v((-t / 2, 0, 0)), _v((t, sw, sh))),
             Box("panel", _v((-depth + t / 2, 0, tz)), _v((t, bw, bh))),
             Box("panel", _v((-depth / 2, -bw / 2 + t / 2, tz)), _v((depth - 2 * t, t, bh))),
             Box("panel", _v((-depth / 2, bw / 2 - t / 2, tz)), _v((depth - 2 * t, t, bh))),
             Box("panel", _v((-depth / 2, 0, -sh / 2 + t / 2)), _v((depth - 2 * t, bw - 2 * t, t))),
             _handle(0.0, 0.0, 0.2 * sh, vertical=False))
    upper = 0.8 * depth
    origin = (d / 2, (slot.y0 + slot.y1) / 2, (slot.z0 + slot.z1) / 2)
    state = float(rng.uniform(0.0, upper)) if rng.random() < 0.5 else 0.0
    return (PartSpec(name, "drawer", boxes, color),
            JointSpec(f"joint_{name}", "prismatic", BASE_LINK, name, _v(origin), (1.0, 0.0, 0.0),
                      0.0, _r(upper), _r(state)))


def _door(name: str, slot: _Slot, d: float, t: float, hinge: str, color: RGBA,
          rng: np.random.Generator, kind: str = "door") -> tuple[PartSpec, JointSpec]:
    """A panel hinged on one edge of the slot's front; positive angles swing it outwards (+x).

    hinge "left" (-y edge) turns about -z, "right" (+y edge) about +z, "bottom" about +y.
    """
    sw, sh = slot.y1 - slot.y0 - 2 * GAP, slot.z1 - slot.z0 - 2 * GAP
    yc, zc = (slot.y0 + slot.y1) / 2, (slot.z0 + slot.z1) / 2
    if hinge == "left":
        origin, axis = (d / 2, slot.y0, zc), (0.0, 0.0, -1.0)
        center, knob = (-t / 2, GAP + sw / 2, 0.0), (0.0, GAP + sw - 0.04, 0.0)
    elif hinge == "right":
        origin, axis = (d / 2, slot.y1, zc), (0.0, 0.0, 1.0)
        center, knob = (-t / 2, -GAP - sw / 2, 0.0), (0.0, -GAP - sw + 0.04, 0.0)
    elif hinge == "bottom":
        origin, axis = (d / 2, yc, slot.z0), (0.0, 1.0, 0.0)
        center, knob = (-t / 2, 0.0, GAP + sh / 2), (0.0, 0.0, GAP + sh - 0.04)
    else:
        raise ValueError(f"unknown hinge {hinge!r}")
    boxes = (Box("front", _v(center), _v((t, sw, sh))),
             _handle(knob[0], knob[1], knob[2], vertical=hinge != "bottom"))
    upper = float(rng.uniform(0.5 * math.pi, 0.65 * math.pi)) if hinge != "bottom" \
        else 0.5 * math.pi
    state = float(rng.uniform(0.0, upper)) if rng.random() < 0.5 else 0.0
    return (PartSpec(name, kind, boxes, color),
            JointSpec(f"joint_{name}", "revolute", BASE_LINK, name, _v(origin), _v(axis),
                      0.0, _r(upper), _r(state)))


def _lid(name: str, w: float, d: float, h: float, t: float, color: RGBA,
         rng: np.random.Generator) -> tuple[PartSpec, JointSpec]:
    """The top of a box, hinged along the back top edge; positive angles lift its front edge."""
    boxes = (Box("front", _v((d / 2, 0, t / 2)), _v((d, w, t))),
             _handle(d, 0.0, t / 2, vertical=False))
    upper = float(rng.uniform(0.5 * math.pi, 0.6 * math.pi))
    state = float(rng.uniform(0.0, upper)) if rng.random() < 0.5 else 0.0
    return (PartSpec(name, "lid", boxes, color),
            JointSpec(f"joint_{name}", "revolute", BASE_LINK, name, _v((-d / 2, 0, h + GAP)),
                      (0.0, -1.0, 0.0), 0.0, _r(upper), _r(state)))


def _rows(z0: float, z1: float, fractions: Sequence[float], t: float) -> list[tuple[float, float]]:
    """Split the interior height [z0, z1] into rows separated by divider panels of thickness t."""
    usable = z1 - z0 - t * (len(fractions) - 1)
    total = float(sum(fractions))
    rows, z = [], z0
    for f in fractions:
        hgt = usable * f / total
        rows.append((z, z + hgt))
        z += hgt + t
    return rows


def generate_object(seed: int, category: str | None = None) -> ArticulatedSpec:
    """A random articulated object, a pure function of (seed, category).

    The category is always drawn first from the seed's generator and then replaced by the one
    asked for, so `generate_object(s)` equals `generate_object(s, generate_object(s).category)`.
    """
    rng = np.random.default_rng(seed)
    drawn = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
    category = drawn if category is None else category
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose from {CATEGORIES}")
    (w0, w1), (d0, d1), (h0, h1), t = _SIZES[category]
    w, d, h = (float(rng.uniform(a, b)) for a, b in ((w0, w1), (d0, d1), (h0, h1)))
    body_color, part_color = _color(rng), _color(rng)
    base = _carcass(w, d, h, t, top=category != "box")
    yi0, yi1, zi0, zi1 = -w / 2 + t, w / 2 - t, t, h - t        # the interior opening
    movable: list[tuple[PartSpec, JointSpec]] = []

    def divider_z(z: float) -> None:
        base.append(Box("panel", _v((0, 0, z)), _v((d - t, w - 2 * t, t))))

    def divider_y(y: float, z0: float, z1: float) -> None:
        base.append(Box("panel", _v((0, y, (z0 + z1) / 2)), _v((d - t, t, z1 - z0))))

    if category == "cabinet":
        kinds = []                                  # per row: "drawer", "door" or "double"
        budget = int(rng.integers(1, 5))
        while budget > 0:
            k = ("drawer", "door", "double")[int(rng.choice(3, p=(0.5, 0.3, 0.2)))]
            if k == "double" and budget < 2:
                k = "door"
            kinds.append(k)
            budget -= 2 if k == "double" else 1
        fractions = [0.6 if k == "drawer" else 1.4 for k in kinds]
        rows = _rows(zi0, zi1, fractions, t)[::-1]  # first row at the top
        for i, ((z0, z1), k) in enumerate(zip(rows, kinds)):
            if i > 0:
                divider_z(z1 + t / 2)
            n = len(movable)
            if k == "drawer":
                movable.append(_drawer(f"drawer_{n}", _Slot(yi0, yi1, z0, z1), d, t,
                                       part_color, rng))
            elif k == "door":
                hinge = "left" if rng.random() < 0.5 else "right"
                movable.append(_door(f"door_{n}", _Slot(yi0, yi1, z0, z1), d, t, hinge,
                                     part_color, rng))
            else:
                divider_y(0.0, z0, z1)
                movable.append(_door(f"door_{n}", _Slot(yi0, -t / 2, z0, z1), d, t, "left",
                                     part_color, rng))
                movable.append(_door(f"door_{n + 1}", _Slot(t / 2, yi1, z0, z1), d, t, "right",
                                     part_color, rng))
    elif category == "microwave":
        ysplit = yi1 - 0.25 * (yi1 - yi0)                     # control panel on the right
        divider_y(ysplit + t / 2, zi0, zi1)
        base.append(Box("panel", _v((d / 2 - t / 2, (ysplit + t + yi1) / 2, (zi0 + zi1) / 2)),
                        _v((t, yi1 - ysplit - t, zi1 - zi0))))
        movable.append(_door("door_0", _Slot(yi0, ysplit, zi0, zi1), d, t, "left", part_color, rng))
    elif category == "oven":
        if rng.random() < 0.5:                                # storage drawer below the door
            (dz0, dz1), (oz0, oz1) = _rows(zi0, zi1, (0.25, 0.75), t)
            divider_z(dz1 + t / 2)
            movable.append(_door("door_0", _Slot(yi0, yi1, oz0, oz1), d, t, "bottom",
                                 part_color, rng))
            movable.append(_drawer("drawer_1", _Slot(yi0, yi1, dz0, dz1), d, t, part_color, rng))
        else:
            movable.append(_door("door_0", _Slot(yi0, yi1, zi0, zi1), d, t, "bottom",
                                 part_color, rng))
    elif category == "box":
        movable.append(_lid("lid_0", w, d, h, t, part_color, rng))
    elif category == "fridge":
        layout = ("single", "stacked", "side")[int(rng.integers(3))]
        hinge = "left" if rng.random() < 0.5 else "right"
        if layout == "single":
            movable.append(_door("door_0", _Slot(yi0, yi1, zi0, zi1), d, t, hinge, part_color, rng))
        elif layout == "stacked":                             # freezer on top
            (bz0, bz1), (tz0, tz1) = _rows(zi0, zi1, (0.7, 0.3), t)
            divider_z(bz1 + t / 2)
            movable.append(_door("door_0", _Slot(yi0, yi1, tz0, tz1), d, t, hinge, part_color, rng))
            movable.append(_door("door_1", _Slot(yi0, yi1, bz0, bz1), d, t, hinge, part_color, rng))
        else:
            divider_y(0.0, zi0, zi1)
            movable.append(_door("door_0", _Slot(yi0, -t / 2, zi0, zi1), d, t, "left",
                                 part_color, rng))
            movable.append(_door("door_1", _Slot(t / 2, yi1, zi0, zi1), d, t, "right",
                                 part_color, rng))

    pos = (float(rng.uniform(-0.5, 0.5)), float(rng.uniform(-0.5, 0.5)), 0.0)
    yaw = float(rng.uniform(-math.pi, math.pi))
    parts = (PartSpec(BASE_LINK, "base", tuple(base), body_color),) + tuple(p for p, _ in movable)
    return ArticulatedSpec(int(seed), category, _v(pos), _r(yaw), parts,
                           tuple(j for _, j in movable))


# --------------------------------------------------------------------------------------------
# URDF
# --------------------------------------------------------------------------------------------
def _fmt(xs: Sequence[float]) -> str:
    return " ".join(f"{float(x):.6g}" for x in xs)


def _inertial(boxes: Sequence[Box]) -> tuple[float, np.ndarray, np.ndarray]:
    """Mass, centre of mass and 3x3 inertia about it, of solid boxes of uniform density.

    Why compute it: pybullet's default inertia (from a URDF without <inertial>) is a unit mass at
    the link origin, which makes hinged doors swing and wobble unphysically.
    """
    masses = np.array([DENSITY * float(np.prod(b.size)) for b in boxes])
    centers = np.array([b.center for b in boxes], dtype=float)
    m = float(masses.sum())
    com = (masses[:, None] * centers).sum(axis=0) / m
    inertia = np.zeros((3, 3))
    for mi, c, b in zip(masses, centers, boxes):
        sx, sy, sz = b.size
        inertia += np.diag([mi / 12 * (sy**2 + sz**2), mi / 12 * (sx**2 + sz**2),
                            mi / 12 * (sx**2 + sy**2)])
        r = c - com
        inertia += mi * (float(r @ r) * np.eye(3) - np.outer(r, r))
    return m, com, inertia


def urdf_xml(spec: ArticulatedSpec) -> ET.Element:
    """The URDF of a spec as an xml.etree element (the base link is the root link)."""
    robot = ET.Element("robot", name=spec.name)
    for part in spec.parts:
        link = ET.SubElement(robot, "link", name=part.name)
        m, com, inertia = _inertial(part.boxes)
        inert = ET.SubElement(link, "inertial")
        ET.SubElement(inert, "origin", xyz=_fmt(com), rpy="0 0 0")
        ET.SubElement(inert, "mass", value=f"{m:.6g}")
        ET.SubElement(inert, "inertia", ixx=f"{inertia[0, 0]:.6g}", ixy=f"{inertia[0, 1]:.6g}",
                      ixz=f"{inertia[0, 2]:.6g}", iyy=f"{inertia[1, 1]:.6g}",
                      iyz=f"{inertia[1, 2]:.6g}", izz=f"{inertia[2, 2]:.6g}")
        for i, b in enumerate(part.boxes):
            rgba = (0.15, 0.15, 0.15, 1.0) if b.role == "handle" else part.color
            for tag in ("visual", "collision"):
                el = ET.SubElement(link, tag, name=f"{part.name}_{b.role}_{i}")
                ET.SubElement(el, "origin", xyz=_fmt(b.center), rpy="0 0 0")
                geom = ET.SubElement(el, "geometry")
                ET.SubElement(geom, "box", size=_fmt(b.size))
                if tag == "visual":
                    mat = ET.SubElement(el, "material", name=f"{part.name}_mat_{i}")
                    ET.SubElement(mat, "color", rgba=_fmt(rgba))
    for j in spec.joints:
        joint = ET.SubElement(robot, "joint", name=j.name, type=j.type)
        ET.SubElement(joint, "parent", link=j.parent)
        ET.SubElement(joint, "child", link=j.child)
        ET.SubElement(joint, "origin", xyz=_fmt(j.origin), rpy="0 0 0")
        ET.SubElement(joint, "axis", xyz=_fmt(j.axis))
        ET.SubElement(joint, "limit", lower=f"{j.lower:.6g}", upper=f"{j.upper:.6g}",
                      effort=f"{EFFORT:g}", velocity=f"{VELOCITY:g}")
        ET.SubElement(joint, "dynamics", damping=f"{DAMPING:g}", friction="0")
    return robot


def write_urdf(spec: ArticulatedSpec, folder: str | Path) -> Path:
    """Write `<category>_<seed>.urdf` into folder (created if missing) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}.urdf"
    tree = ET.ElementTree(urdf_xml(spec))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


_JOINT_TYPES_URDF = ("revolute", "continuous", "prismatic", "fixed", "floating", "planar")


def _check_urdf(path: Path) -> None:
    """Raise ValueError naming the file if it is not a URDF pybullet can be trusted to load.

    Why before pybullet: pybullet reports most mistakes only as "Cannot load URDF file" (the
    reason goes to stdout, if anywhere), and accepts some broken files silently, e.g. a
    revolute joint without <limit> becomes a joint with limits [0, 0] (an immovable part).
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}: malformed XML: {exc}") from exc
    if root.tag != "robot":
        raise ValueError(f"{path}: root element is <{root.tag}>, expected <robot>")
    links = {el.get("name") for el in root.findall("link")}
    if not links or None in links:
        raise ValueError(f"{path}: needs at least one <link>, each with a name")
    children = set()
    for joint in root.findall("joint"):
        name, jtype = joint.get("name"), joint.get("type")
        if not name:
            raise ValueError(f"{path}: a <joint> has no name")
        if jtype not in _JOINT_TYPES_URDF:
            raise ValueError(f"{path}: joint {name!r} has type {jtype!r}")
        for tag in ("parent", "child"):
            el = joint.find(tag)
            if el is None or el.get("link") not in links:
                raise ValueError(f"{path}: joint {name!r}: <{tag}> missing or names no <link>")
        children.add(joint.find("child").get("link"))  # type: ignore[union-attr]
        if jtype in ("revolute", "prismatic"):
            limit = joint.find("limit")
            if limit is None:
                raise ValueError(f"{path}: {jtype} joint {name!r} has no <limit>")
            for attr in ("lower", "upper", "effort", "velocity"):
                try:
                    float(limit.get(attr, ""))
                except ValueError:
                    raise ValueError(f"{path}: joint {name!r}: <limit {attr}=...> "
                                     f"missing or not a number") from None
        if jtype != "fixed":
            axis = joint.find("axis")
            try:
                vals = [float(x) for x in (axis.get("xyz", "") if axis is not None else "").split()]
            except ValueError:
                vals = []
            if len(vals) != 3 or not any(vals):
                raise ValueError(f"{path}: joint {name!r}: <axis xyz> missing or invalid")
    if len(links - children) != 1:
        roots = sorted(str(x) for x in links - children)
        raise ValueError(f"{path}: expected exactly one root link, found {roots}")


def load_urdf_checked(path: str | Path, client: int, base_position: Sequence[float] = (0, 0, 0),
                      base_yaw: float = 0.0) -> int:
    """Load a URDF with a fixed base into pybullet client `client`; return its body id.

    Raises ValueError naming the file when it is missing, malformed, or rejected by pybullet,
    so that a bad object fails one episode with a readable reason instead of a bare
    `pybullet.error: Cannot load URDF file.`
    """
    import pybullet as p

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such URDF file")
    _check_urdf(path)
    orn = p.getQuaternionFromEuler((0.0, 0.0, float(base_yaw)))
    try:
        return p.loadURDF(str(path), basePosition=list(base_position), baseOrientation=orn,
                          useFixedBase=True, physicsClientId=client)
    except p.error as exc:
        raise ValueError(f"{path}: pybullet could not load it: {exc}") from exc


def joint_indices(body: int, client: int) -> dict[str, int]:
    """pybullet joint index by URDF joint name (the child link's index is the same number)."""
    import pybullet as p

    return {p.getJointInfo(body, j, physicsClientId=client)[1].decode(): j
            for j in range(p.getNumJoints(body, physicsClientId=client))}


def spawn(spec: ArticulatedSpec, folder: str | Path, client: int) -> tuple[int, dict[str, int]]:
    """Write, load at the spec's base pose, and set every joint to its spec state.

    Returns the body id and the joint indices by name.
    """
    import pybullet as p

    body = load_urdf_checked(write_urdf(spec, folder), client, spec.base_position, spec.base_yaw)
    index = joint_indices(body, client)
    for j in spec.joints:
        p.resetJointState(body, index[j.name], j.state, physicsClientId=client)
    return body, index


# --------------------------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------------------------
def _yaw_matrix(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def ground_truth(spec: ArticulatedSpec) -> list[dict[str, Any]]:
    """World-frame joint parameters per movable joint, for scoring estimates only.

    `origin` is a point on the joint axis (the joint frame origin: the hinge line for a
    revolute joint, the closed position of the part's front for a prismatic one). Because all
    parts hang off the fixed base, axis and origin do not depend on the joint states.
    """
    rot = _yaw_matrix(spec.base_yaw)
    pos = np.asarray(spec.base_position, dtype=float)
    out = []
    for j in spec.joints:
        out.append({"joint": j.name, "child": j.child, "type": j.type,
                    "axis": (rot @ np.asarray(j.axis, dtype=float)).tolist(),
                    "origin": (rot @ np.asarray(j.origin, dtype=float) + pos).tolist(),
                    "lower": j.lower, "upper": j.upper, "state": j.state})
    return out
