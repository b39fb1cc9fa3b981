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

Articulation (SfA) and rearrangement (AI2-THOR's two-phase Rearrangement challenge, scored as
allenai/ai2thor-rearrangement scores it) follow below, each under its own heading.
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


# ---------------------------------------------------------------------------------------------
# Rearrangement (AI2-THOR's two-phase Rearrangement challenge, Weihs et al. 2021, as
# allenai/ai2thor-rearrangement computes it; CSR reports these):
#
# * an object's pose energy in [0, 1] compares its goal pose with its current one. An openable
#   object that is not pickupable scores 1 when |openness difference| > 0.2, else 0. Any other
#   object scores 0.5 * max(1 - IoU / 0.5, 0) + 0.5 * d, with IoU of the two oriented 3-D boxes
#   (1 outright when the centres are < 1 cm and the rotations < 10 deg apart) and d = 0 when the
#   boxes overlap, else min(closest corner-to-corner distance / 2 m, 1);
# * misplaced = energy > 0; Success = the end energy is 0; % Fixed = fixed / initially misplaced;
#   % Fixed Strict = % Fixed, or 0 if anything became newly misplaced; % Misplaced = end / start
#   misplaced (can exceed 1); Energy Remaining = end / start energy.
# ---------------------------------------------------------------------------------------------
IOU_SAMPLES = 13
"""Points per axis with which the benchmark estimates a 3-D box IoU (13^3 = 2197 points)."""
MIN_IOU = 0.5            # IoU at which the overlap part of the energy reaches 0
OPENNESS_TOLERANCE = 0.2  # |openness difference| up to which an openable object is in place
POSITION_BARRIER = 2.0   # m: corner distance at which the distance part of the energy saturates
SAME_POSITION = 0.01     # m: centres this close ...
SAME_ROTATION = 10.0     # deg: ... and rotations this close count as IoU 1 without sampling


