"""RosRobotEnv over real rclpy against the stand-in base: ObjectNav's observation contract,
closed-loop MoveAhead/Rotate on odometry, refused LookUp, Stop, a stale stream ending the episode
with the base stopped."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from tests.ros_robot import require_ros  # noqa: E402

require_ros("rclpy")

from embodied.interfaces import DiscreteNavigationAction as A  # noqa: E402
from embodied.ros.robot_env import RosRobotConfig, RosRobotEnv  # noqa: E402
from embodied.ros.safety import SafetyLimits  # noqa: E402
from tests.ros_robot import connected, wait_for  # noqa: E402


def test_actions_run_closed_loop_on_odometry() -> None:
    with connected(SafetyLimits(max_sensor_age=0.5, action_timeout=5.0)) as (robot, transport):
        env = RosRobotEnv(RosRobotConfig(goals=["Mug"], linear_speed=0.3, angular_speed=1.0), transport=transport)
        obs, info = env.reset()
        assert obs["rgb"].shape == (4, 4, 3) and obs["depth"].shape == (4, 4, 1) and obs["goal"] == "Mug"
        assert info["camera"]["fx"] == 2.0 and env.observation_space.contains(obs)
        np.testing.assert_allclose(obs["pose"], 0.0, atol=1e-6)
        obs, _, term, trunc, info = env.step(A.MOVE_AHEAD)
        assert not term and info["halted"] is None
        assert wait_for(lambda: robot.commands and robot.commands[-1][1:] == (0.0, 0.0))
        x = env.step(A.LOOK_UP)[0]["pose"][0]                   # refused: nothing moves
        assert 0.23 - 0.02 <= x <= 0.25 + 0.06                   # 0.25 m within tolerance + a control period
        _, _, _, _, info = env.step(A.LOOK_UP)
        assert info["refused"]
        obs, *_ = env.step(A.ROTATE_LEFT)
        obs = env.step(A.LOOK_DOWN)[0]
        assert math.degrees(obs["pose"][2]) == pytest.approx(30.0, abs=5.0)
        _, _, term, _, _ = env.step(A.STOP)
        assert term
        assert env.observation_space.contains(obs)


def test_a_stale_stream_ends_the_episode_with_the_base_stopped() -> None:
    with connected(SafetyLimits(max_sensor_age=0.3, action_timeout=5.0)) as (robot, transport):
        env = RosRobotEnv(RosRobotConfig(linear_speed=0.01), transport=transport)   # a slow move
        env.reset()
        robot.paused.add("depth")
        _, _, term, _, info = env.step(A.MOVE_AHEAD)
        assert term and "depth" in info["halted"]
        assert wait_for(lambda: robot.commands[-1][1:] == (0.0, 0.0))


def test_the_estop_ends_the_episode_during_a_move_with_the_base_stopped() -> None:
    from std_msgs.msg import Bool

    with connected(SafetyLimits(max_sensor_age=0.5, action_timeout=10.0)) as (robot, transport):
        env = RosRobotEnv(RosRobotConfig(linear_speed=0.02), transport=transport)   # a long move
        env.reset()
        button = robot.node.create_publisher(Bool, "/estop", 10)
        import threading
        import time

        def press() -> None:
            time.sleep(0.5)
            button.publish(Bool(data=True))

        threading.Thread(target=press, daemon=True).start()
        t0 = time.monotonic()
        _, _, term, trunc, info = env.step(A.MOVE_AHEAD)
        assert term and not trunc and info["halted"] == "e-stop engaged"
        assert time.monotonic() - t0 < 2.0                    # not the action's own 12 s
        assert info["metrics"]["stop_called"] is False and info["record"]["halted"] == "e-stop engaged"
        assert wait_for(lambda: robot.commands[-1][1:] == (0.0, 0.0))
        assert any(v > 0 for _, v, _ in robot.commands)       # it was moving before the button
