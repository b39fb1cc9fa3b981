"""`RosSim` (the embedded world as a ROS 2 robot) driven by `RosRobotEnv` through real rclpy on
loopback: the robot's pose is the simulator's, MoveAhead/Rotate land where the discrete env would,
walls stop the robot (the env's collision rule) and a move that cannot finish is halted by the
action timeout with the base stopped."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from tests.ros_robot import require_ros  # noqa: E402

require_ros("rclpy")

from embodied.envs import objectnav_episodes as eps  # noqa: E402
from embodied.envs.objectnav import ObjectNavConfig, ObjectNavEnv  # noqa: E402
from embodied.interfaces import DiscreteNavigationAction as A  # noqa: E402
from embodied.ros import loopback  # noqa: E402
from embodied.ros.robot_env import RosRobotConfig, RosRobotEnv  # noqa: E402
from embodied.ros.safety import SafetyLimits  # noqa: E402


@pytest.fixture()
def sim_and_robot():
    import rclpy

    from embodied.ros.sim import RosSim
    from embodied.ros.transport import Ros2Transport

    loopback.configure(loopback.free_domain_id(os.getpid() + 41))
    rclpy.init()
    env = ObjectNavEnv(ObjectNavConfig(split="val", max_steps=500))
    env.reset(options={"episode": eps.split_episode("val", 0)})
    sim = RosSim(env, rate_hz=30.0).start()
    transport = Ros2Transport(limits=SafetyLimits(max_sensor_age=0.5, action_timeout=3.0))
    robot = RosRobotEnv(RosRobotConfig(goal=env.category, linear_speed=0.4, angular_speed=1.2,
                                       distance_tolerance=0.01, angle_tolerance_deg=1.0), transport=transport)
    try:
        yield env, sim, robot
    finally:
        robot.close()
        sim.close()
        rclpy.shutdown()
        env.close()


def test_robot_pose_follows_the_simulator_and_walls_stop_it(sim_and_robot) -> None:
    env, sim, robot = sim_and_robot
    obs, info = robot.reset()
    assert obs["rgb"].shape == (224, 224, 3) and obs["depth"].shape == (224, 224, 1)
    assert info["camera"]["fx"] == pytest.approx(env.scene.intrinsics()["fx"]) and obs["goal"] == env.category
    start = env.position.copy()
    yaw0 = env.yaw
    obs, _, term, _, info = robot.step(A.ROTATE_LEFT)
    assert not term
    turned = math.degrees(math.atan2(math.sin(env.yaw - yaw0), math.cos(env.yaw - yaw0)))
    assert 29.0 - 1.0 <= turned <= 30.0 + 8.0                       # 30 deg within tolerance + overshoot
    for _ in range(12):                                               # face open floor (> 1.2 m free)
        if obs["depth"][96:128, 96:128].min() > 1.2 or info.get("halted"):
            break
        obs, _, _, _, info = robot.step(A.ROTATE_LEFT)
    halted, completed = None, 0
    for _ in range(60):                                               # straight ahead until a wall
        before = env.position.copy()
        obs, _, term, _, info = robot.step(A.MOVE_AHEAD)
        moved = float(np.hypot(*(env.position - before)))
        if info["halted"]:
            halted = info["halted"]
            break
        assert 0.24 - 0.02 <= moved <= 0.25 + 0.05                   # a MoveAhead's 0.25 m
        completed += 1
        # the robot's GPS+compass pose is the simulator's (the env's own relative pose)
        np.testing.assert_allclose(robot.step(A.LOOK_UP)[0]["pose"][:3], env._relative_pose()[:3], atol=0.03)
    assert halted is not None and "timeout" in halted               # the wall: the move cannot finish
    assert sim.blocked > 0                                           # refused by the collision rule
    assert env.scene.min_distance(env.position) >= -1e-6             # never inside geometry
    assert completed >= 3 and float(np.hypot(*(env.position - start))) > 0.7