def _box_frame(name: str, corners: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin corner, unit edge directions (3, 3) as rows, edge lengths (3,)) of a box given by
    its 8 corners in any order: the three corners adjacent to corner 0 are the ones whose
    offsets from it are mutually orthogonal (face diagonals are not orthogonal to both edges of
    their face, so exactly one triple of the seven offsets is)."""
    c = np.asarray(corners, dtype=float)
    if c.shape != (8, 3) or not np.isfinite(c).all():
        raise ValueError(f"{name} must be (8, 3) finite box corners, got shape {c.shape}")
    offsets = c[1:] - c[0]
    lengths = np.linalg.norm(offsets, axis=1)
    if np.any(lengths < 1e-8):
        raise ValueError(f"{name} has coinciding corners: not a box")
    units = offsets / lengths[:, None]
    cos = np.abs(units @ units.T)
    best, best_err = None, np.inf
    for i in range(7):
        for j in range(i + 1, 7):
            for k in range(j + 1, 7):
                err = max(cos[i, j], cos[i, k], cos[j, k])
                if err < best_err:
                    best, best_err = (i, j, k), err
    if best_err > 1e-3:
        raise ValueError(f"{name}: no three mutually orthogonal edges meet at a corner: not a box")
    idx = list(best)
    return c[0], units[idx], lengths[idx]


def box_iou_3d(corners_a: ArrayLike, corners_b: ArrayLike, samples: int = IOU_SAMPLES) -> float:
    """IoU of two oriented 3-D boxes, estimated as the benchmark does: the centres of a
    ``samples``^3 grid of equal cells filling box b are tested against box a (with 1 mm of
    tolerance), so intersection = vol(b) * the fraction inside a.

    Why an estimate and not the exact polyhedron intersection: Energy Remaining and % Fixed must
    mean what they mean in published rearrangement results, and those use this estimator.
    """
    origin_a, axes_a, size_a = _box_frame("corners_a", corners_a)
    origin_b, axes_b, size_b = _box_frame("corners_b", corners_b)
    t = (np.arange(samples) + 0.5) / samples
    grid = np.stack(np.meshgrid(t, t, t, indexing="ij"), axis=-1).reshape(-1, 3)
    points = origin_b + (grid * size_b) @ axes_b                     # cell centres inside b
    local = (points - origin_a) @ axes_a.T                            # coordinates along a's edges
    inside = np.all((local > -1e-3) & (local <= size_a + 1e-3), axis=1)
    vol_a, vol_b = float(np.prod(size_a)), float(np.prod(size_b))
    intersection = vol_b * float(inside.mean())
    return intersection / (vol_a + vol_b - intersection)


def rotation_angle_deg(q0: ArrayLike, q1: ArrayLike) -> float:
    """Angle (deg, in [0, 180]) of the rotation between two orientations given as quaternions
    (x, y, z, w): 2 * atan2(|v|, |s|) of q0^-1 q1, exact near 0 where arccos is not."""
    a = np.asarray(q0, dtype=float).reshape(4)
    b = np.asarray(q1, dtype=float).reshape(4)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if not (na > 0 and nb > 0 and math.isfinite(na) and math.isfinite(nb)):
        raise ValueError(f"quaternions must be finite and non-zero, got {a} and {b}")
    a, b = a / na, b / nb
    s = float(a @ b)                                                  # scalar part of a^-1 b
    v = a[3] * b[:3] - b[3] * a[:3] - np.cross(a[:3], b[:3])          # its vector part
    return math.degrees(2.0 * math.atan2(float(np.linalg.norm(v)), abs(s)))


def pose_energy(goal: dict, cur: dict, min_iou: float = MIN_IOU,
                open_tol: float = OPENNESS_TOLERANCE,
                pos_barrier: float = POSITION_BARRIER) -> float:
    """Energy in [0, 1] between an object's goal pose and its current pose (0: in place).

    A pose is a dict: ``position`` (x, y, z) m, ``rotation`` quaternion (x, y, z, w),
    ``bounding_box`` (8, 3) world corners or None, ``openness`` in [0, 1] or None, ``pickupable``
    bool, and optionally ``broken`` (a broken object scores 1). See the section comment above for
    the formula; it is the benchmark's ``pose_difference_energy``.
    """
    if cur.get("broken", False):
        return 1.0
    goal_open, cur_open = goal.get("openness"), cur.get("openness")
    if goal_open is not None and cur_open is not None and not goal["pickupable"]:
        return 1.0 if abs(float(goal_open) - float(cur_open)) > open_tol else 0.0
    gbox, cbox = goal.get("bounding_box"), cur.get("bounding_box")
    if gbox is None or cbox is None:
        raise ValueError("pose_energy: a pose that is not openable needs a bounding_box")
    dist = float(np.linalg.norm(np.asarray(goal["position"], float) - np.asarray(cur["position"], float)))
    if dist < SAME_POSITION and rotation_angle_deg(goal["rotation"], cur["rotation"]) < SAME_ROTATION:
        iou = 1.0
    else:
        try:
            iou = box_iou_3d(gbox, cbox)
        except ValueError:
            iou = 0.0       # as the benchmark: a box it cannot read overlaps nothing
    iou_energy = max(1.0 - iou / min_iou, 0.0)
    if iou > 0:
        return 0.5 * iou_energy
    g, c = np.asarray(gbox, float).reshape(8, 3), np.asarray(cbox, float).reshape(8, 3)
    closest = float(np.min(np.linalg.norm(g[:, None, :] - c[None, :, :], axis=-1)))
    return 0.5 * iou_energy + 0.5 * min(closest / pos_barrier, 1.0)


def rearrangement_metrics(start_energies: ArrayLike, end_energies: ArrayLike) -> dict[str, float]:
    """The unshuffle phase's metrics from every object's energy at its start and at its end.

    Returns ``success`` (end energy 0), ``fixed`` (fixed / initially misplaced; 1 when nothing was
    misplaced), ``fixed_strict`` (``fixed``, or 0 when anything became newly misplaced), the counts
    ``start_misplaced``, ``end_misplaced``, ``newly_misplaced``, ``num_fixed`` and the energies
    ``start_energy``, ``end_energy``; and, only where the denominator is not 0 (as the benchmark),
    ``misplaced`` (end / start misplaced) and ``energy_remaining`` (end / start energy).
    """
    start = np.asarray(start_energies, dtype=float).reshape(-1)
    end = np.asarray(end_energies, dtype=float).reshape(-1)
    if start.shape != end.shape:
        raise ValueError(f"start_energies {start.shape} and end_energies {end.shape} differ")
    if np.any(~np.isfinite(start)) or np.any(~np.isfinite(end)):
        raise ValueError("energies must be finite")
    was, now = start > 0.0, end > 0.0
    initially = int(was.sum())
    num_fixed = initially - int((was & now).sum())
    newly = int((now & ~was).sum())
    fixed = 1.0 if initially == 0 else num_fixed / initially
    out = {
        "success": float(end.sum() == 0.0),
        "fixed": float(fixed),
        "fixed_strict": float(fixed if newly == 0 else 0.0),
        "start_misplaced": float(initially),
        "end_misplaced": float(now.sum()),
        "newly_misplaced": float(newly),
        "num_fixed": float(num_fixed),
        "start_energy": float(start.sum()),
        "end_energy": float(end.sum()),
    }
    if initially > 0:
        out["misplaced"] = float(now.sum()) / initially
    if start.sum() > 0:
        out["energy_remaining"] = float(end.sum() / start.sum())
    return out
