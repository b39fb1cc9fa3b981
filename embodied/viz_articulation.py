"""Pictures of SfA episodes on `embodied/Articulation-PyBullet-v0`: what was pulled, what moved.

Plain numpy, like `embodied.viz` (whose `draw_polyline` / `draw_disc` do the rasterising), so a
frame per interaction costs little next to the physics. Geometry follows the env's conventions:
world points in metres, intrinsics K in the OpenCV convention (u = column, v = row), extrinsics E
camera-to-world with camera x right, y down, z forward. Pixels are addressed (row, col), the
order `embodied.viz` draws in.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from embodied.viz import draw_disc, draw_polyline

MOVED_RGB = np.array([40, 210, 70], np.uint8)     # the pull moved a part
STILL_RGB = np.array([230, 40, 40], np.uint8)     # it moved nothing
PENDING_RGB = np.array([245, 215, 30], np.uint8)  # not known yet (the frame before the outcome)
OUTLINE_RGB = np.array([15, 15, 15], np.uint8)    # a dark rim keeps strokes visible on any part
#: One colour per part, cycled; none of them is the interaction's green, red or yellow.
PART_PALETTE = np.array([[31, 119, 180], [255, 127, 14], [148, 103, 189], [23, 190, 207],
                         [227, 119, 194], [140, 86, 75], [188, 189, 34], [250, 250, 250]], np.uint8)

MIN_ARROW_PX = 10.0        # a 2 cm pull is a pixel or two at 160x120: lengthen it to be seen
PRISMATIC_ARROW_M = 0.15
NEAR_M = 0.01              # segments are cut where they pass behind this plane of the camera
DISC_RADIUS_PX = 3.0
MIN_FRAME_SIDE = 240


def project_points(points: np.ndarray, K: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) -> pixel (row, col) (N, 2) and camera depth z (N,).

    Rows with z <= 0 lie behind the camera: their (row, col) is NaN, so no caller can draw them
    by mistake; callers drop them by z.
    """
    cam = _to_camera(points, E)
    return _camera_to_rc(cam, K), cam[:, 2]


def draw_interaction(rgb: np.ndarray, K: np.ndarray, E: np.ndarray, point: np.ndarray,
                     direction: np.ndarray, distance: float, moved: bool | None = None) -> np.ndarray:
    """A copy of `rgb` showing one pull: a disc at the grabbed point and an arrow to where it was
    pulled (point + direction * distance), green if a part moved, red if not, yellow if unknown.

    The arrow is at least `MIN_ARROW_PX` long in the image (same direction), since the pulls are
    a few cm and would otherwise vanish under the disc.
    """
    img = _canvas(rgb)
    color = PENDING_RGB if moved is None else (MOVED_RGB if moved else STILL_RGB)
    point = np.asarray(point, np.float64).reshape(3)
    vector = np.asarray(direction, np.float64).reshape(3) * float(distance)
    arrow = _arrow_rc(K, E, point, vector, np.asarray(direction, np.float64).reshape(3))
    if arrow is not None:
        _stroke(img, _arrow_segments(*arrow), color)
    rc, z = project_points(point[None], K, E)
    if z[0] > 0:
        draw_disc(img, rc[0], DISC_RADIUS_PX + 1, OUTLINE_RGB)
        draw_disc(img, rc[0], DISC_RADIUS_PX, color)
    return img


