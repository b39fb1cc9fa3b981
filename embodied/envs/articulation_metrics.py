"""Scoring an SfA estimate against the object's ground truth: match joints, then measure them.

Why a module of its own: the metrics (``embodied.metrics``) compare *one* predicted joint with
*one* true joint, but an agent reports an unordered list of parts, possibly too few or too many.
Which prediction answers which true joint decides every number, so the matching is written down
here once, as a pure function of JSON data, and tested on hand-made estimates.

The estimate contract (what an agent attaches to its final action under ``"estimate"``)::

    {"joints": [{"type": "revolute" | "prismatic" | "static",
                 "axis": [x, y, z], "origin": [x, y, z],          # world frame, metres
                 "state_range": [lo, hi],                          # optional
                 "state": float,                                   # optional, see below
                 "link_points": int,                               # optional, points of the part
                 "centroid": [x, y, z],                            # optional, part's rest centroid
                 "points": [[x, y, z], ...]},                      # optional, the part's points
                ...],                                             #   at the episode's start
     "result": "ok" | "no articulation found"}                    # optional

Ground truth is the env's ``info["ground_truth"]`` list (type, axis, origin per movable joint).
For part segmentation the env also passes the true parts' points: the points of the first fused
cloud of the episode that the segmentation puts on each movable link, keyed by the joint's
``child`` link name. A prediction's ``points`` are compared with them in that same starting state
(an SfA agent labels the points it saw before it first moved the part).

Matching: predicted joints of type ``static`` are dropped (a part that did not move is no
joint). The rest are matched one to one with the true joints by the Hungarian method on

    cost = [types differ] + axis angle error / 90 deg + min(distance, 1 m)

plus ``1 - part IoU`` when both sides have points, where the distance is the axis-line distance for two revolute joints, and for the others the
distance from the predicted part's ``centroid`` (else its ``origin``) to the true origin: a slide
has no axis position, so only "which drawer" can tell two parallel prismatic joints apart.

Metrics (JSON numbers; absent when undefined, e.g. no matched revolute pair):

* ``joint_type_accuracy``: correct types among matched pairs over the number of *true* joints
  (an unmatched true joint counts as wrong, so finding 1 of 4 joints scores at most 0.25); an
  object without true joints scores 1 when nothing was predicted, else 0;
* ``axis_angle_error_deg``: mean over matched pairs (sign-free, [0, 90]);
* ``axis_position_error``: mean over matched pairs that are both revolute (m);
* ``part_iou``: mean over the true parts that were visible at the start of the voxel IoU
  (``embodied.metrics.part_iou_3d``, 1 cm voxels) of the matched prediction's points; a true part
  with no matched prediction, or a prediction without points, scores 0;
* ``chamfer_distance``: mean over matched pairs with points on both sides (m);
* ``joint_state_error_rad`` / ``joint_state_error_m``: mean over matched pairs of one type (both
  revolute / both prismatic) of ``|predicted - true|`` net joint motion over the episode: the
  prediction's ``state`` (its position at the end, the start being 0, signed along its ``axis``)
  against the env's true displacement (end state - start state, signed along the true axis); the
  prediction's sign is flipped when its axis points against the true one. Why the motion and
  not the absolute state: where a part's zero lies (closed) is not observable until it has
  been closed, while how far the agent moved it is;
* ``parts_found`` (predicted moving joints), ``parts_true``, ``parts_matched``;
* ``articulation_found``: 1 if the estimate has at least one moving joint, else 0.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from embodied.metrics import (axis_angle_error_deg, axis_position_error, chamfer_distance,
                              joint_state_error, part_iou_3d)

__all__ = ["moving_joints", "match_joints", "score_estimate", "failure_causes", "CAUSES", "NO_ARTICULATION"]

NO_ARTICULATION = "no articulation found"
MOVING = ("revolute", "prismatic")
MAX_DISTANCE_COST = 1.0   # m: a far-off part costs at most this much, like a wrong type
VOXEL = 0.01              # m: voxel size of the part IoU (about the cloud's point spacing)
#: What became of each true part, in the order they are checked (see `failure_causes`).
CAUSES = ("ok", "no handle found", "no motion", "fit failed", "wrong type", "merged parts",
          "wrong axis", "partial part")
WRONG_AXIS_DEG = 10.0     # a matched part whose axis is off by more than this
WRONG_AXIS_M = 0.1        # or (two hinges) whose axis line is farther than this from the true one
PARTIAL_IOU = 0.5         # a matched part whose segmentation overlaps less than this
MERGED_SHARE = 0.25       # a prediction with this share of its voxels on another true part
MIN_MOTION = {"revolute": math.radians(2.0), "prismatic": 0.01}   # rad, m: the part moved at all


def moving_joints(estimate: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The estimate's revolute/prismatic joints (accepts the dict contract or a bare list)."""
    if estimate is None:
        return []
    joints = estimate.get("joints", []) if isinstance(estimate, Mapping) else estimate
    out = []
    for j in joints:
        if j.get("type") not in MOVING:
            continue
        axis = np.asarray(j["axis"], dtype=float).reshape(3)
        if not (np.all(np.isfinite(axis)) and np.linalg.norm(axis) > 0):
            continue
        out.append(dict(j))
    return out


