"""Reads the RoboTHOR ObjectNav challenge's episode files (allenai/robothor-challenge).

The challenge ships one gzipped JSON list per scene, `dataset/<split>/episodes/<scene>.json.gz`,
each episode a dict with `id`, `scene`, `object_type`, `initial_position` {x, y, z},
`initial_orientation` (deg, THOR's rotation.y), `initial_horizon` (deg), `shortest_path` (a list
of {x, y, z} corners) and `shortest_path_length` (m). We read them as they are, adding only the
framework's `episode_id` (the challenge's `id`), so a record can be matched to the challenge's.
"""
from __future__ import annotations

import glob
import gzip
import json
import os
from typing import Any

from embodied.config import ConfigError

__all__ = ["DATASET_HINT", "REQUIRED_FIELDS", "dataset_files", "read_episode_file", "read_episodes"]

#: Where the episodes come from (the ConfigError's fix).
DATASET_HINT = ("get the RoboTHOR challenge's episodes with `git clone https://github.com/allenai/"
                "robothor-challenge` and set env.dataset=robothor-challenge/dataset (the folder "
                "holding <split>/episodes/*.json.gz), or point it at one .json.gz/.json file")
REQUIRED_FIELDS = ("id", "scene", "object_type", "initial_position", "initial_orientation")


def dataset_files(dataset: str | None, split: str) -> list[str]:
    """The episode files of `split`: `dataset` is the challenge's dataset folder (its
    `<split>/episodes/*.json.gz`), a folder of episode files, or one file. ConfigError (naming
    env.dataset, saying where to get them) when there are none."""
    if not dataset:
        raise ConfigError(f"no RoboTHOR episodes configured; {DATASET_HINT}", key="env.dataset")
    path = os.path.expanduser(str(dataset))
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ConfigError(f"{dataset!r} does not exist; {DATASET_HINT}", key="env.dataset")
    for pattern in (os.path.join(path, split, "episodes", "*.json*"), os.path.join(path, split, "*.json*"),
                    os.path.join(path, "episodes", "*.json*"), os.path.join(path, "*.json*")):
        files = sorted(f for f in glob.glob(pattern) if f.endswith((".json", ".json.gz")))
        if files:
            return files
    raise ConfigError(f"{dataset!r} holds no episode files for split {split!r} (looked for "
                      f"{split}/episodes/*.json.gz); {DATASET_HINT}", key="env.dataset")


def read_episode_file(path: str) -> list[dict[str, Any]]:
    """One challenge file (gzipped or not) as episodes with `episode_id`; ValueError naming the
    file and the episode for a missing field."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of episodes, got {type(data).__name__}")
    out = []
    for n, ep in enumerate(data):
        missing = [k for k in REQUIRED_FIELDS if not isinstance(ep, dict) or k not in ep]
        if missing:
            raise ValueError(f"{path}: episode #{n} lacks {missing} (the challenge's fields: "
                             f"{', '.join(REQUIRED_FIELDS)}, initial_horizon, shortest_path)")
        pos = ep["initial_position"]
        if not all(k in pos for k in ("x", "y", "z")):
            raise ValueError(f"{path}: episode {ep['id']!r}: initial_position needs x, y, z, got {pos!r}")
        out.append({**ep, "episode_id": str(ep["id"]), "initial_horizon": float(ep.get("initial_horizon", 0.0)),
                    "initial_orientation": float(ep["initial_orientation"])})
    return out


def read_episodes(dataset: str | None, split: str) -> list[dict[str, Any]]:
    """Every episode of `split` in file order (files sorted by name, as the challenge loads them)."""
    episodes: list[dict[str, Any]] = []
    for path in dataset_files(dataset, split):
        try:
            episodes.extend(read_episode_file(path))
        except (OSError, json.JSONDecodeError, EOFError) as exc:
            raise ConfigError(f"cannot read {path} ({type(exc).__name__}: {exc}); {DATASET_HINT}",
                              key="env.dataset") from None
    return episodes