def draw_parts(rgb: np.ndarray, K: np.ndarray, E: np.ndarray,
               parts: Sequence[tuple[np.ndarray, Mapping[str, Any] | None]] | None,
               alpha: float = 0.6) -> np.ndarray:
    """A copy of `rgb` with each found part's points tinted in its own colour and its joint drawn.

    Part i gets `PART_PALETTE[i % len]`, blended with `alpha` over the image (2x2 px per point,
    later parts over earlier ones). A revolute joint is its axis line through `origin`, spanning
    the part's extent along the axis plus 10% at each end (an infinite line says less about which
    part it belongs to); a prismatic joint is a `PRISMATIC_ARROW_M` arrow from the part centroid
    along the axis. Joints are drawn after all parts, in the part's pure colour, so no tint hides
    them. Parts without points are skipped (they keep their palette slot, so colours are stable).
    """
    img = _canvas(rgb)
    base = img.astype(np.float64)
    h, w = img.shape[:2]
    strokes = []
    for i, (points, joint) in enumerate(parts or ()):
        pts = np.asarray(points, np.float64).reshape(-1, 3)
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        if len(pts) == 0:
            continue
        color = PART_PALETTE[i % len(PART_PALETTE)]
        rc, z = project_points(pts, K, E)
        top_left = np.floor(rc[z > 0]).astype(np.int64)
        mask = np.zeros((h, w), bool)
        for dr in (0, 1):
            for dc in (0, 1):
                r, c = top_left[:, 0] + dr, top_left[:, 1] + dc
                keep = (r >= 0) & (r < h) & (c >= 0) & (c < w)
                mask[r[keep], c[keep]] = True
        img[mask] = np.round((1.0 - alpha) * base[mask] + alpha * color).astype(np.uint8)
        segments = _joint_segments(K, E, pts, joint)
        if segments:
            strokes.append((segments, color))
    for segments, color in strokes:
        _stroke(img, segments, color)
    return img


def sfa_frame(rgb: np.ndarray, K: np.ndarray, E: np.ndarray, interaction: Mapping[str, Any] | None,
              parts: Sequence[tuple[np.ndarray, Mapping[str, Any] | None]] | None) -> np.ndarray:
    """One video frame: the camera image, upscaled (nearest, integer factor) until its shorter side
    is >= `MIN_FRAME_SIDE` px, with the found parts and the current pull drawn on it.

    The overlays are drawn after upscaling, with K scaled to match, so strokes stay 1 px thin
    instead of growing blocky with the image. `interaction` is {"point", "direction", "distance",
    "moved"} ("moved" optional: unknown) or None.
    """
    img = _canvas(rgb)
    s = max(1, math.ceil(MIN_FRAME_SIDE / max(1, min(img.shape[:2]))))
    img = np.repeat(np.repeat(img, s, axis=0), s, axis=1)
    K = np.array(K, np.float64)
    # Nearest upscaling puts original pixel centre x at s * x + (s - 1) / 2, not at s * x.
    K[:2] *= s
    K[:2, 2] += (s - 1) / 2.0
    img = draw_parts(img, K, E, parts)
    if interaction is not None:
        img = draw_interaction(img, K, E, interaction["point"], interaction["direction"],
                               interaction["distance"], interaction.get("moved"))
    return img


# ----------------------------------------------------------------------------------- helpers
def _canvas(rgb: np.ndarray) -> np.ndarray:
    """A uint8 (H, W, 3) copy to draw on: the caller's image is never modified."""
    arr = np.asarray(rgb)
    if arr.dtype == np.uint8:
        return arr[..., :3].copy()
    return np.clip(np.round(arr[..., :3]), 0, 255).astype(np.uint8)


def _to_camera(points: np.ndarray, E: np.ndarray) -> np.ndarray:
    """World -> camera coordinates: R^T (p - t) for camera-to-world E = [R | t]."""
    E = np.asarray(E, np.float64)
    return (np.asarray(points, np.float64).reshape(-1, 3) - E[:3, 3]) @ E[:3, :3]


