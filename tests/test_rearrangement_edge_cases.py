"""Rearrangement metrics (embodied/metrics.py) at their edges: what is refused and how it is worded,
boxes given in any corner order or sampled on a face, poses away from the origin, the rule cases
of the energy. tests/test_rearrangement_metrics.py has the main cases; the numbers here are worked
out by hand too (and pin what mutation testing showed no test pinned)."""
import math

import numpy as np
import pytest

from embodied.metrics import box_iou_3d, pose_energy, rearrangement_metrics, rotation_angle_deg
from tests.test_rearrangement_metrics import box, pose, quat_z


# ------------------------------------------------------------------------------- boxes
@pytest.mark.parametrize("corners_a, corners_b, message", [
    (np.zeros((7, 3)), box((0, 0, 0), (1, 1, 1)), r"^corners_a must be \(8, 3\) finite box corners, got shape \(7, 3\)$"),
    (box((0, 0, 0), (1, 1, 1)), np.zeros((8, 2)), r"^corners_b must be \(8, 3\) finite box corners, got shape \(8, 2\)$"),
    (box((0, 0, 0), (1, 1, 1)), np.where(np.eye(8, 3, dtype=bool), np.nan, box((0, 0, 0), (1, 1, 1))),
     r"^corners_b must be \(8, 3\) finite box corners, got shape \(8, 3\)$"),
    (np.vstack([np.zeros((2, 3)), box((0, 0, 0), (1, 1, 1))[2:]]), box((0, 0, 0), (1, 1, 1)),
     "^corners_a has coinciding corners: not a box$"),
])
def test_what_is_not_a_box_is_refused_by_name(corners_a, corners_b, message) -> None:
    with pytest.raises(ValueError, match=message):
        box_iou_3d(corners_a, corners_b)


def test_corners_in_any_order_even_with_the_three_edges_first() -> None:
    a = box((0, 0, 0), (1, 2, 3))
    # corner 0 = (-,-,-); its edge neighbours 1 (z), 2 (y), 4 (x) right after it, then the rest
    reordered = a[[0, 1, 2, 4, 3, 5, 6, 7]]
    assert box_iou_3d(reordered, a) == 1.0 and box_iou_3d(a, reordered) == 1.0


def test_iou_of_a_box_shifted_along_two_axes() -> None:
    # b = a (1 x 2 x 3) shifted by half its size in x and in y. Samples of b along x: (i + 0.5) / 13
    # of [0, 1], inside a's [-0.5, 0.5] (+1 mm) for i = 0..6: 7 of 13; along y, 2 (j + 0.5) / 13 of
    # [0, 2] inside [-1, 1]: j = 0..6, 7 of 13; z: all. Intersection 6 * 49 / 169, IoU I / (12 - I)
    a, b = box((0, 0, 0), (1, 2, 3)), box((0.5, 1.0, 0), (1, 2, 3))
    inter = 6 * 49 / 169
    assert box_iou_3d(a, b) == pytest.approx(inter / (12 - inter), abs=1e-12)


def test_samples_on_a_face_count_as_inside_and_a_close_box_as_outside() -> None:
    a = box((0, 0, 0), (1, 1, 1))                        # x in [-0.5, 0.5]
    # b's first layer of samples lies exactly on a's face x = -0.5: all 13 layers are inside a
    shift = -1.0 / 26                                    # b in x: [-0.5 - 1/26, 0.5 - 1/26]
    b = box((shift, 0, 0), (1, 1, 1))
    assert box_iou_3d(a, b) == pytest.approx(1.0 / (2.0 - 1.0))
    # 10 cm apart, on either side: no overlap at all, however near
    assert box_iou_3d(a, box((1.1, 0, 0), (1, 1, 1))) == 0.0
    assert box_iou_3d(a, box((-1.1, 0, 0), (1, 1, 1))) == 0.0


# ------------------------------------------------------------------------------- rotations
@pytest.mark.parametrize("q0, q1", [([0, 0, 0, 0], [0, 0, 0, 1]), ([0, 0, 0, 1], [0, 0, 0, 0]),
                                    ([0, 0, 0, math.inf], [0, 0, 0, 1]), ([0, 0, 0, 1], [math.nan, 0, 0, 1])])
def test_zero_or_non_finite_quaternions_are_refused(q0, q1) -> None:
    with pytest.raises(ValueError, match="^quaternions must be finite and non-zero, got "):
        rotation_angle_deg(q0, q1)


def test_rotation_angle_of_quaternions_as_rows_and_not_normalised() -> None:
    assert rotation_angle_deg(np.array([quat_z(10)]), 3.0 * np.array([quat_z(40)])) == pytest.approx(30.0)
    # 90 deg about x, then the orientation 90 deg about y: the rotation between them turns 120 deg
    h = math.sqrt(0.5)
    assert rotation_angle_deg([h, 0, 0, h], [0, h, 0, h]) == pytest.approx(120.0)


