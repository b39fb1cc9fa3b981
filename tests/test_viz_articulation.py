"""SfA video overlays (`embodied.viz_articulation`) on a synthetic camera, no pybullet: points land
on the hand-computed pixels, the pull arrow and the joints are drawn where and in the colour they
should be, inputs are left alone, and nothing raises for geometry off the image or behind it."""
from __future__ import annotations

import numpy as np
import pytest

from embodied.viz_articulation import (MIN_ARROW_PX, MOVED_RGB, PART_PALETTE, PENDING_RGB, STILL_RGB,
                                       draw_interaction, draw_parts, project_points, sfa_frame)

H, W = 120, 160
GREY = 100
# f = 100 px, principal point (cx, cy) = (80, 60): the env's 160x120 frame.
K = np.array([[100.0, 0.0, 80.0], [0.0, 100.0, 60.0], [0.0, 0.0, 1.0]])
# At (-1, 0, 0) looking along world +x; OpenCV axes: camera x = world -y, y = world -z, z = world +x.
E = np.eye(4)
E[:3, 0], E[:3, 1], E[:3, 2], E[:3, 3] = [0, -1, 0], [0, 0, -1], [1, 0, 0], [-1, 0, 0]


def rc_of(x: float, y: float, z: float) -> tuple[float, float]:
    """Hand projection for this camera: depth x + 1, u = 80 - 100 y / depth, v = 60 - 100 z / depth."""
    depth = x + 1.0
    return 60.0 - 100.0 * z / depth, 80.0 - 100.0 * y / depth


def grey() -> np.ndarray:
    return np.full((H, W, 3), GREY, np.uint8)


def is_color(img: np.ndarray, r: int, c: int, color: np.ndarray) -> bool:
    return bool(np.array_equal(img[r, c], color))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_project_points_matches_hand_computation(dtype: type) -> None:
    pts = np.array([[1.0, 0.2, 0.1], [1.0, 0.0, 0.0], [0.0, -0.3, 0.25]], dtype)
    rc, z = project_points(pts, K.astype(dtype), E.astype(dtype))
    assert rc.shape == (3, 2) and z.shape == (3,)
    np.testing.assert_allclose(rc, [rc_of(*p) for p in pts.astype(float)], atol=1e-4)
    np.testing.assert_allclose(rc[0], [55.0, 70.0], atol=1e-4)
    np.testing.assert_allclose(z, [2.0, 2.0, 1.0], atol=1e-6)


def test_point_behind_camera_has_nonpositive_depth() -> None:
    rc, z = project_points(np.array([[-2.0, 0.0, 0.0], [-1.0, 0.5, 0.0]]), K, E)
    assert np.all(z <= 0)
    assert not np.any(np.isfinite(rc))


def test_draw_interaction_marks_point_and_arrow_in_green_and_leaves_the_rest() -> None:
    img = grey()
    before = img.copy()
    # (1, 0, 0) -> (60, 80); pulling 0.4 m along world -y (camera right) ends at (60, 100).
    out = draw_interaction(img, K, E, np.array([1.0, 0.0, 0.0], np.float32),
                           np.array([0.0, -1.0, 0.0], np.float32), 0.4, True)
    assert np.array_equal(img, before)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    assert is_color(out, 60, 80, MOVED_RGB)               # the disc
    for c in (86, 90, 95, 99):                            # the shaft, past the disc
        assert is_color(out, 60, c, MOVED_RGB), c
    assert not is_color(out, 60, 110, MOVED_RGB)          # nothing past the tip
    assert np.array_equal(out[0, 0], before[0, 0]) and np.array_equal(out[-1, -1], before[-1, -1])
    assert np.array_equal(out[:40], before[:40])          # far from the arrow: untouched
    # Head strokes go back and out from the tip at (60, 100): pixels above and below the shaft.
    head = np.argwhere(np.all(out == MOVED_RGB, axis=2))
    near_tip = head[(head[:, 1] > 90) & (head[:, 1] <= 100)]
    assert near_tip[:, 0].min() < 60 < near_tip[:, 0].max()


