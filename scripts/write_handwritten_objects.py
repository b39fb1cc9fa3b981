"""Write tests/data/handwritten/: a held-out set of hand-designed articulated objects for SfA.

    .venv/bin/python scripts/write_handwritten_objects.py [--out tests/data/handwritten]

Run once; the files it writes are committed data, and this script documents how they were made
(every dimension below was chosen by hand). Nothing here comes from the project's procedural
generator (`embodied.envs.articulated.objects`), and nothing is imported from it or from tests.

Layout of each object, as in PartNet-Mobility: `<name>/mobility.urdf` plus `<name>/meshes/*.obj`
(triangle meshes, used for visual and collision; one convex piece per file, since PyBullet makes a
convex hull of each collision mesh). The root link `base` is empty; a fixed joint `joint_body`
(where rotated or moved objects get their yaw and offset) holds the `body`; the moving parts hang
on the body (or, for the nested door, on a drawer).

Conventions (as the env assumes): metres, z up, the object's front faces +x of the body frame,
-y is the left side seen from the front. All geometry is designed in the body frame (the object
frame) at joint state 0 (closed). Every moving link gets a frame at its joint (a hinge edge, a
drawer's front bottom edge), rotated by a hand-chosen `rpy`; the joint axis is written in that
rotated frame (the script checks it comes out as a signed unit vector, as in real files) and is
signed so that positive joint values open the part. Meshes are written in one of three ways,
chosen per object, so the set covers what real files do:

* "object": the vertices are in the object (body) frame, as PartNet-Mobility exports them, and
  the <visual>/<collision> origin is the inverse of the link's pose (xyz and rpy);
* "link": the vertices are baked in the link's own (rotated) frame, the origin is identity;
* "centred": each mesh is centred on its own centre, and the origin places and rotates it.

Inertials: a solid box of the link's bounding box (body frame) and a hand-chosen mass, its
centre and inertia tensor written in the link frame (rpy 0: see `inertial_xml`).
"""
from __future__ import annotations

import argparse
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "handwritten"
PI = math.pi
DEG = PI / 180.0

WOOD, OAK, WHITE = "0.72 0.55 0.36 1", "0.55 0.40 0.25 1", "0.90 0.90 0.88 1"
DARK, STEEL, RED = "0.15 0.15 0.15 1", "0.60 0.62 0.65 1", "0.70 0.15 0.12 1"


