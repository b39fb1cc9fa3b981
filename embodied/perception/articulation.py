"""Structure from Action geometry: observed rigid motions of parts -> joints.

Why this module exists: SfA (Nie, Gadre et al. 2022) discovers an object's joints by pushing and
pulling it and watching which 3-D points move together. Everything after "which points moved where"
is pure geometry, and a sign or frame error there turns a door into a drawer without any crash.
So that geometry lives here, with no simulator, camera or torch import, and is tested on synthetic
motions whose answer is known (``tests/test_articulation.py``):

1. ``rigid_transform`` / ``ransac_rigid``: the rigid motion (R, t), ``x' = R x + t``, that maps a
   part's points before the interaction onto the same points after it (Kabsch least squares;
   RANSAC around it because flow/feature correspondences contain outliers).
2. ``segment_rigid_motions``: points that moved, grouped into rigid bodies by sequential RANSAC
   (one group per moving part; the points that did not move form the static base).
3. ``estimate_joint``: the screw decomposition of one (R, t). A rotation of angle theta about the
   unit axis a through the point p, plus a slide d along a, is ``x' = R (x - p) + p + d a``, so
   ``t = (I - R) p + d a``. A negligible angle means a prismatic joint (direction of the motion);
   otherwise revolute, with a from R's rotation vector and p from the least-squares solution of
   ``(I - R) p = t - (t . a) a`` (``I - R`` has rank 2: p is fixed up to a slide along a, so we
   report the axis point closest to a reference point such as the part's centroid). A real hinge
   has pitch d ~ 0; d is reported as a sanity check, not used.
4. ``aggregate_joint``: several interactions with the same part, combined in one frame: majority
   type, sign-aligned mean axis, median origin, and the range of observed joint states.

All quantities are metres and radians in whatever world frame the points are expressed in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial.transform import Rotation

__all__ = ["JointEstimate", "rigid_transform", "transform_points", "ransac_rigid",
           "segment_rigid_motions", "estimate_joint", "aggregate_joint"]

JOINT_TYPES = ("revolute", "prismatic", "static")


def _points(name: str, value: ArrayLike) -> np.ndarray:
    pts = np.asarray(value, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"{name} must be (N, 3), got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError(f"{name} contains non-finite values")
    return pts


def _unit(v: ArrayLike) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    n = float(np.linalg.norm(v))
    if n == 0.0 or not math.isfinite(n):
        raise ValueError(f"cannot normalise vector {v}")
    return v / n


def transform_points(R: np.ndarray, t: np.ndarray, points: ArrayLike) -> np.ndarray:
    """``R x + t`` for each row x of ``points`` (N, 3)."""
    return np.asarray(points, dtype=float) @ np.asarray(R, dtype=float).T + np.asarray(t, dtype=float)


def rigid_transform(src: ArrayLike, dst: ArrayLike,
                    weights: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rigid motion (R, t) with ``dst ~ R src + t`` (Kabsch / Umeyama, no scale).

    The SVD of the cross-covariance gives the best *orthogonal* matrix; when the points are noisy
    or nearly planar that can be a reflection (det = -1), which is not a motion a part can make, so
    the smallest singular direction is flipped (Umeyama's correction) to keep det(R) = +1.
    Needs at least 3 non-collinear correspondences; ``weights`` (N,) >= 0 weight the residuals.
    """
    src = _points("src", src)
    dst = _points("dst", dst)
    if src.shape != dst.shape:
        raise ValueError(f"src and dst must have the same shape, got {src.shape} and {dst.shape}")
    if len(src) < 3:
        raise ValueError(f"need at least 3 correspondences, got {len(src)}")
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(src),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be (N,), >= 0, with a positive sum")
    w = w / w.sum()
    cs = w @ src
    cd = w @ dst
    H = (src - cs).T @ ((dst - cd) * w[:, None])
    U, _, Vt = np.linalg.svd(H)
    D = np.eye(3)
    D[2, 2] = 1.0 if np.linalg.det(Vt.T @ U.T) > 0 else -1.0
    R = Vt.T @ D @ U.T
    t = cd - R @ cs
    return R, t


