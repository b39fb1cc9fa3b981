"""The robot node over real rclpy on loopback: latest observations, clamped commands, the watchdog
stopping the base when the depth stream stops (timed), the e-stop, malformed images survived."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from tests.ros_robot import require_ros  # noqa: E402

require_ros("rclpy")

from embodied.ros.safety import SafetyLimits  # noqa: E402

from tests.ros_robot import connected, wait_for  # noqa: E402


@pytest.fixture()
def pair():
    with connected(SafetyLimits(max_linear=0.3, max_angular=1.0, max_sensor_age=0.5)) as both:
        yield both


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
