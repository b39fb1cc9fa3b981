"""ROS 2 messages <-> the framework's observation pieces, with every check a robot's streams need.

Why a module of its own: a real camera driver sends what it sends -- `bgr8` instead of `rgb8`,
depth in millimetres (`16UC1`) or metres (`32FC1`), row padding in `step`, NaNs where the sensor
saw nothing -- and one bad message must be rejected with a reason, never crash the node. The
functions here take message objects duck-typed (the fields of `sensor_msgs/Image`,
`sensor_msgs/CameraInfo`, `nav_msgs/Odometry`), so they import no ROS package and test without one;
`MalformedMessage` says what was wrong and what was expected.

Conventions (the ones `ObjectNavEnv` uses, so every agent reads a robot like the simulator):
rgb (H, W, 3) uint8; depth (H, W, 1) float32 metres, 0 where unknown (NaN, inf, 0 or beyond
`max_depth`); pose [x, y, yaw, pitch] in the frame of the episode's first odometry.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["MalformedMessage", "image_to_rgb", "image_to_depth", "image_to_labels", "camera_info_to_camera",
           "odometry_to_xyyaw", "relative_pose", "yaw_from_quaternion"]

#: bytes per pixel and channels of the encodings a camera driver commonly sends
_ENCODINGS = {"rgb8": (3, np.uint8), "bgr8": (3, np.uint8), "rgba8": (4, np.uint8), "bgra8": (4, np.uint8),
              "mono8": (1, np.uint8), "16UC1": (1, np.uint16), "mono16": (1, np.uint16), "32FC1": (1, np.float32),
              "32SC1": (1, np.int32)}


class MalformedMessage(ValueError):
    """A message that cannot be an observation; the text says what was wrong and what was expected."""


def _pixels(msg: Any, allowed: tuple[str, ...]) -> tuple[np.ndarray, str]:
    """The image's pixels as (H, W, C) of the encoding's dtype, honouring `step` and endianness."""
    encoding = str(getattr(msg, "encoding", ""))
    if encoding not in allowed:
        raise MalformedMessage(f"image encoding {encoding!r}; expected one of {', '.join(allowed)}")
    channels, dtype = _ENCODINGS[encoding]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise MalformedMessage(f"image of {w}x{h} pixels; expected a positive width and height")
    row = w * channels * np.dtype(dtype).itemsize
    if step < row:
        raise MalformedMessage(f"image step {step} bytes < {row} (width {w} x {channels} channels x "
                               f"{np.dtype(dtype).itemsize} bytes)")
    data = bytes(msg.data) if not isinstance(msg.data, (bytes, bytearray, memoryview)) else msg.data
    if len(data) != step * h:
        raise MalformedMessage(f"image data of {len(data)} bytes; expected step x height = {step * h}")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(h, step)[:, :row]
    order = ">" if int(getattr(msg, "is_bigendian", 0)) else "<"
    pixels = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(order)).reshape(h, w, channels)
    return pixels.astype(dtype, copy=False), encoding


def image_to_rgb(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an `rgb8`, `bgr8`, `rgba8`, `bgra8` or `mono8` image."""
    pixels, encoding = _pixels(msg, ("rgb8", "bgr8", "rgba8", "bgra8", "mono8"))
    if encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)
    rgb = pixels[..., :3]
    return np.ascontiguousarray(rgb[..., ::-1] if encoding.startswith("bgr") else rgb)


def image_to_depth(msg: Any, max_depth: float = 10.0) -> np.ndarray:
    """(H, W, 1) float32 metres of a `16UC1`/`mono16` (millimetres) or `32FC1` (metres) depth image.

    Pixels with no reading (0, NaN, inf) or beyond `max_depth` become 0, the simulator's "nothing
    there"; a frame with no valid pixel at all is rejected (a dead sensor is not an empty room).
    """
    pixels, encoding = _pixels(msg, ("16UC1", "mono16", "32FC1"))
    depth = pixels.astype(np.float32) / (1000.0 if encoding != "32FC1" else 1.0)
    bad = ~np.isfinite(depth) | (depth <= 0.0) | (depth > max_depth)
    if bad.all():
        raise MalformedMessage(f"depth image with no valid pixel (all 0, NaN, inf or > {max_depth} m)")
    return np.where(bad, 0.0, depth).astype(np.float32)


def image_to_labels(msg: Any) -> np.ndarray:
    """(H, W) int32 ids of a `32SC1` label image (semantic or instance segmentation)."""
    pixels, _ = _pixels(msg, ("32SC1",))
    return np.ascontiguousarray(pixels[..., 0])


def camera_info_to_camera(msg: Any, camera_height: float) -> dict[str, Any]:
    """`info["camera"]` (width, height, fx, fy, cx, cy, hfov, height_m) from a CameraInfo's K."""
    k = [float(v) for v in msg.k]
    w, h = int(msg.width), int(msg.height)
    if len(k) != 9 or not all(math.isfinite(v) for v in k):
        raise MalformedMessage(f"camera_info K {k}; expected 9 finite numbers")
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if fx <= 0 or fy <= 0 or w <= 0 or h <= 0:
        raise MalformedMessage(f"camera_info fx {fx}, fy {fy}, {w}x{h}; expected positive focal lengths and size")
    return {"width": w, "height": h, "fx": fx, "fy": fy, "cx": cx, "cy": cy,
            "hfov": 2.0 * math.atan(w / (2.0 * fx)), "height_m": float(camera_height)}


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Rotation about +z of a unit quaternion (x, y, z, w), in (-pi, pi]."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def odometry_to_xyyaw(msg: Any) -> np.ndarray:
    """[x, y, yaw] of an Odometry's pose (the odometry frame)."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    values = [float(p.x), float(p.y), float(q.x), float(q.y), float(q.z), float(q.w)]
    if not all(math.isfinite(v) for v in values):
        raise MalformedMessage(f"odometry pose {values}; expected finite numbers")
    norm = math.sqrt(sum(v * v for v in values[2:]))
    if not 0.9 < norm < 1.1:
        raise MalformedMessage(f"odometry orientation of norm {norm:.3f}; expected a unit quaternion")
    return np.array([values[0], values[1], yaw_from_quaternion(*(v / norm for v in values[2:]))])


def relative_pose(start: np.ndarray, now: np.ndarray, pitch: float = 0.0) -> np.ndarray:
    """The env's GPS+compass pose [x, y, yaw, pitch] of `now` in the frame of `start` ([x, y, yaw])."""
    dx, dy = now[0] - start[0], now[1] - start[1]
    c, s = math.cos(-start[2]), math.sin(-start[2])
    yaw = math.atan2(math.sin(now[2] - start[2]), math.cos(now[2] - start[2]))
    return np.array([c * dx - s * dy, s * dx + c * dy, yaw, pitch], dtype=np.float32)
