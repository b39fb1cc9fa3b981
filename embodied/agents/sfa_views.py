"""SfA's view action: where the agent looks from, and when it moves the cameras.

Why a module of its own: choosing a view is a decision of its own kind (a robot moving its head
or base, paid from the interaction budget), made from the agent's state but apart from where to
pull. `Looking` is a mixin of `SfaAgent`: it reads and sets the agent's view state (``view``,
``start_view``, ``views``, ``looked``, ``interactions``, ``budget``) and reads its parts.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from embodied.interfaces import ArticulationAction

#: view actions: zoom-out factor and the farthest view (the env's VIEW_LIMITS allow 2.0;
#: this keeps the object large in the image).
ZOOM_OUT = 1.4
VIEW_MAX_SCALE = 1.96
#: a pull whose direction's vertical component exceeds this lifts; it is made from
#: ``TOP_ELEVATION`` degrees when the cameras look from below ``TOP_MIN_ELEVATION``.
LIFT_COS = 0.7
TOP_ELEVATION = 65.0
TOP_MIN_ELEVATION = 45.0
TOP_AFTER_TRIES = 2


def camera_elevation(extrinsic: np.ndarray) -> float:
    """Degrees the camera looks down (its optical axis below the horizontal)."""
    forward = np.asarray(extrinsic, dtype=float)[:3, 2]
    return float(np.degrees(np.arcsin(np.clip(-forward[2], -1.0, 1.0))))


def touches_border(cloud: np.ndarray, K: np.ndarray, extrinsic: np.ndarray,
                   shape: tuple[int, int], margin: float = 1.5) -> bool:
    """Whether some of the cloud projects onto the image's outermost pixels (``margin`` px) of
    camera ``K``/``extrinsic``: the object reaches past the frame."""
    if len(cloud) == 0:
        return False
    E = np.asarray(extrinsic, dtype=float)
    cam = (np.asarray(cloud, float) - E[:3, 3]) @ E[:3, :3]
    cam = cam[cam[:, 2] > 1e-6]
    u = K[0, 0] * cam[:, 0] / cam[:, 2] + K[0, 2]
    v = K[1, 1] * cam[:, 1] / cam[:, 2] + K[1, 2]
    h, w = shape
    return bool(np.any((u < margin) | (u > w - 1 - margin) | (v < margin) | (v > h - 1 - margin)))


class Looking:
    """The view action's decisions (a mixin of ``SfaAgent``; see the module docstring)."""

    config: Any
    view: tuple[float, float, float]
    start_view: tuple[float, float, float]
    start_cameras: np.ndarray
    views: int
    looked: bool
    interactions: int
    budget: int
    parts: list[Any]
    lifted: list[np.ndarray]
    log: list[dict[str, Any]]
    refining_part: Any

    def _may_look(self) -> bool:
        """Whether a view action is allowed now: views on, one left, budget left for it."""
        cfg = self.config
        return cfg.views and self.views < cfg.max_views and self.interactions < self.budget

    def look(self, view: tuple[float, float, float]) -> ArticulationAction:
        """The view action: move the cameras to ``view`` = (azimuth deg from where they started,
        elevation deg, distance scale); costs one interaction, as a robot's head or base move."""
        self.interactions += 1
        self.views += 1
        self.view = view
        self.looked = True
        self.log.append({"view": [float(v) for v in view]})
        zero = np.zeros(3, np.float32)
        return {"point": zero, "direction": np.array([1.0, 0.0, 0.0], np.float32),
                "distance": np.array([self.config.pull_distance], np.float32),
                "view": np.array(view, np.float32)}

    def _front_direction(self, cloud: np.ndarray) -> np.ndarray:
        """Horizontal unit vector from the object towards where the cameras first stood."""
        d = self.start_cameras.mean(axis=0) - cloud.mean(axis=0)
        d[2] = 0.0
        n = float(np.linalg.norm(d))
        return d / n if n > 1e-9 else np.array([1.0, 0.0, 0.0])

    def _wants_top_view(self, point: np.ndarray, direction: np.ndarray, refining: bool) -> bool:
        """Whether to look from above before a pull that lifts a top face (a lid, a flap).

        Why: a lid hinged at its back turns its top away from a camera that looks at it from
        the front and low; lifted by a few degrees it is seen edge-on, and its motion cannot be
        fitted to what is left (a sliver of its front edge). From above, its whole top stays in
        view while it turns. Not for the lifting second try of a handle on a front (most of
        those are drawers and doors that were stuck, and the fronts are seen best from where
        the cameras are). And only to lift further a part already seen to go up (a lid nudged
        by a pull at its front) or before any part is found (a chest whose fronts gave nothing): the top of a
        cabinet whose doors moved is rarely a lid, and a view costs an interaction; before any
        part is found, only after ``TOP_AFTER_TRIES`` pulls (the fronts first).
        """
        if any(np.linalg.norm(point - q) < 1e-6 for q in self.lifted):
            return False
        if (self.parts and not refining) or (not self.parts and self.interactions < TOP_AFTER_TRIES):
            return False
        if refining:                       # a part seen to go up (a lid), not one tried upwards
            shift = self.refining_part.grasp_shift
            if float(shift[2]) <= LIFT_COS * float(np.linalg.norm(shift)) or float(np.linalg.norm(shift)) < 1e-3:
                return False
        return (self._may_look() and self.interactions + 2 < self.budget
                and abs(float(direction[2])) > LIFT_COS and self.view[1] < TOP_MIN_ELEVATION)

    def _look_again_view(self, obs: dict[str, Any], cloud: np.ndarray) -> tuple[float, float, float] | None:
        """Where to look from when a motion could not be explained from here, or None.

        A part that came towards the camera (a small drawer pulled out by its own depth) can
        leave the frame: when the cloud reaches the image border, the same direction from
        further away sees it whole. (Looking from higher up after other failures was tried:
        on the generated cabinets most of those are a drawer under an open drawer, which a
        higher camera sees even less of.)
        """
        azimuth, elevation, scale = self.view
        if scale < VIEW_MAX_SCALE and touches_border(
                cloud, np.asarray(obs["intrinsics"], float)[0], np.asarray(obs["extrinsics"], float)[0],
                np.asarray(obs["depth"]).shape[-2:]):
            return azimuth, elevation, min(VIEW_MAX_SCALE, scale * ZOOM_OUT)
        return None
