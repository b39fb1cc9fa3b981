"""The ROS 2 side of a robot: one rclpy node that keeps the latest valid observation of each stream,
publishes every velocity command clamped, and stops the base on its own when the watchdog fires.

Why a node with its own executor thread: the safety rules must run while the agent thinks (a CLIP
forward pass can take longer than a stale-stream limit), so subscriptions and a 20 Hz watchdog
timer are served by a background executor, never by the agent's loop. `RobotTransport` is the small
interface `RosRobotEnv` uses; a ROS 1 (rospy) transport would implement the same methods with
`rospy.Subscriber`/`rospy.Publisher`, a `rospy.Timer` for the watchdog and `rospy.Time.now()`
stamps -- rospy runs callbacks in its own threads, so no executor is needed -- plus a rosmaster
(`ROS_MASTER_URI`) instead of DDS discovery.

Call `loopback.configure(domain_id)` (or export the variables it sets) before creating a transport
where traffic must stay on this machine.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from embodied.ros import messages
from embodied.ros.safety import SafetyLimits, Watchdog, clamp

__all__ = ["RosTopics", "RobotTransport", "Ros2Transport"]


@dataclass
class RosTopics:
    """Topic names; the defaults follow common camera and base drivers (realsense2_camera, kobuki,
    create3, stretch_driver)."""

    rgb: str = "/camera/color/image_raw"
    depth: str = "/camera/depth/image_raw"
    camera_info: str = "/camera/color/camera_info"
    odom: str = "/odom"
    cmd_vel: str = "/cmd_vel"
    estop: str = "/estop"


class RobotTransport(Protocol):
    """What `RosRobotEnv` needs from a robot connection."""

    def latest(self) -> dict[str, Any]:
        """The newest valid rgb, depth, camera (dict) and odom ([x, y, yaw]) received, by name."""

    def received(self) -> dict[str, float]:
        """When (monotonic s) the newest valid message of each stream arrived."""

    def command(self, linear: float, angular: float) -> bool:
        """Publish a velocity (clamped); False (and a zero command) when the watchdog has fired."""

    def stop(self) -> None:
        """Publish zero velocity now."""

    def begin_motion(self) -> None:
        """An action starts driving: the watchdog now watches the streams and the timeout."""

    def end_motion(self) -> None:
        """The action is over: zero velocity, the watchdog stands down."""

    def halted(self) -> str | None:
        """Why the watchdog stopped the base during the current motion (None: it did not)."""

    def close(self) -> None:
        """Zero velocity, then release the connection."""


@dataclass
class _Latest:
    values: dict[str, Any] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)


class Ros2Transport:
    """rclpy node: subscriptions (sensor-data QoS for images), a clamped `cmd_vel` publisher, an
    e-stop subscription (`std_msgs/Bool`), and the watchdog timer."""

    def __init__(self, topics: RosTopics | None = None, limits: SafetyLimits | None = None,
                 camera_height: float = 0.88, max_depth: float = 10.0, node_name: str = "embodied_robot",
                 watchdog_hz: float = 20.0, log: Callable[[str], None] | None = None,
                 labels: tuple[str, ...] = ()) -> None:
        import rclpy
        from rclpy.signals import SignalHandlerOptions
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import Bool

        self.topics = topics or RosTopics()
        self.limits = limits or SafetyLimits()
        self.watchdog = Watchdog(self.limits)
        self._twist = Twist
        self._lock = threading.Lock()
        self._latest = _Latest()
        self._moving = False
        self._log = log or (lambda text: None)
        self._owns_context = not rclpy.ok()
        if self._owns_context:
            rclpy.init(signal_handler_options=SignalHandlerOptions.NO)   # our handlers stop the base first
        self.node = rclpy.create_node(node_name)
        t = self.topics
        self.node.create_subscription(Image, t.rgb, self._on("rgb", messages.image_to_rgb), qos_profile_sensor_data)
        self.node.create_subscription(Image, t.depth, self._on("depth", lambda m: messages.image_to_depth(m, max_depth)),
                                      qos_profile_sensor_data)
        self.node.create_subscription(CameraInfo, t.camera_info,
                                      self._on("camera", lambda m: messages.camera_info_to_camera(m, camera_height)),
                                      qos_profile_sensor_data)
        from embodied.ros import sim_link

        for name in labels:           # "semantic" / "instance": what `ros-sim --privileged` serves
            topic = {"semantic": sim_link.SEMANTIC_TOPIC, "instance": sim_link.INSTANCE_TOPIC}[name]
            self.node.create_subscription(Image, topic, self._on(name, messages.image_to_labels),
                                          qos_profile_sensor_data)
        self.node.create_subscription(Odometry, t.odom, self._on("odom", messages.odometry_to_xyyaw), 10)
        self.node.create_subscription(Bool, t.estop, lambda m: self.watchdog.estop(bool(m.data)), 10)
        self.publisher = self.node.create_publisher(Twist, t.cmd_vel, 10)
        self.node.create_timer(1.0 / watchdog_hz, self._tick)
        self.executor = SingleThreadedExecutor(context=self.node.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f"{node_name}-executor", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------ callbacks
    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown races end the thread quietly
            pass

    def _on(self, name: str, convert: Callable[[Any], Any]) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            try:
                value = convert(msg)
            except (messages.MalformedMessage, AttributeError, TypeError, ValueError) as exc:
                reason = f"{name}: rejected: {exc}"
                with self._lock:
                    self._latest.rejected.append(reason)
                self._log(reason)
                return
            now = time.monotonic()
            with self._lock:
                self._latest.values[name] = value
                self._latest.received[name] = now
                self.watchdog.seen(name, now)
        return callback

    def _tick(self) -> None:
        with self._lock:
            moving = self._moving
            reason = self.watchdog.check(time.monotonic()) if moving else (
                "e-stop engaged" if self.watchdog.estopped else None)
        if reason is not None and (moving or self.watchdog.estopped):
            self._publish(0.0, 0.0)

    # ------------------------------------------------------------------------------ interface
    def _publish(self, linear: float, angular: float) -> None:
        msg = self._twist()
        msg.linear.x, msg.angular.z = float(linear), float(angular)
        self.publisher.publish(msg)

    def latest(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._latest.values)

    def received(self) -> dict[str, float]:
        with self._lock:
            return dict(self._latest.received)

    def rejected(self) -> list[str]:
        """Reasons of every message rejected so far (malformed images, odometry, camera info)."""
        with self._lock:
            return list(self._latest.rejected)

    def begin_motion(self) -> None:
        """An action starts driving: the watchdog watches the streams and the action's timeout."""
        with self._lock:
            self.watchdog.start_motion(time.monotonic())
            self._moving = True

    def end_motion(self) -> None:
        with self._lock:
            self.watchdog.end_motion()
            self._moving = False
        self.stop()

    def halted(self) -> str | None:
        with self._lock:
            if self.watchdog.estopped:
                return "e-stop engaged"
            return self.watchdog.fired if self._moving else None

    def command(self, linear: float, angular: float) -> bool:
        if self.halted() is not None:
            self._publish(0.0, 0.0)
            return False
        self._publish(*clamp(linear, angular, self.limits))
        return True

    def stop(self) -> None:
        self._publish(0.0, 0.0)

    def close(self) -> None:
        import rclpy

        try:
            self.stop()
            time.sleep(0.05)           # let the zero command leave before the node goes
        finally:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
            if self._owns_context and rclpy.ok():
                rclpy.shutdown()
            self._thread.join(timeout=2.0)