# ------------------------------------------------------------------------------- pose energy
def test_energy_away_from_the_origin() -> None:
    """Positions and boxes far from (0, 0, 0): the distances are between the two poses, not
    to the origin. Apart by 2 m along x (1 m between the nearest faces): 0.5 + 0.5 * 1 / 2."""
    goal = pose((5.0, 5.0, 5.0))
    assert pose_energy(goal, goal) == 0.0
    assert pose_energy(goal, pose((7.0, 5.0, 5.0))) == pytest.approx(0.75)
    # a thin plate 5 mm and 5 deg off its goal, at (2, 3, 1): "the same pose" outright (IoU 1),
    # although the sampled IoU of a 9 mm thick plate moved 5 mm across its thickness is far below 0.5
    plate = (0.3, 0.3, 0.009)
    goal = pose((2.0, 3.0, 1.0), size=plate)
    near = pose((2.0, 3.0, 1.005), size=plate, yaw=5.0)
    assert box_iou_3d(goal["bounding_box"], near["bounding_box"]) < 0.5
    assert pose_energy(goal, near) == 0.0


def test_the_same_pose_shortcut_needs_strictly_less_than_a_centimetre() -> None:
    # a 9 mm plate moved exactly 1 cm across its thickness: not "the same pose" (< 1 cm is), so
    # the boxes are compared: 1 mm apart, no overlap -> 0.5 + 0.5 * 0.001 / 2
    plate = (0.009, 0.3, 0.3)
    assert pose_energy(pose((0.0, 0, 0), size=plate), pose((0.01, 0, 0), size=plate)) == pytest.approx(0.50025)


def test_openness_compares_the_difference() -> None:
    door = pose((0, 0, 0), openness=0.6, pickupable=False)
    assert pose_energy(door, dict(door, openness=0.6)) == 0.0
    assert pose_energy(door, dict(door, openness=0.35)) == 1.0


def test_a_pose_without_a_box_and_an_unreadable_box() -> None:
    goal = pose((0, 0, 0))
    for cur in (dict(goal, bounding_box=None), goal):
        g = goal if cur is not goal else dict(goal, bounding_box=None)
        with pytest.raises(ValueError, match="^pose_energy: a pose that is not openable needs a bounding_box$"):
            pose_energy(g, cur)
    # a box the IoU cannot read (an edge at corner 0 skewed: no three orthogonal edges there)
    # overlaps nothing, the benchmark's rule: IoU 0, then the distance term from the corners as
    # given, 1 m between the faces at x = 0.5 and 1.5 -> 0.5 + 0.5 * 1 / 2
    skew = box((0, 0, 0), (1, 2, 3))
    skew[1] += [0.3, 0.0, 0.0]
    with pytest.raises(ValueError, match="not a box"):
        box_iou_3d(skew, box((0, 0, 0), (1, 2, 3)))
    assert pose_energy(dict(goal, bounding_box=skew), pose((2.0, 0, 0))) == pytest.approx(0.75)
    # even where the boxes overlap: IoU 0, and the nearest corners are the skewed (-0.2, -1, 1.5)
    # and the other box's (-0.3, -1, 1.5), 0.1 m apart -> 0.5 + 0.5 * 0.1 / 2
    assert pose_energy(dict(goal, bounding_box=skew), pose((0.2, 0, 0))) == pytest.approx(0.525)


# ------------------------------------------------------------------------------- episode metrics
def test_episode_metrics_refuse_mismatched_or_non_finite_energies() -> None:
    with pytest.raises(ValueError, match=r"^start_energies \(1,\) and end_energies \(2,\) differ$"):
        rearrangement_metrics([0.1], [0.1, 0.2])
    for start, end in (([math.nan, 0.0], [0.0, 0.0]), ([0.0, 0.0], [0.0, math.inf])):
        with pytest.raises(ValueError, match="^energies must be finite$"):
            rearrangement_metrics(start, end)


def test_the_phase_clock_by_hand() -> None:
    """`phase_step`, the two-phase rules both rearrangement backends share."""
    from embodied.envs.rearrange_contract import PhaseStep, phase_step

    assert phase_step(0, "move_ahead", 3, 5, 7) == PhaseStep(False, False, False)
    assert phase_step(0, "done", 1, 5, 7) == PhaseStep(True, False, False)        # walkthrough over
    assert phase_step(0, "move_ahead", 5, 5, 7) == PhaseStep(True, False, False)  # its budget spent
    assert phase_step(1, "move_ahead", 6, 5, 7) == PhaseStep(False, False, False)
    assert phase_step(1, "done", 2, 5, 7) == PhaseStep(False, True, False)
    assert phase_step(1, "pickup_mug", 7, 5, 7) == PhaseStep(False, False, True)