def _camera_to_rc(cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    uvw = cam @ np.asarray(K, np.float64).T
    z = cam[:, 2]
    rc = np.full((len(cam), 2), np.nan)
    front = z > 0
    rc[front, 0] = uvw[front, 1] / z[front]
    rc[front, 1] = uvw[front, 0] / z[front]
    return rc


def _segment_rc(K: np.ndarray, E: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """The world segment a-b in pixels (2, 2), cut at the near plane; None if wholly behind it."""
    ca, cb = _to_camera(np.stack([a, b]), E)
    if ca[2] < NEAR_M and cb[2] < NEAR_M:
        return None
    if ca[2] < NEAR_M or cb[2] < NEAR_M:
        t = (NEAR_M - ca[2]) / (cb[2] - ca[2])
        cut = ca + t * (cb - ca)
        ca, cb = (cut, cb) if ca[2] < NEAR_M else (ca, cut)
    return _camera_to_rc(np.stack([ca, cb]), K)


def _arrow_rc(K: np.ndarray, E: np.ndarray, start: np.ndarray, vector: np.ndarray,
              heading: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Tail and tip in pixels of the arrow start -> start + vector, lengthened to MIN_ARROW_PX
    along the image direction of `heading` (3D) when shorter: `vector` may be (near) zero."""
    seg = _segment_rc(K, E, start, start + vector)
    if seg is None:
        return None
    tail, tip = seg
    if np.hypot(*(tip - tail)) >= MIN_ARROW_PX:
        return tail, tip
    norm = float(np.linalg.norm(heading))
    probe = _segment_rc(K, E, start, start + 0.01 * heading / norm) if norm > 0 else None
    if probe is None:
        return tail, tip
    d = probe[1] - probe[0]
    n = float(np.hypot(*d))
    if not n > 1e-9:   # pulled along the line of sight: no image direction to lengthen along
        return tail, tip
    sign = 1.0 if float(np.dot(vector, heading)) >= 0 else -1.0
    return tail, tail + sign * d / n * MIN_ARROW_PX


def _arrow_segments(tail: np.ndarray, tip: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shaft plus two head strokes, 28 degrees off the shaft, 30% of its length (4 to 12 px)."""
    d = tip - tail
    length = float(np.hypot(*d))
    segments = [(tail, tip)]
    if length >= 1.0:
        back = -d / length * float(np.clip(0.3 * length, 4.0, 12.0))
        for angle in (math.radians(28.0), -math.radians(28.0)):
            c, s = math.cos(angle), math.sin(angle)
            segments.append((tip, tip + np.array([c * back[0] - s * back[1], s * back[0] + c * back[1]])))
    return segments


def _joint_segments(K: np.ndarray, E: np.ndarray, pts: np.ndarray,
                    joint: Mapping[str, Any] | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The pixel strokes that show a part's joint (see `draw_parts`); [] when there is nothing to
    show (no joint, another type, a zero axis, or all of it behind the camera)."""
    if joint is None or joint.get("type") not in ("revolute", "prismatic"):
        return []
    axis = np.asarray(joint.get("axis", (0.0, 0.0, 0.0)), np.float64).reshape(3)
    norm = float(np.linalg.norm(axis))
    if not norm > 1e-12:
        return []
    axis = axis / norm
    if joint["type"] == "prismatic":
        start = pts.mean(axis=0)
        arrow = _arrow_rc(K, E, start, PRISMATIC_ARROW_M * axis, axis)
        return _arrow_segments(*arrow) if arrow is not None else []
    origin = np.asarray(joint.get("origin", pts.mean(axis=0)), np.float64).reshape(3)
    t = (pts - origin) @ axis
    lo, hi = float(t.min()), float(t.max())
    pad = 0.1 * (hi - lo)
    seg = _segment_rc(K, E, origin + (lo - pad) * axis, origin + (hi + pad) * axis)
    return [(seg[0], seg[1])] if seg is not None else []


def _stroke(img: np.ndarray, segments: Sequence[tuple[np.ndarray, np.ndarray]], color: np.ndarray) -> None:
    """Draw segments 1 px in `color` over a 3 px dark rim (all rims first, so no rim covers a
    neighbouring segment's core)."""
    for rgb, width in ((OUTLINE_RGB, 3), (color, 1)):
        for a, b in segments:
            clipped = _clip_to_image(a, b, img.shape[0], img.shape[1])
            if clipped is not None:
                draw_polyline(img, clipped, rgb, width)


def _clip_to_image(a: np.ndarray, b: np.ndarray, h: int, w: int) -> np.ndarray | None:
    """Liang-Barsky: the part of segment a-b (row, col) inside the image, or None.

    Needed because `draw_polyline` samples every half pixel of a segment (a point just in front
    of the camera can project 1e5 px away) and clamps stray samples onto the border.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return None
    d = b - a
    t0, t1 = 0.0, 1.0
    for p, q in ((-d[0], a[0] + 0.5), (d[0], h - 0.5 - a[0]), (-d[1], a[1] + 0.5), (d[1], w - 0.5 - a[1])):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return np.stack([a + t0 * d, a + t1 * d])
