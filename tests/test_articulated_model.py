"""Articulated-model export: world-frame parts + joint estimates -> URDF that pybullet moves right.

The model is built from a procedural object's ground truth (points sampled in its boxes where
pybullet placed them, joints from ``ground_truth``), exported, loaded back, and moved: a frame
error anywhere in the export shows up as a wrong axis line or a part that moves the wrong way.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pybullet as p
import pytest

from embodied.envs.articulated.objects import ArticulatedSpec, generate_object, ground_truth, spawn
from embodied.metrics import axis_angle_error_deg, axis_position_error
from embodied.perception.articulated_model import (
    ArticulatedModel,
    PartModel,
    export_urdf,
    part_mesh,
    reload_check,
)
from embodied.perception.articulation import JointEstimate

#: cabinet with a drawer and two doors; oven with a bottom-hinged door and a drawer.
SEEDS = (14, 9)




def _rotate(v: np.ndarray, axis: np.ndarray, angle: float, origin: np.ndarray) -> np.ndarray:
    """Rodrigues: points (N, 3) turned by angle about the line through origin along unit axis."""
    x = np.atleast_2d(v) - origin
    a = axis / np.linalg.norm(axis)
    out = (x * math.cos(angle) + np.cross(a, x) * math.sin(angle)
           + np.outer(x @ a, a) * (1 - math.cos(angle)))
    return out + origin


def _link_pose(body: int, link: int, cid: int) -> tuple[np.ndarray, np.ndarray]:
    st = p.getLinkState(body, link, computeForwardKinematics=True, physicsClientId=cid)
    return np.array(st[4]), np.array(p.getMatrixFromQuaternion(st[5])).reshape(3, 3)


def _model_from_ground_truth(spec: ArticulatedSpec, folder: Path, cid: int,
                             per_box: int = 150) -> ArticulatedModel:
    """Points sampled uniformly in every box of every link, placed in the world by pybullet at
    the spec's joint states; joints from the ground truth, with limits measured from there."""
    rng = np.random.default_rng(spec.seed)
    body, index = spawn(spec, folder, cid)
    gt = {g["child"]: g for g in ground_truth(spec)}
    base_points = None
    parts = []
    for part in spec.parts:
        if part.name == spec.parts[0].name:
            pos, rot = (np.array(x) for x in p.getBasePositionAndOrientation(body, cid))
            rot = np.array(p.getMatrixFromQuaternion(rot)).reshape(3, 3)
        else:
            pos, rot = _link_pose(body, index[gt[part.name]["joint"]], cid)
        local = np.concatenate([rng.uniform(np.subtract(b.center, np.divide(b.size, 2)),
                                            np.add(b.center, np.divide(b.size, 2)), (per_box, 3))
                                for b in part.boxes])
        world = local @ rot.T + pos
        if part.name == spec.parts[0].name:
            base_points = world
            continue
        g = gt[part.name]
        est = JointEstimate(g["type"], np.array(g["axis"]), np.array(g["origin"]), g["state"],
                            state_range=(g["lower"] - g["state"], g["upper"] - g["state"]))
        parts.append(PartModel(part.name, world, est))
    assert base_points is not None
    return ArticulatedModel(base_points, parts)


def _obj_vertices(path: Path) -> np.ndarray:
    return np.array([[float(x) for x in line.split()[1:4]]
                     for line in path.read_text().splitlines() if line.startswith("v ")])