# ------------------------------------------------------------------------------------ geometry
def rpy_matrix(rpy: Sequence[float]) -> np.ndarray:
    """URDF's fixed-axis roll-pitch-yaw: R = Rz(yaw) Ry(pitch) Rx(roll)."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def matrix_rpy(m: np.ndarray) -> tuple[float, float, float]:
    """Inverse of rpy_matrix (pitch in [-pi/2, pi/2]; roll = 0 at gimbal lock)."""
    pitch = math.asin(max(-1.0, min(1.0, -m[2, 0])))
    if abs(math.cos(pitch)) < 1e-9:
        return 0.0, pitch, math.atan2(-m[0, 1], m[1, 1])
    return math.atan2(m[2, 1], m[2, 2]), pitch, math.atan2(m[1, 0], m[0, 0])


def pose(xyz: Sequence[float] = (0, 0, 0), rpy: Sequence[float] = (0, 0, 0)) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rpy_matrix(rpy), xyz
    return m


def fmt(values: Sequence[float], digits: int = 6) -> str:
    out = []
    for v in values:
        v = round(float(v), digits)
        out.append(f"{v + 0.0:.{digits}g}")        # + 0.0: no "-0"
    return " ".join(out)


def origin_xml(m: np.ndarray) -> str:
    return f'<origin xyz="{fmt(m[:3, 3])}" rpy="{fmt(matrix_rpy(m[:3, :3]), 8)}"/>'


# 8 corners of a box, index 4*ix + 2*iy + iz (ix: 0 = low x, 1 = high x); 12 outward triangles
BOX_FACES = ((0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
             (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3))


@dataclass
class Piece:
    """One convex mesh of a link: vertices in the body frame at state 0, triangles, colour."""
    name: str
    verts: np.ndarray
    faces: tuple
    rgba: str


def box(name: str, lo: Sequence[float], hi: Sequence[float], rgba: str = WOOD) -> Piece:
    """An axis-aligned (body frame) box from corner `lo` to corner `hi`."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    assert np.all(hi > lo), (name, lo, hi)
    verts = np.array([(x, y, z) for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    return Piece(name, verts, BOX_FACES, rgba)


def cylinder(name: str, centre: Sequence[float], radius: float, length: float, rgba: str = STEEL,
             segments: int = 16) -> Piece:
    """A closed `segments`-gon prism along body +x (a knob, a disc, a hub), centred at `centre`."""
    a = np.arange(segments) * 2 * PI / segments
    ring = np.stack([np.cos(a) * radius, np.sin(a) * radius], axis=1)
    back = np.c_[np.full(segments, -length / 2), ring]
    front = np.c_[np.full(segments, length / 2), ring]
    verts = np.vstack([back, front]) + np.asarray(centre, float)
    n, faces = segments, []
    for i in range(n):                   # sides (outward: ring runs counter-clockwise about +x)
        j = (i + 1) % n
        faces += [(i, j, n + j), (i, n + j, n + i)]
    for i in range(1, n - 1):            # caps: front faces +x, back faces -x
        faces += [(n, n + i, n + i + 1), (0, i + 1, i)]
    return Piece(name, verts, tuple(faces), rgba)


def obj_text(verts: np.ndarray, faces: Sequence[Sequence[int]], title: str) -> str:
    return (f"# {title}\n" + "".join(f"v {x:.5f} {y:.5f} {z:.5f}\n" for x, y, z in verts)
            + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces))


# ------------------------------------------------------------------------------------ objects
@dataclass
class Joint:
    name: str
    kind: str                        # revolute | prismatic | continuous
    axis: Sequence[float]            # designed opening direction, body frame
    lower: float = 0.0
    upper: float = 0.0
    effort: float = 30.0
    velocity: float = 2.0
    damping: float = 0.5


@dataclass
class Link:
    name: str
    frame: np.ndarray                # the link's pose in the body frame at state 0
    mass: float
    pieces: list[Piece]
    parent: str = "body"
    joint: Joint | None = None


@dataclass
class Design:
    name: str
    note: str                        # what it is and what it tests (goes into the URDF comment)
    style: str                       # object | link | centred (see the module docstring)
    body: list[Piece]
    body_mass: float
    links: list[Link]
    root_xyz: Sequence[float] = (0.0, 0.0, 0.0)
    root_rpy: Sequence[float] = (0.0, 0.0, 0.0)
    meshes: dict[str, str] = field(default_factory=dict)


def inertial_xml(mass: float, pieces: list[Piece], frame: np.ndarray) -> str:
    """A solid box of `mass` filling the link's bounding box (body frame), written in the link
    frame: origin at the box centre with rpy 0, the inertia tensor rotated into the link's axes.
    Why rpy 0: PyBullet gives a joint's axis in the child's inertial frame, and the env rotates it
    by the link frame (see tests/data/handwritten/README.md), so a rotated <inertial> would make
    the env's ground-truth axis wrong."""
    allv = np.vstack([p.verts for p in pieces])
    lo, hi = allv.min(0), allv.max(0)
    a, b, c = hi - lo
    centre = np.linalg.inv(frame) @ np.r_[(lo + hi) / 2, 1.0]
    rot = frame[:3, :3]
    inertia = rot.T @ np.diag([mass * (b * b + c * c) / 12, mass * (a * a + c * c) / 12,
                               mass * (a * a + b * b) / 12]) @ rot
    inertia = np.where(np.abs(inertia) < 1e-12, 0.0, inertia) + 0.0
    (ixx, ixy, ixz), (_, iyy, iyz), (_, _, izz) = inertia
    return (f'    <inertial><origin xyz="{fmt(centre[:3])}" rpy="0 0 0"/><mass value="{mass:g}"/>'
            f'<inertia ixx="{ixx:.5g}" ixy="{ixy:.5g}" ixz="{ixz:.5g}" iyy="{iyy:.5g}" iyz="{iyz:.5g}" '
            f'izz="{izz:.5g}"/></inertial>\n')


def geometry_xml(design: Design, piece: Piece, frame: np.ndarray) -> str:
    """Write the piece's OBJ in the design's style and return its <visual> and <collision>."""
    inv = np.linalg.inv(frame)
    hom = np.c_[piece.verts, np.ones(len(piece.verts))]
    if design.style == "object":      # vertices in the object frame; origin = inverse link pose
        verts, place = piece.verts, inv
    elif design.style == "link":      # vertices in the link frame
        verts, place = (inv @ hom.T).T[:, :3], np.eye(4)
    elif design.style == "centred":   # vertices about the piece's centre (body axes)
        centre = (piece.verts.min(0) + piece.verts.max(0)) / 2
        shift = np.eye(4)
        shift[:3, 3] = centre
        verts, place = piece.verts - centre, inv @ shift
    else:
        raise ValueError(design.style)
    assert piece.name not in design.meshes, piece.name
    design.meshes[piece.name] = obj_text(verts, piece.faces, f"{design.name}: {piece.name}")
    geom = f'{origin_xml(place)}<geometry><mesh filename="meshes/{piece.name}.obj"/></geometry>'
    return (f'    <visual name="{piece.name}">{geom}<material name="{piece.name}">'
            f'<color rgba="{piece.rgba}"/></material></visual>\n'
            f'    <collision name="{piece.name}">{geom}</collision>\n')


def local_axis(link: Link) -> str:
    """The joint axis in the link's rotated frame; must be a signed unit vector."""
    assert link.joint is not None
    a = link.frame[:3, :3].T @ np.asarray(link.joint.axis, float)
    a = np.round(a, 9) + 0.0
    assert sorted(np.abs(a).tolist()) == [0.0, 0.0, 1.0], (link.name, a)
    return fmt(a)


def urdf(design: Design) -> str:
    frames = {"body": np.eye(4)}
    for link in design.links:
        frames[link.name] = link.frame
    lines = [f'<?xml version="1.0"?>\n<robot name="{design.name}">\n',
             f"  <!-- {design.note}\n       Hand-designed, written by scripts/write_handwritten_objects.py; "
             "not from embodied.envs.articulated.objects. -->\n",
             '  <link name="base"/>\n',
             '  <joint name="joint_body" type="fixed">\n'
             f'    <origin xyz="{fmt(design.root_xyz)}" rpy="{fmt(design.root_rpy, 8)}"/>\n'
             '    <parent link="base"/><child link="body"/>\n  </joint>\n',
             '  <link name="body">\n', inertial_xml(design.body_mass, design.body, np.eye(4))]
    lines += [geometry_xml(design, p, np.eye(4)) for p in design.body]
    lines.append("  </link>\n")
    for link in design.links:
        j = link.joint
        assert j is not None
        lines.append(f'  <link name="{link.name}">\n')
        lines.append(inertial_xml(link.mass, link.pieces, link.frame))
        lines += [geometry_xml(design, p, link.frame) for p in link.pieces]
        lines.append("  </link>\n")
        rel = np.linalg.inv(frames[link.parent]) @ link.frame
        limit = (f'<limit effort="{j.effort:g}" velocity="{j.velocity:g}"/>' if j.kind == "continuous" else
                 f'<limit lower="{j.lower:g}" upper="{j.upper:g}" effort="{j.effort:g}" velocity="{j.velocity:g}"/>')
        lines.append(f'  <joint name="{j.name}" type="{j.kind}">\n    {origin_xml(rel)}\n'
                     f'    <parent link="{link.parent}"/><child link="{link.name}"/>\n'
                     f'    <axis xyz="{local_axis(link)}"/>\n    {limit}\n'
                     f'    <dynamics damping="{j.damping:g}" friction="0"/>\n  </joint>\n')
    lines.append("</robot>\n")
    return "".join(lines)


# ------------------------------------------------------------------------- furniture helpers
def carcass(d: float, w: float, h: float, t: float, top: bool = True, rgba: str = WOOD,
            bottom_z: float = 0.0) -> list[Piece]:
    """A hollow body open at the front (+x): back, left (-y) and right sides, bottom, top.
    The body spans x in [-d/2, d/2], y in [-w/2, w/2], z in [0, h]; `bottom_z` lifts the bottom
    panel (a plinth below it)."""
    x0, x1, y0, y1 = -d / 2, d / 2, -w / 2, w / 2
    out = [box("back", (x0, y0, 0), (x0 + t, y1, h), rgba),
           box("side_left", (x0 + t, y0, 0), (x1, y0 + t, h), rgba),
           box("side_right", (x0 + t, y1 - t, 0), (x1, y1, h), rgba),
           box("bottom", (x0 + t, y0 + t, bottom_z), (x1, y1 - t, bottom_z + t), rgba)]
    if top:
        out.append(box("top", (x0 + t, y0 + t, h - t), (x1, y1 - t, h), rgba))
    return out


def drawer(prefix: str, x_front: float, y0: float, y1: float, z0: float, z1: float, t: float,
           depth: float, rgba: str = WOOD) -> list[Piece]:
    """A drawer closed in its slot: front panel (x in [x_front - t, x_front]) and a tray (back,
    sides, bottom) `depth` deep and 0.7 of the front's height; handles are added by the caller."""
    g = 0.004                                           # the tray is 4 mm narrower each side
    bh = 0.7 * (z1 - z0)
    xb = x_front - depth
    return [box(f"{prefix}_front", (x_front - t, y0, z0), (x_front, y1, z1), rgba),
            box(f"{prefix}_back", (xb, y0 + g, z0), (xb + t, y1 - g, z0 + bh), rgba),
            box(f"{prefix}_side_left", (xb + t, y0 + g, z0), (x_front - t, y0 + g + t, z0 + bh), rgba),
            box(f"{prefix}_side_right", (xb + t, y1 - g - t, z0), (x_front - t, y1 - g, z0 + bh), rgba),
            box(f"{prefix}_bottom", (xb + t, y0 + g + t, z0), (x_front - t, y1 - g - t, z0 + t), rgba)]


# ------------------------------------------------------------------------------- the objects
def chest_back_lid() -> Design:
    """A blanket chest, 0.40 deep x 0.60 wide x 0.36 high (walls 18 mm), lid on top hinged along
    its back top edge, closed at 0. Opening lifts the front edge: about world -y."""
    d, w, h, t = 0.40, 0.60, 0.36, 0.018
    body = carcass(d, w, h, t, top=False, rgba=OAK) + [
        box("front", (d / 2 - t, -w / 2 + t, t), (d / 2, w / 2 - t, h), OAK)]
    lid = [box("lid", (-d / 2, -w / 2, h), (d / 2 + 0.012, w / 2, h + t), OAK),         # 12 mm overhang
           box("lid_handle", (d / 2 + 0.006, -0.06, h - 0.02), (d / 2 + 0.036, 0.06, h + 0.004), DARK)]
    # frame at the back top edge, rolled +90 deg: local z = world -y, so axis "0 0 1"
    return Design("chest_back_lid", "Chest, lid hinged at the back top edge, starts closed.", "object",
                  body, 12.0, [Link("lid", pose((-d / 2, 0, h), (PI / 2, 0, 0)), 3.0, lid,
                                    joint=Joint("lid_hinge", "revolute", (0, -1, 0), 0.0, 1.75, 20, 1.5, 0.6))])


def cabinet_top_hinged_door() -> Design:
    """A wall cabinet 0.32 x 0.60 x 0.40 with an overlay flap door hinged along its top back edge;
    the flap swings out and up (about world -y)."""
    d, w, h, t = 0.32, 0.60, 0.40, 0.018
    door = [box("flap", (d / 2, -w / 2 + 0.002, 0.002), (d / 2 + t, w / 2 - 0.002, h - 0.002), WHITE),
            box("flap_handle", (d / 2 + t, -0.10, 0.03), (d / 2 + t + 0.025, 0.10, 0.05), STEEL)]
    # frame on the hinge line, rolled -90 deg: local z = world +y, so axis "0 0 -1"
    return Design("cabinet_top_hinged_door", "Wall cabinet, flap door hinged at the top.", "link",
                  carcass(d, w, h, t, rgba=WHITE), 8.0,
                  [Link("flap", pose((d / 2, 0, h - 0.002), (-PI / 2, 0, 0)), 2.0, door,
                        joint=Joint("flap_hinge", "revolute", (0, -1, 0), 0.0, 1.4, 15, 1.5, 0.5))])


def oven_bottom_hinged_door() -> Design:
    """A built-in oven 0.55 x 0.60 x 0.60: carcass, a control panel with two fixed knobs above the
    door, a 30 mm thick door hinged along its bottom back edge that drops down and out (about
    world +y), a bar handle along its top."""
    d, w, h, t = 0.55, 0.60, 0.60, 0.02
    body = carcass(d, w, h, t, rgba=STEEL) + [
        box("panel", (d / 2 - 0.02, -w / 2 + t, 0.50), (d / 2, w / 2 - t, h - t), DARK),
        cylinder("knob_left", (d / 2 + 0.01, -0.18, 0.55), 0.018, 0.02, WHITE),
        cylinder("knob_right", (d / 2 + 0.01, 0.18, 0.55), 0.018, 0.02, WHITE)]
    door = [box("door_panel", (d / 2, -0.29, 0.02), (d / 2 + 0.03, 0.29, 0.495), DARK),
            box("door_handle", (d / 2 + 0.03, -0.20, 0.45), (d / 2 + 0.055, 0.20, 0.47), STEEL)]
    # frame on the hinge line, yawed +90 deg: local x = world +y, so axis "1 0 0"
    return Design("oven_bottom_hinged_door", "Oven, door hinged at the bottom, drops down and out.",
                  "centred", body, 25.0,
                  [Link("door", pose((d / 2, 0, 0.02), (0, 0, PI / 2)), 3.0, door,
                        joint=Joint("door_hinge", "revolute", (0, 1, 0), 0.0, 1.5, 30, 1.5, 0.8))])


def two_drawer_body(d: float, w: float, h: float, t: float, gap: float, rgba: str) -> tuple[list[Piece], list[Link]]:
    """A carcass with a divider at mid height and two inset drawers (0.30 m travel) with bar
    handles; the lower drawer's frame is unrotated (axis "1 0 0"), the upper one's is yawed by
    -90 deg (local y = body +x, axis "0 1 0")."""
    slot = (h - 3 * t) / 2
    body = carcass(d, w, h, t, rgba=rgba) + [box("divider", (-d / 2 + t, -w / 2 + t, h / 2 - t / 2),
                                                 (d / 2, w / 2 - t, h / 2 + t / 2), rgba)]
    y0, y1, depth = -w / 2 + t + gap, w / 2 - t - gap, d - 2 * t - gap
    links = []
    for name, z0, rpy in (("drawer_low", t + gap, (0, 0, 0)), ("drawer_high", h / 2 + t / 2 + gap, (0, 0, -PI / 2))):
        z1 = z0 + slot - 2 * gap
        zh = z0 + 0.6 * (z1 - z0)
        pieces = drawer(name, d / 2, y0, y1, z0, z1, t, depth, rgba) + [
            box(f"{name}_handle", (d / 2, -0.09, zh - 0.01), (d / 2 + 0.025, 0.09, zh + 0.01), DARK)]
        links.append(Link(name, pose((d / 2, 0, z0), rpy), 3.0, pieces,
                          joint=Joint(f"{name}_slide", "prismatic", (1, 0, 0), 0.0, 0.30, 50, 1.0, 1.0)))
    return body, links


def slanted_drawer_unit() -> Design:
    """A 0.45 x 0.50 x 0.55 two-drawer unit yawed by +25 deg on its root joint: both drawers slide
    along body +x = world (cos 25, sin 25, 0), not along a world axis."""
    body, links = two_drawer_body(0.45, 0.50, 0.55, 0.018, 0.004, WOOD)
    return Design("slanted_drawer_unit", "Two-drawer unit yawed by 25 deg: slides not world-aligned.",
                  "object", body, 15.0, links, root_rpy=(0, 0, 25 * DEG))


def offset_rotated_cabinet() -> Design:
    """A 0.40 x 0.50 x 0.70 cabinet, yawed by -35 deg and moved to (0.15, -0.2, 0) on its root
    joint, with an inset door hinged on its left (-y) side, opening about world -z."""
    d, w, h, t, g = 0.40, 0.50, 0.70, 0.018, 0.004
    yf = w / 2 - t - g                                      # free edge of the door (+y)
    door = [box("door_panel", (d / 2 - t, -w / 2 + t + g, t + g), (d / 2, yf, h - t - g), WOOD),
            box("door_handle", (d / 2, yf - 0.055, h / 2 - 0.08), (d / 2 + 0.025, yf - 0.035, h / 2 + 0.08), DARK)]
    # frame on the hinge line at the door's bottom, rolled 180 deg: local z = world -z, axis "0 0 1"
    return Design("offset_rotated_cabinet", "Cabinet yawed -35 deg, off-centre, side-hinged door.", "link",
                  carcass(d, w, h, t), 14.0,
                  [Link("door", pose((d / 2, -w / 2 + t, t + g), (PI, 0, 0)), 3.0, door,
                        joint=Joint("door_hinge", "revolute", (0, 0, -1), 0.0, 1.9, 30, 2.0, 0.5))],
                  root_xyz=(0.15, -0.2, 0.0), root_rpy=(0, 0, -35 * DEG))


def cabinet_door_and_drawer() -> Design:
    """A 0.45 x 0.60 x 0.85 cabinet: a drawer in a 0.23 m slot at the bottom, right below a door
    hinged on the right (+y) side whose swing (about world +z) sweeps the space just above the
    drawer's front; the door's handle is 9 cm above the drawer's."""
    d, w, h, t, g = 0.45, 0.60, 0.85, 0.018, 0.004
    zd = 0.25                                               # the divider's bottom
    y0, y1 = -w / 2 + t + g, w / 2 - t - g
    body = carcass(d, w, h, t) + [box("divider", (-d / 2 + t, -w / 2 + t, zd), (d / 2, w / 2 - t, zd + t))]
    door = [box("door_panel", (d / 2 - t, y0, zd + t + g), (d / 2, y1, h - t - g)),
            box("door_handle", (d / 2, y0 + 0.035, 0.29), (d / 2 + 0.025, y0 + 0.055, 0.41), DARK)]
    drw = drawer("drawer", d / 2, y0, y1, t + g, zd - g, t, d - 2 * t - g) + [
        box("drawer_handle", (d / 2, -0.09, 0.19), (d / 2 + 0.025, 0.09, 0.21), DARK)]
    return Design("cabinet_door_and_drawer", "Cabinet, side-hinged door right above a drawer.", "object",
                  body, 18.0,
                  # door frame rolled +90 deg: local y = world +z, axis "0 1 0"
                  [Link("door", pose((d / 2, w / 2 - t, zd + t + g), (PI / 2, 0, 0)), 4.0, door,
                        joint=Joint("door_hinge", "revolute", (0, 0, 1), 0.0, 1.9, 30, 2.0, 0.5)),
                   Link("drawer", pose((d / 2, 0, t + g)), 3.0, drw,
                        joint=Joint("drawer_slide", "prismatic", (1, 0, 0), 0.0, 0.32, 50, 1.0, 1.0))])


def wheel() -> Design:
    """A machine housing 0.25 x 0.35 x 0.45 (solid) with a hub on its front and a hand wheel on
    it: a 12 cm disc, 15 mm thick, a spoke bar across its front and a crank knob (18 mm, 40 mm
    long) near the rim, so the wheel is not rotationally symmetric. Continuous joint about world
    +x through the disc's centre (0.30 m high)."""
    d, w, h, zc = 0.25, 0.35, 0.45, 0.30
    xd = d / 2 + 0.012                                      # the disc's back face
    body = [box("housing", (-d / 2, -w / 2, 0), (d / 2, w / 2, h), RED),
            cylinder("hub", (d / 2 + 0.006, 0, zc), 0.015, 0.012, STEEL)]
    parts = [cylinder("disc", (xd + 0.0075, 0, zc), 0.06, 0.015, STEEL),
             box("spoke", (xd + 0.015, -0.05, zc - 0.008), (xd + 0.027, 0.05, zc + 0.008), DARK),
             cylinder("crank", (xd + 0.015 + 0.02, 0, zc + 0.045), 0.009, 0.04, DARK, segments=12)]
    # frame at the disc's back face, pitched +90 deg: local z = world +x, axis "0 0 1"
    return Design("wheel", "Hand wheel on a housing: continuous joint.", "centred", body, 20.0,
                  [Link("wheel", pose((xd, 0, zc), (0, PI / 2, 0)), 0.4, parts,
                        joint=Joint("wheel_spin", "continuous", (1, 0, 0), effort=5, velocity=6, damping=0.05))])


def drawer_with_door() -> Design:
    """A 0.45 x 0.60 x 0.45 chest with one deep drawer; on the drawer's front, a 0.20 x 0.16 hatch
    door (surface-mounted, 12 mm) hinged on its left edge: body -> drawer (prismatic, world +x)
    -> hatch (revolute, world -z, child of the drawer)."""
    d, w, h, t, g = 0.45, 0.60, 0.45, 0.018, 0.004
    y0, y1 = -w / 2 + t + g, w / 2 - t - g
    drw = drawer("drawer", d / 2, y0, y1, t + g, h - t - g, t, d - 2 * t - g) + [
        box("drawer_handle", (d / 2, -0.22, 0.36), (d / 2 + 0.025, -0.06, 0.38), DARK)]
    xh = d / 2 + 0.002                                      # the hatch's back face, 2 mm off the front
    hatch = [box("hatch_panel", (xh, 0.02, 0.14), (xh + 0.012, 0.22, 0.30), OAK),
             box("hatch_knob", (xh + 0.012, 0.19, 0.21), (xh + 0.032, 0.21, 0.23), DARK)]
    return Design("drawer_with_door", "Chest: a hatch door mounted on a drawer (nested joints).", "object",
                  carcass(d, w, h, t), 14.0,
                  # drawer frame yawed +90 deg: local -y = world +x, axis "0 -1 0";
                  # hatch frame rolled 180 deg (in the body frame): local z = world -z, axis "0 0 1"
                  [Link("drawer", pose((d / 2, 0, t + g), (0, 0, PI / 2)), 4.0, drw,
                        joint=Joint("drawer_slide", "prismatic", (1, 0, 0), 0.0, 0.30, 50, 1.0, 1.0)),
                   Link("hatch", pose((xh, 0.02, 0.14), (PI, 0, 0)), 0.4, hatch, parent="drawer",
                        joint=Joint("hatch_hinge", "revolute", (0, 0, -1), 0.0, 1.6, 5, 2.0, 0.1))])


def scaled_small_cabinet() -> Design:
    """A half-size jewellery cabinet 0.16 x 0.22 x 0.25 (9 mm panels, 2 mm gaps): a door hinged
    on the right (+y, about world +z) above a small drawer (0.12 m travel), each with a knob."""
    d, w, h, t, g = 0.16, 0.22, 0.25, 0.009, 0.002
    zd = 0.075
    y0, y1 = -w / 2 + t + g, w / 2 - t - g
    body = carcass(d, w, h, t, rgba=OAK) + [
        box("shelf", (-d / 2 + t, -w / 2 + t, zd), (d / 2, w / 2 - t, zd + t), OAK)]
    door = [box("door_panel", (d / 2 - t, y0, zd + t + g), (d / 2, y1, h - t - g), OAK),
            box("door_knob", (d / 2, y0 + 0.012, 0.16), (d / 2 + 0.015, y0 + 0.024, 0.175), DARK)]
    drw = drawer("drawer", d / 2, y0, y1, t + g, zd - g, t, d - 2 * t - g, OAK) + [
        box("drawer_knob", (d / 2, -0.008, 0.035), (d / 2 + 0.015, 0.008, 0.05), DARK)]
    return Design("scaled_small_cabinet", "Half-size cabinet: door over a drawer.", "link", body, 1.2,
                  # door frame yawed -90 deg: axis "0 0 1"; drawer frame yawed 180 deg: axis "-1 0 0"
                  [Link("door", pose((d / 2, w / 2 - t, zd + t + g), (0, 0, -PI / 2)), 0.12, door,
                        joint=Joint("door_hinge", "revolute", (0, 0, 1), 0.0, 1.7, 3, 2.0, 0.05)),
                   Link("drawer", pose((d / 2, 0, t + g), (0, 0, PI)), 0.15, drw,
                        joint=Joint("drawer_slide", "prismatic", (1, 0, 0), 0.0, 0.12, 10, 0.5, 0.2))])


def scaled_large_wardrobe() -> Design:
    """A 1.6x wardrobe 0.60 x 1.00 x 1.75 (25 mm panels, bottom panel on a 6 cm plinth) with two
    inset doors meeting in the middle: the left hinged on the left side (about world -z), the
    right on the right side (about world +z); vertical bar handles by the middle gap."""
    d, w, h, t, g = 0.60, 1.00, 1.75, 0.025, 0.004
    zb = 0.06
    body = carcass(d, w, h, t, bottom_z=zb) + [
        box("plinth", (d / 2 - 0.04 - t, -w / 2 + t, 0), (d / 2 - 0.04, w / 2 - t, zb))]
    z0, z1 = zb + t + g, h - t - g
    left = [box("left_panel", (d / 2 - t, -w / 2 + t + g, z0), (d / 2, -g, z1)),
            box("left_handle", (d / 2, -0.06, 0.85), (d / 2 + 0.03, -0.04, 1.15), STEEL)]
    right = [box("right_panel", (d / 2 - t, g, z0), (d / 2, w / 2 - t - g, z1)),
             box("right_handle", (d / 2, 0.04, 0.85), (d / 2 + 0.03, 0.06, 1.15), STEEL)]
    return Design("scaled_large_wardrobe", "1.6x wardrobe, two side-hinged doors.", "centred", body, 60.0,
                  # left frame pitched +90 deg: local x = world -z; right pitched -90: local x = +z;
                  # both axes "1 0 0"
                  [Link("left_door", pose((d / 2, -w / 2 + t, z0), (0, PI / 2, 0)), 10.0, left,
                        joint=Joint("left_hinge", "revolute", (0, 0, -1), 0.0, 1.9, 60, 1.5, 1.0)),
                   Link("right_door", pose((d / 2, w / 2 - t, z0), (0, -PI / 2, 0)), 10.0, right,
                        joint=Joint("right_hinge", "revolute", (0, 0, 1), 0.0, 1.9, 60, 1.5, 1.0))])


DESIGNS = (chest_back_lid, cabinet_top_hinged_door, oven_bottom_hinged_door, slanted_drawer_unit,
           offset_rotated_cabinet, cabinet_door_and_drawer, wheel, drawer_with_door,
           scaled_small_cabinet, scaled_large_wardrobe)


def write(out: Path) -> list[Path]:
    paths = []
    for make in DESIGNS:
        design = make()
        folder = out / design.name
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "meshes").mkdir(parents=True)
        text = urdf(design)                                # fills design.meshes
        for name, obj in design.meshes.items():
            (folder / "meshes" / f"{name}.obj").write_text(obj)
        (folder / "mobility.urdf").write_text(text)
        paths.append(folder / "mobility.urdf")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
