"""The held-out hand-written objects in tests/data/handwritten/ load in the SfA env as designed.

Each folder is a PartNet-Mobility style object (`mobility.urdf` + `meshes/*.obj`) written by
hand (dimensions in scripts/write_handwritten_objects.py, which wrote them once; nothing comes
from the procedural generator). Here, for every object: the env's ground truth lists the designed
joints with their types, world axes (signed: positive = opening, within 1 deg, after the root
joint's yaw/offset) and joint-frame origins, every part starts closed, and one pull at each
part's handle in its opening direction (the env's interact action, i.e. a step) grabs that part
and opens it. The designed values below are written out independently of the script.

No agent runs here (SfA's baseline on this set: tests/data/handwritten/README.md).
"""
from __future__ import annotations

import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from embodied.envs.articulation import ArticulationConfig, ArticulationEnv, user_episodes
from embodied.metrics import axis_angle_error_deg

DATA = Path(__file__).resolve().parent / "data" / "handwritten"


def yaw(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# object -> (root yaw (deg), root offset, joints); per joint: name, URDF type, child link, designed
# axis (body frame, signed so that + opens), joint frame origin (body frame, on the axis for a
# hinge), handle point (body frame: centre of the handle's front face), pull direction (body frame),
# pull distance (m). All at state 0 (closed).
X, Y, Z = (1, 0, 0), (0, 1, 0), (0, 0, 1)
NX, NY, NZ = (-1, 0, 0), (0, -1, 0), (0, 0, -1)
DESIGN: dict[str, tuple[float, tuple, list[tuple]]] = {
    "chest_back_lid": (0.0, (0, 0, 0), [
        ("lid_hinge", "revolute", "lid", NY, (-0.2, 0, 0.36), (0.236, 0, 0.352), Z, 0.12)]),
    "cabinet_top_hinged_door": (0.0, (0, 0, 0), [
        ("flap_hinge", "revolute", "flap", NY, (0.16, 0, 0.398), (0.203, 0, 0.04), X, 0.12)]),
    "oven_bottom_hinged_door": (0.0, (0, 0, 0), [
        ("door_hinge", "revolute", "door", Y, (0.275, 0, 0.02), (0.33, 0, 0.46), X, 0.12)]),
    "slanted_drawer_unit": (25.0, (0, 0, 0), [
        ("drawer_low_slide", "prismatic", "drawer_low", X, (0.225, 0, 0.022), (0.25, 0, 0.166), X, 0.12),
        ("drawer_high_slide", "prismatic", "drawer_high", X, (0.225, 0, 0.288), (0.25, 0, 0.432), X, 0.12)]),
    "offset_rotated_cabinet": (-35.0, (0.15, -0.2, 0), [
        ("door_hinge", "revolute", "door", NZ, (0.2, -0.232, 0.022), (0.225, 0.183, 0.35), X, 0.12)]),
    "cabinet_door_and_drawer": (0.0, (0, 0, 0), [
        ("door_hinge", "revolute", "door", Z, (0.225, 0.282, 0.272), (0.25, -0.233, 0.35), X, 0.12),
        ("drawer_slide", "prismatic", "drawer", X, (0.225, 0, 0.022), (0.25, 0, 0.2), X, 0.12)]),
    "wheel": (0.0, (0, 0, 0), [      # crank at the top of the wheel: pulling it to -y turns it about +x
        ("wheel_spin", "continuous", "wheel", X, (0.137, 0, 0.30), (0.192, 0, 0.345), NY, 0.05)]),
    "drawer_with_door": (0.0, (0, 0, 0), [
        ("drawer_slide", "prismatic", "drawer", X, (0.225, 0, 0.022), (0.25, -0.14, 0.37), X, 0.12),
        # the hatch is pulled along its swing (out and towards its hinge): pulled straight out, the
        # drawer slides instead (a slide gives at 0.5 N, the hinge at 0.5 N m = 2.8 N at the knob)
        ("hatch_hinge", "revolute", "hatch", NZ, (0.227, 0.02, 0.14), (0.259, 0.2, 0.22), (1, -0.5, 0), 0.10)]),
    "scaled_small_cabinet": (0.0, (0, 0, 0), [
        ("door_hinge", "revolute", "door", Z, (0.08, 0.101, 0.086), (0.095, -0.081, 0.1675), X, 0.08),
        ("drawer_slide", "prismatic", "drawer", X, (0.08, 0, 0.011), (0.095, 0, 0.0425), X, 0.06)]),
    "scaled_large_wardrobe": (0.0, (0, 0, 0), [
        ("left_hinge", "revolute", "left_door", NZ, (0.3, -0.475, 0.089), (0.33, -0.05, 1.0), X, 0.15),
        ("right_hinge", "revolute", "right_door", Z, (0.3, 0.475, 0.089), (0.33, 0.05, 1.0), X, 0.15)]),
}
NAMES = sorted(DESIGN)


def to_world(name: str, p, direction: bool = False) -> np.ndarray:
    deg, offset, _ = DESIGN[name]
    v = yaw(deg) @ np.asarray(p, float)
    return v if direction else v + np.asarray(offset, float)


@pytest.fixture(scope="module")
def env_for():
    """One privileged env per object (ground truth in info), closed at the end."""
    envs: dict[str, ArticulationEnv] = {}

    def make(name: str) -> tuple[ArticulationEnv, dict]:
        path = str(DATA / name / "mobility.urdf")
        if name not in envs:
            envs[name] = ArticulationEnv(ArticulationConfig(objects=[path]), privileged=True)
        (episode,) = user_episodes([path])
        return envs[name], episode

    yield make
    for env in envs.values():
        env.close()


def test_the_set_is_complete_and_small() -> None:
    """At least 8 objects, one folder each; meshes exist, are triangle OBJs under 200 triangles;
    the whole folder stays under 1 MB."""
    folders = sorted(p.name for p in DATA.iterdir() if p.is_dir())
    assert folders == NAMES and len(folders) >= 8
    for name in folders:
        urdf = DATA / name / "mobility.urdf"
        root = ET.parse(urdf).getroot()
        for mesh in root.iter("mesh"):
            assert (DATA / name / mesh.get("filename")).is_file(), (name, mesh.get("filename"))
        for obj in (DATA / name / "meshes").glob("*.obj"):
            faces = [line.split()[1:] for line in obj.read_text().splitlines() if line.startswith("f ")]
            assert faces and all(len(f) == 3 for f in faces) and len(faces) <= 200, obj
    total = sum(f.stat().st_size for f in DATA.rglob("*") if f.is_file())
    assert total < 1_000_000, total


@pytest.mark.parametrize("name", NAMES)
def test_urdf_declares_the_designed_joints(name: str) -> None:
    """The file itself: the designed joints and types (continuous stays continuous in the file),
    an empty root `base` fixed to `body`, and only hand-written content."""
    root = ET.parse(DATA / name / "mobility.urdf").getroot()
    joints = {j.get("name"): j.get("type") for j in root.findall("joint")}
    assert joints.pop("joint_body") == "fixed"
    assert joints == {j[0]: j[1] for j in DESIGN[name][2]}
    base = next(link for link in root.findall("link") if link.get("name") == "base")
    assert len(base) == 0
    text = (DATA / name / "mobility.urdf").read_text()
    assert "not from embodied.envs.articulated.objects" in text


@pytest.mark.parametrize("name", NAMES)
def test_env_reads_the_designed_joints(env_for, name: str) -> None:
    env, episode = env_for(name)
    obs, info = env.reset(options={"episode": episode})
    gt = info["ground_truth"]
    designed = DESIGN[name][2]
    # pybullet loads a continuous joint as a revolute one without limits (upper < lower); the env
    # reports it as "revolute", the only rotating type the SfA scorer knows
    assert [(j["joint"], j["type"], j["child"]) for j in gt] == [
        (d[0], "revolute" if d[1] == "continuous" else d[1], d[2]) for d in designed]
    for j, (jname, kind, _, axis, origin, *_rest) in zip(gt, designed):
        want = to_world(name, axis, direction=True)
        error = axis_angle_error_deg(j["axis"], want)            # sign-free
        assert error <= 1.0 and float(np.dot(j["axis"], want)) > 0, (jname, j["axis"], want.tolist())
        assert np.allclose(j["origin"], to_world(name, origin), atol=1e-3), (jname, j["origin"])
        assert j["state"] == pytest.approx(0.0, abs=1e-3)        # closed, and nothing fell open
        if kind == "continuous":
            assert j["upper"] < j["lower"]                        # pybullet: no limits
        else:
            assert j["lower"] == 0.0 and j["upper"] > 0.0
    assert obs["num_points"][0] > 1000                              # the meshes are seen


@pytest.mark.parametrize("name,joint", [(n, d[0]) for n in NAMES for d in DESIGN[n][2]])
def test_pulling_the_handle_opens_the_part(env_for, name: str, joint: str) -> None:
    """One interaction at the handle, in the opening direction, grabs the part and opens it."""
    env, episode = env_for(name)
    _, _, child, _, _, handle, direction, distance = next(d for d in DESIGN[name][2] if d[0] == joint)
    env.reset(options={"episode": episode})
    before = env.joint_states()
    action = {"point": to_world(name, handle), "direction": to_world(name, direction, direction=True),
              "distance": np.array([distance])}
    _, _, _, _, info = env.step(action)
    assert info["link"] == child and info["moved"] and not info["physics_exploded"], info
    opened = info["joint_states"][joint] - before[joint]
    kind = next(d[1] for d in DESIGN[name][2] if d[0] == joint)
    assert opened > (0.02 if kind == "prismatic" else 0.05), (joint, opened)


def test_env_axis_with_a_rotated_inertial_frame(tmp_path: Path) -> None:
    """The same cabinet, its door's <inertial> written in axes rolled by -90 deg (the same body: the
    door's iyy = izz, so the tensor is unchanged): the hinge must still read as world +z. (PyBullet
    gives joint axes in the child's inertial frame; the env once rotated them by the link frame.)"""
    folder = tmp_path / "cabinet_door_and_drawer"
    shutil.copytree(DATA / "cabinet_door_and_drawer", folder)
    urdf = folder / "mobility.urdf"
    text = urdf.read_text()
    door = 'rpy="0 0 0"/><mass value="4"/>'
    assert text.count(door) == 1
    urdf.write_text(text.replace(door, 'rpy="-1.5707963 0 0"/><mass value="4"/>'))
    env = ArticulationEnv(ArticulationConfig(objects=[str(urdf)]), privileged=True)
    try:
        _, info = env.reset(options={"episode": user_episodes([str(urdf)])[0]})
    finally:
        env.close()
    hinge = next(j for j in info["ground_truth"] if j["joint"] == "door_hinge")
    assert axis_angle_error_deg(hinge["axis"], (0, 0, 1)) <= 1.0, hinge["axis"]
