"""Scoring an SfA estimate (embodied/envs/articulation_metrics.py): which prediction answers which
true joint, and the numbers each pair gives, on hand-made estimates worked out in the comments.
(tests/test_sfa.py has the first cases; these pin the matching cost term by term.)"""
from __future__ import annotations

import math

import numpy as np
import pytest

from embodied.envs.articulation_metrics import NO_ARTICULATION, match_joints, moving_joints, score_estimate

DOOR = {"joint": "j_door", "child": "door", "type": "revolute", "axis": [0.0, 0.0, 1.0],
        "origin": [0.5, 0.2, 0.4]}
DRAWER = {"joint": "j_drawer", "child": "drawer", "type": "prismatic", "axis": [1.0, 0.0, 0.0],
          "origin": [0.5, 0.0, 0.8]}


def slab(z: float) -> np.ndarray:
    """A 10 x 10 cm horizontal patch of points at height z, 1 cm apart (100 voxels of 1 cm)."""
    xs, ys = np.meshgrid(np.arange(10) * 0.01 + 0.005, np.arange(10) * 0.01 + 0.005)
    return np.stack([xs.ravel() + 0.5, ys.ravel(), np.full(100, z + 0.005)], axis=1)


def test_the_points_decide_which_drawer_is_which() -> None:
    """Two parallel drawers, both predicted with origins between them (a slide's origin is any
    point on it, so an estimate's is often off): by place alone each prediction is 0.1 m nearer
    the wrong drawer, but its points are exactly the other one's. The part IoU term of the cost
    (1 - IoU: 0 for the right pair, 1 for the wrong one) must outweigh the 0.2 m."""
    low = dict(DRAWER, joint="low", child="low", origin=[0.5, 0.0, 0.3], points=slab(0.3))
    high = dict(DRAWER, joint="high", child="high", origin=[0.5, 0.0, 0.8], points=slab(0.8))
    pred = [{"type": "prismatic", "axis": [1, 0, 0], "origin": [0.5, 0.0, 0.5], "points": slab(0.8)},
            {"type": "prismatic", "axis": [1, 0, 0], "origin": [0.5, 0.0, 0.6], "points": slab(0.3)}]
    # costs (type 0 + angle 0 + distance + (1 - IoU)):
    #   pred 0 - low 0.2 + 1 = 1.2, pred 0 - high 0.3 + 0 = 0.3
    #   pred 1 - low 0.3 + 0 = 0.3, pred 1 - high 0.2 + 1 = 1.2   -> crossed pairs, total 0.6
    assert sorted(match_joints(pred, [low, high])) == [(0, 1), (1, 0)]
    m = score_estimate(pred, [low, high], {"low": slab(0.3), "high": slab(0.8)})
    assert m["part_iou"] == 1.0 and m["chamfer_distance"] == 0.0
    # without points, place decides: the straight pairs
    bare = [{k: v for k, v in p.items() if k != "points"} for p in pred]
    assert sorted(match_joints(bare, [low, high])) == [(0, 0), (1, 1)]


# ------------------------------------------------------------------------------ the matching cost
def cost(pred: dict, true: dict) -> float:
    from embodied.envs.articulation_metrics import _pair_cost

    return _pair_cost(pred, true)


def test_the_pair_cost_term_by_term() -> None:
    """cost = [types differ] + axis angle / 90 deg + min(distance, 1 m) + (1 - part IoU): each term
    alone, by hand (the module docstring's formula)."""
    slide = {"type": "prismatic", "axis": [1, 0, 0], "origin": [0.5, 0.0, 0.8]}
    assert cost(slide, DRAWER) == 0.0
    # 45 deg off: 0.5
    assert cost(dict(slide, axis=[1, 1, 0]), DRAWER) == pytest.approx(0.5)
    # another place: the centroid (when given) is what is compared with the true origin, 0.3 m
    assert cost(dict(slide, origin=[9, 9, 9], centroid=[0.5, 0.3, 0.8]), DRAWER) == pytest.approx(0.3)
    assert cost(dict(slide, origin=[0.5, 0.0, 0.4]), DRAWER) == pytest.approx(0.4)
    assert cost(dict(slide, origin=[0.5, 0.0, 5.0]), DRAWER) == pytest.approx(1.0)          # capped at 1 m
    # the wrong type: +1, and the place is the point distance, not the axis-line distance: a
    # hinge at the drawer's origin but 0.2 m along x (on the same line) still costs 0.2
    hinge = {"type": "revolute", "axis": [1, 0, 0], "origin": [0.7, 0.0, 0.8]}
    assert cost(hinge, DRAWER) == pytest.approx(1.0 + 0.2)
    assert cost(dict(slide, origin=[0.7, 0.0, 0.8]), DOOR) == pytest.approx(1.0 + 1.0 + math.hypot(0.2, 0.2, 0.4))
    # two hinges: the distance between the axis *lines* (moving along the axis costs nothing)
    assert cost({"type": "revolute", "axis": [0, 0, 1], "origin": [0.5, 0.2, 3.0]}, DOOR) == 0.0
    assert cost({"type": "revolute", "axis": [0, 0, -1], "origin": [0.5, 0.25, 3.0]}, DOOR) == pytest.approx(0.05)
    # the points: 1 - IoU when both sides have them; none from the prediction, no term
    half = slab(0.8)[:50]
    truth = dict(DRAWER, points=slab(0.8))
    assert cost(dict(slide, points=half), truth) == pytest.approx(1.0 - 0.5)
    assert cost(slide, truth) == 0.0
    assert cost(dict(slide, points=half), DRAWER) == 0.0
    # all four at once: a hinge with half the drawer's points, 45 deg off, 0.2 m away
    assert cost(dict(hinge, axis=[1, 1, 0], points=half), truth) == pytest.approx(1.0 + 0.5 + 0.2 + 0.5)