def _true_joints(ground_truth: Sequence[Mapping[str, Any]],
                 part_points: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The moving true joints, each with its part's start points (when given) under ``points``."""
    true = [dict(t) for t in ground_truth if t.get("type") in MOVING]
    for t in true:
        pts = (part_points or {}).get(t.get("child"))
        if pts is not None:
            t["points"] = pts
    return true


def _points(joint: Mapping[str, Any], key: str = "points") -> np.ndarray | None:
    """A joint's (N, 3) points, or None when absent or empty."""
    pts = joint.get(key)
    if pts is None:
        return None
    arr = np.asarray(pts, dtype=float).reshape(-1, 3)
    return arr if len(arr) else None


def _iou(pred: Mapping[str, Any], true: Mapping[str, Any]) -> float | None:
    """Voxel IoU of a prediction's and a true part's points; None when the true part has none."""
    t = _points(true)
    if t is None:
        return None
    p = _points(pred)
    return 0.0 if p is None else part_iou_3d(p, t, VOXEL)


def _pair_cost(pred: Mapping[str, Any], true: Mapping[str, Any]) -> float:
    cost = 0.0 if pred["type"] == true["type"] else 1.0
    iou = _iou(pred, true) if _points(pred) is not None else None
    if iou is not None:
        cost += 1.0 - iou
    cost += axis_angle_error_deg(pred["axis"], true["axis"]) / 90.0
    if pred["type"] == "revolute" and true["type"] == "revolute":
        dist = axis_position_error(pred["origin"], pred["axis"], true["origin"], true["axis"])
    else:
        ref = pred.get("centroid", pred["origin"])
        dist = float(np.linalg.norm(np.asarray(ref, float) - np.asarray(true["origin"], float)))
    return cost + min(dist, MAX_DISTANCE_COST)


def match_joints(pred: Sequence[Mapping[str, Any]],
                 true: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """One-to-one (pred index, true index) pairs minimising the summed cost (Hungarian)."""
    if not pred or not true:
        return []
    cost = np.array([[_pair_cost(p, t) for t in true] for p in pred])
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols)]


def score_estimate(estimate: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
                   ground_truth: Sequence[Mapping[str, Any]],
                   part_points: Mapping[str, Any] | None = None,
                   displacements: Mapping[str, float] | None = None) -> dict[str, float | int]:
    """SfA metrics of one object (see the module docstring), all plain JSON numbers.

    ``part_points`` maps a true joint's ``child`` link name to that part's (N, 3) points at the
    start; without it (or for a part it lacks) no segmentation metric is computed for that part.
    ``displacements`` maps a true joint's name to its net motion over the episode (rad or m);
    without it no joint state error is computed.
    """
    pred = moving_joints(estimate)
    true = _true_joints(ground_truth, part_points)
    pairs = match_joints(pred, true)
    out: dict[str, float | int] = {"parts_found": len(pred), "parts_true": len(true),
                                   "parts_matched": len(pairs),
                                   "articulation_found": int(bool(pred))}
    if not true:
        out["joint_type_accuracy"] = 1.0 if not pred else 0.0
        return out
    out["joint_type_accuracy"] = sum(pred[i]["type"] == true[j]["type"] for i, j in pairs) / len(true)
    if pairs:
        out["axis_angle_error_deg"] = float(np.mean(
            [axis_angle_error_deg(pred[i]["axis"], true[j]["axis"]) for i, j in pairs]))
    partner = {j: i for i, j in pairs}
    ious = [(_iou(pred[partner[j]], t) if j in partner else 0.0) if _points(t) is not None else None
            for j, t in enumerate(true)]
    if any(v is not None for v in ious):
        out["part_iou"] = float(np.mean([v for v in ious if v is not None]))
    chamfers = [chamfer_distance(_points(pred[i]), _points(true[j])) for i, j in pairs
                if _points(pred[i]) is not None and _points(true[j]) is not None]
    if chamfers:
        out["chamfer_distance"] = float(np.mean(chamfers))
    for kind, unit in (("revolute", "rad"), ("prismatic", "m")):
        errors = []
        for i, j in pairs:
            moved = (displacements or {}).get(true[j].get("joint"))
            if pred[i]["type"] != kind or true[j]["type"] != kind or moved is None \
                    or pred[i].get("state") is None:
                continue
            sign = 1.0 if float(np.dot(pred[i]["axis"], true[j]["axis"])) >= 0 else -1.0
            errors.append(joint_state_error(sign * float(pred[i]["state"]), float(moved)))
        if errors:
            out[f"joint_state_error_{unit}"] = float(np.mean(errors))
    rev = [(i, j) for i, j in pairs if pred[i]["type"] == "revolute" and true[j]["type"] == "revolute"]
    if rev:
        out["axis_position_error"] = float(np.mean(
            [axis_position_error(pred[i]["origin"], pred[i]["axis"], true[j]["origin"], true[j]["axis"])
             for i, j in rev]))
    return {k: (v if isinstance(v, int) or math.isfinite(v) else None) for k, v in out.items()}


