"""Which episodes `env.split` names, for the embedded envs whose splits are generated on demand.

Why shared: ObjectNav and rearrangement both accept a split name (episodes generated from the
split's own seed range and cached) or a dataset `.json` file, cut to `env.episodes`, and both
write a split to a file for `embodied episodes generate`; the rules and the error messages must
be the same for both.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from embodied.config import ConfigError

__all__ = ["split_or_dataset", "write_split"]

Episodes = list[dict[str, Any]]


def split_or_dataset(split: str, count: int | None, splits: Mapping[str, Any],
                     from_split: Callable[[str, int | None], Episodes],
                     read_dataset: Callable[[str], Episodes]) -> Episodes:
    """The first `count` (all: None) episodes of a split name in `splits` (each with a `size`)
    or of a dataset file; a count larger than what there is fails naming `env.episodes`."""
    if split in splits:
        size = splits[split].size
        if count is not None and count > size:
            raise ConfigError(f"env.episodes: got {count}, but split {split!r} has {size} episodes")
        return from_split(split, count)
    if not split.endswith(".json"):
        raise ConfigError(f"env.split: got {split!r}, expected a split name "
                          f"{sorted(splits)} or a dataset .json file")
    episodes = read_dataset(split)
    if count is not None:
        if count > len(episodes):
            raise ConfigError(f"env.episodes: got {count}, but {split!r} has {len(episodes)} episodes")
        episodes = episodes[:count]
    return episodes


def write_split(split: str, count: int | None, out: str, splits: Mapping[str, Any],
                from_split: Callable[[str, int | None], Episodes],
                write_dataset: Callable[..., Any], env_id: str) -> int:
    """`embodied episodes generate`: a split's first `count` episodes to the dataset file `out`;
    returns how many."""
    if split not in splits:
        raise ConfigError(f"env.split: got {split!r}, expected a split name {sorted(splits)}")
    episodes = from_split(split, count)
    write_dataset(out, episodes, {"split": split, "env": env_id})
    return len(episodes)