def test_a_matched_prediction_without_points_scores_zero_iou_and_empty_point_lists_count_as_none() -> None:
    found = {"type": "prismatic", "axis": [1, 0, 0], "origin": [0.5, 0.0, 0.8]}
    m = score_estimate([found], [DRAWER], {"drawer": slab(0.8)})
    assert m["parts_matched"] == 1 and m["part_iou"] == 0.0 and "chamfer_distance" not in m
    m = score_estimate([dict(found, points=[])], [DRAWER], {"drawer": slab(0.8)})
    assert m["part_iou"] == 0.0 and "chamfer_distance" not in m
    # a true part whose point list is empty (not visible at the start) is left out of the mean
    m = score_estimate([dict(found, points=slab(0.8))], [DRAWER, DOOR], {"drawer": slab(0.8), "door": []})
    assert m["part_iou"] == 1.0


def test_which_predictions_are_joints() -> None:
    ok = {"type": "revolute", "axis": [0, 0, 1], "origin": [0, 0, 0]}
    assert moving_joints(None) == [] and moving_joints({"result": NO_ARTICULATION}) == []
    estimate = {"joints": [{"type": "static", "axis": [0, 0, 1], "origin": [0, 0, 0]},   # not a joint
                           dict(ok, axis=[0, 0, 0]),                                   # no direction
                           dict(ok, axis=[0, math.nan, 1]),
                           dict(ok, axis=[0, None, 1]),                                # JSON null
                           ok,
                           dict(ok, type="prismatic", axis=[[1, 0, 0]])]}              # a (1, 3) row
    assert moving_joints(estimate) == [ok, dict(ok, type="prismatic", axis=[[1, 0, 0]])]
    assert moving_joints(estimate["joints"]) == moving_joints(estimate)               # a bare list too
    m = score_estimate(estimate, [DOOR])
    assert (m["parts_found"], m["articulation_found"]) == (2, 1)


def test_joint_state_error_pairs_only_joints_of_its_kind_and_takes_the_axis_sign() -> None:
    door = dict(DOOR)
    moved = {"j_door": 0.4, "j_drawer": 0.1}
    # a prismatic prediction matched to the door (wrong type) has no state error of either kind
    wrong = [{"type": "prismatic", "axis": [0, 0, 1], "origin": [0.5, 0.2, 0.4], "state": 0.4}]
    m = score_estimate(wrong, [door], displacements=moved)
    assert "joint_state_error_rad" not in m and "joint_state_error_m" not in m
    # an axis tilted 37 deg from the true one still points along it (dot 0.8 > 0): sign kept;
    # perpendicular (dot 0) is not "against" it either
    for axis in ([0, 0.6, 0.8], [0, 1, 0]):
        m = score_estimate([{"type": "revolute", "axis": axis, "origin": [0.5, 0.2, 0.4], "state": 0.5}],
                           [door], displacements=moved)
        assert m["joint_state_error_rad"] == pytest.approx(0.1), axis
    # against it: 0.5 about -z is -0.5 about +z -> |-0.5 - 0.4| = 0.9
    m = score_estimate([{"type": "revolute", "axis": [0, 0, -2], "origin": [0.5, 0.2, 0.4], "state": 0.5}],
                       [door], displacements=moved)
    assert m["joint_state_error_rad"] == pytest.approx(0.9)