@pytest.mark.parametrize("seed", SEEDS)
def test_reloaded_joints_match_estimates(seed: int, tmp_path: Path, client: int) -> None:
    spec = generate_object(seed)
    model = _model_from_ground_truth(spec, tmp_path / "gt", client)
    path = export_urdf(model, tmp_path / "export")
    joints = {j["child"]: j for j in reload_check(path)}
    assert sorted(joints) == sorted(part.name for part in model.parts)
    for part in model.parts:
        est, got = part.joint, joints[part.name]
        assert est is not None
        assert got["type"] == est.type
        assert axis_angle_error_deg(got["axis"], est.axis) < 1.0
        assert float(np.dot(got["axis"], est.axis)) > 0          # the sign survives too
        if est.type == "revolute":
            assert axis_position_error(got["origin"], got["axis"], est.origin, est.axis) < 0.01
        lo, hi = est.state_range
        assert got["lower"] == pytest.approx(lo, abs=1e-6)
        assert got["upper"] == pytest.approx(hi, abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_moving_a_reloaded_joint_moves_the_part_as_estimated(seed: int, tmp_path: Path,
                                                             client: int) -> None:
    spec = generate_object(seed)
    model = _model_from_ground_truth(spec, tmp_path / "gt", client)
    path = export_urdf(model, tmp_path / "export")
    body = p.loadURDF(str(path), useFixedBase=True, physicsClientId=client)
    index = {p.getJointInfo(body, j, physicsClientId=client)[12].decode(): j
             for j in range(p.getNumJoints(body, physicsClientId=client))}
    kinds = set()
    for part in model.parts:
        est = part.joint
        assert est is not None
        kinds.add(est.type)
        j = index[part.name]
        axis, origin = np.asarray(est.axis), np.asarray(est.origin)
        verts_local = _obj_vertices(path.parent / "meshes" / f"{part.name}.obj")
        pos0, rot0 = _link_pose(body, j, client)
        verts0 = verts_local @ rot0.T + pos0
        # at joint value 0 the mesh surrounds the observed points: it is their hull
        assert np.allclose(verts0.min(0), part.points.min(0), atol=1e-4)
        assert np.allclose(verts0.max(0), part.points.max(0), atol=1e-4)

        move = 0.5 if est.type == "revolute" else 0.1
        p.resetJointState(body, j, move, physicsClientId=client)
        pos1, rot1 = _link_pose(body, j, client)
        verts1 = verts_local @ rot1.T + pos1
        com1 = np.array(p.getLinkState(body, j, computeForwardKinematics=True,
                                       physicsClientId=client)[0])
        if est.type == "revolute":
            want_verts = _rotate(verts0, axis, move, origin)
            want_com = _rotate(part.points.mean(0), axis, move, origin)[0]
            want_points = _rotate(part.points, axis, move, origin)
        else:
            want_verts = verts0 + move * axis
            want_com = part.points.mean(0) + move * axis
            want_points = part.points + move * axis
        assert np.max(np.linalg.norm(verts1 - want_verts, axis=1)) < 0.02
        assert np.linalg.norm(com1 - want_com) < 0.02
        lo, hi = p.getAABB(body, j, physicsClientId=client)
        # pybullet's AABB is its local box turned with the link (conservative, so only an
        # upper bound on the part's extent): it must still contain the moved points
        assert np.all(np.asarray(lo) <= want_points.min(0) + 1e-3)
        assert np.all(np.asarray(hi) >= want_points.max(0) - 1e-3)
        if est.type == "prismatic":       # no turning: the box is tight up to a small margin
            assert np.allclose(lo, want_points.min(0), atol=0.01)
            assert np.allclose(hi, want_points.max(0), atol=0.01)
        p.resetJointState(body, j, 0.0, physicsClientId=client)
    assert kinds == {"revolute", "prismatic"}


def test_degenerate_and_static_parts_still_export(tmp_path: Path, client: int) -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform([-0.3, -0.3, 0.0], [0.3, 0.3, 0.5], (200, 3))
    line = np.array([[0.4, 0.0, 0.1], [0.4, 0.0, 0.2], [0.4, 0.0, 0.3]])   # 3 collinear points
    shelf = rng.uniform([-0.2, -0.2, 0.6], [0.2, 0.2, 0.62], (50, 3))
    model = ArticulatedModel(base, [
        PartModel("handle", line, JointEstimate("prismatic", np.array([2.0, 0.0, 0.0]),
                                                line.mean(0), 0.0)),   # unnormalised, no range
        PartModel("shelf", shelf, JointEstimate("static", np.zeros(3), shelf.mean(0), 0.0)),
        PartModel("lid", shelf + [0, 0, 0.1], None),
    ])
    path = export_urdf(model, tmp_path)
    joints = reload_check(path)
    assert [j["child"] for j in joints] == ["handle"]         # static / jointless -> base
    assert joints[0]["type"] == "prismatic"
    assert axis_angle_error_deg(joints[0]["axis"], [1.0, 0.0, 0.0]) < 1e-3
    assert joints[0]["lower"] < 0.0 < joints[0]["upper"]      # a usable default range
    body = p.loadURDF(str(path), useFixedBase=True, physicsClientId=client)
    shapes = p.getCollisionShapeData(body, -1, physicsClientId=client)
    assert len(shapes) == 3                                   # base, shelf, lid: one shape each
    lo, hi = p.getAABB(body, 0, physicsClientId=client)
    assert hi[2] - lo[2] >= 0.2 - 1e-6 and hi[0] - lo[0] > 0  # the line became a thin box


def test_part_mesh_is_closed_for_solid_flat_and_tiny_inputs() -> None:
    rng = np.random.default_rng(1)
    cases = {
        "solid": rng.uniform(0, 1, (300, 3)),
        "flat": np.c_[rng.uniform(0, 1, (100, 2)), np.zeros(100)],
        "line": np.outer(np.linspace(0, 1, 5), [1.0, 2.0, 0.5]),
        "one": np.array([[0.1, 0.2, 0.3]]),
    }
    for name, pts in cases.items():
        mesh = part_mesh(pts)
        assert mesh.is_watertight(), name
        assert mesh.get_volume() > 0, name
        bb = mesh.get_axis_aligned_bounding_box()
        assert np.all(bb.get_min_bound() <= pts.min(0) + 1e-9), name
        assert np.all(bb.get_max_bound() >= pts.max(0) - 1e-9), name
    with pytest.raises(ValueError):
        part_mesh(np.zeros((0, 3)))


def test_bad_inputs_fail_with_a_reason(tmp_path: Path) -> None:
    pts = np.random.default_rng(2).uniform(0, 1, (20, 3))
    with pytest.raises(ValueError, match="unique"):
        ArticulatedModel(pts, [PartModel("a", pts), PartModel("a", pts)])
    bad_axis = JointEstimate("revolute", np.zeros(3), np.zeros(3), 0.3, state_range=(0, 0.3))
    with pytest.raises(ValueError, match="axis"):
        export_urdf(ArticulatedModel(pts, [PartModel("a", pts, bad_axis)]), tmp_path)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        PartModel("a", np.zeros((4, 2)))


def test_alpha_shape_follows_a_concave_part_and_falls_back_to_the_hull() -> None:
    """A drawer's tray: the alpha shape keeps it hollow; too small an alpha (holes) gives the hull."""
    rng = np.random.default_rng(3)
    pts = rng.uniform([0, 0, 0], [0.4, 0.3, 0.1], (20000, 3))
    walls = ((pts[:, 2] < 0.01) | (pts[:, 0] < 0.01) | (pts[:, 0] > 0.39)
             | (pts[:, 1] < 0.01) | (pts[:, 1] > 0.29))
    tray = pts[walls]
    hull = part_mesh(tray)
    concave = part_mesh(tray, alpha=0.08)
    fallback = part_mesh(tray, alpha=0.01)
    assert hull.is_watertight() and concave.is_watertight() and fallback.is_watertight()
    assert concave.get_volume() < 0.7 * hull.get_volume()
    assert fallback.get_volume() == pytest.approx(hull.get_volume(), rel=1e-6)


def test_exported_model_simulates_without_blowing_up(tmp_path: Path, client: int) -> None:
    """Free joints under gravity for 1 s: the inertials and meshes give finite, bounded motion."""
    spec = generate_object(9)
    model = _model_from_ground_truth(spec, tmp_path / "gt", client)
    path = export_urdf(model, tmp_path / "export")
    sim = p.connect(p.DIRECT)
    try:
        p.setGravity(0, 0, -9.81, physicsClientId=sim)
        body = p.loadURDF(str(path), useFixedBase=True, physicsClientId=sim)
        n = p.getNumJoints(body, physicsClientId=sim)
        for j in range(n):
            p.setJointMotorControl2(body, j, p.VELOCITY_CONTROL, force=0, physicsClientId=sim)
        for _ in range(240):
            p.stepSimulation(physicsClientId=sim)
        for j in range(n):
            q, dq = p.getJointState(body, j, physicsClientId=sim)[:2]
            lo, hi = p.getJointInfo(body, j, physicsClientId=sim)[8:10]
            assert math.isfinite(q) and math.isfinite(dq)
            assert lo - 0.1 <= q <= hi + 0.1
    finally:
        p.disconnect(sim)
