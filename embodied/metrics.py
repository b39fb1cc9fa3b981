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
