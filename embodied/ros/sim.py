"""The embedded ObjectNav world as a ROS 2 robot: what the ROS tests and the demo drive, and what a
user can point RViz at.

`RosSim` wraps an `ObjectNavEnv` episode in an rclpy node. At `rate_hz` it integrates the last
`cmd_vel` over the elapsed time (`ObjectNavEnv.drive`: the env's collision rule, so the robot slides
into nothing), renders, and publishes on the driver-default topics: rgb (`rgb8`), depth (`32FC1`,
metres), camera_info (K from the renderer's intrinsics) and odometry (frame `odom`, child
`base_link`; the world pose) -- all with one stamp. A command older than `cmd_timeout` counts as zero, as a
base driver's own watchdog does. Velocities are clamped to `max_linear`/`max_angular` like a real
base's firmware.

Episodes and scores travel on the topics of `sim_link`: the sim publishes the served episode
(latched), loads the episode a client asks for, and on a client's stop freezes the robot and
publishes the env's own metrics -- so `embodied deploy --sim` scores exactly as `embodied run`.
With `privileged`, it also publishes the semantic and instance images (32SC1) that ground-truth
localizers and oracles read.
"""
from __future__ import annotations

import math
import threading
from collections import deque
import time
from typing import Any

import numpy as np

from embodied.ros import sim_link
from embodied.ros.transport import RosTopics

__all__ = ["RosSim", "serve"]


