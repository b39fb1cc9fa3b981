"""Hand-computed cases for the episode metrics (embodied/metrics.py)."""
import math

import numpy as np
import pytest

from embodied import metrics


# ---------------------------------------------------------------- SPL = S * l / max(p, l)
def test_spl_straight_path_is_one():
    # l = 3, p = 3: the agent walked the shortest path -> 1 * 3 / 3 = 1
    assert metrics.spl(True, 3.0, 3.0) == pytest.approx(1.0)


def test_spl_detour():
    # l = 3, p = 4.5 -> 3 / 4.5 = 2/3
    assert metrics.spl(True, 3.0, 4.5) == pytest.approx(2.0 / 3.0)


def test_spl_failure_is_zero_whatever_the_path():
    assert metrics.spl(False, 3.0, 3.0) == 0.0
    assert metrics.spl(False, 3.0, 100.0) == 0.0


def test_spl_path_shorter_than_geodesic_is_capped_at_one():
    # p < l can happen (the grid's l is approximate, the agent stops inside the success radius):
    # max(p, l) = l -> 3 / 3 = 1, never more than 1
    assert metrics.spl(True, 3.0, 2.9) == pytest.approx(1.0)


def test_spl_zero_length_start():
    # l = 0: the start already satisfies the goal; 0/0 is defined as 1 on success, 0 on failure
    assert metrics.spl(True, 0.0, 0.0) == 1.0
    assert metrics.spl(True, 0.0, 2.0) == 1.0
    assert metrics.spl(False, 0.0, 0.0) == 0.0


@pytest.mark.parametrize("l, p", [(math.inf, 1.0), (-1.0, 1.0), (1.0, -0.5), (math.nan, 1.0)])
def test_spl_rejects_broken_lengths(l, p):
    with pytest.raises(ValueError):
        metrics.spl(True, l, p)


# ---------------------------------------------------------------- Soft-SPL
def test_soft_spl_half_progress_on_shortest_path():
    # d0 = 4, dT = 2 -> progress 1 - 2/4 = 0.5; l = 4, p = 2 -> max(p, l) = 4, efficiency 1
    # soft_spl = 0.5 * 1 = 0.5
    assert metrics.soft_spl(4.0, 2.0, 4.0, 2.0) == pytest.approx(0.5)


def test_soft_spl_progress_times_efficiency():
    # d0 = 4, dT = 1 -> progress 0.75; l = 4, p = 6 -> efficiency 4/6 = 2/3
    # soft_spl = 0.75 * 2/3 = 0.5
    assert metrics.soft_spl(4.0, 1.0, 4.0, 6.0) == pytest.approx(0.5)


def test_soft_spl_progress_is_relative_to_the_initial_distance_not_the_path_length():
    # d0 and l differ whenever the start distance is not the path length the metric is normalised
    # by (an env's d0 to the region vs. l to its nearest point, or a caller's mistake): d0 = 2,
    # dT = 1 -> progress 1 - 1/2 = 0.5; l = 4, p = 4 -> efficiency 1 -> 0.5 (1 - 1/4 would be 0.75)
    assert metrics.soft_spl(2.0, 1.0, 4.0, 4.0) == pytest.approx(0.5)
    # d0 = 5, dT = 1 -> 0.8; l = 2, p = 8 -> 2/8 = 0.25 -> 0.2
    assert metrics.soft_spl(5.0, 1.0, 2.0, 8.0) == pytest.approx(0.2)


def test_soft_spl_reaching_the_goal_equals_spl():
    # dT = 0 -> progress 1; l = 3, p = 4.5 -> 2/3, the same as SPL with success
    assert metrics.soft_spl(3.0, 0.0, 3.0, 4.5) == pytest.approx(metrics.spl(True, 3.0, 4.5))


def test_soft_spl_moving_away_is_clipped_to_zero():
    # d0 = 2, dT = 3 -> 1 - 3/2 = -0.5, clipped to 0
    assert metrics.soft_spl(2.0, 3.0, 2.0, 5.0) == 0.0
    # an unreachable final position: 1 - inf = -inf -> 0
    assert metrics.soft_spl(2.0, math.inf, 2.0, 5.0) == 0.0


def test_soft_spl_zero_initial_distance():
    # d0 = 0 -> progress 1.0; l = 0 -> efficiency 1.0 -> 1.0
    assert metrics.soft_spl(0.0, 0.0, 0.0, 0.0) == 1.0
    assert metrics.soft_spl(0.0, 0.5, 0.0, 1.0) == 1.0