def _voxels(points: np.ndarray) -> set[tuple[int, int, int]]:
    return set(map(tuple, np.floor(np.asarray(points, float) / VOXEL).astype(np.int64)))


def failure_causes(estimate: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
                   ground_truth: Sequence[Mapping[str, Any]],
                   part_points: Mapping[str, Any] | None = None,
                   touched: Sequence[str] = (),
                   motion: Mapping[str, float] | None = None) -> dict[str, int]:
    """Count, over an object's true moving parts, what became of each (`CAUSES`) -- so a run's
    summary says where the method breaks, not only how much.

    Unmatched parts: ``no handle found`` (no interaction grabbed the part or anything it
    carries: ``touched`` lists the grabbed links' names, and a true joint counts as touched when
    its ``child`` or a link below it (``descendants`` in its ground truth) was grabbed), ``no
    motion`` (grabbed, but its joint never moved more than 2 deg / 1 cm in any interaction:
    ``motion`` maps joint name -> largest |change|), else ``fit failed`` (it moved, and no
    estimate answers it). Matched parts, first failing check: ``wrong type``, ``merged parts``
    (at least a quarter of the prediction's voxels lie on another true part), ``wrong axis``
    (over 10 deg, or a hinge line over 0.1 m away), ``partial part`` (IoU under 0.5), else ``ok``.
    """
    pred = moving_joints(estimate)
    true = _true_joints(ground_truth, part_points)
    partner = {j: i for i, j in match_joints(pred, true)}
    grabbed = set(touched)
    counts = {cause: 0 for cause in CAUSES}
    true_voxels = [_voxels(_points(t)) if _points(t) is not None else set() for t in true]
    for j, t in enumerate(true):
        if j not in partner:
            links = {t.get("child"), *t.get("descendants", ())}
            moved = (motion or {}).get(t.get("joint"), 0.0)
            if not links & grabbed:
                counts["no handle found"] += 1
            elif abs(moved) < MIN_MOTION[t["type"]]:
                counts["no motion"] += 1
            else:
                counts["fit failed"] += 1
            continue
        p = pred[partner[j]]
        pts = _points(p)
        others = [v for k, v in enumerate(true_voxels) if k != j and v]
        mine = _voxels(pts) if pts is not None else set()
        iou = _iou(p, t)
        if p["type"] != t["type"]:
            counts["wrong type"] += 1
        elif mine and any(len(mine & v) >= MERGED_SHARE * len(mine) for v in others):
            counts["merged parts"] += 1
        elif axis_angle_error_deg(p["axis"], t["axis"]) > WRONG_AXIS_DEG or (
                p["type"] == "revolute" and
                axis_position_error(p["origin"], p["axis"], t["origin"], t["axis"]) > WRONG_AXIS_M):
            counts["wrong axis"] += 1
        elif iou is not None and iou < PARTIAL_IOU:
            counts["partial part"] += 1
        else:
            counts["ok"] += 1
    return counts
