"""What a robot needs and a simulator does not: velocity limits, stale-stream and overrun checks,
and an e-stop latch -- as plain logic, so the ROS node only has to call it and publish.

Why plain logic: the rules decide whether a real base keeps moving, so they are tested here
exhaustively without ROS, and the node (`transport`) runs them from a timer independent of the
agent, which may be busy in a CLIP forward pass when a camera cable comes loose.

* `SafetyLimits`: the largest |linear| (m/s) and |angular| (rad/s) command, the oldest a sensor
  stream may be (`max_sensor_age`, default 0.5 s), the longest one action may run.
* `clamp`: every command is clamped to the limits (NaN or inf commands become zero).
* `Watchdog.check(now)`: the reason to stop now, or None -- a stream older than `max_sensor_age`
  (or never received), the current action past its timeout, or the e-stop latched. Once it has
  fired for a motion, it stays fired until `start_motion` begins a new one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["SafetyLimits", "clamp", "Watchdog"]


@dataclass
class SafetyLimits:
    """Velocity limits and time limits of a real robot (defaults suit a LoCoBot/TurtleBot-class base)."""

    max_linear: float = 0.3        # m/s
    max_angular: float = 1.0       # rad/s
    max_sensor_age: float = 0.5    # s
    action_timeout: float = 10.0   # s

    def __post_init__(self) -> None:
        for key in ("max_linear", "max_angular", "max_sensor_age", "action_timeout"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                from embodied.config import ConfigError

                raise ConfigError(f"got {value}, expected a positive number", key=key)


def clamp(linear: float, angular: float, limits: SafetyLimits) -> tuple[float, float]:
    """(linear, angular) within the limits; a non-finite component becomes 0."""
    def one(v: float, bound: float) -> float:
        v = float(v)
        return 0.0 if not math.isfinite(v) else max(-bound, min(bound, v))

    return one(linear, limits.max_linear), one(angular, limits.max_angular)


@dataclass
class Watchdog:
    """Ages of the watched streams, the running motion's deadline, the e-stop latch."""

    limits: SafetyLimits
    streams: tuple[str, ...] = ("rgb", "depth", "odom")
    last_seen: dict[str, float] = field(default_factory=dict)
    deadline: float | None = None
    estopped: bool = False
    fired: str | None = None

    def seen(self, stream: str, now: float) -> None:
        """A valid message of `stream` arrived at `now` (monotonic seconds)."""
        self.last_seen[stream] = now

    def estop(self, engaged: bool) -> None:
        """The e-stop topic's value; engaging latches (only `reset_estop` clears it)."""
        if engaged:
            self.estopped = True

    def reset_estop(self) -> None:
        self.estopped = False

    def start_motion(self, now: float) -> None:
        """An action starts moving the base: its timeout runs from `now`."""
        self.deadline = now + self.limits.action_timeout
        self.fired = None

    def end_motion(self) -> None:
        self.deadline = None

    def stale(self, now: float) -> list[str]:
        """The watched streams older than `max_sensor_age` (or never seen)."""
        return [s for s in self.streams
                if s not in self.last_seen or now - self.last_seen[s] > self.limits.max_sensor_age]

    def check(self, now: float) -> str | None:
        """Why the base must stop now (and stay stopped for this motion), or None."""
        if self.estopped:
            self.fired = "e-stop engaged"
        elif self.fired is None:
            old = self.stale(now)
            if old:
                ages = ", ".join(f"{s} {'never received' if s not in self.last_seen else f'{now - self.last_seen[s]:.2f} s old'}"
                                 for s in old)
                self.fired = f"sensor stream too old (max {self.limits.max_sensor_age} s): {ages}"
            elif self.deadline is not None and now > self.deadline:
                self.fired = f"action overran its timeout of {self.limits.action_timeout} s"
        return self.fired