# ---------------------------------------------------------------- distances and success
def test_distance_to_box_2d():
    lo, hi = np.array([0.0, 0.0]), np.array([2.0, 1.0])
    assert metrics.distance_to_box_2d([1.0, 0.5], lo, hi) == 0.0  # inside
    assert metrics.distance_to_box_2d([2.0, 1.0], lo, hi) == 0.0  # on a corner
    assert metrics.distance_to_box_2d([3.5, 0.5], lo, hi) == pytest.approx(1.5)  # beside an edge
    assert metrics.distance_to_box_2d([-1.0, 0.2], lo, hi) == pytest.approx(1.0)
    # off a corner: (5, 5) to the corner (2, 1) -> sqrt(3^2 + 4^2) = 5
    assert metrics.distance_to_box_2d([5.0, 5.0], lo, hi) == pytest.approx(5.0)
    # 3-D inputs: only x, y count (a box high on a shelf is as near as one on the floor)
    assert metrics.distance_to_box_2d([5.0, 5.0, 9.0], [0, 0, 1], [2, 1, 2]) == pytest.approx(5.0)


def test_objectnav_success():
    ok = metrics.objectnav_success
    assert ok(True, 0.8, 1.0, visible=True, require_visible=True)
    assert ok(True, 1.0, 1.0, visible=True, require_visible=True)  # the radius is inclusive
    assert not ok(False, 0.1, 1.0, visible=True, require_visible=True)  # no Stop, no success
    assert not ok(True, 1.2, 1.0, visible=True, require_visible=True)  # too far
    assert not ok(True, 0.5, 1.0, visible=False, require_visible=True)  # not seen
    assert ok(True, 0.5, 1.0, visible=False, require_visible=False)  # Habitat rule: no visibility
    assert not ok(True, math.inf, 1.0, visible=True, require_visible=False)
    assert not ok(True, math.nan, 1.0, visible=True, require_visible=False)


def test_path_length():
    # (0,0) -> (3,0) -> (3,4): 3 + 4 = 7
    assert metrics.path_length(np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 4.0]])) == pytest.approx(7.0)
    # a diagonal (0,0) -> (3,4) = 5; standing still adds nothing
    assert metrics.path_length([[0, 0], [3, 4], [3, 4]]) == pytest.approx(5.0)
    assert metrics.path_length(np.zeros((1, 2))) == 0.0
    assert metrics.path_length(np.zeros((0, 2))) == 0.0


