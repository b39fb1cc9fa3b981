"""Registers the iTHOR two-phase rearrangement env (`embodied/Rearrange-iTHOR-v0`) with the project
registry.

Cheap and optional-safe: importing this module imports the env's module, which imports neither
`ai2thor` nor a player (the controller is made when an env is built, and the package is imported
only then). Its Gymnasium id belongs in `embodied/__init__.py`, the one place for Gym ids.
"""
from __future__ import annotations

from embodied import registry
from embodied.envs.ai2thor.rearrange import (ENV_ID, IthorRearrangeConfig, IthorRearrangeEnv,
                                             list_ithor_episodes)

registry.register_env(ENV_ID, IthorRearrangeEnv, IthorRearrangeConfig, list_ithor_episodes)
