"""Record ROS 2 topics into a rosbag2 folder from Python, without a ROS install.

Why: `rosbag2_py` (what `ros2 bag record` is built on) has no PyPI wheel, so a pip-only setup
cannot use it. The pure-Python `rosbags` package writes the same rosbag2 format (MCAP storage,
ros2 bag's default since Iron; metadata version 8; message definitions and type hashes included)
that `ros2 bag info` and `ros2 bag play` read (Jazzy and newer; the type store is Kilted's, which
the rclpy wheels are). Messages are taken from rclpy as serialized CDR (`raw=True`) and written as
they are: no deserialize/reserialize cost on the callback thread.

Use::

    from embodied.ros.bag import BagRecorder, read_bag

    with BagRecorder("runs/bag1", {"/odom": "nav_msgs/msg/Odometry",
                                   "/camera/color/image_raw": "sensor_msgs/msg/Image"}) as rec:
        ...                                     # the robot runs; rec.counts shows progress
    msgs = read_bag("runs/bag1")                # {"/odom": [(t_ns, Odometry), ...], ...}

Call `embodied.ros.loopback.configure(...)` first where traffic must stay on 127.0.0.1.
"""
from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["BagRecorder", "read_bag", "NEEDS_ROSBAGS"]

NEEDS_ROSBAGS = ("recording a bag needs the rosbags package: pip install -e .[ros] (or pip install rosbags); "
                 "rosbag2_py has no PyPI wheel")
#: message types sent best effort by drivers (sensor-data QoS); a reliable subscription would not match
SENSOR_TYPES = {"sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo"}
#: message types usually published latched (transient local), e.g. a robot description or run notes
LATCHED_TYPES = {"std_msgs/msg/String"}
#: bag format 8 is what Jazzy writes; Kilted reads it too (9 would shut out Jazzy's `ros2 bag`)
BAG_VERSION = 8


def _typestore() -> Any:
    """The message definitions of the rclpy wheels (Kilted: rclpy 9.1, common_interfaces 5.5)."""
    try:
        from rosbags.typesys import Stores, get_typestore
    except ImportError as exc:
        raise ImportError(NEEDS_ROSBAGS) from exc
    return get_typestore(Stores.ROS2_KILTED)


def _qos(msgtype: str) -> Any:
    """Sensor-data QoS for camera streams, latched for strings, reliable depth 10 otherwise."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    if msgtype in SENSOR_TYPES:
        return qos_profile_sensor_data
    durability = DurabilityPolicy.TRANSIENT_LOCAL if msgtype in LATCHED_TYPES else DurabilityPolicy.VOLATILE
    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=durability)


def _bag_qos(qos: Any) -> Any:
    """The subscription's QoS as rosbags metadata, so `ros2 bag play` re-offers latched topics latched."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, qos.depth, QosReliability(int(qos.reliability)),
               QosDurability(int(qos.durability)), zero, zero, QosLiveliness.AUTOMATIC, zero, False)


def _message_class(msgtype: str, typestore: Any) -> type:
    """The rclpy class of `msgtype` ("pkg/msg/Name"), checked before any ROS or disk work: rclpy needs
    the class to subscribe, rosbags needs the definition to describe the topic in the bag."""
    pkg, kind, name = (msgtype.split("/") + ["", ""])[:3]
    try:
        cls = getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"unknown message type {msgtype!r}: expected 'pkg/msg/Name' of an installed package") from exc
    if msgtype not in typestore.types:
        raise ValueError(f"message type {msgtype!r} is not in rosbags' typestore; register it there first")
    return cls


class BagRecorder:
    """Subscribes to `topics` (name -> ROS type name) on its own node and executor thread and
    writes every message, stamped with its receive time, into a new rosbag2 folder at `path`."""

    def __init__(self, path: str | Path, topics: dict[str, str], node_name: str = "embodied_bag") -> None:
        typestore = _typestore()                 # before any ROS work: a missing package fails fast
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

        classes = {topic: _message_class(msgtype, typestore) for topic, msgtype in topics.items()}
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag path {self.path} exists already: choose another path or remove it")
        import rclpy
        from rclpy.signals import SignalHandlerOptions
        from rclpy.executors import SingleThreadedExecutor

        self._owns_context = not rclpy.ok()
        if self._owns_context:
            rclpy.init(signal_handler_options=SignalHandlerOptions.NO)   # the caller's handlers stay
        self._lock = threading.Lock()
        self._counts = {topic: 0 for topic in topics}
        self._closed = False
        self._thread: threading.Thread | None = None
        # MCAP, not sqlite3: rosbags' sqlite connection is bound to the thread that opened it, and
        # messages arrive on the executor thread
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        try:
            self._writer.open()
        except WriterError as exc:              # created between the check and open
            self._shutdown_context()
            raise FileExistsError(f"bag path {self.path}: {exc}; choose another path or remove it") from exc
        self._executor = SingleThreadedExecutor()
        self.node: Any = None
        try:
            self.node = rclpy.create_node(node_name)
            for topic, msgtype in topics.items():
                qos = _qos(msgtype)
                conn = self._writer.add_connection(topic, msgtype, typestore=typestore,
                                                   offered_qos_profiles=[_bag_qos(qos)])
                self.node.create_subscription(classes[topic], topic, self._callback(topic, conn), qos, raw=True)
            self._executor.add_node(self.node)
        except BaseException:
            self.close()
            raise

    def _callback(self, topic: str, conn: Any) -> Any:
        def write(data: bytes) -> None:          # rclpy hands the CDR bytes (with encapsulation header)
            stamp = time.time_ns()
            with self._lock:
                if not self._closed:
                    self._writer.write(conn, stamp, data)
                    self._counts[topic] += 1
        return write

    @property
    def counts(self) -> dict[str, int]:
        """Messages written per topic so far (to wait for a stream or report a recording)."""
        with self._lock:
            return dict(self._counts)

    def start(self) -> BagRecorder:
        """Spin the recorder's executor in a daemon thread; messages are written from then on."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._executor.spin, name="bag-recorder", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop spinning, finish the bag (readable from now on) and drop the node; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._executor.shutdown(timeout_sec=2.0)
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        with self._lock:
            self._writer.close()
        if self.node is not None:
            self.node.destroy_node()
        self._shutdown_context()

    def _shutdown_context(self) -> None:
        import rclpy

        if self._owns_context and rclpy.ok():
            rclpy.shutdown()

    def __enter__(self) -> BagRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_bag(path: str | Path) -> dict[str, list[tuple[int, Any]]]:
    """Every message of a rosbag2 folder, deserialized: topic -> [(timestamp_ns, message)], in
    bag order; to check what a recording holds without a ROS install."""
    typestore = _typestore()
    from rosbags.rosbag2 import Reader

    out: dict[str, list[tuple[int, Any]]] = {}
    with Reader(path) as reader:
        for conn in reader.connections:
            out.setdefault(conn.topic, [])
        for conn, stamp, data in reader.messages():
            out[conn.topic].append((stamp, typestore.deserialize_cdr(data, conn.msgtype)))
    return out
