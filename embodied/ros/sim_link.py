"""The few topics by which a robot client and `embodied ros-sim` agree on episodes and scores --
what a motion-capture referee does in a real lab, done by the simulator.

Why topics and not services: they need no extra interface package (std_msgs/String carries JSON),
`ros2 topic echo` shows them, and a bag records them with the sensor streams.

* `EPISODE_TOPIC` (latched): the episode being served -- id, goal, `categories` (name -> semantic
  id), the simulator's full `camera` dict and, for privileged clients, `privileged.goal_semantic_id`.
* `RESET_TOPIC`: a client asks for an episode (`{"request_id", "episode"}`, the spec being one of
  the dicts `embodied run` iterates); the sim loads each request id once and republishes
  `EPISODE_TOPIC` with that `request_id`.
* `STOP_TOPIC`: the episode is over (`{"episode_id", "stop_called"}`); the sim freezes the robot
  and publishes `RESULT_TOPIC` (latched): `{"episode_id", "metrics"}` with the env's own metrics
  (success, SPL, ... as `embodied run` computes them).
* `SEMANTIC_TOPIC` / `INSTANCE_TOPIC` (32SC1 images): per-pixel class / instance ids, served only
  with `--privileged` (ground-truth localizers, oracles).

`SimLink` is the client's side, on the node of a `Ros2Transport`.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any, Callable

__all__ = ["EPISODE_TOPIC", "RESET_TOPIC", "STOP_TOPIC", "RESULT_TOPIC", "SEMANTIC_TOPIC",
           "INSTANCE_TOPIC", "latched_qos", "encode", "decode", "SimLink"]

EPISODE_TOPIC = "/embodied/episode"
RESET_TOPIC = "/embodied/reset"
STOP_TOPIC = "/embodied/stop"
RESULT_TOPIC = "/embodied/result"
SEMANTIC_TOPIC = "/embodied/semantic"
INSTANCE_TOPIC = "/embodied/instance"


def latched_qos() -> Any:
    """Reliable, transient-local, depth 1: a late subscriber still gets the last message."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _plain(value: Any) -> Any:
    """JSON-safe copy (numpy scalars and arrays become Python numbers and lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def encode(cls: Any, data: dict[str, Any]) -> Any:
    """A std_msgs/String holding `data` as JSON."""
    return cls(data=json.dumps(_plain(data)))


def decode(msg: Any) -> dict[str, Any] | None:
    """The JSON object a String carries, or None when it is not one (logged by the caller)."""
    try:
        data = json.loads(msg.data)
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class SimLink:
    """A client of `embodied ros-sim`'s episode topics (module docstring)."""

    def __init__(self, node: Any, log: Callable[[str], None] | None = None) -> None:
        from std_msgs.msg import String

        self._String = String
        self._cond = threading.Condition()
        self._episode: dict[str, Any] | None = None
        self._result: dict[str, Any] | None = None
        self._log = log or (lambda text: None)
        self.reset_pub = node.create_publisher(String, RESET_TOPIC, latched_qos())   # latched: a bag
        self.stop_pub = node.create_publisher(String, STOP_TOPIC, latched_qos())     # records them too
        node.create_subscription(String, EPISODE_TOPIC, self._on("episode"), latched_qos())
        node.create_subscription(String, RESULT_TOPIC, self._on("result"), latched_qos())

    def _on(self, slot: str) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            data = decode(msg)
            if data is None or "episode_id" not in data:
                self._log(f"{slot}: rejected: not a JSON object with an episode_id: {str(msg.data)[:80]!r}")
                return
            with self._cond:
                setattr(self, f"_{slot}", data)
                self._cond.notify_all()
        return callback

    def _wait(self, slot: str, accept: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
        with self._cond:
            self._cond.wait_for(lambda: getattr(self, slot) is not None and accept(getattr(self, slot)),
                                timeout=timeout)
            value = getattr(self, slot)
            return value if value is not None and accept(value) else None

    def request(self, spec: dict[str, Any] | None, timeout: float = 10.0) -> dict[str, Any]:
        """Ask the sim for episode `spec` (None: take the one it serves) and return its episode
        info once published. Re-sends the request every second: a subscriber that matched late
        must not leave the client waiting."""
        wanted = None if spec is None else str(spec["episode_id"])
        request_id = uuid.uuid4().hex    # the sim loads each request once, however often it is sent
        accept = (lambda e: True) if wanted is None else (lambda e: e.get("request_id") == request_id)
        end = time.monotonic() + timeout
        while True:
            if spec is not None:
                self.reset_pub.publish(encode(self._String, {"request_id": request_id, "episode": spec}))
            got = self._wait("_episode", accept, min(1.0, max(0.0, end - time.monotonic())))
            if got is not None:
                with self._cond:
                    self._result = None
                return got
            if time.monotonic() >= end:
                what = f"episode {wanted}" if wanted else "an episode"
                raise TimeoutError(f"ros-sim did not serve {what} on {EPISODE_TOPIC} within {timeout} s; "
                                   "is `embodied ros-sim` running on this ROS_DOMAIN_ID?")

    def judge(self, episode_id: str, stop_called: bool, timeout: float = 10.0) -> dict[str, Any]:
        """End the episode at the sim and return the metrics it computed."""
        end = time.monotonic() + timeout
        while True:
            self.stop_pub.publish(encode(self._String, {"episode_id": episode_id, "stop_called": stop_called}))
            got = self._wait("_result", lambda r: str(r["episode_id"]) == str(episode_id),
                             min(1.0, max(0.0, end - time.monotonic())))
            if got is not None:
                return dict(got.get("metrics") or {})
            if time.monotonic() >= end:
                raise TimeoutError(f"ros-sim sent no result for episode {episode_id} on {RESULT_TOPIC} "
                                   f"within {timeout} s")
