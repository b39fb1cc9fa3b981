"""SfA's last step: segmented parts + estimated joints -> a URDF a simulator can load and move.

Why this module exists: Structure from Action ends with an *articulated model* of the object it
interacted with, so that a planner can simulate opening the door it just discovered. The joint
estimates (``embodied.perception.articulation``) and the part point clouds are world-frame data;
a URDF instead hangs each link in its joint frame. A frame error here turns a correct estimate into
a door that swings about the wrong line, silently, so the export is checked by loading it back
into pybullet (``reload_check``) and comparing the simulator's world axes with the estimates.

Conventions:

* all points, axes and origins are in one world frame; the exported robot's base link *is* that
  frame (identity pose), so loading the URDF at the origin reproduces the observed geometry;
* the observed points are the joint-zero configuration: joint value 0 in the URDF leaves every
  part where it was seen, and the limits are the estimate's ``state_range``, which
  ``aggregate_joint`` already measures from that rest configuration;
* every moving part is a direct child of the base (as in SfA: parts found by pushing the object,
  not chains), its URDF joint origin is the estimated axis point with zero rotation, so the link
  frame is parallel to the world and the joint axis in the URDF is the world axis itself;
* parts without a joint, or with a ``static`` one, did not move when pushed: they are part of the
  base (one collision shape each, not one hull of everything, so that a static shelf does not
  fill the carcass's opening).
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from embodied.perception.articulation import JointEstimate

__all__ = ["PartModel", "ArticulatedModel", "part_mesh", "export_urdf", "reload_check"]

#: m: thickness given to a flat or line-like part, so its mesh still has a volume to collide with.
MIN_THICKNESS = 0.005
#: kg / m^3, as in the procedural objects: plausible masses for a door or a drawer.
DENSITY = 500.0
#: kg: lower bound, since a near-zero mass makes pybullet's solver unstable.
MIN_MASS = 0.05
#: limits used when an estimate saw no motion range at all (rad / m), symmetric because then
#: nothing says which direction opens the part.
DEFAULT_REVOLUTE_LIMITS = (-0.5 * math.pi, 0.5 * math.pi)
DEFAULT_PRISMATIC_LIMITS = (-0.5, 0.5)
EFFORT = 100.0
VELOCITY = 2.0
DAMPING = 0.5
BASE_LINK = "base"


@dataclass
class PartModel:
    """One rigid part: its observed surface points (world frame, joint-zero pose) and its joint.

    ``joint`` None or of type ``static`` means the part never moved: it is merged into the base.
    """

    name: str
    points: np.ndarray
    joint: JointEstimate | None = None

    def __post_init__(self) -> None:
        self.points = _as_points(f"part {self.name!r} points", self.points)

    @property
    def moves(self) -> bool:
        return self.joint is not None and self.joint.type in ("revolute", "prismatic")


@dataclass
class ArticulatedModel:
    """The whole object: base (static) points and the parts found by interaction."""

    base_points: np.ndarray
    parts: list[PartModel] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base_points = _as_points("base_points", self.base_points, allow_empty=True)
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"part names must be unique, got {names}")


def _as_points(what: str, value: ArrayLike, allow_empty: bool = False) -> np.ndarray:
    pts = np.asarray(value, dtype=float).reshape(-1, 3) if np.size(value) == 0 \
        else np.asarray(value, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"{what} must be (N, 3), got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError(f"{what} contains non-finite values")
    if len(pts) == 0 and not allow_empty:
        raise ValueError(f"{what} is empty")
    return pts


# --------------------------------------------------------------------------------------------
# meshes
# --------------------------------------------------------------------------------------------
def _obb_mesh(points: np.ndarray, min_thickness: float):
    """A box around the points along their principal directions, no side thinner than
    ``min_thickness``.

    Why not open3d's OBB: it needs >= 4 points in general position (qhull), and the degenerate
    parts (a handful of points, a line, a flat patch) are exactly the ones that need a fallback.
    """
    import open3d as o3d

    center = points.mean(axis=0)
    centred = points - center
    if len(points) >= 2:
        _, _, vt = np.linalg.svd(centred, full_matrices=True)
        axes = vt.T                                   # columns: principal directions
    else:
        axes = np.eye(3)
    if np.linalg.det(axes) < 0:                       # keep a rotation, not a reflection
        axes[:, 2] = -axes[:, 2]
    local = centred @ axes
    lo, hi = local.min(axis=0), local.max(axis=0)
    mid = (lo + hi) / 2
    size = np.maximum(hi - lo, min_thickness)
    box = o3d.geometry.TriangleMesh.create_box(*size)
    box.translate(-size / 2)                          # centred at the local origin
    box.rotate(axes, center=np.zeros(3))
    box.translate(center + axes @ mid)
    return box


def part_mesh(points: ArrayLike, min_thickness: float = MIN_THICKNESS, alpha: float | None = None):
    """A closed triangle mesh (open3d ``TriangleMesh``) around a part's points.

    The convex hull by default: it is always watertight, pybullet treats mesh collision shapes as
    convex hulls anyway, and it needs no tuning to the sensor's point density. ``alpha`` (m) asks
    for an alpha shape instead, which follows concave parts (a drawer's tray); it is used only when
    the result is watertight, else the hull is (alpha shapes need dense points: a few thousand on
    a drawer). pybullet still collides with the convex hull of an OBJ, so the alpha shape changes
    what is drawn and the part's mass, not its contacts. Fewer than 4 points, or points closer to a plane
    than ``min_thickness``, get an oriented box of at least that thickness, so a degenerate part
    still exports as something a simulator can touch.
    """
    import open3d as o3d

    pts = _as_points("points", points)
    spread = np.linalg.svd(pts - pts.mean(axis=0), compute_uv=False) if len(pts) >= 2 else [0.0]
    # the thinnest extent of the points, roughly: singular value / sqrt(N) is an RMS spread.
    flat = len(pts) < 4 or float(spread[-1]) / math.sqrt(len(pts)) < min_thickness / 4
    if flat:
        mesh = _obb_mesh(pts, min_thickness)
    else:
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
        mesh = None
        if alpha is not None:
            try:
                cand = o3d.geometry.TriangleMesh.create_from_point_cloud_alpha_shape(cloud, alpha)
                if len(cand.triangles) and cand.is_watertight():
                    mesh = cand
            except RuntimeError:
                mesh = None
        if mesh is None:
            try:
                mesh, _ = cloud.compute_convex_hull()
            except RuntimeError:                     # qhull on a nearly flat set
                mesh = _obb_mesh(pts, min_thickness)
    mesh.orient_triangles()
    mesh.compute_vertex_normals()
    return mesh


# --------------------------------------------------------------------------------------------
# URDF
# --------------------------------------------------------------------------------------------
def _fmt(xs: ArrayLike) -> str:
    return " ".join(f"{float(x):.9g}" for x in np.asarray(xs, dtype=float).reshape(-1))


def _safe(name: str) -> str:
    """A link / file name made of [A-Za-z0-9_-]: part names come from segmentation code."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "part"


def _limits(joint: JointEstimate) -> tuple[float, float]:
    """URDF limits from the estimate's observed range; a default when it saw no range at all.

    A zero-width range would make pybullet's motors hold the part still (pybullet turns a revolute
    joint with lower == upper into an immovable one), so it is widened: to include the estimated
    state if that is non-zero, else to a symmetric default.
    """
    lo, hi = (float(x) for x in joint.state_range)
    if lo > hi:
        lo, hi = hi, lo
    if hi - lo > 1e-6:
        return lo, hi
    s = float(joint.state)
    if abs(s) > 1e-6:
        return min(0.0, s), max(0.0, s)
    return DEFAULT_REVOLUTE_LIMITS if joint.type == "revolute" else DEFAULT_PRISMATIC_LIMITS


def _inertial(link: ET.Element, points_local: np.ndarray, meshes: list[Any]) -> None:
    """Mass at the points' centroid with the inertia of their bounding box.

    Why not pybullet's default (unit mass at the link origin): the link origin is on the hinge,
    and a door whose mass sits on its hinge line does not swing like a door. The centroid of the
    observed points is used (not the mesh's) so that a caller can predict the centre of mass.
    """
    com = points_local.mean(axis=0)
    size = np.maximum(np.ptp(points_local, axis=0), MIN_THICKNESS)
    volume = sum(abs(float(mesh.get_volume())) if mesh.is_watertight() else float(np.prod(size))
                 for mesh in meshes)
    m = max(DENSITY * volume, MIN_MASS)
    sx, sy, sz = size
    inert = ET.SubElement(link, "inertial")
    ET.SubElement(inert, "origin", xyz=_fmt(com), rpy="0 0 0")
    ET.SubElement(inert, "mass", value=f"{m:.9g}")
    ET.SubElement(inert, "inertia", ixx=f"{m / 12 * (sy**2 + sz**2):.9g}", ixy="0", ixz="0",
                  iyy=f"{m / 12 * (sx**2 + sz**2):.9g}", iyz="0",
                  izz=f"{m / 12 * (sx**2 + sy**2):.9g}")


def _geometry(link: ET.Element, name: str, filename: str) -> None:
    """A visual and a collision element for one mesh; the mesh file is already in link frame."""
    for tag in ("visual", "collision"):
        el = ET.SubElement(link, tag, name=f"{name}_{tag}")
        ET.SubElement(el, "origin", xyz="0 0 0", rpy="0 0 0")
        geom = ET.SubElement(el, "geometry")
        ET.SubElement(geom, "mesh", filename=filename, scale="1 1 1")


def _write_mesh(mesh: Any, path: Path) -> None:
    import open3d as o3d

    # OBJ has no per-triangle normals; dropping them avoids open3d's warning on every write.
    mesh = o3d.geometry.TriangleMesh(mesh)
    mesh.triangle_normals = o3d.utility.Vector3dVector(np.zeros((0, 3)))
    if not o3d.io.write_triangle_mesh(str(path), mesh, write_ascii=True):
        raise OSError(f"open3d could not write {path}")


def export_urdf(model: ArticulatedModel, folder: str | Path, name: str = "articulated_model",
                alpha: float | None = None) -> Path:
    """Write ``<folder>/<name>.urdf`` and one OBJ per mesh under ``<folder>/meshes``; return the
    URDF path.

    Each moving part becomes a link under the fixed base with a revolute or prismatic joint whose
    origin is the estimated axis point (world frame = base frame) and whose axis is the estimated
    unit axis; its mesh is written relative to that point, so rotating the joint rotates the part
    about the estimated axis line. Static parts (and parts without a joint) become extra shapes of
    the base link. ``alpha`` is passed to ``part_mesh``.
    """
    folder = Path(folder)
    mesh_dir = folder / "meshes"
    mesh_dir.mkdir(parents=True, exist_ok=True)
    robot = ET.Element("robot", name=_safe(name))

    # -- base: the base points plus every part that did not move, one shape each
    base = ET.SubElement(robot, "link", name=BASE_LINK)
    static = [(BASE_LINK, model.base_points)] if len(model.base_points) else []
    static += [(p.name, p.points) for p in model.parts if not p.moves]
    if static:
        all_static = np.concatenate([pts for _, pts in static])
        meshes = [(n, part_mesh(pts, alpha=alpha)) for n, pts in static]
        _inertial(base, all_static, [mesh for _, mesh in meshes])
        for n, mesh in meshes:
            fname = f"{BASE_LINK}__{_safe(n)}.obj"
            _write_mesh(mesh, mesh_dir / fname)
            _geometry(base, f"{BASE_LINK}_{_safe(n)}", f"meshes/{fname}")
    else:                                 # an object seen only as moving parts: an empty base
        inert = ET.SubElement(base, "inertial")
        ET.SubElement(inert, "mass", value=f"{MIN_MASS:g}")
        ET.SubElement(inert, "inertia", ixx="1e-4", ixy="0", ixz="0", iyy="1e-4", iyz="0",
                      izz="1e-4")

    # -- moving parts: link frame = joint frame = estimated axis point, parallel to the world
    used = {BASE_LINK}
    for part in model.parts:
        if not part.moves:
            continue
        joint = part.joint
        assert joint is not None
        link_name = _safe(part.name)
        if link_name in used:
            raise ValueError(f"part name {part.name!r} collides with another link name")
        used.add(link_name)
        axis = np.asarray(joint.axis, dtype=float).reshape(3)
        n = float(np.linalg.norm(axis))
        if not (n > 1e-9 and math.isfinite(n)):
            raise ValueError(f"part {part.name!r}: joint axis {axis} is not a direction")
        axis = axis / n
        origin = np.asarray(joint.origin, dtype=float).reshape(3)
        local = part.points - origin
        mesh = part_mesh(local, alpha=alpha)
        link = ET.SubElement(robot, "link", name=link_name)
        _inertial(link, local, [mesh])
        fname = f"{link_name}.obj"
        _write_mesh(mesh, mesh_dir / fname)
        _geometry(link, link_name, f"meshes/{fname}")

        lo, hi = _limits(joint)
        j = ET.SubElement(robot, "joint", name=f"joint_{link_name}", type=joint.type)
        ET.SubElement(j, "parent", link=BASE_LINK)
        ET.SubElement(j, "child", link=link_name)
        ET.SubElement(j, "origin", xyz=_fmt(origin), rpy="0 0 0")
        ET.SubElement(j, "axis", xyz=_fmt(axis))
        ET.SubElement(j, "limit", lower=f"{lo:.9g}", upper=f"{hi:.9g}", effort=f"{EFFORT:g}",
                      velocity=f"{VELOCITY:g}")
        ET.SubElement(j, "dynamics", damping=f"{DAMPING:g}", friction="0")

    path = folder / f"{_safe(name)}.urdf"
    tree = ET.ElementTree(robot)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


# --------------------------------------------------------------------------------------------
# round trip
# --------------------------------------------------------------------------------------------
_PB_TYPES = {0: "revolute", 1: "prismatic", 2: "spherical", 3: "planar", 4: "fixed"}


def reload_check(path: str | Path) -> list[dict[str, Any]]:
    """Load a URDF with a fixed base in a fresh pybullet DIRECT client; per movable joint, what
    pybullet thinks it is, in the world frame.

    Why: the only proof that the frames in the file are right is the simulator's reading of them.
    Each dict has ``name``, ``child`` (link name), ``index`` (pybullet joint = link index),
    ``type``, ``axis`` (unit, world), ``origin`` (a world point on the axis: the joint frame's
    origin at joint value 0), ``lower`` and ``upper``.
    """
    import pybullet as p

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such URDF file")
    client = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(str(path), useFixedBase=True, physicsClientId=client)
        out: list[dict[str, Any]] = []
        for j in range(p.getNumJoints(body, physicsClientId=client)):
            info = p.getJointInfo(body, j, physicsClientId=client)
            jtype = _PB_TYPES.get(int(info[2]), str(info[2]))
            if jtype not in ("revolute", "prismatic"):
                continue
            state = p.getLinkState(body, j, computeForwardKinematics=True,
                                   physicsClientId=client)
            rot = np.array(p.getMatrixFromQuaternion(state[5])).reshape(3, 3)
            axis = rot @ np.asarray(info[13], dtype=float)
            out.append({"name": info[1].decode(), "child": info[12].decode(), "index": j,
                        "type": jtype, "axis": axis / np.linalg.norm(axis),
                        "origin": np.asarray(state[4], dtype=float),
                        "lower": float(info[8]), "upper": float(info[9])})
        return out
    finally:
        p.disconnect(physicsClientId=client)
