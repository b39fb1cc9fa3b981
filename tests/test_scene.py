"""PyBulletScene: rendering contracts (rgb, z-depth, instance/semantic masks, intrinsics, camera
conventions), collision-checked motion, and agreement between TinyRenderer and EGL."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pybullet as p
import pytest

from embodied.envs.pybullet.house import (HouseSpec, ObjectSpec, Primitive, Room,
                                          generate_house, semantic_id)
from embodied.envs.pybullet.scene import PyBulletScene

GREY = (0.8, 0.8, 0.8, 1.0)
# the test room: interior x in [-2, 2], y in [-1.5, 1.5]; walls 0.1 m thick, 2.5 m high
EAST, WEST, NORTH, SOUTH, PILLAR = 2, 3, 4, 5, 6


def _wall(iid: int, cx: float, cy: float, hx: float, hy: float) -> ObjectSpec:
    return ObjectSpec(iid, "Wall", "structure", (cx, cy, 0.0), 0.0,
                      [Primitive("box", (0, 0, 1.25), (hx, hy, 1.25), GREY)])


def box_room(with_pillar: bool = False) -> HouseSpec:
    """A hand-made room whose every distance is known."""
    objs = [ObjectSpec(1, "Floor", "structure", (0, 0, 0), 0.0,
                       [Primitive("box", (0, 0, -0.05), (2.1, 1.6, 0.05), (0.5, 0.4, 0.3, 1))]),
            _wall(EAST, 2.05, 0.0, 0.05, 1.6), _wall(WEST, -2.05, 0.0, 0.05, 1.6),
            _wall(NORTH, 0.0, 1.55, 2.0, 0.05), _wall(SOUTH, 0.0, -1.55, 2.0, 0.05)]
    if with_pillar:     # a thin plate across the x axis at x = 1.0
        objs.append(ObjectSpec(PILLAR, "Shelf", "furniture", (1.0, 0.0, 0.0), 0.0,
                               [Primitive("box", (0, 0, 0.5), (0.01, 0.4, 0.5), (0, 0, 1, 1))]))
    return HouseSpec(0, (-2.1, -1.6, 2.1, 1.6), [Room(0, "studio", (-2, -1.5, 2, 1.5))], objs)


@pytest.fixture(scope="module")
def scene() -> PyBulletScene:
    s = PyBulletScene(width=224, height=224, hfov_deg=90.0, renderer="tiny")
    s.load(box_room())
    yield s
    s.close()


@pytest.fixture(scope="module")
def house() -> HouseSpec:
    return generate_house(3)


@pytest.fixture(scope="module")
def house_scene(house: HouseSpec) -> PyBulletScene:
    s = PyBulletScene(renderer="tiny")
    s.load(house)
    yield s
    s.close()


def _egl_scene_or_skip(**kw) -> PyBulletScene:
    try:
        return PyBulletScene(renderer="egl", **kw)
    except RuntimeError as e:
        pytest.skip(f"EGL renderer unavailable here: {e}")


# -------------------------------------------------------------------------- rendering

def test_render_returns_the_contracted_arrays(scene: PyBulletScene) -> None:
    out = scene.render(0.0, 0.0, 0.0, 0.0)
    assert out["rgb"].shape == (224, 224, 3) and out["rgb"].dtype == np.uint8
    assert out["depth"].shape == (224, 224) and out["depth"].dtype == np.float32
    assert out["instance"].dtype == np.int32 and out["semantic"].dtype == np.int32
    assert out["rgb"].reshape(-1, 3).std(0).max() > 5           # not a uniform image
    assert set(np.unique(out["instance"])) <= {0, 1, 2, 3, 4, 5}
    assert scene.renderer == "tiny"
    lean = scene.render(0.0, 0.0, 0.0, 0.0, want_depth=False, want_seg=False)
    assert set(lean) == {"rgb"}


def test_depth_is_z_depth_in_metres(scene: PyBulletScene) -> None:
    out = scene.render(0.5, 0.3, 0.0, 0.0)                 # facing the east wall at x = 2
    inst, depth = out["instance"], out["depth"]
    assert (inst[100:124, 100:124] == EAST).all()
    np.testing.assert_allclose(depth[100:124, 100:124], 1.5, atol=0.02)
    # z-depth (not range): the whole east wall is at the same depth, even at the image edges
    np.testing.assert_allclose(depth[inst == EAST], 1.5, atol=0.02)
    out = scene.render(0.5, 0.3, math.pi / 2, 0.0)         # facing the north wall at y = 1.5
    assert out["instance"][112, 112] == NORTH
    assert out["depth"][112, 112] == pytest.approx(1.2, abs=0.02)
    assert out["semantic"][112, 112] == semantic_id("Wall")


@pytest.mark.parametrize("size,hfov", [((224, 224), 90.0), ((320, 240), 79.0)])
def test_intrinsics_and_image_orientation(size: tuple[int, int], hfov: float) -> None:
    w, h = size
    with PyBulletScene(w, h, hfov_deg=hfov, renderer="tiny") as scene:
        scene.load(box_room())
        _check_intrinsics(scene)


def _check_intrinsics(scene: PyBulletScene) -> None:
    k = scene.intrinsics()
    assert k["fx"] == pytest.approx((scene.width / 2) / math.tan(k["hfov"] / 2))
    assert k["fy"] == pytest.approx(k["fx"])                 # square pixels
    out = scene.render(0.5, 0.3, 0.0, 0.0)
    cy_row, cx_col = scene.height // 2, scene.width // 2
    row = out["instance"][cy_row]
    # the north/east corner (2, 1.5) is 1.2 m to the LEFT (+y) at depth 1.5: u = cx - fx*1.2/1.5
    u_corner = k["cx"] - k["fx"] * 1.2 / 1.5
    first_east = int(np.argmax(row == EAST))
    assert (row[:first_east] == NORTH).all()
    assert abs(first_east - 0.5 - u_corner) <= 1.5
    # the floor edge of the east wall is 0.88 m below the camera: v = cy + fy * 0.88 / 1.5
    col = out["instance"][:, cx_col]
    first_floor = int(np.argmax(col == 1))
    assert abs(first_floor - 0.5 - (k["cy"] + k["fy"] * 0.88 / 1.5)) <= 1.5
    assert (col[:first_floor] != 1).all()                  # row 0 is the top of the image


def test_pitch_up_sees_sky_and_pitch_down_sees_floor(scene: PyBulletScene) -> None:
    up = scene.render(0.5, 0.3, 0.0, math.radians(30))
    down = scene.render(0.5, 0.3, 0.0, math.radians(-60))
    assert (up["instance"][0] == 0).any()                  # no ceiling: sky at the top
    assert (up["depth"][up["instance"] == 0] == pytest.approx(scene.far))
    assert down["instance"][112, 112] == 1                 # the floor straight ahead-down
    # camera 0.88 m up, looking 60 deg down: the floor is 0.88 / sin(60) away along the axis
    assert down["depth"][111:113, 111:113].mean() == pytest.approx(0.88 / math.sin(math.pi / 3),
                                                                   abs=0.02)


def test_goal_objects_show_in_the_instance_mask_when_looked_at(house: HouseSpec,
                                                               house_scene: PyBulletScene
                                                               ) -> None:
    """Put the camera by geometry (free spot, clear ray to the object's centre) and aim at it."""
    s = house_scene
    goals = [o for o in house.objects if o.kind == "object"]
    seen = 0
    for obj in goals:
        lo, hi = obj.world_aabb()
        target = (lo + hi) / 2
        view = None
        for r in (0.6, 0.9, 1.2, 1.6):
            for a in np.linspace(0, 2 * math.pi, 16, endpoint=False):
                xy = target[:2] + r * np.array([math.cos(a), math.sin(a)])
                if s.collides(xy):
                    continue
                eye = [xy[0], xy[1], s.camera_height]
                if p.rayTest(eye, target.tolist(), physicsClientId=s.client)[0][0] != \
                        s.bodies[obj.instance_id]:
                    continue
                view = xy
                break
            if view is not None:
                break
        if view is None:
            continue
        d = target - np.array([view[0], view[1], s.camera_height])
        out = s.render(view[0], view[1], math.atan2(d[1], d[0]),
                       math.atan2(d[2], math.hypot(d[0], d[1])))
        mask = out["instance"] == obj.instance_id
        assert obj.instance_id in out["instance"][110:114, 110:114], obj.category
        assert mask.sum() >= 4
        assert (out["semantic"][mask] == semantic_id(obj.category)).all()
        seen += 1
    assert seen >= 0.7 * len(goals), (seen, len(goals))


def test_ray_hits_report_the_first_instance_on_each_segment(scene: PyBulletScene) -> None:
    origins = np.array([[0.0, 0.0, 0.88], [0.0, 0.0, 0.88], [0.0, 0.0, 0.88], [0.0, 0.0, 0.88]])
    targets = np.array([[3.0, 0.0, 0.88], [0.0, 3.0, 0.88], [1.0, 0.0, 0.88], [0.0, 0.0, -1.0]])
    np.testing.assert_array_equal(scene.ray_hits(origins, targets), [EAST, NORTH, 0, 1])


def test_load_is_repeatable_in_one_client(house: HouseSpec) -> None:
    with PyBulletScene(renderer="tiny") as s:
        s.load(house)
        x, y = house.rooms[0].center
        first = s.render(x, y, 0.3, -0.2)
        s.load(box_room())
        s.load(house)
        again = s.render(x, y, 0.3, -0.2)
        assert p.getNumBodies(physicsClientId=s.client) == len(house.objects) + 1
        np.testing.assert_array_equal(first["rgb"], again["rgb"])
        np.testing.assert_array_equal(first["instance"], again["instance"])
    assert s.client == -1


# -------------------------------------------------------------------------- motion

def test_try_move_refuses_walls_and_accepts_free_moves() -> None:
    with PyBulletScene(renderer="tiny") as s:
        s.load(box_room(with_pillar=True))
        assert not s.collides((0.0, 0.0))
        assert s.collides((1.9, 0.0)) and s.collides((-1.0, 1.4))
        assert s.try_move((-1.0, 0.0), (-1.5, 0.0))            # free
        assert not s.try_move((-1.0, 0.0), (-1.9, 0.0))        # into the west wall
        assert s.try_move((-1.0, -1.0), (1.7, -1.0))           # long move below the plate
        assert not s.try_move((1.5, -1.0), (5.0, -1.0))        # through a wall, out of the house
        # target free but the thin plate at x = 1.0 lies across the way: checked along the path
        assert not s.collides((0.5, 0.0)) and not s.collides((1.5, 0.0))
        assert not s.try_move((0.5, 0.0), (1.5, 0.0))
        # touching distance: centre 0.18 m from the wall face is allowed up to the clearance
        assert s.try_move((1.0, 1.0), (1.0, 1.5 - 0.18 - 0.002))
        assert not s.try_move((1.0, 1.0), (1.0, 1.5 - 0.18 + 0.002))
        # the agent cylinder is never rendered, even right after a query at the camera spot
        s.collides((0.5, -1.0))
        assert s.render(0.5, -1.0, 0.0, 0.0)["depth"][112, 112] == pytest.approx(1.5, abs=0.02)


@pytest.mark.parametrize("seed", [3, 8, 16])
def test_random_walk_never_ends_inside_geometry(seed: int) -> None:
    """2,000 random moves (0.05-0.5 m, any heading); after every accepted one the agent cylinder
    is checked against every body with PyBullet's own closest-point query."""
    house = generate_house(seed)
    rng = np.random.default_rng(seed)
    with PyBulletScene(renderer="tiny") as s:
        s.load(house)
        x0, y0, x1, y1 = house.bounds
        while True:
            pos = rng.uniform([x0, y0], [x1, y1])
            if not s.collides(pos):
                break
        accepted = refused = 0
        bodies = {b: house.object_by_id(iid).category for iid, b in s.bodies.items()
                  if house.object_by_id(iid).category != "Floor"}
        half = (s.agent_height - 0.03) / 2
        for _ in range(2000):
            heading = rng.uniform(-math.pi, math.pi)
            step = rng.choice([0.25, 0.25, 0.05, 0.1, 0.5])
            target = pos + step * np.array([math.cos(heading), math.sin(heading)])
            if not s.try_move(pos, target):
                refused += 1
                continue
            accepted += 1
            pos = target
            p.resetBasePositionAndOrientation(s.agent_body, [pos[0], pos[1], 0.03 + half],
                                              [0, 0, 0, 1], physicsClientId=s.client)
            for b, category in bodies.items():
                for cp in p.getClosestPoints(s.agent_body, b, 0.0, physicsClientId=s.client):
                    assert cp[8] >= -1e-3, (pos, category, cp[8])
        assert accepted > 400 and refused > 20, (accepted, refused)


# -------------------------------------------------------------------------- EGL

def test_egl_and_tiny_render_the_same_geometry(house: HouseSpec,
                                               house_scene: PyBulletScene) -> None:
    egl = _egl_scene_or_skip()
    try:
        egl.load(house)
        egl.load(house)          # after resetSimulation the plugin must still draw
        assert egl.renderer == "egl" and egl.rendered_frames_nonempty()
        for room in house.rooms[:3]:
            x, y = room.center
            if house_scene.collides((x, y)):
                continue
            for yaw, pitch in ((0.0, 0.0), (2.0, -0.5)):
                a, b = house_scene.render(x, y, yaw, pitch), egl.render(x, y, yaw, pitch)
                assert b["rgb"].reshape(-1, 3).std(0).max() > 5
                close = np.abs(a["depth"] - b["depth"]) < 0.05
                assert close.mean() > 0.97, close.mean()
                assert (a["instance"] == b["instance"]).mean() > 0.95
    finally:
        egl.close()


EGL_PROBE = """
import importlib.util, sys
import numpy as np, pybullet as p
spec = importlib.util.find_spec("eglRenderer")
if spec is None or not spec.origin:
    sys.exit(1)
cid = p.connect(p.DIRECT)
if p.loadPlugin(spec.origin, "_eglRendererPlugin", physicsClientId=cid) < 0:
    sys.exit(1)
shape = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.5, 0.5, 0.5], physicsClientId=cid)
p.createMultiBody(baseVisualShapeIndex=shape, physicsClientId=cid)
view = p.computeViewMatrix([0, 0, 3.5], [0, 0, 0], [0, 1, 0], physicsClientId=cid)
proj = p.computeProjectionMatrixFOV(60.0, 1.0, 0.1, 10.0, physicsClientId=cid)
depth = p.getCameraImage(16, 16, view, proj, renderer=p.ER_BULLET_HARDWARE_OPENGL, physicsClientId=cid)[3]
sys.exit(0 if (np.asarray(depth) < 1.0 - 1e-7).any() else 1)
"""


def egl_draws_here() -> bool:
    """Whether pybullet's EGL plugin loads *and draws* on this machine, asked of pybullet directly
    (not through PyBulletScene, whose choice is what the test checks): a 1 m box 3 m below the
    camera must cover some pixels. In a process of its own: GL state must not leak into the test."""
    return subprocess.run([sys.executable, "-c", EGL_PROBE], capture_output=True, timeout=120).returncode == 0


def test_auto_picks_raycast_for_small_frames_and_egl_for_large_ones() -> None:
    with PyBulletScene(224, 224, renderer="auto") as small:
        assert small.renderer == "raycast"
    egl = egl_draws_here()
    with PyBulletScene(640, 480, renderer="auto") as large:
        # EGL wherever it works (a broken probe in the scene must not quietly fall back to the
        # 4x slower TinyRenderer), TinyRenderer where it does not
        assert large.renderer == ("egl" if egl else "tiny")
        large.load(box_room())
        assert (large.render(0.0, 0.0, 0.0, 0.0)["instance"] == EAST).any()
    with pytest.raises(ValueError, match="renderer must be one of"):
        PyBulletScene(renderer="opengl")


def test_empty_egl_frames_reconnect_then_raise_or_fall_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    house = box_room()
    egl = _egl_scene_or_skip(width=64, height=64)
    try:
        calls = iter([False, True])            # the first probe after a reset comes back empty
        monkeypatch.setattr(egl, "rendered_frames_nonempty", lambda: next(calls))
        connects = []
        real_connect = egl._connect
        monkeypatch.setattr(egl, "_connect", lambda r: (connects.append(r), real_connect(r)))
        egl.load(house)
        assert connects == ["egl"] and egl.renderer == "egl"      # reconnected, still EGL
        assert (egl.render(0.0, 0.0, 0.0, 0.0)["instance"] == EAST).any()
        monkeypatch.setattr(egl, "rendered_frames_nonempty", lambda: False)
        with pytest.raises(RuntimeError, match="EGL renderer returns empty frames"):
            egl.load(house)
    finally:
        egl.close()
    with PyBulletScene(640, 480, renderer="auto") as auto:
        if auto.renderer != "egl":
            pytest.skip("auto did not pick EGL here")
        monkeypatch.setattr(auto, "rendered_frames_nonempty", lambda: False)
        auto.load(house)
        assert auto.renderer == "tiny"
        assert (auto.render(0.0, 0.0, 0.0, 0.0)["instance"] == EAST).any()