def _non_degenerate(p: np.ndarray, min_area: float) -> bool:
    """A minimal sample must span a triangle, or the rotation about its line is undetermined."""
    return float(np.linalg.norm(np.cross(p[1] - p[0], p[2] - p[0]))) > min_area


def ransac_rigid(src: ArrayLike, dst: ArrayLike, threshold: float = 0.01, iterations: int = 200,
                 rng: np.random.Generator | int | None = None,
                 min_inliers: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust rigid motion from correspondences with outliers: returns (R, t, inlier mask).

    Why RANSAC: correspondences from optical flow or nearest neighbours include points of other
    parts and mismatches, and one bad match pulls a least-squares fit by centimetres. Each
    iteration fits 3 random non-collinear correspondences; the hypothesis with the most points
    whose residual ``|R src + t - dst|`` is below ``threshold`` (m) wins, and (R, t) is then refit
    by least squares on its inliers (twice: the refit can gain a few inliers). Raises ValueError
    when no hypothesis reaches ``min_inliers``.
    """
    src = _points("src", src)
    dst = _points("dst", dst)
    if src.shape != dst.shape:
        raise ValueError(f"src and dst must have the same shape, got {src.shape} and {dst.shape}")
    n = len(src)
    if n < 3:
        raise ValueError(f"need at least 3 correspondences, got {n}")
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    rng = np.random.default_rng(rng)
    # A sample triangle thinner than the inlier tolerance gives an unreliable rotation.
    min_area = threshold ** 2
    best: np.ndarray | None = None
    best_count = 0
    for _ in range(int(iterations)):
        idx = rng.choice(n, size=3, replace=False)
        if not _non_degenerate(src[idx], min_area):
            continue
        R, t = rigid_transform(src[idx], dst[idx])
        inliers = np.linalg.norm(transform_points(R, t, src) - dst, axis=1) < threshold
        count = int(inliers.sum())
        if count > best_count:
            best, best_count = inliers, count
            if count == n:
                break
    if best is None or best_count < max(3, min_inliers):
        raise ValueError(f"RANSAC found no rigid motion with >= {max(3, min_inliers)} inliers")
    inliers = best
    for _ in range(2):
        R, t = rigid_transform(src[inliers], dst[inliers])
        refit = np.linalg.norm(transform_points(R, t, src) - dst, axis=1) < threshold
        if refit.sum() < 3:
            break
        inliers = refit
    R, t = rigid_transform(src[inliers], dst[inliers])
    return R, t, inliers


def segment_rigid_motions(points_before: ArrayLike, points_after: ArrayLike,
                          static_threshold: float = 0.005, threshold: float = 0.01,
                          min_points: int = 20, max_parts: int = 5, iterations: int = 300,
                          rng: np.random.Generator | int | None = None,
                          ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Group corresponding points (row i of both arrays is the same surface point) into rigid bodies.

    Returns ``(labels, motions)``: ``labels`` (N,) is 0 for points that moved less than
    ``static_threshold`` (the base), k >= 1 for the k-th moving part, -1 for moved points no
    rigid group explains (noise, mismatches); ``motions[k - 1]`` is part k's (R, t).

    Why sequential RANSAC: one interaction can move several parts (a door and the handle on it)
    and their number is unknown. The largest rigid group among the moved points is found first,
    removed, and the search repeats until fewer than ``min_points`` remain or no group reaches it.
    """
    before = _points("points_before", points_before)
    after = _points("points_after", points_after)
    if before.shape != after.shape:
        raise ValueError("points_before and points_after must be corresponding (same shape)")
    rng = np.random.default_rng(rng)
    labels = np.full(len(before), -1, dtype=int)
    labels[np.linalg.norm(after - before, axis=1) < static_threshold] = 0
    motions: list[tuple[np.ndarray, np.ndarray]] = []
    while len(motions) < max_parts:
        remaining = np.flatnonzero(labels == -1)
        if len(remaining) < max(3, min_points):
            break
        try:
            R, t, inliers = ransac_rigid(before[remaining], after[remaining], threshold,
                                         iterations, rng, min_inliers=min_points)
        except ValueError:
            break
        motions.append((R, t))
        labels[remaining[inliers]] = len(motions)
    return labels, motions


@dataclass
class JointEstimate:
    """One joint hypothesis in the world frame.

    ``axis``: unit direction (revolute: rotation axis, right-handed with a positive ``state``;
    prismatic: direction of the slide). ``origin``: a point on the axis (revolute: the one closest
    to the reference point; prismatic/static: the reference point itself, since a slide has no
    position). ``state``: the joint displacement this motion produced, radians or metres, >= 0 for
    a single estimate. ``pitch``: for revolute, the translation along the axis (m), ~0 for a
    real hinge; a large value means the motion was not a hinge rotation.
    """

    type: str
    axis: np.ndarray
    origin: np.ndarray
    state: float
    pitch: float = 0.0
    state_range: tuple[float, float] = field(default=(0.0, 0.0))
    #: how many points the fit rested on (1 when unknown); ``aggregate_joint`` weighs by it.
    support: float = 1.0

    def __post_init__(self) -> None:
        if self.type not in JOINT_TYPES:
            raise ValueError(f"joint type must be one of {JOINT_TYPES}, got {self.type!r}")


def estimate_joint(R: ArrayLike, t: ArrayLike, reference: ArrayLike | None = None,
                   min_angle_deg: float = 2.0, min_translation: float = 0.005) -> JointEstimate:
    """Screw decomposition of the rigid motion ``x' = R x + t`` of one part into a joint.

    * rotation angle < ``min_angle_deg`` and the reference point moved < ``min_translation`` (m):
      ``static`` (the push did not move the part; noise alone must not invent a joint);
    * rotation angle < ``min_angle_deg``: ``prismatic`` along the displacement of the reference
      point, state = its length. The displacement of the part's own centroid is used rather than t
      alone because t is the motion of the world origin: a 1 degree noise rotation of a part 3 m
      away from the origin changes t by 5 cm, but its centroid's displacement barely;
    * otherwise ``revolute``: axis a and angle from R's rotation vector, origin from the
      least-squares solution of ``(I - R) p = t - (t . a) a``, moved along a to the point closest
      to ``reference``; ``pitch`` = t . a.

    ``reference`` defaults to the world origin; pass the part's centroid (before the motion).
    """
    R = np.asarray(R, dtype=float)
    t = np.asarray(t, dtype=float).reshape(3)
    if R.shape != (3, 3):
        raise ValueError(f"R must be (3, 3), got shape {R.shape}")
    c = np.zeros(3) if reference is None else np.asarray(reference, dtype=float).reshape(3)
    rotvec = Rotation.from_matrix(R).as_rotvec()
    angle = float(np.linalg.norm(rotvec))
    moved = R @ c + t - c
    if angle < math.radians(min_angle_deg):
        dist = float(np.linalg.norm(moved))
        if dist < min_translation:
            return JointEstimate("static", np.zeros(3), c.copy(), 0.0)
        return JointEstimate("prismatic", moved / dist, c.copy(), dist, state_range=(0.0, dist))
    axis = rotvec / angle
    pitch = float(t @ axis)
    p, *_ = np.linalg.lstsq(np.eye(3) - R, t - pitch * axis, rcond=None)
    origin = p + float((c - p) @ axis) * axis
    return JointEstimate("revolute", axis, origin, angle, pitch=pitch, state_range=(0.0, angle))


def aggregate_joint(estimates: Sequence[JointEstimate]) -> JointEstimate:
    """Combine the estimates of one joint from several interactions into one.

    * type: vote among the non-static estimates (an interaction that failed to move the part
      says nothing about its type), each weighted by its ``support`` (the points its fit rested
      on); all static -> static. Ties prefer revolute, whose estimate also needed a real
      rotation, over prismatic.
    * weights: each estimate counts in proportion to how far it moved the part (|state|) times
      the points its fit rested on (``support``): a 2-degree nudge fixes an axis position to
      decimetres, a 30-degree swing to millimetres, and a fit to a sliver of a part (the rest
      turned out of view) is worth less than a fit to all of it.
    * axis: opposite pulls give opposite axes (a door opened, then closed), so the axes are first
      aligned to the principal direction of ``sum w a a^T`` (sign-free), states flipped with them,
      and the aligned axes averaged with the weights.
    * origin: the coordinate-wise weighted median of the per-interaction origins (robust to one
      bad fit).
    * ``state_range``: min..max of the joint positions the interactions went through, in order:
      0, then the running sum of the aligned states. Why a running sum: a part stays where it is
      left (the joints have friction), so each interaction starts where the previous one ended.
      ``state`` is the last of those positions.
    """
    if not estimates:
        raise ValueError("need at least one estimate")
    moving = [e for e in estimates if e.type != "static"]
    if not moving:
        origins = np.array([e.origin for e in estimates])
        return JointEstimate("static", np.zeros(3), np.median(origins, axis=0), 0.0)
    # each vote counts the points its fit rested on: three fits to slivers of a drawer (a few
    # hundred points each, half hidden under the drawer above) must not outvote three to its
    # whole front
    votes = {kind: sum(max(e.support, 0.0) for e in moving if e.type == kind)
             for kind in ("revolute", "prismatic")}
    jtype = "revolute" if votes["revolute"] >= votes["prismatic"] else "prismatic"
    chosen = [e for e in moving if e.type == jtype]
    axes = np.array([_unit(e.axis) for e in chosen])
    weights = np.array([abs(e.state) * max(e.support, 0.0) for e in chosen]) + 1e-9
    _, vecs = np.linalg.eigh((axes * weights[:, None]).T @ axes)
    principal = vecs[:, -1]
    signs = np.where(axes @ principal >= 0, 1.0, -1.0)
    axis = _unit((axes * (signs * weights)[:, None]).sum(axis=0))
    # A deterministic sign for the result: the first estimate keeps its orientation.
    if axis @ axes[0] < 0:
        axis, signs = -axis, -signs
    states = np.array([e.state for e in chosen]) * signs
    origins = np.array([e.origin for e in chosen])
    origin = np.array([weighted_median(origins[:, k], weights) for k in range(3)])
    pitch = weighted_median(np.array([e.pitch for e in chosen]), weights)
    positions = np.concatenate([[0.0], np.cumsum(states)])
    return JointEstimate(jtype, axis, origin, float(positions[-1]), pitch=pitch,
                         state_range=(float(positions.min()), float(positions.max())))


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which the cumulative weight (values sorted) first reaches half the total;
    with equal weights and an even count, the mean of the two middle values (the usual median)."""
    order = np.argsort(values)
    v, w = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    cum = np.cumsum(w)
    half = 0.5 * cum[-1]
    i = int(np.searchsorted(cum, half))
    if np.isclose(cum[i], half) and i + 1 < len(v):
        return float(0.5 * (v[i] + v[i + 1]))
    return float(v[i])


def joint_motion(est: JointEstimate) -> tuple[np.ndarray, np.ndarray]:
    """The rigid motion (R, t) a joint estimate stands for: its turn about (or slide along) the
    estimated axis by its state. Why not the raw fit: the model is the joint, and a fit the joint
    estimate corrected (a tilted slide squared to its front) must not drag the part's geometry."""
    axis = np.asarray(est.axis, dtype=float)
    if est.type == "revolute":
        R = Rotation.from_rotvec(axis * est.state).as_matrix()
        origin = np.asarray(est.origin, dtype=float)
        return R, origin - R @ origin + est.pitch * axis
    return np.eye(3), axis * est.state