# ---------------------------------------------------------------- input checks: what is refused, and saying what
@pytest.mark.parametrize("call, message", [
    (lambda: metrics.spl(True, math.inf, 1.0), "shortest_path_length must be a finite length >= 0, got inf"),
    (lambda: metrics.spl(True, 1.0, -0.5), "path_length must be a finite length >= 0, got -0.5"),
    (lambda: metrics.soft_spl(math.nan, 0.0, 1.0, 1.0), "initial_distance must be a finite length >= 0, got nan"),
    (lambda: metrics.soft_spl(1.0, -1.0, 1.0, 1.0), r"final_distance must be >= 0 \(inf allowed\), got -1.0"),
    (lambda: metrics.soft_spl(1.0, math.nan, 1.0, 1.0), r"final_distance must be >= 0 \(inf allowed\), got nan"),
    (lambda: metrics.soft_spl(1.0, 0.5, -2.0, 1.0), "shortest_path_length must be a finite length >= 0, got -2.0"),
    (lambda: metrics.soft_spl(1.0, 0.5, 1.0, math.inf), "path_length must be a finite length >= 0, got inf"),
    (lambda: metrics.path_length(np.zeros(4)), r"positions must be \(T, 2\), got shape \(4,\)"),
    (lambda: metrics.joint_state_error(math.inf, 0.0), "joint states must be finite, got inf and 0.0"),
    (lambda: metrics.joint_state_error(0.0, math.nan), "joint states must be finite, got 0.0 and nan"),
    (lambda: metrics.axis_angle_error_deg([0, 0, 0], [0, 0, 1]), "pred_axis must be a finite non-zero 3-vector"),
    (lambda: metrics.axis_angle_error_deg([0, 0, 1], [0, math.inf, 0]), "true_axis must be a finite non-zero 3-vector"),
    (lambda: metrics.axis_position_error([0] * 3, [0, 0, 0], [0] * 3, [0, 0, 1]), "pred_axis must be a finite"),
    (lambda: metrics.axis_position_error([0] * 3, [0, 0, 1], [0] * 3, [0, math.nan, 1]), "true_axis must be a finite"),
    (lambda: metrics.chamfer_distance(np.zeros((2, 2)), np.zeros((2, 3))), r"a must be \(N, 3\), got shape \(2, 2\)"),
    (lambda: metrics.chamfer_distance(np.zeros((2, 3)), np.zeros(3)), r"b must be \(N, 3\), got shape \(3,\)"),
    (lambda: metrics.chamfer_distance(np.zeros((0, 3)), np.zeros((2, 3))), "a is empty"),
    (lambda: metrics.chamfer_distance(np.zeros((2, 3)), np.zeros((0, 3))), "b is empty"),
    (lambda: metrics.voxelize(np.zeros((2, 3)), 0.0), "voxel_size must be > 0, got 0.0"),
    (lambda: metrics.part_iou_3d(np.zeros((2, 3)), np.zeros((0, 3))), "true_points is empty"),
    (lambda: metrics.joint_type_accuracy(["revolute"], []), "got 1 predicted and 0 true types"),
    (lambda: metrics.joint_type_accuracy([], []), "no joints to score"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, message):
    # The runner records an episode's error text: it must say which input was broken and how.
    with pytest.raises(ValueError, match=f"^{message}"):
        call()


def test_unsigned_integer_inputs_are_taken_as_numbers_not_wrapped():
    # Grid cells and pixel rows come as unsigned integers; 1 - 3 must be -2, not 254.
    cells = np.array([[3, 0], [1, 0], [1, 4]], dtype=np.uint8)        # 2 + 4 = 6 cells walked
    assert metrics.path_length(cells) == pytest.approx(6.0)
    lo, hi = np.array([5, 5], np.uint8), np.array([6, 6], np.uint8)
    assert metrics.distance_to_box_2d(np.array([2, 5], np.uint8), lo, hi) == pytest.approx(3.0)
    assert metrics.distance_to_box_2d(np.array([8, 5], np.uint8), lo, hi) == pytest.approx(2.0)
    # parallel axes 3 apart, origins given as unsigned cells: |(0, 3, 0) x z| = 3
    assert metrics.axis_position_error(np.array([0, 4, 0], np.uint8), [0, 0, 1],
                                       np.array([0, 1, 0], np.uint8), [0, 0, 1]) == pytest.approx(3.0)


def test_path_length_of_a_single_segment_and_of_k_coordinates():
    assert metrics.path_length([[0.0, 0.0], [3.0, 4.0]]) == pytest.approx(5.0)   # two points: one segment
    assert metrics.path_length([[0, 0, 0], [1, 2, 2]]) == pytest.approx(3.0)     # all k coordinates count


def test_soft_spl_progress_is_at_most_one():
    # d_T == 0 from d_0 > 0 is full progress (1.0), never more; efficiency 1 -> 1.0
    assert metrics.soft_spl(3.0, 0.0, 3.0, 3.0) == 1.0


def test_axis_position_error_skew_lines_use_the_common_perpendicular_not_the_origins():
    # pred: the x axis through the origin; true: the y direction through (0, 5, 1). They never
    # meet; the common perpendicular is the z segment from (0, 0, 0) to (0, 0, 1): distance 1,
    # although the true origin is sqrt(26) from the predicted line.
    assert metrics.axis_position_error([0, 0, 0], [1, 0, 0], [0, 5, 1], [0, 1, 0]) == pytest.approx(1.0)
    # the same with the true axis 45 deg off x (|n| = sin 45 < 1: the distance is |d.n| / |n|)
    assert metrics.axis_position_error([0, 0, 0], [1, 0, 0], [0, 5, 1], [1, 1, 0]) == pytest.approx(1.0)
    # |n| == parallel_tol exactly is not "parallel" (the rule is |n| < tol): perpendicular unit axes
    assert metrics.axis_position_error([0, 0, 0], [1, 0, 0], [0, 5, 1], [0, 1, 0],
                                       parallel_tol=1.0) == pytest.approx(1.0)


def test_axis_position_error_of_parallel_lines_does_not_depend_on_the_axes_length():
    # parallel lines 0.03 apart; the axes are directions, their length must not scale the answer
    assert metrics.axis_position_error([0, 0, 0], [0, 0, 2], [0.03, 0, 5], [0, 0, 1]) == pytest.approx(0.03)
    assert metrics.axis_position_error([0, 0, 0], [0, 0, 0.5], [0.03, 0, 5], [0, 0, -3]) == pytest.approx(0.03)


def test_axes_and_origins_may_come_as_rows():
    # (1, 3) rows, as sliced from an (N, 3) array, are the same 3-vectors
    row = np.array([[0.0, 0.0, 1.0]])
    assert metrics.axis_angle_error_deg(row, [[1.0, 0.0, 0.0]]) == pytest.approx(90.0)
    assert metrics.axis_position_error(np.array([[0.0, 0.0, 0.0]]), row, np.array([[0.0, 0.5, 2.0]]),
                                       row) == pytest.approx(0.5)
    # and as (3, 1) columns
    column = np.array([[0.0], [0.0], [1.0]])
    assert metrics.axis_position_error(np.zeros((3, 1)), column, np.array([[0.0], [0.5], [2.0]]),
                                       column) == pytest.approx(0.5)


def test_voxels_are_integer_indices_and_iou_defaults_to_one_centimetre():
    vox = metrics.voxelize([[0.015, -0.005, 0.0], [0.016, -0.004, 0.0]], 0.01)
    assert vox == {(1, -1, 0)} and all(type(c) is int for key in vox for c in key)
    # points 1 cm apart in x: with the default 1 cm voxels, 2 of them share 1 of 3 occupied voxels
    a = [[0.005, 0.005, 0.005], [0.015, 0.005, 0.005]]
    b = [[0.015, 0.005, 0.005], [0.025, 0.005, 0.005]]
    assert metrics.part_iou_3d(a, b) == pytest.approx(1 / 3)


def test_chamfer_distance_of_single_points():
    assert metrics.chamfer_distance([[0.0, 0.0, 0.0]], [[0.0, 3.0, 4.0]]) == pytest.approx(5.0)
