"""Registers the embedded two-phase rearrangement env with the project registry.

Its Gymnasium id is registered in `embodied/__init__.py` (the one place for every Gym id), so that
`gymnasium.make` works after a bare `import embodied` without importing the simulator.
"""
from __future__ import annotations

from typing import Any

from embodied import registry
from embodied.config import ConfigError
from embodied.envs import rearrange_episodes as episodes_lib
from embodied.envs.rearrange import ENV_ID, RearrangeConfig, RearrangeEnv


def list_rearrange_episodes(cfg: RearrangeConfig) -> list[dict[str, Any]]:
    """Episodes named by `env.split`: a split name (generated on demand) or a dataset file."""
    split = cfg.split
    if split in episodes_lib.SPLITS:
        size = episodes_lib.SPLITS[split].size
        if cfg.episodes is not None and cfg.episodes > size:
            raise ConfigError(f"env.episodes: got {cfg.episodes}, but split {split!r} has {size} episodes")
        return episodes_lib.split_episodes(split, cfg.episodes)
    if not split.endswith(".json"):
        raise ConfigError(f"env.split: got {split!r}, expected a split name "
                          f"{sorted(episodes_lib.SPLITS)} or a dataset .json file")
    episodes = episodes_lib.read_dataset(split)
    if cfg.episodes is not None:
        if cfg.episodes > len(episodes):
            raise ConfigError(f"env.episodes: got {cfg.episodes}, but {split!r} has {len(episodes)} episodes")
        episodes = episodes[: cfg.episodes]
    return episodes


def generate_rearrange_dataset(cfg: RearrangeConfig, out: str) -> int:
    """`embodied episodes generate`: write a split's episodes to a dataset file; returns the count."""
    if cfg.split not in episodes_lib.SPLITS:
        raise ConfigError(f"env.split: got {cfg.split!r}, expected a split name {sorted(episodes_lib.SPLITS)}")
    episodes = episodes_lib.split_episodes(cfg.split, cfg.episodes)
    episodes_lib.write_dataset(out, episodes, {"split": cfg.split, "env": ENV_ID})
    return len(episodes)


registry.register_env(ENV_ID, RearrangeEnv, RearrangeConfig, list_rearrange_episodes,
                      generate_fn=generate_rearrange_dataset)
