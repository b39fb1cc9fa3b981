"""A stand-in robot for the ROS tests: real rclpy publishers and subscribers on the driver's default
topics, unicycle kinematics from the last cmd_vel (it is the test's side of the wire; the embedded
world as a ROS 2 robot, `embodied ros-sim`, comes next)."""
from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from typing import Any, Callable, Iterator

import numpy as np


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
        self.x = self.y = self.yaw = 0.0
        self.t_last = time.monotonic()

    def integrate(self, now: float) -> None:
        """Unicycle kinematics of the last command received (what a base's odometry reports)."""
        if self.commands:
            dt = now - self.t_last
            _, v, w = self.commands[-1]
            self.x += v * math.cos(self.yaw) * dt
            self.y += v * math.sin(self.yaw) * dt
            self.yaw += w * dt
        self.t_last = now

    def publish(self) -> None:
        now = time.monotonic()
        self.integrate(now)
        img = self.Image(height=4, width=4, encoding="rgb8", step=12)
        img.data = bytes(range(48)) if not self.bad_next else bytes(5)
        depth = self.Image(height=4, width=4, encoding="32FC1", step=16)
        depth.data = np.full((4, 4), 1.5, np.float32).tobytes()
        info = self.CameraInfo(width=4, height=4)
        info.k = [2.0, 0.0, 1.5, 0.0, 2.0, 1.5, 0.0, 0.0, 1.0]
        odom = self.Odometry()
        odom.pose.pose.position.x, odom.pose.pose.position.y = self.x, self.y
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = math.sin(self.yaw / 2), math.cos(self.yaw / 2)
        for name, msg in (("rgb", img), ("depth", depth), ("camera", info), ("odom", odom)):
            if name not in self.paused:
                self.pubs[name].publish(msg)
                self.last_sent[name] = now


def require_ros(module: str = "rclpy") -> None:
    """Skip the calling test module when `module` is missing -- or fail it when the environment
    says ROS must be there (`EMBODIED_REQUIRE_ROS=1`, as `.ci/run` sets)."""
    from tests.conftest import require_extra

    require_extra(module, "ros", "EMBODIED_REQUIRE_ROS")


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return False


@contextlib.contextmanager
def spinning_robot(domain_id: int) -> Iterator[Robot]:
    """A stand-in robot on loopback domain `domain_id`, spinning in its own thread (this process
    owns the rclpy context until the block ends)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from embodied.ros import loopback

    loopback.configure(domain_id)
    rclpy.init()
    robot = Robot()
    ex = SingleThreadedExecutor()
    ex.add_node(robot.node)
    thread = threading.Thread(target=ex.spin, daemon=True)
    thread.start()
    try:
        yield robot
    finally:
        ex.shutdown(timeout_sec=1.0)
        robot.node.destroy_node()
        rclpy.shutdown()
        thread.join(timeout=2)


@contextlib.contextmanager
def connected(limits: Any = None) -> Iterator[tuple[Robot, Any]]:
    """A stand-in robot and a `Ros2Transport` on a private loopback domain, both spinning; the
    transport has received every stream once."""
    from embodied.ros import loopback
    from embodied.ros.transport import Ros2Transport

    with spinning_robot(loopback.free_domain_id(os.getpid() + 17)) as robot:
        transport = Ros2Transport(limits=limits)
        try:
            assert wait_for(lambda: len(transport.latest()) >= 4, timeout=10.0), "no streams from the stand-in"
            yield robot, transport
        finally:
            transport.close()