def _image(cls: Any, array: np.ndarray, encoding: str, stamp: Any, frame: str) -> Any:
    arr = np.ascontiguousarray(array)
    h, w = arr.shape[:2]
    msg = cls(height=h, width=w, encoding=encoding, is_bigendian=0, step=arr.nbytes // h)
    msg.header.stamp, msg.header.frame_id = stamp, frame
    msg.data = arr.tobytes()
    return msg


class RosSim:
    """An ObjectNav episode served as a ROS 2 robot (module docstring)."""

    def __init__(self, env: Any, topics: RosTopics | None = None, rate_hz: float = 15.0,
                 privileged: bool = False, cmd_timeout: float = 0.5, max_linear: float = 0.5,
                 max_angular: float = 1.5, node_name: str = "embodied_sim",
                 reset_info: dict[str, Any] | None = None) -> None:
        import rclpy
        from rclpy.signals import SignalHandlerOptions
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import String

        self.env = env
        self.topics = topics or RosTopics()
        self.cmd_timeout, self.max_linear, self.max_angular = cmd_timeout, max_linear, max_angular
        self.privileged = privileged
        self._Image, self._CameraInfo, self._Odometry, self._String = Image, CameraInfo, Odometry, String
        self.stopped = False                    # a client ended the episode: the robot is frozen
        self.metrics: dict[str, Any] = {}       # the env's metrics at that end
        self._request_id: str | None = None
        self._lock = threading.Lock()
        self._cmd = (0.0, 0.0, -math.inf)      # (linear, angular, monotonic time received)
        self._last_tick: float | None = None
        self.blocked = 0                        # moves the collision rule refused
        self.published_at = -math.inf           # monotonic time of the last published set
        #: (monotonic receive time, published_at then) of the latest cmd_vels: latency measurements
        #: (bounded: a sim served for hours must not grow)
        self.received: deque[tuple[float, float]] = deque(maxlen=100_000)
        self._owns_context = not rclpy.ok()
        if self._owns_context:
            rclpy.init(signal_handler_options=SignalHandlerOptions.NO)   # our handlers stop the base first
        self.node = rclpy.create_node(node_name)
        t = self.topics
        q = qos_profile_sensor_data
        self.pubs = {"rgb": self.node.create_publisher(Image, t.rgb, q),
                     "depth": self.node.create_publisher(Image, t.depth, q),
                     "camera": self.node.create_publisher(CameraInfo, t.camera_info, q),
                     "odom": self.node.create_publisher(Odometry, t.odom, 10)}
        if privileged:
            self.pubs["instance"] = self.node.create_publisher(Image, sim_link.INSTANCE_TOPIC, q)
            self.pubs["semantic"] = self.node.create_publisher(Image, sim_link.SEMANTIC_TOPIC, q)
        latched = sim_link.latched_qos()
        self.pubs["episode"] = self.node.create_publisher(String, sim_link.EPISODE_TOPIC, latched)
        self.pubs["result"] = self.node.create_publisher(String, sim_link.RESULT_TOPIC, latched)
        self.node.create_subscription(Twist, t.cmd_vel, self._on_cmd, 10)
        self.node.create_subscription(String, sim_link.RESET_TOPIC, self._on_reset, 10)
        self.node.create_subscription(String, sim_link.STOP_TOPIC, self._on_stop, 10)
        self.rejected: list[str] = []
        if reset_info is not None:
            self._announce(reset_info)
        self.node.create_timer(1.0 / rate_hz, self.tick)
        self.executor = SingleThreadedExecutor(context=self.node.context)
        self.executor.add_node(self.node)
        self._thread: threading.Thread | None = None

    def _on_cmd(self, msg: Any) -> None:
        v, w = float(msg.linear.x), float(msg.angular.z)
        self.received.append((time.monotonic(), self.published_at))
        if not (math.isfinite(v) and math.isfinite(w)):
            return
        with self._lock:
            self._cmd = (max(-self.max_linear, min(self.max_linear, v)),
                         max(-self.max_angular, min(self.max_angular, w)), time.monotonic())

    # ------------------------------------------------------------------------------ episodes
    def _announce(self, info: dict[str, Any]) -> None:
        """Publish the served episode (latched): what a client needs from the env's reset info."""
        data = {key: info[key] for key in ("episode_id", "goal", "categories", "camera") if key in info}
        data["request_id"] = self._request_id
        if self.privileged and "privileged" in info:
            data["privileged"] = {"goal_semantic_id": info["privileged"]["goal_semantic_id"]}
        self.pubs["episode"].publish(sim_link.encode(self._String, data))

    def _reject(self, reason: str) -> None:
        self.rejected.append(reason)
        self.node.get_logger().warning(reason)

    def _on_reset(self, msg: Any) -> None:
        data = sim_link.decode(msg)
        if data is None or not isinstance(data.get("episode"), dict) or "request_id" not in data:
            self._reject(f"{sim_link.RESET_TOPIC}: rejected: expected {{\"request_id\", \"episode\"}}, got {msg.data[:80]!r}")
            return
        if data["request_id"] == self._request_id:
            return                              # a re-sent request already served
        try:
            _, info = self.env.reset(options={"episode": data["episode"]})
        except Exception as exc:  # noqa: BLE001 - a bad request must not end the sim
            self._reject(f"{sim_link.RESET_TOPIC}: cannot load episode: {type(exc).__name__}: {exc}")
            return
        with self._lock:
            self._cmd = (0.0, 0.0, -math.inf)
            self._request_id = str(data["request_id"])
        self.stopped = False
        self._announce(info)

    def _on_stop(self, msg: Any) -> None:
        data = sim_link.decode(msg)
        episode = getattr(self.env, "episode", None) or {}
        if data is None or str(data.get("episode_id")) != str(episode.get("episode_id")):
            self._reject(f"{sim_link.STOP_TOPIC}: rejected: not the served episode "
                         f"{episode.get('episode_id')!r}: {msg.data[:80]!r}")
            return
        if not self.stopped:
            self.stopped = True
            self.metrics = self.env.stop_metrics(stop_called=bool(data.get("stop_called", True)))
        self.pubs["result"].publish(sim_link.encode(self._String, {"episode_id": episode["episode_id"],
                                                                   "metrics": self.metrics}))

    # ------------------------------------------------------------------------------ motion
    def tick(self) -> None:
        """Integrate the current command since the last tick, then publish one set of messages."""
        now = time.monotonic()
        with self._lock:
            v, w, received = self._cmd
            dt = 0.0 if self._last_tick is None else now - self._last_tick
            self._last_tick = now
        if now - received > self.cmd_timeout or self.stopped:
            v = w = 0.0
        if dt > 0 and (v or w) and not self.env.drive(v * dt, w * dt):
            self.blocked += 1
        self.publish()

    def publish(self) -> None:
        env = self.env
        obs = env.observe()
        stamp = self.node.get_clock().now().to_msg()
        frame = "camera_color_optical_frame"
        self.pubs["rgb"].publish(_image(self._Image, obs["rgb"], "rgb8", stamp, frame))
        self.pubs["depth"].publish(_image(self._Image, obs["depth"][..., 0].astype(np.float32), "32FC1", stamp, frame))
        k = env.scene.intrinsics()
        info = self._CameraInfo(width=int(k["width"]), height=int(k["height"]))
        info.header.stamp, info.header.frame_id = stamp, frame
        info.k = [k["fx"], 0.0, k["cx"], 0.0, k["fy"], k["cy"], 0.0, 0.0, 1.0]
        info.p = [k["fx"], 0.0, k["cx"], 0.0, 0.0, k["fy"], k["cy"], 0.0, 0.0, 0.0, 1.0, 0.0]
        self.pubs["camera"].publish(info)
        odom = self._Odometry()
        odom.header.stamp, odom.header.frame_id, odom.child_frame_id = stamp, "odom", "base_link"
        odom.pose.pose.position.x, odom.pose.pose.position.y = float(env.position[0]), float(env.position[1])
        odom.pose.pose.orientation.z = math.sin(env.yaw / 2.0)
        odom.pose.pose.orientation.w = math.cos(env.yaw / 2.0)
        self.pubs["odom"].publish(odom)
        for key in ("instance", "semantic"):
            if key in self.pubs and key in obs:
                self.pubs[key].publish(_image(self._Image, obs[key].astype(np.int32), "32SC1", stamp, frame))
        self.published_at = time.monotonic()

    def start(self) -> "RosSim":
        """Serve in a background thread (tests, notebooks); `spin()` serves in this one."""
        self._thread = threading.Thread(target=self._spin, name="embodied-ros-sim", daemon=True)
        self._thread.start()
        return self

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown races end the thread quietly
            pass

    def spin(self) -> None:
        self.executor.spin()

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        if self._owns_context and rclpy.ok():
            rclpy.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


def serve(config: str, overrides: list[str], episode: int = 0, rate_hz: float = 15.0,
          domain_id: int | None = None, loopback_only: bool = True, privileged: bool = False,
          ready: Any = print) -> int:
    """`embodied ros-sim`: serve episode `episode` of an experiment's ObjectNav env until Ctrl-C or
    SIGTERM. Returns the exit code (0 after a signal)."""
    import signal

    from embodied import registry
    from embodied.config import ConfigError, load_config
    from embodied.ros import loopback

    cfg = load_config(config, overrides)
    episodes = registry.list_episodes(cfg.env)
    if not 0 <= episode < len(episodes):
        raise ConfigError(f"--episode {episode}: the split has episodes 0..{len(episodes) - 1}")
    if loopback_only:
        loopback.configure(domain_id if domain_id is not None else loopback.free_domain_id())
    elif domain_id is not None:
        import os

        os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    env = registry.make_env(cfg.env, privileged=privileged)
    if not hasattr(env, "drive"):
        env.close()
        raise ConfigError(f"env {cfg.env.id!r} cannot be driven by velocity; ros-sim serves "
                          "embodied/ObjectNav-PyBullet-v0")
    _, info = env.reset(options={"episode": episodes[episode]})
    sim = RosSim(env, rate_hz=rate_hz, privileged=privileged, reset_info=info)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sim.start()
        import os

        ready(f"ros-sim: episode {episodes[episode]['episode_id']} (goal {env.category}) on "
              f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')}, {rate_hz:g} Hz; Ctrl-C to stop")
        while not stop.wait(0.1):
            pass
        metrics = env.stop_metrics()
        ready(f"ros-sim: stopped; success {metrics.get('success')}, path {env.path_length:.2f} m")
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sim.close()
        env.close()
