"""Registers the Habitat ObjectNav env with the project registry, without importing habitat_sim.

Its Gymnasium id belongs in `embodied/__init__.py` (`_GYM_IDS`, the one place for every Gym id);
this module only calls `registry.register_env`. Importing it is cheap: the env module imports
habitat-sim lazily, when an env is built.
"""
from __future__ import annotations

from typing import Any

from embodied import registry
from embodied.envs.habitat import episodes as episodes_lib
from embodied.envs.habitat import sim as sim_lib
from embodied.envs.habitat.objectnav import ENV_ID, HabitatObjectNavConfig, HabitatObjectNavEnv

__all__ = ["list_habitat_episodes"]


def list_habitat_episodes(cfg: HabitatObjectNavConfig) -> list[dict[str, Any]]:
    """The episodes of `env.split` (a split name filled into `env.data_path`, or a file).

    The runner calls this once, before any worker starts, so it is also where a machine that
    cannot run habitat-sim is refused: one line naming the install command or the missing GPU,
    exit 2, instead of every worker failing on its first episode."""
    if cfg.simulator == "habitat_sim":
        sim_lib.require_habitat_sim()
        sim_lib.check_gpu(cfg.gpu_device_id)
    return episodes_lib.read_episodes(episodes_lib.split_path(cfg.split, cfg.data_path))


registry.register_env(ENV_ID, HabitatObjectNavEnv, HabitatObjectNavConfig, list_habitat_episodes)
