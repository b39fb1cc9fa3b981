"""Registers the ROS 2 robot env (`embodied deploy`'s env, `embodied/RosRobot-v0`) with the
project registry -- on demand, not with the built-in simulators.

Why not built in: a robot env cannot be built, reset or checked without a robot (or `embodied
ros-sim`) on the network, so it must not appear among the envs that `embodied list`, Gymnasium's
registry and env checkers treat as runnable anywhere. `embodied deploy` imports this module and
writes it into the run's `run.imports`, so the run's config.yaml also runs and resumes with
`embodied run`. Importing it needs no ROS package (rclpy is imported when the env is built).
"""
from __future__ import annotations

from embodied import registry
from embodied.ros.robot_env import ENV_ID, RosRobotConfig, RosRobotEnv, robot_episodes

registry.register_env(ENV_ID, RosRobotEnv, RosRobotConfig, robot_episodes)
