"""Registers the embedded two-phase rearrangement env with the project registry.

Its Gymnasium id is registered in `embodied/__init__.py` (the one place for every Gym id), so that
`gymnasium.make` works after a bare `import embodied` without importing the simulator.
"""
from __future__ import annotations

from typing import Any, Callable

from embodied import registry
from embodied.envs import rearrange_episodes as episodes_lib
from embodied.envs.rearrange import ENV_ID, RearrangeConfig, RearrangeEnv
from embodied.envs.episode_lists import split_or_dataset, write_split


def list_rearrange_episodes(cfg: RearrangeConfig) -> list[dict[str, Any]]:
    """Episodes named by `env.split`: a split name (generated on demand) or a dataset file."""
    return split_or_dataset(cfg.split, cfg.episodes, episodes_lib.SPLITS, _from_split(cfg),
                            episodes_lib.read_dataset)


def generate_rearrange_dataset(cfg: RearrangeConfig, out: str) -> int:
    """`embodied episodes generate`: write a split's episodes to a dataset file; returns the count."""
    return write_split(cfg.split, cfg.episodes, out, episodes_lib.SPLITS, _from_split(cfg),
                       episodes_lib.write_dataset, ENV_ID)


def _from_split(cfg: RearrangeConfig) -> Callable[[str, int | None], list[dict[str, Any]]]:
    return lambda split, count: episodes_lib.split_episodes(split, count)


registry.register_env(ENV_ID, RearrangeEnv, RearrangeConfig, list_rearrange_episodes,
                      generate_fn=generate_rearrange_dataset)