def test_short_pull_not_moved_is_a_red_arrow_of_at_least_min_length() -> None:
    # 0.01 m at 2 m depth is half a pixel: the arrow is lengthened to MIN_ARROW_PX along +col.
    out = draw_interaction(grey(), K, E, [1.0, 0.0, 0.0], [0.0, -1.0, 0.0], 0.01, False)
    reds = np.argwhere(np.all(out == STILL_RGB, axis=2))
    assert len(reds) > 0 and not np.any(np.all(out == MOVED_RGB, axis=2))
    assert reds[:, 1].max() >= 80 + MIN_ARROW_PX - 1
    assert is_color(out, 60, 80 + int(MIN_ARROW_PX) - 2, STILL_RGB)
    assert reds[:, 1].min() >= 80 - 4                   # it points right, not left


def test_unknown_outcome_is_yellow() -> None:
    out = draw_interaction(grey(), K, E, [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], 0.3, None)
    assert is_color(out, 60, 80, PENDING_RGB)
    assert is_color(out, 50, 80, PENDING_RGB)            # up (world +z): 0.3 m -> 15 px


def part_grid(y0: float, y1: float, z0: float, z1: float) -> np.ndarray:
    ys, zs = np.meshgrid(np.linspace(y0, y1, 11), np.linspace(z0, z1, 11))
    return np.stack([np.ones(ys.size), ys.ravel(), zs.ravel()], axis=1)


def test_draw_parts_paints_two_parts_and_a_revolute_axis_on_its_projection() -> None:
    door = part_grid(0.1, 0.3, 0.0, 0.2)          # cols 65..75, rows 50..60
    drawer = part_grid(-0.3, -0.1, 0.0, 0.2)      # cols 85..95
    hinge = {"type": "revolute", "axis": [0.0, 0.0, 1.0], "origin": [1.0, 0.3, 0.5]}
    slide = {"type": "prismatic", "axis": [1.0, 0.0, 0.0], "origin": [1.0, -0.2, 0.1]}
    img = grey()
    before = img.copy()
    out = draw_parts(img, K.astype(np.float32), E.astype(np.float32),
                     [(door.astype(np.float32), hinge), (np.zeros((0, 3)), None), (drawer, slide)])
    assert np.array_equal(img, before) and out.dtype == np.uint8
    tint = [np.round(0.4 * GREY + 0.6 * PART_PALETTE[i].astype(float)).astype(np.uint8) for i in (0, 2)]
    assert not np.array_equal(tint[0], tint[1])
    assert is_color(out, *(int(round(v)) for v in rc_of(1.0, 0.14, 0.06)), tint[0])
    assert is_color(out, *(int(round(v)) for v in rc_of(1.0, -0.28, 0.02)), tint[1])
    assert np.array_equal(out[:30], before[:30])
    # The hinge x = 1, y = 0.3 projects to col 65; the door spans z 0..0.2 (rows 50..60), so the
    # line spans rows 49..61 (+10%), whatever the origin's z.
    line = np.argwhere(np.all(out == PART_PALETTE[0], axis=2))
    assert len(line) >= 10
    assert np.all(np.abs(line[:, 1] - 65) <= 0.5)
    assert line[:, 0].min() >= 48 and line[:, 0].max() <= 62
    assert line[:, 0].min() <= 50 and line[:, 0].max() >= 60
    # The drawer's joint points along the line of sight: still drawn, without raising.
    assert np.any(np.all(out == PART_PALETTE[2], axis=2))


