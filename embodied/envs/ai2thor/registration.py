"""Registers RoboTHOR ObjectNav (AI2-THOR) with the project registry.

Importing this never imports `ai2thor` (the env module imports it lazily), so `embodied list`
shows the env on every machine; running it needs the `thor` extra and a player build (or
`env.controller=fake`). Its Gymnasium id is registered in `embodied/__init__.py`, the one place
for every Gym id.
"""
from __future__ import annotations

from embodied import registry
from embodied.envs.ai2thor.objectnav import (ENV_ID, RobothorObjectNavConfig, RobothorObjectNavEnv,
                                             list_robothor_episodes)

registry.register_env(ENV_ID, RobothorObjectNavEnv, RobothorObjectNavConfig, list_robothor_episodes)
