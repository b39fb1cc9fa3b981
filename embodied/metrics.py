"""Episode metrics as pure functions: numbers in, numbers out, no env or simulator imports.

Why pure: every backend (PyBullet, AI2-THOR, Habitat, a robot) must score episodes the same way,
and the field's numbers are only comparable if the formulas are exactly the published ones. Keeping
them here, separately tested against hand-computed cases, means a task only has to supply the
inputs (success, geodesic distances, the agent's path).

ObjectNav (Anderson et al. 2018, "On Evaluation of Embodied Navigation Agents"; Habitat, RoboTHOR):

* Success: the agent called Stop within ``success_distance`` of a goal instance (RoboTHOR also
  requires the instance to be visible).
* SPL  = S * l / max(p, l), with S in {0, 1} the success, l the geodesic shortest-path length from
  the start to the goal region and p the length of the path the agent actually walked.
* Soft-SPL (Habitat's ``SoftSPL`` measure) = (1 - d_T / d_0, clipped to [0, 1]) * l / max(p, l),
  where d_0 and d_T are the geodesic distances to the goal region at the start and at the end:
  it credits progress towards the goal even when the episode fails.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def _check_length(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"{name} must be a finite length >= 0, got {value}")
    return value


def _efficiency(shortest_path_length: float, path_length: float) -> float:
    """l / max(p, l), the path-efficiency factor shared by SPL and Soft-SPL; 1.0 when l == 0."""
    if shortest_path_length == 0.0:
        return 1.0
    return shortest_path_length / max(path_length, shortest_path_length)


def spl(success: bool, shortest_path_length: float, path_length: float) -> float:
    """Success weighted by (normalised inverse) Path Length: S * l / max(p, l).

    l == 0 means the start already satisfies the goal; the ratio is then 0 / 0, and we score 1.0 if
    the episode succeeded, else 0.0 (walking away and back is not penalised: there is no shorter
    path to compare with). An infinite or negative length is a broken episode, not a score: it
    raises ValueError so the runner records the error instead of averaging a silent 0.
    """
    l = _check_length("shortest_path_length", shortest_path_length)
    p = _check_length("path_length", path_length)
    if not success:
        return 0.0
    return _efficiency(l, p)


def soft_spl(initial_distance: float, final_distance: float, shortest_path_length: float,
             path_length: float) -> float:
    """Habitat's Soft-SPL: clip(1 - d_T / d_0, 0, 1) * l / max(p, l).

    The first factor replaces binary success by the fraction of the initial geodesic distance the
    agent removed (moving away from the goal gives 0, not a negative score). d_0 == 0 (the start is
    already in the goal region) gives progress 1.0, and with l == 0 the efficiency is 1.0 as in
    ``spl``, so such an episode scores 1.0. An unreachable final position (d_T = inf) scores 0.
    """
    d0 = _check_length("initial_distance", initial_distance)
    dt = float(final_distance)
    if math.isnan(dt) or dt < 0.0:
        raise ValueError(f"final_distance must be >= 0 (inf allowed), got {dt}")
    l = _check_length("shortest_path_length", shortest_path_length)
    p = _check_length("path_length", path_length)
    if d0 == 0.0:
        progress = 1.0
    else:
        progress = min(1.0, max(0.0, 1.0 - dt / d0))
    return progress * _efficiency(l, p)


def distance_to_box_2d(xy: ArrayLike, box_min_xy: ArrayLike, box_max_xy: ArrayLike) -> float:
    """Euclidean distance (m) in the ground plane from a point to an axis-aligned box; 0 inside.

    ObjectNav's success radius is measured to the goal object, not to its centre: a large sofa is
    reached from its edge. Only the first two components of each argument are used, so 3-D
    positions and AABB corners can be passed as they are.
    """
    p = np.asarray(xy, dtype=float)[:2]
    lo = np.asarray(box_min_xy, dtype=float)[:2]
    hi = np.asarray(box_max_xy, dtype=float)[:2]
    gap = np.maximum(np.maximum(lo - p, p - hi), 0.0)
    return float(math.hypot(gap[0], gap[1]))


def objectnav_success(stop_called: bool, distance_to_goal: float, success_distance: float,
                      visible: bool, require_visible: bool) -> bool:
    """ObjectNav success: Stop was called within ``success_distance`` of the goal (and, when
    ``require_visible`` as in RoboTHOR, the goal is visible). Stopping anywhere else, or running out
    of steps next to the object, is a failure: the agent must *know* it has arrived."""
    if not stop_called:
        return False
    if not float(distance_to_goal) <= float(success_distance):  # also False for nan
        return False
    return bool(visible) or not require_visible


def path_length(positions: ArrayLike) -> float:
    """Length (m) of the walked polyline: the sum of distances between consecutive positions.

    Positions are (T, 2) (or (T, k): all k coordinates count); fewer than two give 0.
    """
    pts = np.asarray(positions, dtype=float)
    if pts.ndim != 2:
        raise ValueError(f"positions must be (T, 2), got shape {pts.shape}")
    if len(pts) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


# ---------------------------------------------------------------------------------------------
# Articulation (SfA, Nie, Gadre et al. 2022, "Structure from Action"): how well the discovered
# parts and joints match the object's ground truth.
#
# * joint-type accuracy = (number of joints whose predicted type equals the true type) / (number);
# * axis angle error (deg) = degrees(atan2(|a x b|, |a . b|)) for unit axes a, b: a joint axis has
#   no preferred sign (a hinge about a equals a hinge about -a with the opposite angle), so the
#   error is the smaller angle to +b or -b, in [0, 90];
# * axis position error (m) = the distance between the two axis *lines*: |(o_b - o_a) . n| / |n| with
#   n = a x b for skew lines, |(o_b - o_a) x a| for parallel ones (only meaningful for revolute
#   joints: a prismatic axis has no position);
# * joint state error = |predicted - true| (rad or m);
# * part 3-D IoU = |V(P) n V(Q)| / |V(P) u V(Q)|, with V the set of voxels of size s occupied by a
#   point set (voxel index floor(x / s) per axis);
# * Chamfer distance (m) = (mean_{p in P} min_{q in Q} |p - q| + mean_{q in Q} min_{p in P} |p - q|) / 2,
#   unsquared, so it reads as an average surface distance in metres.
# ---------------------------------------------------------------------------------------------
def _unit_axis(name: str, axis: ArrayLike) -> np.ndarray:
    a = np.asarray(axis, dtype=float).reshape(3)
    n = float(np.linalg.norm(a))
    if n == 0.0 or not math.isfinite(n):
        raise ValueError(f"{name} must be a finite non-zero 3-vector, got {a}")
    return a / n


def _point_set(name: str, points: ArrayLike) -> np.ndarray:
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"{name} must be (N, 3), got shape {pts.shape}")
    if len(pts) == 0:
        raise ValueError(f"{name} is empty")
    return pts


def joint_type_accuracy(pred_types: list[str], true_types: list[str]) -> float:
    """Fraction of joints whose predicted type ("revolute", "prismatic", ...) is the true one.

    The two lists are joints matched one to one (same order); no joints at all is a broken
    episode, not a perfect one, so it raises ValueError.
    """
    if len(pred_types) != len(true_types):
        raise ValueError(f"got {len(pred_types)} predicted and {len(true_types)} true types")
    if not true_types:
        raise ValueError("no joints to score")
    return sum(p == t for p, t in zip(pred_types, true_types)) / len(true_types)


def axis_angle_error_deg(pred_axis: ArrayLike, true_axis: ArrayLike) -> float:
    """Angle (deg, in [0, 90]) between two joint axes, ignoring their sign.

    atan2(|a x b|, |a . b|) rather than arccos(|a . b|): arccos loses all precision near 0, where
    the good estimates are (a 0.01 deg error would read as 0 or as ~0.1 deg from rounding).
    """
    a = _unit_axis("pred_axis", pred_axis)
    b = _unit_axis("true_axis", true_axis)
    return math.degrees(math.atan2(float(np.linalg.norm(np.cross(a, b))), abs(float(a @ b))))


def axis_position_error(pred_origin: ArrayLike, pred_axis: ArrayLike, true_origin: ArrayLike,
                        true_axis: ArrayLike, parallel_tol: float = 1e-9) -> float:
    """Distance (m) between the predicted and the true axis lines (each a point and a direction).

    Skew lines: |(o_t - o_p) . n| / |n| with n = a_p x a_t, the length of their common
    perpendicular. When |n| < ``parallel_tol`` the lines are parallel, n is undefined, and the
    distance is that of the true origin from the predicted line, |(o_t - o_p) x a_p|. Comparing
    lines, not origins, matters: any point on the axis is an equally correct origin.
    """
    a = _unit_axis("pred_axis", pred_axis)
    b = _unit_axis("true_axis", true_axis)
    d = np.asarray(true_origin, dtype=float).reshape(3) - np.asarray(pred_origin, dtype=float).reshape(3)
    n = np.cross(a, b)
    norm_n = float(np.linalg.norm(n))
    if norm_n < parallel_tol:
        return float(np.linalg.norm(np.cross(d, a)))
    return abs(float(d @ n)) / norm_n


def joint_state_error(pred: float, true: float) -> float:
    """|predicted - true| joint state (rad for revolute, m for prismatic)."""
    pred, true = float(pred), float(true)
    if not (math.isfinite(pred) and math.isfinite(true)):
        raise ValueError(f"joint states must be finite, got {pred} and {true}")
    return abs(pred - true)


def voxelize(points: ArrayLike, voxel_size: float) -> set[tuple[int, int, int]]:
    """The set of integer voxel indices floor(x / voxel_size) occupied by a (N, 3) point set."""
    if not voxel_size > 0:
        raise ValueError(f"voxel_size must be > 0, got {voxel_size}")
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    keys = np.floor(pts / voxel_size).astype(np.int64)
    return set(map(tuple, np.unique(keys, axis=0).tolist()))


def part_iou_3d(pred_points: ArrayLike, true_points: ArrayLike, voxel_size: float = 0.01) -> float:
    """3-D IoU of a predicted and a true part: |V(P) n V(Q)| / |V(P) u V(Q)| over occupied voxels.

    Why voxels: the predicted part is a set of observed points and the true one a sampled mesh;
    they never share points, but at a voxel size about the sensor's resolution they share cells.
    An empty prediction scores 0; an empty ground truth raises ValueError (nothing to score).
    """
    true_vox = voxelize(true_points, voxel_size)
    if not true_vox:
        raise ValueError("true_points is empty")
    pred_vox = voxelize(pred_points, voxel_size)
    return len(pred_vox & true_vox) / len(pred_vox | true_vox)


def chamfer_distance(a: ArrayLike, b: ArrayLike) -> float:
    """Symmetric Chamfer distance (m): the mean of the two directed mean nearest-neighbour distances.

    Both directions count: a prediction covering only half the part has a small a -> b term but a
    large b -> a term. Empty sets raise ValueError.
    """
    from scipy.spatial import cKDTree

    pa = _point_set("a", a)
    pb = _point_set("b", b)
    d_ab, _ = cKDTree(pb).query(pa)
    d_ba, _ = cKDTree(pa).query(pb)
    return 0.5 * (float(np.mean(d_ab)) + float(np.mean(d_ba)))
