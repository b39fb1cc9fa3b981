"""Rearrangement metrics (embodied/metrics.py) against values computed by hand.

The formulas are those of allenai/ai2thor-rearrangement (`iou_box_3d`, `pose_difference_energy`,
`UnshuffleTask.metrics`); the numbers below are worked out from the formulas, not from the code.
"""
import math

import numpy as np
import pytest

from embodied.metrics import (box_iou_3d, pose_energy, rearrangement_metrics,
                              rotation_angle_deg)

SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)


def box(center, size, yaw_deg=0.0):
    """The 8 corners of a box of `size` at `center`, turned by `yaw_deg` about z."""
    t = math.radians(yaw_deg)
    rz = np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])
    return np.asarray(center, float) + (SIGNS * np.asarray(size, float) / 2) @ rz.T


def quat_z(yaw_deg):
    """Quaternion (x, y, z, w) of a turn about z."""
    h = math.radians(yaw_deg) / 2
    return [0.0, 0.0, math.sin(h), math.cos(h)]


def pose(center, size=(1.0, 2.0, 3.0), yaw=0.0, openness=None, pickupable=True):
    return {"position": list(center), "rotation": quat_z(yaw), "bounding_box": box(center, size, yaw),
            "openness": openness, "pickupable": pickupable}


# ------------------------------------------------------------------------------- box IoU
def test_iou_of_identical_and_disjoint_boxes():
    a = box((0, 0, 0), (1, 2, 3))
    assert box_iou_3d(a, a) == 1.0
    assert box_iou_3d(a, box((5, 0, 0), (1, 2, 3))) == 0.0
    # a cube turned by 90 deg about z is the same cube: the corner order must not matter
    cube = box((0, 0, 0), (1, 1, 1))
    assert box_iou_3d(cube, box((0, 0, 0), (1, 1, 1), yaw_deg=90.0)) == pytest.approx(1.0)
    assert box_iou_3d(a[::-1], a[[3, 1, 7, 0, 2, 6, 5, 4]]) == 1.0


def test_iou_is_the_benchmarks_13_cubed_estimate():
    # b = a shifted by half its x size. Exactly: overlap 0.5 * 6 = 3 of union 9 -> 1/3. The
    # estimate samples b at x = 0.5 + (i + 0.5) / 13 and counts those <= 1 (+1 mm): i = 0..6,
    # 7 of 13 -> intersection 6 * 7 / 13 = 3.2308, IoU = 3.2308 / (12 - 3.2308) = 0.368421
    a, b = box((0, 0, 0), (1, 2, 3)), box((0.5, 0, 0), (1, 2, 3))
    assert box_iou_3d(a, b) == pytest.approx((42 / 13) / (12 - 42 / 13), abs=1e-12)
    assert box_iou_3d(a, b) == pytest.approx(0.368421, abs=1e-6)
    # b inside a: every sample of b is in a -> intersection = vol(b), IoU = vol(b) / vol(a)
    small = box((0.1, 0.2, -0.3), (0.5, 1.0, 1.5))
    assert box_iou_3d(a, small) == pytest.approx(0.75 / 6.0)


def test_iou_rejects_what_is_not_a_box():
    with pytest.raises(ValueError, match="corners_a"):
        box_iou_3d(np.zeros((7, 3)), box((0, 0, 0), (1, 1, 1)))
    skew = box((0, 0, 0), (1, 1, 1))
    skew[1] += [0.3, 0.0, 0.0]
    with pytest.raises(ValueError, match="not a box"):
        box_iou_3d(skew, box((0, 0, 0), (1, 1, 1)))


def test_rotation_angle():
    assert rotation_angle_deg(quat_z(10), quat_z(40)) == pytest.approx(30.0)
    assert rotation_angle_deg(quat_z(0), quat_z(350)) == pytest.approx(10.0)
    # q and -q are the same orientation
    assert rotation_angle_deg(quat_z(20), [-v for v in quat_z(20)]) == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------------------- pose energy
def test_energy_of_a_pickupable_object():
    goal = pose((0, 0, 0))
    assert pose_energy(goal, goal) == 0.0
    # half-overlapping: 0.5 * (1 - 0.368421 / 0.5) = 0.131579, no distance term (IoU > 0)
    assert pose_energy(goal, pose((0.5, 0, 0))) == pytest.approx(0.5 * (1 - 0.368421 / 0.5), abs=1e-6)
    # apart: IoU 0 -> 0.5; nearest corners 1 m apart (x faces at 0.5 and 1.5) -> 0.5 * 1 / 2 m
    assert pose_energy(goal, pose((2.0, 0, 0))) == pytest.approx(0.5 + 0.25)
    # far apart: the distance term saturates at 1
    assert pose_energy(goal, pose((9.0, 0, 0))) == pytest.approx(1.0)


