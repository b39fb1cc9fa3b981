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
