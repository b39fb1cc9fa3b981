"""SfA's motion fits: the rigid motion one pull gave a part, and the joint it stands for.

Why a module of its own: fitting is the numerical heart of the agent (visibility-aware ICP,
RANSAC, the fallbacks when a fit lands where the hand did not go), separate from deciding where
to pull and what to make of a fit. `MotionFits` is a mixin of `SfaAgent`: it reads the agent's
``config`` (``icp_iterations``), ``cameras`` (where the "after" cloud was seen from) and ``rng``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from embodied.perception.articulation import JointEstimate, estimate_joint, ransac_rigid
from embodied.perception.pointcloud import dominant_normal, facing_cameras, icp

#: a motion fit needs at least this share of the part's points still facing a camera after it.
MIN_VISIBLE_SHARE = 0.3
#: degrees: swings tried when a pull's motion does not fit from the commanded translation.
SWING_GUESSES_DEG = (10.0, 20.0, 35.0)
#: degrees: turns in the moved face's own plane tried when nothing else fits (a wheel).
SPIN_GUESSES_DEG = (20.0, 45.0, 90.0, 135.0, 180.0)
#: a swing fit may keep fewer of the part's points in view (see ``SfaAgent._fit_swing``).
SWING_VISIBLE_SHARE = 0.2
#: a swing fit may carry the touched point at most this many pull distances.
SWING_REACH = 1.5
#: m: a fitted hinge line farther than this from every point of its part is taken for a slide.
FAR_HINGE = 1.0
#: a hand that moved more than GRIP_TOLERANCE (m) constrains the fit: the grasped point must end
#: within GRIP_SHARE of the hand's shift (at least GRIP_TOLERANCE) of where the hand let go, or
#: further on within COAST_COS of its direction (see ``SfaAgent._plausible``).
GRIP_TOLERANCE = 0.03
GRIP_SHARE = 0.5
COAST_COS = 0.95


def joint_from_motion(R: np.ndarray, t: np.ndarray, points: np.ndarray,
                      reference: np.ndarray) -> JointEstimate:
    """The joint one fitted motion of a part's ``points`` stands for (``estimate_joint``), but a
    turn about a line farther than ``FAR_HINGE`` from every point of the part is a slide.

    Why: a hinge is attached to its part. A drawer pushed in hides its tray, and the fit to
    what stays in view can pick up a noise rotation of 2-4° about a line metres away; over
    the part that motion is a translation, and it is kept as one.
    """
    est = estimate_joint(R, t, reference=reference)
    if est.type == "revolute":
        axis = np.asarray(est.axis, dtype=float)
        rel = np.asarray(points, dtype=float) - np.asarray(est.origin, dtype=float)
        rel -= np.outer(rel @ axis, axis)
        if float(np.linalg.norm(rel, axis=1).min()) > FAR_HINGE:
            est = estimate_joint(R, t, reference=reference, min_angle_deg=180.0)
    return est


class MotionFits:
    """Fitting one pull's motion (a mixin of ``SfaAgent``; see the module docstring)."""

    config: Any
    cameras: np.ndarray
    rng: np.random.Generator

    def _square_slide(self, est: JointEstimate, src: np.ndarray, after: np.ndarray,
                      threshold: float) -> JointEstimate:
        """Prefer a slide square to the part's front when the data cannot tell it apart.

        Why: a drawer front is a flat face, and matching a flat face to its moved copy fixes
        the motion across the face well but along it only by the few points of its edges and
        handle, so the fitted slide can tilt by 10-20 degrees. Drawers slide perpendicular to
        their fronts; the perpendicular slide of the same length along the front's normal is
        taken when it explains the "after" cloud as well (median residual within a third of
        the fit threshold), and the tilted one is kept when the data clearly favour it.
        """
        normal = dominant_normal(src)
        if normal is None:
            return est
        axis = np.asarray(est.axis, dtype=float)
        along = float(np.dot(axis, normal))
        if abs(along) < math.cos(math.radians(30.0)):
            return est
        shift = est.state * axis
        square = float(np.dot(shift, normal)) * normal
        tree = cKDTree(after)
        fitted = float(np.median(tree.query(src + shift)[0]))
        snapped = float(np.median(tree.query(src + square)[0]))
        if snapped > fitted + threshold / 3.0:
            return est
        length = float(np.linalg.norm(square))
        return JointEstimate("prismatic", square / length, est.origin, length,
                             state_range=(0.0, length))

    def _fit(self, src: np.ndarray, normals: np.ndarray, after: np.ndarray, init_t: np.ndarray,
             threshold: float, R0: np.ndarray | None = None, min_share: float = MIN_VISIBLE_SHARE,
             wide: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Visibility-aware ICP, then RANSAC on the matches of the points still seen:
        (R, t, inlier mask over ``src``), or None when nothing fits or too little stays in view.
        ``wide``: ICP's first matches reach as far as from a translation guess, not a refit's."""
        cfg = self.config
        R, t, matched, visible = icp(src, after, init_t, cfg.icp_iterations, threshold, R0=R0,
                                     src_normals=normals, cameras=self.cameras,
                                     start_radius=0.08 if wide else None)
        seen = np.flatnonzero(visible)
        if len(seen) < max(6, min_share * len(src)):
            return None
        try:
            R, t, inl = ransac_rigid(src[seen], matched[seen], threshold=threshold, iterations=200,
                                     rng=self.rng, min_inliers=max(3, len(seen) // 3))
        except ValueError:
            return None
        mask = np.zeros(len(src), dtype=bool)
        mask[seen[inl]] = True
        return R, t, mask

    @staticmethod
    def _plausible(R: np.ndarray, t: np.ndarray, point: np.ndarray, direction: np.ndarray,
                   distance: float, gripper: np.ndarray | None) -> bool:
        """Whether a fitted motion carries the grasped point the way the hand went.

        Why: a fit to a small or flat part can settle in a wrong minimum (a small drawer pulled
        out by its own depth fitted as a 90 degree turn that lays its front onto its floor,
        which carries the grasped point backwards). With the env's ``gripper_shift`` the fit
        must carry the grasped point to within ``GRIP_SHARE`` of the hand's shift (at least
        ``GRIP_TOLERANCE``) of where the hand let go, or further on the same way (within
        ``COAST_COS``): a door pulled near its hinge keeps swinging after it is let go. Without
        it, forward along the pull by at most ``SWING_REACH`` pull distances.
        """
        shift = R @ point + t - point
        if gripper is not None and float(np.linalg.norm(gripper)) > GRIP_TOLERANCE:
            hand = float(np.linalg.norm(gripper))
            if float(np.linalg.norm(shift - gripper)) <= max(GRIP_TOLERANCE, GRIP_SHARE * hand):
                return True                    # where the hand let go
            along = float(shift @ gripper) / hand
            return along >= hand and along >= COAST_COS * float(np.linalg.norm(shift))
        d = direction / np.linalg.norm(direction)
        reach = SWING_REACH * distance
        return bool(float(shift @ d) > 0.0 and float(np.linalg.norm(shift)) <= reach)

    def _fit_slide(self, src: np.ndarray, normals: np.ndarray, after: np.ndarray,
                   init_t: np.ndarray, threshold: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The fit again as a pure translation: (I, t, inlier mask), or None.

        Why: when the free fits fail or land where the hand did not go, the part may be a
        slide whose flat front lets rotations wander; a translation has no rotation to lose.
        """
        t = np.asarray(init_t, dtype=float)
        tree = cKDTree(after)
        visible = np.ones(len(src), dtype=bool)
        for radius in np.geomspace(0.08, threshold, max(2, self.config.icp_iterations)):
            moved = src + t
            visible = facing_cameras(moved, normals, self.cameras)
            d, nn = tree.query(moved)
            keep = (d < radius) & visible
            if keep.sum() < 6:
                return None
            t = (after[nn[keep]] - src[keep]).mean(axis=0)
        d, _ = tree.query(src + t)
        inliers = (d < threshold) & facing_cameras(src + t, normals, self.cameras)
        if inliers.sum() < max(6, MIN_VISIBLE_SHARE * len(src)):
            return None
        return np.eye(3), t, inliers

    def _fit_spin(self, src: np.ndarray, normals: np.ndarray, after: np.ndarray, threshold: float,
                  accept: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The fit again from turns about the moved face's own normal, through its middle.

        Why: a wheel or a knob turns in its own plane, by as much as the hand carries it round
        (a quarter turn and more), so neither the commanded translation nor a swing about an
        edge starts ICP near it. The face's normal (``dominant_normal``) through the moved
        points' centroid is the likely axis; turns of ``SPIN_GUESSES_DEG`` both ways are tried,
        and of the fits the hand's motion allows (``accept``) the one with most inliers wins.
        """
        axis = dominant_normal(src)
        if axis is None:
            return None
        centre = src.mean(axis=0)
        best, best_count = None, 0
        for deg in SPIN_GUESSES_DEG:
            for sign in (1.0, -1.0):
                R0 = Rotation.from_rotvec(axis * sign * np.radians(deg)).as_matrix()
                fit = self._fit(src, normals, after, centre - R0 @ centre, threshold, R0=R0,
                                min_share=SWING_VISIBLE_SHARE)
                if fit is None or not accept(fit):
                    continue
                if fit[2].sum() > best_count:
                    best, best_count = fit, int(fit[2].sum())
        return best

    def _fit_swing(self, src: np.ndarray, normals: np.ndarray, after: np.ndarray,
                   point: np.ndarray, direction: np.ndarray, distance: float, threshold: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The fit again from swings: rotations about hinge lines at the part's edges.

        Why: the first fit starts from the commanded translation, and a door that swung by 20°
        or more lies too far from that for ICP to reach; it converges elsewhere or loses sight
        of the part. A hinge lies on an edge of its part, across the pull: for each world axis
        not along the pull, the two extremes of the part along (axis x pull) are hinge guesses,
        and the swing's sign is the one that carries the touched point along the pull. Of the
        fits that carry the touched point forward by no more than the pull allows, the one with
        the most inliers wins. Its visible share may be lower than the first fit's: a door
        swung far turns most of its face from the camera, but then every guess agrees.
        """
        d = direction / np.linalg.norm(direction)
        best, best_count = None, 0
        for axis in np.eye(3):
            edge = np.cross(axis, d)
            if np.linalg.norm(edge) < 0.5:
                continue
            for hinge in (src[np.argmin(src @ edge)], src[np.argmax(src @ edge)]):
                sign = 1.0 if np.dot(np.cross(axis, point - hinge), d) >= 0 else -1.0
                for deg in SWING_GUESSES_DEG:
                    R0 = Rotation.from_rotvec(axis * sign * np.radians(deg)).as_matrix()
                    fit = self._fit(src, normals, after, hinge - R0 @ hinge, threshold, R0=R0,
                                    min_share=SWING_VISIBLE_SHARE, wide=True)
                    if fit is None:
                        continue
                    R, t, inliers = fit
                    shift = R @ point + t - point
                    if not 0.0 < shift @ d <= SWING_REACH * distance or \
                            np.linalg.norm(shift) > SWING_REACH * distance:
                        continue
                    if inliers.sum() > best_count:
                        best, best_count = fit, int(inliers.sum())
        return best