def test_nearly_the_same_pose_counts_as_in_place():
    goal = pose((0, 0, 0), size=(0.1, 0.1, 0.1))
    # 8 mm and 9 deg off: short-circuited to IoU 1 (the 13^3 estimate alone would give < 1)
    near = pose((0.008, 0, 0), size=(0.1, 0.1, 0.1), yaw=9.0)
    assert box_iou_3d(goal["bounding_box"], near["bounding_box"]) < 0.9
    assert pose_energy(goal, near) == 0.0
    # 11 deg: sampled (IoU ~0.85 > 0.5) -> energy 0 as well, by the IoU term
    assert pose_energy(goal, pose((0.008, 0, 0), size=(0.1, 0.1, 0.1), yaw=11.0)) == 0.0
    # 2 cm off along the 10 cm side: IoU = 8/12 estimated from samples > 0.5 -> 0
    assert pose_energy(goal, pose((0.02, 0, 0), size=(0.1, 0.1, 0.1))) == 0.0
    # 6 cm off: IoU about 4/16 = 0.25 -> energy about 0.25
    assert pose_energy(goal, pose((0.06, 0, 0), size=(0.1, 0.1, 0.1))) == pytest.approx(0.25, abs=0.05)


def test_energy_of_an_openable_object():
    fridge = pose((0, 0, 0), openness=0.0, pickupable=False)
    assert pose_energy(fridge, dict(fridge, openness=0.15)) == 0.0
    assert pose_energy(fridge, dict(fridge, openness=0.25)) == 1.0
    assert pose_energy(fridge, dict(fridge, openness=0.2)) == 0.0          # > 0.2 is needed
    # pickupable and openable (a laptop): its box counts, not its openness
    laptop = pose((0, 0, 0), openness=1.0, pickupable=True)
    assert pose_energy(laptop, dict(laptop, openness=0.0)) == 0.0
    assert pose_energy(laptop, pose((9.0, 0, 0), openness=1.0)) == pytest.approx(1.0)
    assert pose_energy(fridge, dict(fridge, broken=True)) == 1.0


# ------------------------------------------------------------------------------- episode metrics
def test_episode_metrics_by_hand():
    # objects: A fixed, B still misplaced, C newly misplaced, D untouched
    m = rearrangement_metrics([0.5, 0.3, 0.0, 0.0], [0.0, 0.3, 0.2, 0.0])
    assert m["start_misplaced"] == 2 and m["end_misplaced"] == 2
    assert m["num_fixed"] == 1 and m["newly_misplaced"] == 1
    assert m["fixed"] == 0.5
    assert m["fixed_strict"] == 0.0                # something became newly misplaced
    assert m["misplaced"] == 1.0                   # 2 of 2
    assert m["energy_remaining"] == pytest.approx(0.5 / 0.8)
    assert m["success"] == 0.0
    assert (m["start_energy"], m["end_energy"]) == pytest.approx((0.8, 0.5))


def test_episode_metrics_success_and_edge_cases():
    m = rearrangement_metrics([1.0, 0.25], [0.0, 0.0])
    assert (m["success"], m["fixed"], m["fixed_strict"], m["misplaced"], m["energy_remaining"]) \
        == (1.0, 1.0, 1.0, 0.0, 0.0)
    # one of three fixed, nothing new: strict = 1 / 3
    m = rearrangement_metrics([1, 1, 1], [0, 0.5, 1])
    assert m["fixed_strict"] == pytest.approx(1 / 3) and m["misplaced"] == pytest.approx(2 / 3)
    # made worse: % misplaced above 1, energy remaining above 1
    m = rearrangement_metrics([0.5, 0, 0], [0.5, 1, 1])
    assert m["misplaced"] == 3.0 and m["energy_remaining"] == 5.0 and m["fixed_strict"] == 0.0
    # nothing was misplaced: fixed counts as 1, the ratios are undefined and left out
    m = rearrangement_metrics([0, 0], [0, 0])
    assert m["fixed"] == 1.0 and m["success"] == 1.0
    assert "misplaced" not in m and "energy_remaining" not in m
    with pytest.raises(ValueError):
        rearrangement_metrics([0.1], [0.1, 0.2])
