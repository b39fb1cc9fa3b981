"""`RosSim` (the embedded world as a ROS 2 robot) driven by `RosRobotEnv` through real rclpy on
loopback: the robot's pose is the simulator's, MoveAhead/Rotate land where the discrete env would,
walls stop the robot (the env's collision rule) and a move that stalls there ends unfinished
with the base stopped, the episode going on."""
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
from tests.ros_robot import wait_for  # noqa: E402


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
    robot = RosRobotEnv(RosRobotConfig(goals=[env.category], linear_speed=0.4, angular_speed=1.2,
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
    assert 29.0 - 1.0 <= turned <= 30.0 + 2.0                       # 30 deg within tolerance, no overshoot
    for _ in range(12):                                               # face open floor (> 1.2 m free)
        if obs["depth"][96:128, 96:128].min() > 1.2 or info.get("halted"):
            break
        obs, _, _, _, info = robot.step(A.ROTATE_LEFT)
    blocked, completed = False, 0
    for _ in range(60):                                               # straight ahead until a wall
        before = env.position.copy()
        obs, _, term, _, info = robot.step(A.MOVE_AHEAD)
        moved = float(np.hypot(*(env.position - before)))
        assert info["halted"] is None and not term
        if not info["last_action_success"]:                           # the wall: the move stalled
            blocked = True
            assert wait_for(lambda: sim._cmd[:2] == (0.0, 0.0))       # and the base got a zero command
            break
        assert 0.24 - 0.02 <= moved <= 0.25 + 0.02                   # a MoveAhead's 0.25 m
        completed += 1
        # the robot's GPS+compass pose is the simulator's (the env's own relative pose)
        np.testing.assert_allclose(robot.step(A.LOOK_UP)[0]["pose"][:3], env._relative_pose()[:3], atol=0.01)
    assert blocked
    assert sim.blocked > 0                                           # refused by the collision rule
    assert env.scene.min_distance(env.position) >= -1e-6             # never inside geometry
    assert completed >= 3 and float(np.hypot(*(env.position - start))) > 0.7



def test_ros_sim_command_serves_on_loopback_and_stops_on_sigterm(tmp_path) -> None:
    """`embodied ros-sim` in its own process: a transport here receives its streams, every socket
    of that process is on loopback, and SIGTERM ends it cleanly."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import rclpy

    from embodied.ros.transport import Ros2Transport
    from tests.ros_robot import wait_for

    domain = loopback.free_domain_id(os.getpid() + 73)
    exe = Path(sys.executable).with_name("embodied")
    proc = subprocess.Popen([str(exe), "ros-sim", "experiments/cow_pybullet_gt.yaml", "--episode", "1",
                             "--domain-id", str(domain), "--rate", "20"],
                            env=loopback.loopback_env(domain), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    loopback.configure(domain)
    rclpy.init()
    transport = Ros2Transport()
    try:
        assert wait_for(lambda: len(transport.latest()) >= 4, timeout=60.0), "no streams from ros-sim"
        latest = transport.latest()
        assert latest["rgb"].shape == (224, 224, 3) and latest["depth"].shape == (224, 224, 1)
        assert latest["camera"]["width"] == 224
        assert loopback.non_loopback_sockets([proc.pid]) == []
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err[-2000:]
        assert "ros-sim: episode val-0000-1" in out and "ros-sim: stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
        transport.close()
        rclpy.shutdown()


def test_ros_sim_bad_episode_is_a_config_error(capsys) -> None:
    from embodied.cli import main

    assert main(["ros-sim", "experiments/cow_pybullet_gt.yaml", "--episode", "999"]) == 2
    assert "--episode 999" in capsys.readouterr().err
