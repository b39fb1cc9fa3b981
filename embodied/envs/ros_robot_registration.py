"""Registers the ROS 2 robot env (`embodied deploy`'s env) with the project registry.

Not a Gymnasium id: `gymnasium.make` would block waiting for a robot's streams on the network;
build it with `registry.make_env` or `RosRobotEnv(...)` where a robot (or `embodied ros-sim`) runs.
Importing this module needs no ROS package (rclpy is imported when the env is built).
"""
from __future__ import annotations

from embodied import registry
from embodied.ros.robot_env import ENV_ID, RosRobotConfig, RosRobotEnv, robot_episodes

registry.register_env(ENV_ID, RosRobotEnv, RosRobotConfig, robot_episodes)
