"""Registers the SfA articulation env with the project registry.

Its Gymnasium id is registered in `embodied/__init__.py` (the one place for every Gym id), so that
`gymnasium.make` works after a bare `import embodied` without importing the simulator.
"""
from __future__ import annotations

from typing import Any

from embodied import registry
from embodied.config import ConfigError
from embodied.envs.articulation import (ENV_ID, SPLITS, ArticulationConfig, ArticulationEnv,
                                        check_urdf, split_episodes, user_episodes)


def list_articulation_episodes(cfg: ArticulationConfig) -> list[dict[str, Any]]:
    """Episodes: one per user URDF in `env.objects` when given, else the objects of `env.split`.

    User files are checked again here (not only in the config's __post_init__), because a file can
    vanish or change between loading the config and starting the run.
    """
    if cfg.objects:
        for i, path in enumerate(cfg.objects):
            check_urdf(path, key=f"env.objects[{i}]")
        episodes = user_episodes(cfg.objects)
    elif cfg.split in SPLITS:
        episodes = split_episodes(cfg.split)
    else:
        raise ConfigError(f"env.split: got {cfg.split!r}, expected one of {sorted(SPLITS)} "
                          f"(or give env.objects)")
    if cfg.episodes is not None:
        if cfg.episodes > len(episodes):
            raise ConfigError(f"env.episodes: got {cfg.episodes}, but there are only "
                              f"{len(episodes)} episodes")
        episodes = episodes[: cfg.episodes]
    return episodes


registry.register_env(ENV_ID, ArticulationEnv, ArticulationConfig, list_articulation_episodes)
