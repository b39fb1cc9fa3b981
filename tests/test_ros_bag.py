"""The rosbag2 recorder over real rclpy on loopback: odometry in order, image bytes intact, a
latched string published before recording began, an existing path refused, a missing rosbags
reported before any ROS work."""
from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from tests.ros_robot import require_ros, wait_for  # noqa: E402

require_ros("rclpy")
require_ros("rosbags")

from embodied.ros.bag import BagRecorder, read_bag  # noqa: E402

TOPICS = {"/odom": "nav_msgs/msg/Odometry", "/camera/color/image_raw": "sensor_msgs/msg/Image",
          "/notes": "std_msgs/msg/String"}
PIXELS = bytes(range(48))                                     # 4x4 rgb8


@pytest.fixture()
def publisher_node():
    """A publisher node in this process, spinning in its own executor thread, on a private
    loopback domain."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from embodied.ros import loopback

    loopback.configure(loopback.free_domain_id(os.getpid() + 53))
    rclpy.init()
    node = rclpy.create_node("test_bag_publisher")
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    thread = threading.Thread(target=ex.spin, daemon=True)
    thread.start()
    try:
        yield node
    finally:
        ex.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.shutdown()
        thread.join(timeout=2)


def test_records_odometry_images_and_a_latched_string(publisher_node, tmp_path) -> None:
    import rclpy
    from nav_msgs.msg import Odometry
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    notes = publisher_node.create_publisher(String, "/notes", latched)
    notes.publish(String(data="run 7: kitchen"))              # before the recorder exists
    odom = publisher_node.create_publisher(Odometry, "/odom",
                                           QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    rgb = publisher_node.create_publisher(Image, "/camera/color/image_raw", qos_profile_sensor_data)

    with BagRecorder(tmp_path / "bag", TOPICS) as rec:
        assert wait_for(lambda: odom.get_subscription_count() and rgb.get_subscription_count(), timeout=5.0)
        assert wait_for(lambda: rec.counts["/notes"] == 1, timeout=5.0), "latched string not recorded"
        xs = [round(0.1 * i, 1) for i in range(20)]
        for x in xs:
            msg = Odometry()
            msg.pose.pose.position.x = x
            odom.publish(msg)
            time.sleep(0.002)
        for _ in range(3):
            rgb.publish(Image(height=4, width=4, encoding="rgb8", step=12, data=PIXELS))
            time.sleep(0.01)
        assert wait_for(lambda: rec.counts["/odom"] == 20 and rec.counts["/camera/color/image_raw"] == 3,
                        timeout=5.0), rec.counts
    assert rclpy.ok(), "the recorder shut down a context it did not create"
    rec.close()                                                 # idempotent

    bag = read_bag(tmp_path / "bag")
    assert set(bag) == set(TOPICS)
    assert [m.pose.pose.position.x for _, m in bag["/odom"]] == xs
    images = [m for _, m in bag["/camera/color/image_raw"]]
    assert len(images) == 3
    assert all((m.height, m.width, m.encoding) == (4, 4, "rgb8") and m.data.tobytes() == PIXELS for m in images)
    assert [m.data for _, m in bag["/notes"]] == ["run 7: kitchen"]
    stamps = sorted(t for msgs in bag.values() for t, _ in msgs)
    assert abs(stamps[-1] - time.time_ns()) < 60e9 and stamps[0] <= stamps[-1]


def test_an_existing_path_is_refused(tmp_path) -> None:
    import rclpy

    (tmp_path / "bag").mkdir()
    with pytest.raises(FileExistsError, match="remove it") as err:
        BagRecorder(tmp_path / "bag", TOPICS)
    assert str(tmp_path / "bag") in str(err.value)
    assert not rclpy.ok() and list((tmp_path / "bag").iterdir()) == []


def test_without_rosbags_the_error_says_what_to_install(monkeypatch, tmp_path) -> None:
    import rclpy

    for name in [m for m in sys.modules if m == "rosbags" or m.startswith("rosbags.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "rosbags", None)
    with pytest.raises(ImportError, match="pip install") as err:
        BagRecorder(tmp_path / "bag", TOPICS)
    assert "rosbags" in str(err.value)
    assert not rclpy.ok() and not (tmp_path / "bag").exists()   # failed before any ROS or disk work


def test_an_unknown_message_type_is_refused_before_any_ros_or_disk_work(tmp_path) -> None:
    import rclpy

    with pytest.raises(ValueError, match="std_msgs/msg/Nope"):
        BagRecorder(tmp_path / "bag", {"/x": "std_msgs/msg/Nope"})
    assert not rclpy.ok() and not (tmp_path / "bag").exists()
