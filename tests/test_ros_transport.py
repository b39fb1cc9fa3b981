"""The robot node over real rclpy on loopback: latest observations, clamped commands, the watchdog
stopping the base when the depth stream stops (timed), the e-stop, malformed images survived."""
from __future__ import annotations

import importlib.util
import math
import os
import threading
import time

import numpy as np
import pytest

if importlib.util.find_spec("rclpy") is None:
    if os.environ.get("EMBODIED_REQUIRE_ROS") == "1":
        pytest.fail("EMBODIED_REQUIRE_ROS=1 but rclpy is not installed (pip install -e .[ros])", pytrace=False)
    pytest.skip("rclpy is not installed (pip install -e .[ros])", allow_module_level=True)

from embodied.ros import loopback  # noqa: E402
from embodied.ros.safety import SafetyLimits  # noqa: E402


class Robot:
    """A stand-in base on the test's side of the wire: publishes rgb, depth, camera_info and odom
    at `hz` (each stream can be paused) and records every cmd_vel it receives with its time."""

    def __init__(self, hz: float = 30.0) -> None:
        import rclpy
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image

        self.node = rclpy.create_node("test_robot")
        self.Image, self.CameraInfo, self.Odometry = Image, CameraInfo, Odometry
        self.pubs = {"rgb": self.node.create_publisher(Image, "/camera/color/image_raw", qos_profile_sensor_data),
                     "depth": self.node.create_publisher(Image, "/camera/depth/image_raw", qos_profile_sensor_data),
                     "camera": self.node.create_publisher(CameraInfo, "/camera/color/camera_info", qos_profile_sensor_data),
                     "odom": self.node.create_publisher(Odometry, "/odom", 10)}
        self.paused: set[str] = set()
        self.last_sent: dict[str, float] = {}
        self.commands: list[tuple[float, float, float]] = []
        self.node.create_subscription(Twist, "/cmd_vel",
                                      lambda m: self.commands.append((time.monotonic(), m.linear.x, m.angular.z)), 10)
        self.node.create_timer(1.0 / hz, self.publish)
        self.bad_next = False

    def publish(self) -> None:
        now = time.monotonic()
        img = self.Image(height=4, width=4, encoding="rgb8", step=12)
        img.data = bytes(range(48)) if not self.bad_next else bytes(5)
        depth = self.Image(height=4, width=4, encoding="32FC1", step=16)
        depth.data = np.full((4, 4), 1.5, np.float32).tobytes()
        info = self.CameraInfo(width=4, height=4)
        info.k = [2.0, 0.0, 1.5, 0.0, 2.0, 1.5, 0.0, 0.0, 1.0]
        odom = self.Odometry()
        odom.pose.pose.orientation.w = 1.0
        for name, msg in (("rgb", img), ("depth", depth), ("camera", info), ("odom", odom)):
            if name not in self.paused:
                self.pubs[name].publish(msg)
                self.last_sent[name] = now


@pytest.fixture()
def pair():
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    loopback.configure(loopback.free_domain_id(os.getpid() + 17))
    rclpy.init()
    from embodied.ros.transport import Ros2Transport

    robot = Robot()
    ex = SingleThreadedExecutor()
    ex.add_node(robot.node)
    thread = threading.Thread(target=ex.spin, daemon=True)
    thread.start()
    transport = Ros2Transport(limits=SafetyLimits(max_linear=0.3, max_angular=1.0, max_sensor_age=0.5))
    deadline = time.monotonic() + 10
    while len(transport.latest()) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    yield robot, transport
    transport.close()
    ex.shutdown(timeout_sec=1.0)
    robot.node.destroy_node()
    rclpy.shutdown()
    thread.join(timeout=2)


def wait_for(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_latest_observations_and_clamped_commands(pair) -> None:
    robot, transport = pair
    latest = transport.latest()
    assert latest["rgb"].shape == (4, 4, 3) and latest["depth"][0, 0, 0] == pytest.approx(1.5)
    assert latest["camera"]["fx"] == 2.0 and np.allclose(latest["odom"], [0, 0, 0])
    transport.begin_motion()
    assert transport.command(2.0, -5.0)
    assert wait_for(lambda: any(c[1] == pytest.approx(0.3) for c in robot.commands))
    assert all(abs(v) <= 0.3 and abs(w) <= 1.0 for _, v, w in robot.commands)
    transport.end_motion()
    assert wait_for(lambda: robot.commands[-1][1:] == (0.0, 0.0))


def test_watchdog_stops_the_base_within_0_2_s_of_a_stale_depth_stream(pair) -> None:
    robot, transport = pair
    transport.begin_motion()
    assert transport.command(0.2, 0.0)
    robot.paused.add("depth")
    time.sleep(0.05)
    stale_at = robot.last_sent["depth"] + 0.5                  # when depth becomes older than allowed
    assert wait_for(lambda: any(t > stale_at and v == 0.0 for t, v, _ in robot.commands), timeout=3.0)
    first_zero = min(t for t, v, _ in robot.commands if t > stale_at and v == 0.0)
    assert first_zero - stale_at <= 0.2, f"zero velocity {first_zero - stale_at:.3f} s after depth went stale"
    assert "depth" in transport.halted()
    assert not transport.command(0.2, 0.0)                     # refused while halted ...
    robot.paused.clear()
    time.sleep(0.1)
    transport.begin_motion()                                   # ... until a new motion with fresh streams
    assert transport.command(0.2, 0.0) and transport.halted() is None


def test_estop_halts_and_malformed_images_are_survived(pair) -> None:
    from std_msgs.msg import Bool

    robot, transport = pair
    robot.bad_next = True                                      # rgb with 5 bytes for a 4x4 rgb8 image
    assert wait_for(lambda: any("rgb: rejected" in r for r in transport.rejected()))
    assert "bytes" in transport.rejected()[0]
    robot.bad_next = False
    transport.begin_motion()
    pub = robot.node.create_publisher(Bool, "/estop", 10)
    assert wait_for(lambda: (pub.publish(Bool(data=True)) or transport.halted() == "e-stop engaged"))
    assert not transport.command(0.2, 0.0)
    assert wait_for(lambda: robot.commands and robot.commands[-1][1:] == (0.0, 0.0))
