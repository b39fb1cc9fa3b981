"""Point-cloud operations (`embodied.perception.pointcloud`) on hand-built geometry."""
from __future__ import annotations

import numpy as np
import pytest

from embodied.perception.articulation import transform_points
from embodied.perception.pointcloud import (clusters, dominant_normal, facing_cameras, icp,
                                            in_free_space, normals_and_offsets, one_sidedness,
                                            voxel_downsample)

# a camera at the origin looking along world +x (OpenCV axes: camera z = world x, camera x =
# world -y, camera y = world -z), f = 100 px, 160 x 120
K = np.array([[100.0, 0.0, 80.0], [0.0, 100.0, 60.0], [0.0, 0.0, 1.0]])
E = np.eye(4)
E[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]).T
E[:3, :3] = np.column_stack([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
CAMERAS = np.zeros((1, 3))


def wall(x: float, n: int = 30, size: float = 0.4) -> np.ndarray:
    """A square grid of points on the plane x = const, facing the camera at the origin."""
    s = np.linspace(-size / 2, size / 2, n)
    y, z = np.meshgrid(s, s)
    return np.column_stack([np.full(y.size, x), y.ravel(), z.ravel()])


def test_normals_face_the_camera_and_a_knob_stands_proud() -> None:
    pts = np.concatenate([wall(1.0), [[0.97, 0.0, 0.0], [0.97, 0.005, 0.0], [0.97, 0.0, 0.005]]])
    normals, offsets = normals_and_offsets(pts, CAMERAS, k=24)
    far = np.linalg.norm(pts[:900, 1:], axis=1) > 0.05         # wall points clear of the knob
    assert np.all(normals[:900][far, 0] < -0.99)              # towards the camera at x = 0
    assert offsets[900:].min() > 0.01 and np.abs(offsets[:900]).max() < 0.01
    assert np.allclose(np.abs(dominant_normal(pts)), [1.0, 0.0, 0.0], atol=1e-6)


def test_facing_cameras_drops_turned_away_and_edge_on_surfaces() -> None:
    pts = np.array([[1.0, 0.0, 0.0]] * 3)
    normals = np.array([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert facing_cameras(pts, normals, CAMERAS).tolist() == [True, False, False]


def test_free_space_is_in_front_of_what_a_pixel_saw() -> None:
    depth = np.full((1, 120, 160), 2.0)                       # a wall 2 m ahead, everywhere
    pts = np.array([[1.0, 0.0, 0.0],                           # 1 m ahead: was free
                    [1.99, 0.0, 0.0],                          # on the wall (within the margin)
                    [3.0, 0.1, 0.0],                           # behind the wall: was hidden
                    [-1.0, 0.0, 0.0],                          # behind the camera
                    [1.0, 5.0, 0.0]])                          # outside the image
    free = in_free_space(pts, depth, K[None], E[None], margin=0.02)
    assert free.tolist() == [True, False, False, False, False]


def test_clusters_and_voxels() -> None:
    pts = np.concatenate([wall(1.0, 10, 0.1), wall(1.0, 10, 0.1) + [0.0, 0.5, 0.0]])
    labels = clusters(pts, radius=0.02)
    assert len(np.unique(labels)) == 2 and len(np.unique(labels[:100])) == 1
    assert len(voxel_downsample(pts + 2.3, 1.0)) == 1 and len(voxel_downsample(pts, 1e-4)) == 200


def test_icp_recovers_a_turn_and_ignores_what_faces_away() -> None:
    # a lumpy front with a handle bar (seen; lumpy: a flat face lets point-to-point ICP slide
    # along it) and a side face turned away from the camera (normal -y at y = -0.15); turn it
    # 20 degrees about z, start ICP 2 degrees and 1 cm off
    rng = np.random.default_rng(0)
    yz = rng.uniform(-0.15, 0.15, (800, 2))
    bumps = 0.02 * np.sin(40.0 * yz[:, 0]) * np.cos(30.0 * yz[:, 1])
    front = np.column_stack([1.0 + bumps, yz])
    handle = np.column_stack([np.full(100, 0.97), rng.uniform(-0.05, 0.05, 100), rng.uniform(-0.01, 0.01, 100)])
    side = np.column_stack([rng.uniform(1.0, 1.3, 400), np.full(400, -0.15), rng.uniform(-0.15, 0.15, 400)])
    src = np.concatenate([front, handle, side])
    normals = np.concatenate([np.tile([-1.0, 0.0, 0.0], (900, 1)), np.tile([0.0, -1.0, 0.0], (400, 1))])

    def turn(deg: float) -> np.ndarray:
        a = np.radians(deg)
        return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])

    centre = np.array([1.15, 0.0, 0.0])
    R = turn(20.0)
    t = centre - R @ centre
    dst = transform_points(R, t, src[:900])                    # only the front is seen after
    R_fit, t_fit, _, visible = icp(src, dst, t + [0.01, 0.0, 0.0], 40, 0.01, R0=turn(18.0),
                                   src_normals=normals, cameras=CAMERAS)
    angle = np.degrees(np.arccos(np.clip((np.trace(R_fit.T @ R) - 1.0) / 2.0, -1.0, 1.0)))
    assert angle < 1.0                                          # nearest-neighbour ICP: ~0.3 deg
    moved_err = np.linalg.norm(transform_points(R_fit, t_fit, src[:900]) - dst, axis=1)
    assert np.median(moved_err) < 0.005
    assert visible[:900].all() and not visible[900:].any()


def test_one_sidedness_is_zero_inside_a_face_and_grows_at_its_edge_and_corner() -> None:
    """Unit directions to neighbours spread evenly over a disc average to 0, over a half disc
    to 2/pi (an edge), over a quarter disc to 2*sqrt(2)/pi (a corner)."""
    xs, ys = np.meshgrid(np.arange(0.0, 0.5001, 0.002), np.arange(0.0, 0.5001, 0.002))
    plate = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1)
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, -0.6], [0.0, 0.6, 0.8]])   # any plane will do
    queries = np.array([[0.25, 0.25, 0.01], [0.25, 0.0, 0.0], [0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])
    side = one_sidedness(queries @ tilt.T, plate @ tilt.T, radius=0.08)
    assert side[0] == pytest.approx(0.0, abs=0.01)          # a handle 1 cm proud of its door
    assert side[1] == pytest.approx(2 / np.pi, abs=0.02)
    assert side[2] == pytest.approx(2 * np.sqrt(2) / np.pi, abs=0.02)
    assert side[3] == 1.0                                    # nothing near
