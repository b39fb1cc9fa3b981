"""Procedural articulated objects: specs are deterministic, URDFs load and move as specified."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pybullet as p
import pytest

from embodied.envs.articulated.objects import (
    CATEGORIES,
    ArticulatedSpec,
    generate_object,
    ground_truth,
    joint_indices,
    load_urdf_checked,
    spawn,
    write_urdf,
)

SEEDS = range(12)




def _link_pose(body: int, link: int, cid: int) -> tuple[np.ndarray, np.ndarray]:
    """World position and 3x3 rotation of a link's URDF frame (the joint frame)."""
    st = p.getLinkState(body, link, computeForwardKinematics=True, physicsClientId=cid)
    rot = np.array(p.getMatrixFromQuaternion(st[5])).reshape(3, 3)
    return np.array(st[4]), rot


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues: v turned by angle about the unit axis."""
    return (v * math.cos(angle) + np.cross(axis, v) * math.sin(angle)
            + axis * float(axis @ v) * (1 - math.cos(angle)))


def _free(body: int, cid: int) -> None:
    """Switch off the default velocity motors, which otherwise hold every joint still."""
    for j in range(p.getNumJoints(body, physicsClientId=cid)):
        p.setJointMotorControl2(body, j, p.VELOCITY_CONTROL, force=0, physicsClientId=cid)


def test_deterministic_and_round_trips() -> None:
    for seed in SEEDS:
        a = generate_object(seed)
        assert a == generate_object(seed)
        assert a == generate_object(seed, a.category)
        assert ArticulatedSpec.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    assert generate_object(1, "cabinet") != generate_object(2, "cabinet")


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_generates_valid_specs(category: str) -> None:
    for seed in range(25):
        spec = generate_object(seed, category)
        assert spec.category == category
        assert 1 <= len(spec.joints) <= 4
        assert spec.parts[0].kind == "base" and len(spec.parts) == len(spec.joints) + 1
        for part in spec.parts[1:]:
            assert part.handle is not None
        for j in spec.joints:
            assert j.lower <= j.state <= j.upper and j.upper > j.lower
        lo = np.min([np.subtract(b.center, np.divide(b.size, 2)) for b in spec.parts[0].boxes], 0)
        hi = np.max([np.add(b.center, np.divide(b.size, 2)) for b in spec.parts[0].boxes], 0)
        assert np.all(hi - lo > 0.15) and np.all(hi - lo < 2.0)   # real-world scale
        assert lo[2] == pytest.approx(0.0, abs=1e-4)              # rests on the floor


def test_categories_have_their_joints() -> None:
    kinds = {c: set() for c in CATEGORIES}
    axes = {c: set() for c in CATEGORIES}
    for seed in range(40):
        for c in CATEGORIES:
            spec = generate_object(seed, c)
            kinds[c] |= {j.type for j in spec.joints}
            axes[c] |= {j.axis for j in spec.joints if j.type == "revolute"}
    assert kinds["cabinet"] == {"revolute", "prismatic"}
    assert kinds["microwave"] == kinds["box"] == kinds["fridge"] == {"revolute"}
    assert axes["cabinet"] == axes["fridge"] == {(0.0, 0.0, 1.0), (0.0, 0.0, -1.0)}
    assert axes["oven"] == {(0.0, 1.0, 0.0)}    # bottom-hinged
    assert axes["box"] == {(0.0, -1.0, 0.0)}    # top-hinged at the back
    assert max(len(generate_object(s, "cabinet").joints) for s in range(40)) == 4


def test_urdf_loads_with_joints_matching_ground_truth(tmp_path: Path, client: int) -> None:
    for seed in SEEDS:
        for category in CATEGORIES:
            spec = generate_object(seed, category)
            path = write_urdf(spec, tmp_path)
            assert path.name == f"{category}_{seed}.urdf"
            body, index = spawn(spec, tmp_path, client)
            infos = [p.getJointInfo(body, j, physicsClientId=client)
                     for j in range(p.getNumJoints(body, physicsClientId=client))]
            movable = [i for i in infos if i[2] != p.JOINT_FIXED]
            assert len(movable) == len(spec.joints)
            for gt in ground_truth(spec):
                info = infos[index[gt["joint"]]]
                assert info[12].decode() == gt["child"]
                want = p.JOINT_REVOLUTE if gt["type"] == "revolute" else p.JOINT_PRISMATIC
                assert info[2] == want
                assert (info[8], info[9]) == pytest.approx((gt["lower"], gt["upper"]), abs=1e-4)
                pos, rot = _link_pose(body, index[gt["joint"]], client)
                np.testing.assert_allclose(rot @ np.array(info[13]), gt["axis"], atol=1e-5)
                state = p.getJointState(body, index[gt["joint"]], physicsClientId=client)[0]
                assert state == pytest.approx(gt["state"], abs=1e-6)
                if gt["type"] == "revolute":   # the link frame sits on the hinge line
                    np.testing.assert_allclose(pos, gt["origin"], atol=1e-5)
                else:                          # ... or state metres out along the slide
                    np.testing.assert_allclose(
                        pos, np.add(gt["origin"], np.multiply(gt["axis"], gt["state"])), atol=1e-5)
            p.removeBody(body, physicsClientId=client)


def _spec_with(kind: str) -> ArticulatedSpec:
    return next(s for s in (generate_object(k, "cabinet") for k in range(100))
                if any(j.type == kind for j in s.joints))


def test_drawer_slides_along_its_axis(tmp_path: Path, client: int) -> None:
    spec = _spec_with("prismatic")
    gt = next(g for g in ground_truth(spec) if g["type"] == "prismatic")
    body, index = spawn(spec, tmp_path, client)
    j = index[gt["joint"]]
    axis, origin = np.array(gt["axis"]), np.array(gt["origin"])
    # kinematics: setting the state moves the link frame by exactly state * axis
    for q in (0.0, 0.5 * gt["upper"], gt["upper"]):
        p.resetJointState(body, j, q, physicsClientId=client)
        np.testing.assert_allclose(_link_pose(body, j, client)[0], origin + q * axis, atol=1e-6)
    # dynamics: a pull along the axis, motors off, slides it out and only along the axis
    p.resetJointState(body, j, 0.0, physicsClientId=client)
    _free(body, client)
    start, rot0 = _link_pose(body, j, client)
    for _ in range(60):
        com = p.getLinkState(body, j, physicsClientId=client)[0]
        p.applyExternalForce(body, j, (20.0 * axis).tolist(), com, p.WORLD_FRAME,
                             physicsClientId=client)
        p.stepSimulation(physicsClientId=client)
    end, rot1 = _link_pose(body, j, client)
    q = p.getJointState(body, j, physicsClientId=client)[0]
    moved = end - start
    assert 0.01 < q <= gt["upper"] + 1e-3
    assert float(moved @ axis) == pytest.approx(q, abs=1e-4)
    assert np.linalg.norm(moved - (moved @ axis) * axis) < 1e-4
    np.testing.assert_allclose(rot1, rot0, atol=1e-6)


@pytest.mark.parametrize("category", ["cabinet", "oven", "box", "fridge", "microwave"])
def test_revolute_part_turns_about_its_axis(tmp_path: Path, client: int, category: str) -> None:
    spec = next(s for s in (generate_object(k, category) for k in range(100))
                if any(j.type == "revolute" for j in s.joints))
    gt = next(g for g in ground_truth(spec) if g["type"] == "revolute")
    body, index = spawn(spec, tmp_path, client)
    j = index[gt["joint"]]
    axis, origin = np.array(gt["axis"]), np.array(gt["origin"])
    p.resetJointState(body, j, 0.0, physicsClientId=client)
    pos0, rot0 = _link_pose(body, j, client)
    part = next(pt for pt in spec.parts if pt.name == gt["child"])
    handle0 = pos0 + rot0 @ np.array(part.handle.center)
    on_axis = origin + 0.3 * axis
    local_on_axis = rot0.T @ (on_axis - pos0)
    for q in (0.3, 0.5 * gt["upper"], gt["upper"]):
        p.resetJointState(body, j, q, physicsClientId=client)
        pos, rot = _link_pose(body, j, client)
        np.testing.assert_allclose(pos + rot @ local_on_axis, on_axis, atol=1e-6)   # stays put
        handle = pos + rot @ np.array(part.handle.center)
        np.testing.assert_allclose(handle, origin + _rotate(handle0 - origin, axis, q), atol=1e-6)
    # opening (positive angle) moves the handle out of the front, i.e. away from the body
    front = np.array([math.cos(spec.base_yaw), math.sin(spec.base_yaw), 0.0])
    p.resetJointState(body, j, 0.5 * gt["upper"], physicsClientId=client)
    pos, rot = _link_pose(body, j, client)
    handle = pos + rot @ np.array(part.handle.center)
    if category == "box":   # a lid lifts
        assert handle[2] > handle0[2] + 0.05
    else:
        assert float((handle - handle0) @ front) > 0.05


def test_door_swings_when_pushed_with_motors_off(tmp_path: Path, client: int) -> None:
    spec = next(s for s in (generate_object(k, "fridge") for k in range(100)))
    gt = ground_truth(spec)[0]
    body, index = spawn(spec, tmp_path, client)
    j = index[gt["joint"]]
    p.resetJointState(body, j, 0.0, physicsClientId=client)
    _free(body, client)
    front = np.array([math.cos(spec.base_yaw), math.sin(spec.base_yaw), 0.0])
    part = next(pt for pt in spec.parts if pt.name == gt["child"])
    for _ in range(60):
        pos, rot = _link_pose(body, j, client)
        handle = pos + rot @ np.array(part.handle.center)
        p.applyExternalForce(body, j, (30.0 * front).tolist(), handle.tolist(), p.WORLD_FRAME,
                             physicsClientId=client)
        p.stepSimulation(physicsClientId=client)
    assert p.getJointState(body, j, physicsClientId=client)[0] > 0.05


def test_missing_or_malformed_urdf_raises_value_error(tmp_path: Path, client: int) -> None:
    missing = tmp_path / "nope.urdf"
    with pytest.raises(ValueError, match="nope.urdf"):
        load_urdf_checked(missing, client)
    bad_xml = tmp_path / "bad_xml.urdf"
    bad_xml.write_text('<robot name="x"><link name="a"></robot>')
    with pytest.raises(ValueError, match="bad_xml.urdf.*malformed XML"):
        load_urdf_checked(bad_xml, client)
    no_limit = tmp_path / "no_limit.urdf"
    no_limit.write_text(
        '<robot name="x"><link name="a"/><link name="b"/>'
        '<joint name="j" type="revolute"><parent link="a"/><child link="b"/>'
        '<axis xyz="0 0 1"/></joint></robot>')
    with pytest.raises(ValueError, match="no_limit.urdf.*no <limit>"):
        load_urdf_checked(no_limit, client)
    dangling = tmp_path / "dangling.urdf"
    dangling.write_text(
        '<robot name="x"><link name="a"/>'
        '<joint name="j" type="prismatic"><parent link="a"/><child link="ghost"/>'
        '<axis xyz="1 0 0"/><limit lower="0" upper="1" effort="1" velocity="1"/></joint></robot>')
    with pytest.raises(ValueError, match="dangling.urdf.*<child>"):
        load_urdf_checked(dangling, client)
    bad_mesh = tmp_path / "bad_mesh.urdf"    # passes our checks; pybullet itself refuses it
    bad_mesh.write_text(
        '<robot name="x"><link name="a"><visual><geometry><mesh filename="missing.obj"/>'
        '</geometry></visual><collision><geometry><mesh filename="missing.obj"/></geometry>'
        '</collision></link></robot>')
    with pytest.raises(ValueError, match="bad_mesh.urdf.*pybullet"):
        load_urdf_checked(bad_mesh, client)


def test_resting_object_stays_put_under_gravity(tmp_path: Path, client: int) -> None:
    """Parts in their start states touch neither the carcass nor each other, and do not sag.

    Self-collision is switched on (parent links included), so an overlapping part would be
    pushed out and move; the centres of mass are checked, not only the link frames, because a
    hinge's link frame stays on the hinge line even when the door swings.
    """
    p.setGravity(0, 0, -9.81, physicsClientId=client)
    flags = p.URDF_USE_SELF_COLLISION | p.URDF_USE_SELF_COLLISION_INCLUDE_PARENT
    for seed in range(8):
        for category in CATEGORIES:
            spec = generate_object(seed, category)
            path = write_urdf(spec, tmp_path)
            body = p.loadURDF(str(path), spec.base_position,
                              p.getQuaternionFromEuler((0, 0, spec.base_yaw)), useFixedBase=True,
                              flags=flags, physicsClientId=client)
            index = joint_indices(body, client)
            for j in spec.joints:
                p.resetJointState(body, index[j.name], j.state, physicsClientId=client)

            def poses() -> np.ndarray:
                out = [p.getBasePositionAndOrientation(body, physicsClientId=client)[0]]
                for k in range(p.getNumJoints(body, physicsClientId=client)):
                    st = p.getLinkState(body, k, computeForwardKinematics=True,
                                        physicsClientId=client)
                    out += [st[0], st[4]]
                return np.array(out)

            start = poses()
            for _ in range(240):
                p.stepSimulation(physicsClientId=client)
            end = poses()
            assert np.all(np.isfinite(end))
            assert np.max(np.linalg.norm(end - start, axis=1)) < 0.01, (category, seed)
            assert p.getContactPoints(body, body, physicsClientId=client) == (), (category, seed)
            p.removeBody(body, physicsClientId=client)
