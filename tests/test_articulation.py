"""SfA geometry (embodied/perception/articulation.py) on synthetic motions with known answers, and the
articulation metrics (embodied/metrics.py) against hand-computed values."""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from embodied import metrics
from embodied.perception.articulation import (JointEstimate, aggregate_joint, estimate_joint,
                                              weighted_median,
                                              ransac_rigid, rigid_transform,
                                              segment_rigid_motions, transform_points)


def random_motion(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return Rotation.random(random_state=rng).as_matrix(), rng.uniform(-1.0, 1.0, 3)


def door_points(rng: np.random.Generator, n: int = 400) -> np.ndarray:
    """A 0.8 m x 2 m x 3 cm door panel whose hinge edge is the vertical line x = 1, y = 2."""
    return np.column_stack([1.0 + rng.uniform(0.0, 0.8, n), 2.0 + rng.uniform(0.0, 0.03, n),
                            rng.uniform(0.0, 2.0, n)])


def rotate_about(points: np.ndarray, axis: np.ndarray, pivot: np.ndarray,
                 angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points rotated by ``angle`` about the line (pivot, axis); also the (R, t) of that motion."""
    R = Rotation.from_rotvec(angle * axis / np.linalg.norm(axis)).as_matrix()
    t = pivot - R @ pivot
    return transform_points(R, t, points), R, t


HINGE_AXIS = np.array([0.0, 0.0, 1.0])
HINGE_POINT = np.array([1.0, 2.0, 0.0])


# ---------------------------------------------------------------- rigid fits
def test_rigid_transform_recovers_random_motions():
    rng = np.random.default_rng(0)
    for _ in range(20):
        R, t = random_motion(rng)
        src = rng.normal(size=(50, 3))
        R_hat, t_hat = rigid_transform(src, transform_points(R, t, src))
        np.testing.assert_allclose(R_hat, R, atol=1e-10)
        np.testing.assert_allclose(t_hat, t, atol=1e-10)
        assert np.linalg.det(R_hat) == pytest.approx(1.0)


def test_rigid_transform_never_returns_a_reflection():
    # Planar points mirrored through their plane: the best orthogonal fit is a reflection; the
    # answer must still be a proper rotation.
    rng = np.random.default_rng(1)
    src = np.column_stack([rng.normal(size=(30, 2)), np.zeros(30)])
    dst = src * np.array([1.0, 1.0, -1.0]) + rng.normal(scale=0.01, size=(30, 3))
    R, _ = rigid_transform(src, dst)
    assert np.linalg.det(R) == pytest.approx(1.0)


def test_rigid_transform_rejects_bad_input():
    with pytest.raises(ValueError):
        rigid_transform(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError):
        rigid_transform(np.zeros((5, 3)), np.zeros((4, 3)))


def test_ransac_rigid_with_30_percent_outliers():
    rng = np.random.default_rng(2)
    R, t = random_motion(rng)
    src = rng.uniform(-0.5, 0.5, size=(200, 3))
    dst = transform_points(R, t, src) + rng.normal(scale=0.001, size=src.shape)
    outliers = rng.choice(200, size=60, replace=False)
    dst[outliers] += rng.uniform(0.1, 0.5, size=(60, 3)) * rng.choice([-1, 1], size=(60, 3))
    R_hat, t_hat, inliers = ransac_rigid(src, dst, threshold=0.01, iterations=200, rng=rng)
    truth = np.ones(200, bool)
    truth[outliers] = False
    np.testing.assert_array_equal(inliers, truth)
    assert np.degrees(np.linalg.norm(Rotation.from_matrix(R_hat @ R.T).as_rotvec())) < 0.5
    np.testing.assert_allclose(transform_points(R_hat, t_hat, src[truth]),
                               transform_points(R, t, src[truth]), atol=0.003)


def test_segment_rigid_motions_separates_base_door_and_drawer():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.0, 1.0, size=(150, 3)) + [3.0, 0.0, 0.0]
    door = door_points(rng, 150)
    drawer = rng.uniform(0.0, 0.4, size=(150, 3)) + [-2.0, 0.0, 0.5]
    door_after, R_door, t_door = rotate_about(door, HINGE_AXIS, HINGE_POINT, math.radians(30))
    drawer_after = drawer + [0.2, 0.0, 0.0]
    before = np.vstack([base, door, drawer])
    after = np.vstack([base, door_after, drawer_after])
    labels, motions = segment_rigid_motions(before, after, rng=rng)
    assert np.all(labels[:150] == 0)
    # One label per moving part, each part one label (order depends on RANSAC).
    # Door points within ~1 cm of the hinge moved < 5 mm: they are indistinguishable from the base.
    door_moved = np.linalg.norm(door_after - door, axis=1) >= 0.005
    assert 0 < (~door_moved).sum() < 15
    door_label, drawer_label = labels[150:300][door_moved][0], labels[300]
    assert {door_label, drawer_label} == {1, 2}
    assert np.all(labels[150:300][door_moved] == door_label)
    assert np.all(labels[150:300][~door_moved] == 0)
    assert np.all(labels[300:] == drawer_label)
    R, t = motions[door_label - 1]
    np.testing.assert_allclose(R, R_door, atol=1e-8)
    np.testing.assert_allclose(motions[drawer_label - 1][1], [0.2, 0.0, 0.0], atol=1e-8)


# ---------------------------------------------------------------- joints from motions
def test_door_rotating_30_degrees_is_revolute_about_its_hinge():
    rng = np.random.default_rng(4)
    door = door_points(rng)
    door_after, _, _ = rotate_about(door, HINGE_AXIS, HINGE_POINT, math.radians(30))
    R, t = rigid_transform(door, door_after)
    joint = estimate_joint(R, t, reference=door.mean(axis=0))
    assert joint.type == "revolute"
    assert metrics.axis_angle_error_deg(joint.axis, HINGE_AXIS) < 0.5
    assert metrics.axis_position_error(joint.origin, joint.axis, HINGE_POINT, HINGE_AXIS) < 0.005
    assert joint.state == pytest.approx(math.radians(30), abs=1e-9)
    assert abs(joint.pitch) < 1e-9
    # The origin is the axis point level with the door's centroid.
    assert joint.origin[2] == pytest.approx(door.mean(axis=0)[2], abs=1e-9)


def test_revolute_axis_sign_matches_the_angle():
    # Closing the door (-30 deg about +z) is +30 deg about -z.
    rng = np.random.default_rng(5)
    door = door_points(rng)
    after, R, t = rotate_about(door, HINGE_AXIS, HINGE_POINT, -math.radians(30))
    joint = estimate_joint(R, t, reference=door.mean(axis=0))
    np.testing.assert_allclose(joint.axis, -HINGE_AXIS, atol=1e-9)
    assert joint.state == pytest.approx(math.radians(30))


def test_drawer_translating_20cm_is_prismatic():
    rng = np.random.default_rng(6)
    drawer = rng.uniform(0.0, 0.4, size=(300, 3)) + [2.0, -1.0, 0.5]
    direction = np.array([1.0, 1.0, 0.0]) / math.sqrt(2.0)
    R, t = rigid_transform(drawer, drawer + 0.2 * direction)
    joint = estimate_joint(R, t, reference=drawer.mean(axis=0))
    assert joint.type == "prismatic"
    assert joint.state == pytest.approx(0.2, abs=1e-9)
    assert metrics.axis_angle_error_deg(joint.axis, direction) < 1e-6


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_joints_survive_2mm_point_noise(seed):
    rng = np.random.default_rng(seed)
    noise = lambda pts: pts + rng.normal(scale=0.002, size=pts.shape)  # noqa: E731

    door = door_points(rng)
    door_after, _, _ = rotate_about(door, HINGE_AXIS, HINGE_POINT, math.radians(30))
    R, t = rigid_transform(noise(door), noise(door_after))
    joint = estimate_joint(R, t, reference=door.mean(axis=0))
    assert joint.type == "revolute"
    assert metrics.axis_angle_error_deg(joint.axis, HINGE_AXIS) < 2.0
    assert metrics.axis_position_error(joint.origin, joint.axis, HINGE_POINT, HINGE_AXIS) < 0.02
    assert metrics.joint_state_error(joint.state, math.radians(30)) < math.radians(2.0)

    drawer = rng.uniform(0.0, 0.4, size=(300, 3)) + [2.0, -1.0, 0.5]
    R, t = rigid_transform(noise(drawer), noise(drawer + [0.0, 0.2, 0.0]))
    joint = estimate_joint(R, t, reference=drawer.mean(axis=0))
    assert joint.type == "prismatic"
    assert metrics.axis_angle_error_deg(joint.axis, [0, 1, 0]) < 2.0
    assert metrics.joint_state_error(joint.state, 0.2) < 0.02


def test_small_motions_are_static():
    rng = np.random.default_rng(10)
    door = door_points(rng)
    # 0.1 deg about the hinge moves the far edge by 1.4 mm, and a 1 mm slide: both below noise.
    _, R, t = rotate_about(door, HINGE_AXIS, HINGE_POINT, math.radians(0.1))
    assert estimate_joint(R, t, reference=door.mean(axis=0)).type == "static"
    assert estimate_joint(np.eye(3), [0.001, 0.0, 0.0], reference=door.mean(axis=0)).type == "static"
    # A large slide is not.
    assert estimate_joint(np.eye(3), [0.05, 0.0, 0.0]).type == "prismatic"


def test_aggregate_joint_aligns_signs_and_spans_the_range():
    rng = np.random.default_rng(11)
    door = door_points(rng)
    centroid = door.mean(axis=0)
    estimates = []
    for degrees in (30.0, 45.0, -20.0):
        _, R, t = rotate_about(door, HINGE_AXIS, HINGE_POINT, math.radians(degrees))
        estimates.append(estimate_joint(R, t, reference=centroid))
    estimates.append(JointEstimate("static", np.zeros(3), centroid, 0.0))
    estimates.append(JointEstimate("prismatic", np.array([1.0, 0, 0]), centroid, 0.1))
    joint = aggregate_joint(estimates)
    assert joint.type == "revolute"
    np.testing.assert_allclose(joint.axis, HINGE_AXIS, atol=1e-9)
    assert metrics.axis_position_error(joint.origin, joint.axis, HINGE_POINT, HINGE_AXIS) < 1e-9
    # one after the other: 0 -> 30 -> 75 -> 55 degrees
    assert joint.state_range == pytest.approx((0.0, math.radians(75)))
    assert joint.state == pytest.approx(math.radians(55))


def test_aggregate_joint_trusts_the_larger_motion():
    rng = np.random.default_rng(12)
    door = door_points(rng)
    centroid = door.mean(axis=0)
    _, R, t = rotate_about(door, HINGE_AXIS, HINGE_POINT, math.radians(40.0))
    good = estimate_joint(R, t, reference=centroid)
    # a 2-degree nudge whose fit put the hinge 0.3 m off
    nudge = JointEstimate("revolute", HINGE_AXIS, np.asarray(HINGE_POINT) + [0.3, 0.0, 0.0],
                          math.radians(2.0))
    joint = aggregate_joint([nudge, good])
    assert metrics.axis_position_error(joint.origin, joint.axis, HINGE_POINT, HINGE_AXIS) < 1e-9
    assert weighted_median(np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4)) == 2.5
    assert weighted_median(np.array([1.0, 2.0, 10.0]), np.array([1.0, 1.0, 5.0])) == 10.0


def test_aggregate_joint_all_static():
    e = JointEstimate("static", np.zeros(3), np.array([1.0, 2.0, 3.0]), 0.0)
    assert aggregate_joint([e, e]).type == "static"
    with pytest.raises(ValueError):
        aggregate_joint([])


# ---------------------------------------------------------------- metrics, by hand
def test_joint_type_accuracy():
    assert metrics.joint_type_accuracy(["revolute", "prismatic", "revolute"],
                                       ["revolute", "revolute", "revolute"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        metrics.joint_type_accuracy([], [])


def test_axis_angle_error_is_sign_free_and_at_most_90():
    assert metrics.axis_angle_error_deg([0, 0, 1], [0, 0, -1]) == pytest.approx(0.0)
    assert metrics.axis_angle_error_deg([0, 0, 2], [1, 0, 0]) == pytest.approx(90.0)
    # (1, 1, 0) vs (1, 0, 0): 45 deg; vs (-1, 0, 0): also 45 (not 135).
    assert metrics.axis_angle_error_deg([1, 1, 0], [1, 0, 0]) == pytest.approx(45.0)
    assert metrics.axis_angle_error_deg([1, 1, 0], [-1, 0, 0]) == pytest.approx(45.0)
    # Precision near 0: 1e-4 deg is not rounded away.
    small = math.radians(1e-4)
    assert metrics.axis_angle_error_deg([math.cos(small), math.sin(small), 0], [1, 0, 0]) \
        == pytest.approx(1e-4, rel=1e-6)


def test_axis_position_error_skew_lines():
    # Line 1: the x axis. Line 2: through (0, 0, 3) along y. Common perpendicular: the z axis
    # from (0,0,0) to (0,0,3) -> distance 3, wherever the origins sit on the lines.
    assert metrics.axis_position_error([5, 0, 0], [1, 0, 0], [0, -7, 3], [0, 1, 0]) \
        == pytest.approx(3.0)
    # Line 2 along (0, 1, 1) through (0, 0, 1): n = x x (0,1,1) = (0, -1, 1), |n| = sqrt 2,
    # d = (0, 0, 1) -> |d . n| / |n| = 1 / sqrt 2.
    assert metrics.axis_position_error([0, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 1]) \
        == pytest.approx(1 / math.sqrt(2))
    # Intersecting lines: 0.
    assert metrics.axis_position_error([1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]) \
        == pytest.approx(0.0)


def test_axis_position_error_parallel_lines():
    # Two vertical lines through (0, 0) and (3, 4): 5 apart; opposite signs and any heights.
    assert metrics.axis_position_error([0, 0, 0], [0, 0, 1], [3, 4, 9], [0, 0, -1]) \
        == pytest.approx(5.0)
    assert metrics.axis_position_error([0, 0, 0], [0, 0, 1], [0, 0, 9], [0, 0, 1]) == 0.0


def test_joint_state_error():
    assert metrics.joint_state_error(0.5, 0.2) == pytest.approx(0.3)
    assert metrics.joint_state_error(-0.1, 0.2) == pytest.approx(0.3)


def test_part_iou_3d_of_two_overlapping_cubes():
    # Cube A: voxels [0, 4)^3 (64), cube B: shifted by 2 voxels in x -> [2, 6) x [0, 4)^2 (64).
    # Intersection: 2 x 4 x 4 = 32, union 64 + 64 - 32 = 96 -> IoU = 1/3.
    s = 0.05
    idx = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3)
    a = (idx + 0.5) * s
    b = (idx + [2, 0, 0] + 0.5) * s
    assert metrics.part_iou_3d(a, b, voxel_size=s) == pytest.approx(1 / 3)
    # Duplicated points do not count twice; identical sets give 1; an empty prediction 0.
    assert metrics.part_iou_3d(np.vstack([a, a]), a, voxel_size=s) == pytest.approx(1.0)
    assert metrics.part_iou_3d(np.zeros((0, 3)), a, voxel_size=s) == 0.0
    with pytest.raises(ValueError):
        metrics.part_iou_3d(a, np.zeros((0, 3)), voxel_size=s)


def test_chamfer_distance_by_hand():
    # A = {(0,0,0), (1,0,0)}, B = {(0,0,0), (0,2,0), (1,0,3)}.
    # A -> B: 0 and min(|(1,0,0)|, |(1,-2,0)|, |(0,0,3)|) = 1 -> mean 0.5.
    # B -> A: 0, min(2, sqrt 5) = 2, min(sqrt 10, 3) = 3 -> mean 5/3.
    # Chamfer = (0.5 + 5/3) / 2 = 13/12.
    a = [[0, 0, 0], [1, 0, 0]]
    b = [[0, 0, 0], [0, 2, 0], [1, 0, 3]]
    assert metrics.chamfer_distance(a, b) == pytest.approx(13 / 12)
    assert metrics.chamfer_distance(b, a) == pytest.approx(13 / 12)
    assert metrics.chamfer_distance(a, a) == 0.0
    with pytest.raises(ValueError):
        metrics.chamfer_distance(a, np.zeros((0, 3)))
