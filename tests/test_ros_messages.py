"""Image/CameraInfo/Odometry conversion with real ROS 2 message classes: encodings, padding,
millimetre depth, NaNs, malformed messages rejected with a reason."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from embodied.ros.messages import (MalformedMessage, camera_info_to_camera, image_to_depth, image_to_rgb,
                                   odometry_to_xyyaw, relative_pose)

from tests.ros_robot import require_ros  # noqa: E402

require_ros("sensor_msgs")

from nav_msgs.msg import Odometry  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402


def image(arr: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    h, w = arr.shape[:2]
    a = arr.astype(arr.dtype.newbyteorder(">" if bigendian else "<"))
    rows = a.reshape(h, -1).view(np.uint8)
    rows = np.concatenate([rows, np.zeros((h, pad), np.uint8)], axis=1)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=int(bigendian), step=rows.shape[1])
    msg.data = rows.tobytes()
    return msg


def test_colour_encodings_and_row_padding() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(image_to_rgb(image(rgb, "rgb8")), rgb)
    assert np.array_equal(image_to_rgb(image(rgb, "rgb8", pad=3)), rgb)           # step > width * 3
    assert np.array_equal(image_to_rgb(image(rgb[..., ::-1].copy(), "bgr8")), rgb)
    rgba = np.concatenate([rgb, np.full((5, 7, 1), 255, np.uint8)], axis=2)
    assert np.array_equal(image_to_rgb(image(rgba, "rgba8")), rgb)
    grey = rgb[..., :1].copy()
    assert np.array_equal(image_to_rgb(image(grey, "mono8")), np.repeat(grey, 3, axis=2))


def test_depth_in_millimetres_and_metres_with_holes() -> None:
    mm = np.array([[1000, 2500], [0, 65535]], np.uint16)[..., None]
    out = image_to_depth(image(mm, "16UC1"))
    np.testing.assert_allclose(out[..., 0], [[1.0, 2.5], [0.0, 0.0]])             # 0 and > 10 m: no reading
    assert out.shape == (2, 2, 1) and out.dtype == np.float32
    assert np.array_equal(image_to_depth(image(mm, "16UC1", bigendian=True)), out)
    m = np.array([[1.25, np.nan], [np.inf, -1.0]], np.float32)[..., None]
    np.testing.assert_allclose(image_to_depth(image(m, "32FC1"))[..., 0], [[1.25, 0], [0, 0]])


@pytest.mark.parametrize("mutate, words", [
    (lambda m: setattr(m, "encoding", "yuv422"), "encoding"),
    (lambda m: setattr(m, "data", bytes(m.data)[:-1]), "bytes"),
    (lambda m: setattr(m, "step", 2), "step"),
    (lambda m: setattr(m, "width", 0), "width"),
])
def test_malformed_images_are_rejected_with_a_reason(mutate, words) -> None:
    msg = image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    mutate(msg)
    with pytest.raises(MalformedMessage, match=words):
        image_to_rgb(msg)
    with pytest.raises(MalformedMessage, match="no valid pixel"):
        image_to_depth(image(np.full((2, 2, 1), np.nan, np.float32), "32FC1"))
    with pytest.raises(MalformedMessage, match="encoding"):
        image_to_depth(image(np.zeros((2, 2, 3), np.uint8), "rgb8"))


def test_camera_info_and_odometry() -> None:
    info = CameraInfo(width=224, height=224)
    info.k = [112.0, 0.0, 111.5, 0.0, 112.0, 111.5, 0.0, 0.0, 1.0]
    cam = camera_info_to_camera(info, camera_height=0.88)
    assert cam["fx"] == 112.0 and cam["cx"] == 111.5 and cam["height_m"] == 0.88
    assert cam["hfov"] == pytest.approx(math.pi / 2)
    info.k = [0.0] * 9
    with pytest.raises(MalformedMessage, match="focal"):
        camera_info_to_camera(info, 0.88)
    odom = Odometry()
    odom.pose.pose.position.x, odom.pose.pose.position.y = 2.0, 1.0
    yaw = math.radians(120)
    odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    np.testing.assert_allclose(odometry_to_xyyaw(odom), [2.0, 1.0, yaw])
    odom.pose.pose.position.x = float("nan")
    with pytest.raises(MalformedMessage, match="finite"):
        odometry_to_xyyaw(odom)
    # relative pose: start at (1, 1) facing +y; a point 2 m ahead of it is (2, 0) in its frame
    np.testing.assert_allclose(relative_pose(np.array([1.0, 1.0, math.pi / 2]), np.array([1.0, 3.0, math.pi])),
                               [2.0, 0.0, math.pi / 2, 0.0], atol=1e-6)