def test_prismatic_joint_is_an_arrow_from_the_centroid() -> None:
    drawer = part_grid(-0.3, -0.1, 0.0, 0.2)      # centroid (1, -0.2, 0.1) -> (55, 90)
    slide = {"type": "prismatic", "axis": [0, 0, 2.0], "origin": [0, 0, 0]}   # not unit: normalised
    out = draw_parts(grey(), K, E, [(drawer, slide)])
    arrow = np.argwhere(np.all(out == PART_PALETTE[0], axis=2))
    # 0.15 m up at 2 m depth: 7.5 px, lengthened to MIN_ARROW_PX, from row 55 upwards.
    assert arrow[:, 0].max() <= 56 and arrow[:, 0].min() <= 55 - MIN_ARROW_PX + 1
    assert is_color(out, 50, 90, PART_PALETTE[0])


def test_geometry_off_the_image_or_behind_the_camera_does_not_raise() -> None:
    far = np.array([[1.0, 50.0, 0.0], [1.0, 0.0, -80.0], [-3.0, 0.0, 0.0], [1e9, 1e9, 1e9],
                    [-0.995, 0.5, 0.0]])
    joints = [{"type": "revolute", "axis": [1.0, 0.0, 0.0], "origin": [-5.0, 0.0, 0.0]},
              {"type": "prismatic", "axis": [-1.0, 0.0, 0.0], "origin": [0, 0, 0]},
              {"type": "revolute", "axis": [0.0, 0.0, 0.0], "origin": [0, 0, 0]},
              {"type": "fixed"}]
    out = draw_parts(grey(), K, E, [(far, j) for j in joints] + [(np.array([[-4.0, 0.0, 0.0]]), joints[0])])
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    for point, direction in (([-3.0, 0.0, 0.0], [1.0, 0.0, 0.0]), ([1.0, 40.0, 0.0], [0.0, 1.0, 0.0]),
                             ([1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]), ([-0.99, 0.0, 0.0], [0.0, -1.0, 0.0])):
        out = draw_interaction(grey(), K, E, point, direction, 5.0, True)
        assert out.shape == (H, W, 3)
    # Straight at the camera: the arrow has no length in the image, the disc is still there.
    out = draw_interaction(grey(), K, E, [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], 0.05, True)
    assert is_color(out, 60, 80, MOVED_RGB)


def test_sfa_frame_upscales_and_draws_at_the_scaled_pixel() -> None:
    img = grey()
    img[0, 0] = (10, 20, 30)
    before = img.copy()
    interaction = {"point": [1.0, 0.0, 0.0], "direction": [0.0, -1.0, 0.0], "distance": 0.4, "moved": True}
    parts = [(part_grid(0.1, 0.3, 0.0, 0.2), {"type": "revolute", "axis": [0, 0, 1], "origin": [1, 0.3, 0]})]
    out = sfa_frame(img, K.astype(np.float32), E.astype(np.float32), interaction, parts)
    assert np.array_equal(img, before)
    assert out.shape == (240, 320, 3) and out.dtype == np.uint8 and min(out.shape[:2]) >= 240
    assert np.all(out[:2, :2] == (10, 20, 30))            # nearest upscaling: pixel (0,0) is 2x2
    # Original pixel (60, 80) covers rows 120..121, cols 160..161; the arrow tip (60, 100) too.
    assert all(is_color(out, r, c, MOVED_RGB) for r in (120, 121) for c in (160, 161))
    assert any(is_color(out, r, 190, MOVED_RGB) for r in (120, 121))
    assert not np.any(np.all(out[:, 205:] == MOVED_RGB, axis=2))
    # The hinge (col 65) is at cols 130..131 of the upscaled frame, 1 px thin.
    line = np.argwhere(np.all(out == PART_PALETTE[0], axis=2))
    assert len(line) > 0 and set(line[:, 1]) <= {130, 131}
    # No interaction, no parts: just the upscaled image; an odd size still reaches 240.
    plain = sfa_frame(np.zeros((50, 70, 3), np.float64), K, E, None, [])
    assert plain.shape == (250, 350, 3) and plain.dtype == np.uint8 and not plain.any()
