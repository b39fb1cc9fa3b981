"""Reading habitat-lab's ObjectNav episode files (ObjectNav-v1 `.json.gz`) into the runner's specs.

The format (habitat-lab `ObjectNavDatasetV1`): a split file `{split}/{split}.json.gz` holds the
category maps and either the episodes or nothing, in which case every `content/<scene>.json.gz`
next to it holds one scene's episodes. Each file has `category_to_task_category_id`,
`goals_by_category` ("<scene file name>_<category>" -> goals, each with `object_id`, `position`
and `view_points[*].agent_state.position`) and `episodes` (`scene_id`, `start_position`,
`start_rotation` as [x, y, z, w], `object_category`, `info.geodesic_distance`). Older files keep
the goals inside each episode (`goals`); they are grouped by category the way habitat-lab's
`dedup_goals` does.

Why specs do not carry the goals: an HM3D scene's view points run into the thousands per
category, and the runner keeps every spec in memory and sends it to a worker. A spec names its
file (`dataset`) and `goals_key`; the env loads the goals from there once per file (`read_goals`).

Episode ids: habitat-lab numbers the episodes of each file 0, 1, ... (its `episode_id` is the
index); content files restart at 0, so ids here are "<scene>-<index>" (unique across a split).
"""
from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from embodied.config import ConfigError

__all__ = ["DATASETS_HELP", "split_path", "read_episodes", "read_goals", "read_file",
           "write_dataset", "scene_name", "goals_key"]

DATASETS_HELP = (
    "ObjectNav episodes: HM3D v1 https://dl.fbaipublicfiles.com/habitat/data/datasets/objectnav/"
    "hm3d/v1/objectnav_hm3d_v1.zip, MP3D v1 https://dl.fbaipublicfiles.com/habitat/data/"
    "datasets/objectnav/m3d/v1/objectnav_mp3d_v1.zip (unzip so that "
    "data/datasets/objectnav/<hm3d|mp3d>/v1/<split>/<split>.json.gz exists, or set env.data_path); "
    "scenes: HM3D through `python -m habitat_sim.utils.datasets_download --uids hm3d_val_v0.2 "
    "--data-path data/` (needs a Matterport API token, see habitat-sim's DATASETS.md), MP3D from "
    "https://niessner.github.io/Matterport/ (terms of use), under env.scenes_dir")


def split_path(split: str, data_path: str) -> Path:
    """The episode file `env.split` names: a .json(.gz) path as it is, else `data_path` with
    `{split}` filled in (habitat-lab's `data_path: .../{split}/{split}.json.gz`)."""
    if split.endswith((".json.gz", ".json")):
        return Path(split)
    if "{split}" not in data_path:
        raise ConfigError(f"got {data_path!r}, expected a path containing {{split}} (e.g. "
                          "data/datasets/objectnav/hm3d/v1/{split}/{split}.json.gz)", key="env.data_path")
    return Path(data_path.format(split=split))


def read_file(path: str | Path) -> dict[str, Any]:
    """One habitat dataset file (gzip or plain JSON); a missing or broken file is a ConfigError
    naming env.split and where the datasets come from."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist; {DATASETS_HELP}", key="env.split")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, EOFError) as exc:
        raise ConfigError(f"{str(path)!r} is not a habitat ObjectNav dataset file "
                          f"({type(exc).__name__}: {exc})", key="env.split") from None
    if not isinstance(data, dict) or not isinstance(data.get("episodes"), list):
        raise ConfigError(f"{str(path)!r} has no \"episodes\" list: not a habitat ObjectNav "
                          "dataset file", key="env.split")
    return data


def scene_name(scene_id: str) -> str:
    """"hm3d/val/00800-TEEsavR23oF/TEEsavR23oF.basis.glb" -> "TEEsavR23oF"."""
    return Path(scene_id).name.split(".")[0]


def goals_key(scene_id: str, category: str) -> str:
    """habitat-lab's `ObjectGoalNavEpisode.goals_key`: "<scene file name>_<category>"."""
    return f"{Path(scene_id).name}_{category}"


def _category(ep: dict[str, Any]) -> str:
    category = ep.get("object_category")
    if not category and ep.get("goals"):
        category = ep["goals"][0].get("object_category")
    if not isinstance(category, str) or not category:
        raise ValueError(f"episode {ep.get('episode_id')!r} has no object_category")
    return category


def _goals_by_category(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    goals = data.get("goals_by_category")
    if goals is not None:
        return goals
    grouped: dict[str, list[dict[str, Any]]] = {}   # older files: habitat-lab's dedup_goals
    for ep in data["episodes"]:
        grouped.setdefault(goals_key(ep["scene_id"], _category(ep)), ep.get("goals") or [])
    return grouped


def _files(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The split file if it holds episodes, else its content/*.json.gz (sorted by name)."""
    data = read_file(path)
    if data["episodes"]:
        return [(path, data)]
    content = sorted((path.parent / "content").glob("*.json.gz"))
    if not content:
        raise ConfigError(f"{str(path)!r} has no episodes and there is no {str(path.parent / 'content')!r} "
                          f"with per-scene files; {DATASETS_HELP}", key="env.split")
    return [(p, read_file(p)) for p in content]


def read_episodes(path: str | Path) -> list[dict[str, Any]]:
    """Every episode of a split file (and its content files) as a runner spec:
    episode_id, scene_id, start_position, start_rotation, category, goals_key, dataset (the file
    holding the goals) and geodesic_distance (the file's `info`, for reference: the env measures
    its own on the simulator's navmesh)."""
    specs: list[dict[str, Any]] = []
    for file, data in _files(Path(path)):
        goals = _goals_by_category(data)
        for index, ep in enumerate(data["episodes"]):
            try:
                category = _category(ep)
                key = goals_key(ep["scene_id"], category)
                if not goals.get(key):
                    raise ValueError(f"no goals for {key!r} in goals_by_category")
                spec = {
                    "episode_id": f"{scene_name(ep['scene_id'])}-{index:04d}",
                    "scene_id": str(ep["scene_id"]),
                    "start_position": [float(v) for v in ep["start_position"]],
                    "start_rotation": [float(v) for v in ep["start_rotation"]],
                    "category": category,
                    "goals_key": key,
                    "dataset": str(file),
                    "geodesic_distance": (ep.get("info") or {}).get("geodesic_distance"),
                }
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"{str(file)!r}: episode #{index} is malformed "
                                  f"({type(exc).__name__}: {exc})", key="env.split") from None
            if len(spec["start_position"]) != 3 or len(spec["start_rotation"]) != 4:
                raise ConfigError(f"{str(file)!r}: episode #{index}: start_position must be "
                                  "[x, y, z] and start_rotation [x, y, z, w]", key="env.split")
            specs.append(spec)
    return specs


@lru_cache(maxsize=4)
def _cached_goals(path: str, mtime: float) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    data = read_file(path)
    return _goals_by_category(data), dict(data.get("category_to_task_category_id") or {})


def read_goals(path: str | Path) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """(goals_by_category, category_to_task_category_id) of one dataset file, cached per file
    (workers run many episodes of one scene file in a row). Treat the result as read-only."""
    p = Path(path)
    return _cached_goals(str(p), p.stat().st_mtime if p.exists() else 0.0)


def write_dataset(path: str | Path, data: dict[str, Any]) -> Path:
    """Write a dataset dict in habitat's format (gzip JSON when the name ends in .gz)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, separators=(",", ":"))
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path
